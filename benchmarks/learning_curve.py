"""How much are more verified examples worth? Plateau greedy pass@1 against the number of gold examples.

For each size n in --sizes: `synth.py builtin --n-seed n` (gold step-by-step solutions at the loop's
difficulties; the test split depends only on --seed, so every size and the loop with the same seed
share one test set), `train_sft.py --init tiny` for --steps (the loop's base steps: the plateau at
1000 examples), `evaluate.py` greedy. This is the ceiling that self-generated verified data can climb
toward. With --loop RUN [RUN ...] the loop's rounds (seed examples + verified trajectories used, greedy)
and, where benchmarks/bench_loop.py ran, its baselines go on the same plot.

  python benchmarks/learning_curve.py --out benchmarks/out/curve --sizes 500,1000,2000,4000 \\
      --loop runs/loop_s1 --plot docs/learning_curve.png
  python benchmarks/learning_curve.py --out benchmarks/out/curve --bases runs/a runs/b --loop runs/b \
      --plot docs/learning_curve.png   (gold-example points from loop runs' round-0 bases, no training)
  python benchmarks/learning_curve.py --base-curve runs/loop_s1/round0/policy --plot docs/base_curve.png
      (accuracy against steps of one base run trained with train_sft.py --save-every)
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from loop import read_eval, stage  # noqa: E402
from runner import run  # noqa: E402
from report import new_plot, save_plot  # noqa: E402

PY = sys.executable


def size_point(n, args, out):
    """Train from scratch on n gold examples; greedy accuracy on the test set."""
    d = out / f"n{n}"
    run([PY, stage("synth.py"), "builtin", "--out-dir", d / "data", "--seed", args.seed, "--n-seed", n,
         "--seed-ops", args.ops, "--n-pool", 0, "--n-test", args.n_test, "--test-ops", args.ops],
        out / "log.txt", d / "data" / "test.jsonl")
    run([PY, stage("train_sft.py"), "--init", "tiny", "--data", d / "data" / "seed.jsonl", "--out", d / "policy",
         "--steps", args.steps, "--lr", args.lr, "--seed", args.seed], out / "log.txt",
        d / "policy" / "meta.json")
    return greedy(d / "policy", d / "data" / "test.jsonl", d / "eval", out / "log.txt")


def greedy(policy, test, d, log):
    run([PY, stage("evaluate.py"), "--model", policy, "--data", test, "--out-dir", d, "--methods", "greedy",
         "--no-plot"], log, d / "summary.json")
    return read_eval(d)[0]["greedy"]


def base_curve(policy, test, log):
    """(step, greedy) for every checkpoint a `train_sft.py --save-every` run left, and its end."""
    ckpts = sorted(Path(policy, "checkpoints").glob("step*"), key=lambda p: int(p.name[4:]))
    steps = json.loads((Path(policy) / "meta.json").read_text())["steps"]
    return [(int(c.name[4:]), greedy(c, test, c / "eval", log)) for c in ckpts] + \
        [(steps, greedy(policy, test, Path(policy) / "eval_curve", log))]


def base_points(runs):
    """(seed examples, greedy of round 0) of loop.py runs: gold-example points already measured, one per run
    (each run's own seed, so its own test set of the same distribution); the mean where sizes repeat."""
    sizes = {}
    for run_dir in runs:
        n = sum(1 for line in open(Path(run_dir) / "data" / "seed.jsonl") if line.strip())
        sizes.setdefault(n, []).append(read_eval(Path(run_dir) / "round0" / "eval" / "greedy")[0]["greedy"])
    return [(n, sum(a) / len(a)) for n, a in sorted(sizes.items())], sizes


def plot(path, curve, loops, xlabel, title, label="gold examples, from scratch"):
    plt, fig, ax = new_plot((6.4, 4.2))
    if curve:
        ax.plot([x for x, _ in curve], [100 * y for _, y in curve], "o-", color="black", label=label)
    for i, run_dir in enumerate(loops):
        res = json.loads((Path(run_dir) / "results.json").read_text())
        xs, ys = [r["examples"] for r in res["rows"]], [100 * r["greedy"] for r in res["rows"]]
        ax.plot(xs, ys, "s--", color=f"C{i}", label=f"loop seed {res['args']['seed']} (rounds 0..{len(xs) - 1})")
        bl = Path(run_dir) / "baselines" / "results.json"
        for r in json.loads(bl.read_text())["rows"] if bl.exists() else []:
            marker = "^" if r["policy"].startswith("more") else "v"
            ax.plot([r["examples"]], [100 * r["greedy"]], marker, color=f"C{i}", alpha=0.6)
    if loops:
        ax.plot([], [], "^", color="gray", label="more SFT on seed (equal time)")
        ax.plot([], [], "v", color="gray", label="RS-SFT, same filter (equal tokens)")
    if xlabel.startswith("training"):
        ax.set_xscale("log")
    save_plot(plt, fig, ax, path, xlabel, "greedy pass@1 %", title, legend="lower right")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/out/curve", help="work folder (resumes)")
    ap.add_argument("--sizes", default="", help="comma list of gold-example counts, e.g. 500,1000,2000,4000,8000")
    ap.add_argument("--seed", type=int, default=1, help="task seed (the loop run's, to share its test set)")
    ap.add_argument("--ops", default="2-6", help="operations per problem (loop.py's BUILTIN_DATA)")
    ap.add_argument("--n-test", type=int, default=1000, help="test problems (loop.py's BUILTIN_DATA)")
    ap.add_argument("--steps", type=int, default=4000, help="SFT steps per size (loop.py --base-steps)")
    ap.add_argument("--lr", type=float, default=3e-3, help="SFT peak lr (loop.py --base-lr)")
    ap.add_argument("--loop", nargs="*", default=[], help="loop.py output folders to put on the plot")
    ap.add_argument("--bases", nargs="*", default=[],
                    help="loop.py runs whose round-0 base is a gold-example point (instead of training --sizes)")
    ap.add_argument("--base-curve", default="", help="a train_sft.py --save-every output: plot accuracy against steps")
    ap.add_argument("--test", default="", help="test file for --base-curve (default: the loop's beside the policy)")
    ap.add_argument("--plot", default="", help="PNG to write")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.base_curve:
        test = args.test or Path(args.base_curve).parents[1] / "data" / "test.jsonl"
        curve = base_curve(args.base_curve, test, out / "log.txt")
        print("\n".join(f"step {s} | greedy {100 * a:.1f}" for s, a in curve))
        if args.plot:
            plot(args.plot, curve, [], "SFT steps", f"base policy: greedy pass@1 against steps ({args.base_curve})",
                 "one cosine schedule, a checkpoint every --save-every steps")
        return
    curve = [(int(n), size_point(int(n), args, out)) for n in args.sizes.split(",") if n]
    if args.bases:
        points, per_seed = base_points(args.bases)
        curve = sorted(curve + points)
        print("\n".join(f"{n} gold examples (round 0 of --bases) | " + " ".join(f"{100 * a:.1f}" for a in accs)
                         for n, accs in sorted(per_seed.items())))
    (out / "curve.json").write_text(json.dumps(curve))
    print("\n".join(f"{n} gold examples | greedy {100 * a:.1f}" for n, a in curve))
    if args.plot:
        plot(args.plot, curve, args.loop, "training examples (gold or verified)",
             "greedy pass@1 against training examples" + (f" ({args.steps} steps each)" if not args.bases else ""))


if __name__ == "__main__":
    main()
