"""The README's loop table: several `loop.py` runs (one per seed) -> mean and spread per row (Issue 6).

Reads each run's results.json (written by loop.py) and prints one markdown row per (round, policy)
with greedy pass@1 per seed, its mean ± sample standard deviation, the per-seed gain over round 0
(mean ± standard deviation), maj@16, best-of-16 with the PPM
(last step) and MCTS with the PPM (on loop.py's --eval-limit problems), greedy on the hardest
problems, and the minutes elapsed since the run started when the row was done (baselines included).

  python benchmarks/loop_table.py runs/loop_s1_1500 runs/loop_s2 runs/loop_s3
"""
import argparse
import json
import statistics
from pathlib import Path


def pct(xs):
    return " / ".join("-" if x is None else f"{100 * x:.1f}" for x in xs)


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="loop.py --out directories, one per seed")
    args = ap.parse_args()
    results = [json.loads((Path(r) / "results.json").read_text()) for r in args.runs]
    seeds = [r["args"]["seed"] for r in results]
    hardest = max(int(k) for r in results for row in r["rows"] for k in row.get("greedy_by_difficulty", {}))
    keys = []
    for r in results:
        keys += [(row["round"], row["policy"]) for row in r["rows"] if (row["round"], row["policy"]) not in keys]
    print(f"Seeds {', '.join(map(str, seeds))}; per-seed values in seed order; mean ± standard deviation over seeds.\n")
    print(f"| round | policy | greedy (per seed) | greedy, mean | minus round 0 | maj@16 | best-of-16, PPM | MCTS, PPM | "
          f"greedy, {hardest} ops | minutes since start |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = [next(x["greedy"] for x in r["rows"] if x["round"] == 0) for r in results]
    for rnd, policy in keys:
        rows = [next((x for x in r["rows"] if (x["round"], x["policy"]) == (rnd, policy)), {}) for r in results]
        get = lambda k: [row.get(k) for row in rows]  # noqa: E731
        mcts = [next((v for k, v in row.items() if k.startswith("mcts:")), None) for row in rows]
        bon = [next((v for k, v in row.items() if k.startswith("bon-last:") and k.endswith("@16")), None) for row in rows]
        hard = [row.get("greedy_by_difficulty", {}).get(str(hardest)) for row in rows]
        mins = " / ".join(f"{row['minutes']:.1f}" if "minutes" in row else "-" for row in rows)
        gain = [None if g is None else g - b for g, b in zip(get("greedy"), base)]
        print(f"| {rnd} | {policy} | {pct(get('greedy'))} | {mean_sd(get('greedy'))} | {mean_sd(gain) if rnd else ''} | "
              f"{pct(get('maj@16'))} | "
              f"{pct(bon)} | {pct(mcts)} | {pct(hard)} | {mins} |")


if __name__ == "__main__":
    main()
