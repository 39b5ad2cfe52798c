"""The loop's results table: several `loop.py` runs (one per seed) -> mean and spread per row.

Reads each run's results.json (loop.py) and, where benchmarks/bench_loop.py ran on it,
baselines/results.json, and prints markdown: per round the loop's greedy pass@1 per seed, its mean ±
sample standard deviation, the per-seed gain over round 0, the baselines at equal compute beside
it, the mean greedy pass@1 per difficulty, and the training examples used (seed set + verified).

  python benchmarks/loop_table.py runs/loop_s1 runs/loop_s2 runs/loop_s3
"""
import argparse
import json
import statistics
from pathlib import Path


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):.1f} ± {100 * sd:.1f}"


def rows_of(run):
    """{(round, name): row} of one run: the loop's rounds and the baselines."""
    res = json.loads((Path(run) / "results.json").read_text())
    out = {(r["round"], "loop" if r["round"] else "base (SFT on the seed set)"): r for r in res["rows"]}
    bl = Path(run) / "baselines" / "results.json"
    for r in json.loads(bl.read_text())["rows"] if bl.exists() else []:
        out[(r["round"], r["policy"])] = r
    return res["args"]["seed"], out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="loop.py --out directories, one per seed")
    args = ap.parse_args()
    seeds, runs = zip(*(rows_of(r) for r in args.runs))
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k[0], k[1] != "loop", k[1]))
    levels = sorted({d for r in runs for row in r.values() for d in row["greedy_by_difficulty"]}, key=int)
    base = [r[(0, "base (SFT on the seed set)")]["greedy"] for r in runs]
    print(f"Seeds {', '.join(map(str, seeds))}; per-seed values in seed order; mean ± standard deviation over seeds.\n")
    print("| round | policy | greedy (per seed) | greedy, mean | minus round 0 | " +
          " | ".join(f"{d} ops" for d in levels) + " | examples (mean) |")
    print("|---|---|---|---|---|" + "---|" * len(levels) + "---|")
    for key in keys:
        rows = [r.get(key) for r in runs]
        g = [row["greedy"] if row else None for row in rows]
        gain = [None if x is None else x - b for x, b in zip(g, base)]
        per = " / ".join("-" if x is None else f"{100 * x:.1f}" for x in g)
        by = [mean_sd([row["greedy_by_difficulty"].get(d) if row else None for row in rows]).split(" ±")[0]
              for d in levels]
        ex = [row["examples"] for row in rows if row and "examples" in row]
        examples = f"{statistics.mean(ex):.0f}" if ex else "-"
        print(f"| {key[0]} | {key[1]} | {per} | {mean_sd(g)} | {mean_sd(gain) if key[0] else ''} | " +
              " | ".join(by) + f" | {examples} |")
    print_margins(keys, runs)


def print_margins(keys, runs):
    """Loop minus each baseline of the same round, per seed where both exist: the margins docs/loop.md reports."""
    lines = []
    for r, name in keys:
        if not r or name == "loop":
            continue
        d = [x[(r, "loop")]["greedy"] - x[(r, name)]["greedy"] for x in runs if (r, "loop") in x and (r, name) in x]
        lines.append(f"| {r} | loop minus {name} | {' / '.join(f'{100 * v:+.1f}' for v in d)} | {mean_sd(d)} |")
    if lines:
        print("\n| round | margin | per seed (points) | mean ± sd |\n|---|---|---|---|\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
