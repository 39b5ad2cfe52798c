"""The loop's results table: several `loop.py` runs (one per seed) -> mean and spread per row.

Reads each run's results.json (loop.py) and, where benchmarks/bench_loop.py ran on it,
baselines/results.json, and prints markdown: per round the loop's greedy pass@1 per seed, its mean ±
sample standard deviation, the per-seed gain over round 0, the baselines at equal compute beside
it, the mean greedy pass@1 per difficulty, and the training examples used (seed set + verified).
With --oracle (the relations task): each row's greedy solutions also as verified (answer right, every
equation true) and right by the semantic oracle, and a table of each round's SFT data per source (the
loop's tree, rejection sampling) with the share of its trajectories the oracle calls wrong
(benchmarks/oracle_report.py; analysis only).

  python benchmarks/loop_table.py runs/loop_s1 runs/loop_s2 runs/loop_s3
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import load_jsonl, read_problems  # noqa: E402

# where each row's greedy predictions and each source's SFT data sit in a run folder (loop.py, bench_loop.py)
PREDICTIONS = {"loop": "round{r}/eval/greedy", "base (SFT on the seed set)": "round0/eval/greedy",
               "more SFT on seed": "baselines/round{r}/eval_more", "RS-SFT, same filter, same tokens": "baselines/round{r}/eval_rs"}
SFT_DATA = {"loop: the tree's top-2 by mean Q": "round{r}/pairs/sft.jsonl",
            "RS-SFT: the first 2 verified samples": "baselines/round{r}/rs_sft.jsonl"}


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
    ap.add_argument("--oracle", action="store_true", help="relations task: verified and oracle accuracy, SFT data's "
                    "oracle-wrong share per source")
    args = ap.parse_args()
    seeds, runs = zip(*(rows_of(r) for r in args.runs))
    if args.oracle:
        for path, run in zip(args.runs, runs):
            add_oracle(Path(path), run)
    keys = sorted({k for r in runs for k in r}, key=lambda k: (k[0], k[1] != "loop", k[1]))
    levels = sorted({d for r in runs for row in r.values() for d in row["greedy_by_difficulty"]}, key=int)
    base = [r[(0, "base (SFT on the seed set)")]["greedy"] for r in runs]
    print(f"Seeds {', '.join(map(str, seeds))}; per-seed values in seed order; mean ± standard deviation over seeds.\n")
    judged = ["verified", "oracle"] if args.oracle else []
    print("| round | policy | greedy (per seed) | greedy, mean | minus round 0 | " + "".join(f"{j}, mean | " for j in judged)
          + " | ".join(f"{d} ops" for d in levels) + " | examples (mean) |")
    print("|---|---|---|---|---|" + "---|" * (len(levels) + len(judged)) + "---|")
    for key in keys:
        rows = [r.get(key) for r in runs]
        g = [row["greedy"] if row else None for row in rows]
        gain = [None if x is None else x - b for x, b in zip(g, base)]
        per = " / ".join("-" if x is None else f"{100 * x:.1f}" for x in g)
        by = [mean_sd([row["greedy_by_difficulty"].get(d) if row else None for row in rows]).split(" ±")[0]
              for d in levels]
        ex = [row["examples"] for row in rows if row and "examples" in row]
        examples = f"{statistics.mean(ex):.0f}" if ex else "-"
        cols = "".join(mean_sd([row.get(j) if row else None for row in rows]) + " | " for j in judged)
        print(f"| {key[0]} | {key[1]} | {per} | {mean_sd(g)} | {mean_sd(gain) if key[0] else ''} | {cols}" +
              " | ".join(by) + f" | {examples} |")
    print_margins(keys, runs)
    if args.oracle:
        print_sft_data(args.runs, max(k[0] for k in keys))


def split_file(path, split):
    """A run's test or pool problems: loop.py's --test-file / --pool-file, else its built-in data."""
    given = json.loads((path / "loop_args.json").read_text()).get(f"{split}_file")
    return read_problems(given or path / "data" / f"{split}.jsonl")


def add_oracle(path, run):
    """Each row of one run gains "verified" and "oracle": shares of its greedy test solutions
    (oracle_report.judge), where its predictions are there."""
    from oracle_report import judge
    test = {p["id"]: p for p in split_file(path, "test")}
    for (r, name), row in run.items():
        preds = path / PREDICTIONS.get(name, "-").format(r=r) / "predictions.jsonl"
        if preds.exists():
            flags = [judge(test[str(p["id"])], p["greedy"]["text"]) for p in load_jsonl(preds)]
            row.update({k: statistics.mean(f[k] for f in flags) for k in ("verified", "oracle")})


def print_sft_data(paths, rounds):
    """Per round and source: trajectories and the share of them the oracle calls wrong (all are verified)."""
    from oracle_report import judge
    print("\n| round | SFT data | trajectories (per seed) | oracle wrong %, mean ± sd |\n|---|---|---|---|")
    for r in range(1, rounds + 1):
        for source, where in SFT_DATA.items():
            n, wrong = [], []
            for path in map(Path, paths):
                f = path / where.format(r=r)
                if f.exists():
                    pool = {p["id"]: p for p in split_file(path, "pool")}
                    flags = [judge(pool[str(x["problem"])], x["completion"]) for x in load_jsonl(f)]
                    n.append(len(flags))
                    wrong.append(statistics.mean(not f["oracle"] for f in flags) if flags else None)
            if n:
                print(f"| {r} | {source} | {' / '.join(map(str, n))} | {mean_sd(wrong)} |")


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
