"""Benchmark of train_sft.py's throughput on the built-in task's tiny model, on CPU.

Runs `train_sft.py --init tiny` on the built-in seed set once per variant and repeat, interleaved (the
machine's speed drifts), the same steps, seed and data each time, and compares real (non-padding)
training tokens per second and the loss curves: every variant sees the same examples in the same
order, so its first-step loss must be the first variant's, and later steps apart only by float noise
that training compounds (the table's largest per-step gap).
Writes `--out-dir`/bench_sft.json and bench_sft.md; `--update-docs` puts the table under
"## Benchmarks: SFT" in docs/benchmarks.md. Run it alone on the machine (it measures speed):
  python benchmarks/bench_sft.py --update-docs
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from docs_section import put_section  # noqa: E402  (beside this script)

VARIANTS = {"padded": ["--no-pack"], "packed": []}


def run(args, data, name, rep):
    """One train_sft.py run; its meta.json (train_seconds, tokens, losses)."""
    out = Path(args.out_dir) / f"sft_{name}_{rep}"
    cmd = [sys.executable, "train_sft.py", "--init", "tiny", "--data", str(data), "--out", str(out), "--force",
           "--steps", str(args.steps), "--seed", str(args.seed), *VARIANTS[name], *shlex.split(args.sft_args)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "meta.json").read_text())


def markdown(result):
    base = result["variants"][0]
    rows = ["| variant | tokens/s (median) | runs | seconds (median) | final loss | max per-step loss gap to "
            f"{base['name']} | speed-up |", "|---|---|---|---|---|---|---|"]
    for v in result["variants"]:
        rows.append(f"| {v['name']} | {v['tok_s']:.0f} | {', '.join(f'{x:.0f}' for x in v['runs'])} | "
                    f"{v['seconds']:.1f} | {v['final_loss']:.4f} | {v['loss_gap']:.2e} | "
                    f"{v['tok_s'] / base['tok_s']:.2f}x |")
    return "\n".join(rows)


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="SFT data (default: the built-in seed set, built into --out-dir)")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "out"), help="where the JSON, table and runs go")
    ap.add_argument("--steps", type=int, default=300, help="optimizer steps per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per variant, interleaved")
    ap.add_argument("--variants", default="padded,packed", help=f"comma-separated, the first the reference: {', '.join(VARIANTS)}")
    ap.add_argument("--sft-args", default="", help="extra train_sft.py flags for every run")
    ap.add_argument("--seed", type=int, default=0, help="train_sft.py --seed")
    ap.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    return ap


def main():
    args = get_parser().parse_args()
    names = args.variants.split(",")
    if set(names) - set(VARIANTS):
        sys.exit(f"--variants: unknown {sorted(set(names) - set(VARIANTS))} (known: {', '.join(VARIANTS)})")
    data = Path(args.data) if args.data else Path(args.out_dir) / "data" / "seed.jsonl"
    if not data.exists():
        subprocess.run([sys.executable, "synth.py", "builtin", "--out-dir", str(data.parent)], cwd=ROOT, check=True)
    metas = {n: [] for n in names}
    for rep in range(args.repeats):
        for n in names:
            metas[n].append(run(args, data, n, rep))
            m = metas[n][-1]
            print(f"{n} run {rep + 1}: {m['tokens'] / m['train_seconds']:.0f} tok/s, final loss {m['final_loss']:.4f}")
    ref = metas[names[0]][0]["losses"]
    variants = [{"name": n, "runs": [m["tokens"] / m["train_seconds"] for m in ms],
                 "tok_s": statistics.median(m["tokens"] / m["train_seconds"] for m in ms),
                 "seconds": statistics.median(m["train_seconds"] for m in ms), "final_loss": ms[0]["final_loss"],
                 "loss_gap": max(abs(a - b) for m in ms for a, b in zip(m["losses"], ref))} for n, ms in metas.items()]
    result = {"args": vars(args), "variants": variants, "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(args.out_dir)
    (out / "bench_sft.json").write_text(json.dumps(result, indent=1))
    table = markdown(result)
    (out / "bench_sft.md").write_text(table + "\n")
    print(table)
    if args.update_docs:
        cmd = "python benchmarks/bench_sft.py " + shlex.join(sys.argv[1:])
        put_section("benchmarks.md", "Benchmarks: SFT", f"## Benchmarks: SFT\n\n`{cmd}` ({time.strftime('%Y-%m-%d')}, "
                    f"CPU, {args.steps} steps of the tiny model on {data.name}, {args.repeats} interleaved runs each)\n\n"
                    f"{table}\n")


if __name__ == "__main__":
    main()
