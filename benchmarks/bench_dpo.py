"""Benchmark: train_dpo.py against TRL's DPOTrainer, tokens/s and peak memory.

Both train the same policy on the same pairs, one epoch, the same batch size, learning rate, beta and
max length, on the same machine, alternating runs (`--reps` each; the machine's speed drifts):
  ours     python train_dpo.py --order file --epochs 1 (reference log-probs once, one model in memory)
  trl      trl.DPOTrainer with its defaults (a reference model beside the policy, its forward every step)
  trl-pre  the same with precompute_ref_log_probs=True (TRL's one-model mode, the closest to ours)
Each run is its own process. Time = reference log-probs + training (ours: meta.json's ref_seconds +
train_seconds; TRL: trainer.train(), which holds the reference model's forwards, plus, for trl-pre, the
timed _precompute_ref_logps pass that DPOTrainer.__init__ runs); model loading, imports and
tokenisation are left out of both. tokens/s = the non-pad tokens of the chosen and rejected sequences
one epoch feeds the policy (prompt + completion + EOS, each tool counting its own: TRL appends EOS to
every completion, ours only to finished ones) / time. Peak memory = the process's maximum resident set
(os.wait4's ru_maxrss), everything included. TRL is installed for this benchmark only
(`pip install trl==1.16.0`; not in requirements.txt).

Without --policy/--pairs it builds them with the project's commands into --out-dir:
  python synth.py builtin --out-dir OUT/data
  python train_sft.py --init tiny --data OUT/data/seed.jsonl --out OUT/policy --steps SFT_STEPS
  python mcts.py --policy OUT/policy --data OUT/data/pool.jsonl --out OUT/trees.jsonl --limit N ...
  python pairs.py --trees OUT/trees.jsonl --out-dir OUT/pairs
Run it alone on the machine (it measures speed):
  python benchmarks/bench_dpo.py --update-docs
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from docs_section import put_section  # noqa: E402  (beside this script)
sys.path.insert(0, str(ROOT))


def sh(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def build(args):
    out = Path(args.out_dir)
    if args.policy and args.pairs:
        return Path(args.policy), Path(args.pairs)
    data, policy = out / "data", Path(args.policy) if args.policy else out / "policy"
    if not (data / "pool.jsonl").exists():
        sh([sys.executable, "synth.py", "builtin", "--out-dir", str(data)])
    if not (policy / "config.json").exists():
        sh([sys.executable, "train_sft.py", "--init", "tiny", "--data", str(data / "seed.jsonl"), "--out", str(policy),
            "--steps", str(args.sft_steps)])
    if not (out / "pairs" / "pairs.jsonl").exists():
        sh([sys.executable, "mcts.py", "--policy", str(policy), "--data", str(data / "pool.jsonl"), "--out",
            str(out / "trees.jsonl"), "--limit", str(args.n_problems), "--rollouts", "16", "--children", "4",
            "--max-depth", "8", "--max-step-tokens", "48"])
        sh([sys.executable, "pairs.py", "--trees", str(out / "trees.jsonl"), "--out-dir", str(out / "pairs")])
    return policy, Path(args.pairs) if args.pairs else out / "pairs" / "pairs.jsonl"


def run_measured(cmd, env=None):
    """Run a process; return (stdout, peak RSS in MiB, wall seconds, CPU seconds). CPU seconds far below
    2 x wall on a 2-core machine flag a run slowed by another process."""
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-3000:]}")
    return out, usage.ru_maxrss / 1024, time.time() - t0, usage.ru_utime + usage.ru_stime


def subset(args, pairs_path):
    """The benchmark's pairs: the first --n-pairs of --kinds, written once."""
    recs = [json.loads(x) for x in Path(pairs_path).read_text().splitlines() if x.strip()]
    kinds = set(args.kinds.split(","))
    recs = [r for r in recs if r.get("kind") in kinds][:args.n_pairs]
    path = Path(args.out_dir) / "bench_pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path, len(recs)


def ours(args, policy, pairs, i):
    out = Path(args.out_dir) / f"ours{i}"
    text, peak, wall, cpu = run_measured([sys.executable, "train_dpo.py", "--model", str(policy), "--pairs", str(pairs),
                                     "--out", str(out), "--order", "file", "--epochs", "1", "--batch-size",
                                     str(args.batch_size), "--grad-accum", "1", "--lr", str(args.lr), "--beta", "0.1",
                                     "--max-len", str(args.max_len)])
    meta = json.loads((out / "meta.json").read_text())
    secs = meta["ref_seconds"] + meta["train_seconds"]
    return {"tool": "ours", "seconds": secs, "ref_seconds": meta["ref_seconds"], "train_seconds": meta["train_seconds"],
            "tokens": meta["train_tokens"], "tok_s": meta["train_tokens"] / secs, "peak_mib": peak, "wall": wall,
            "cpu_s": cpu, "steps": meta["steps"], "final_loss": meta["log"][-1]["loss"], "pairs": meta["pairs"]}


def trl(args, policy, pairs, i, precompute):
    text, peak, wall, cpu = run_measured([sys.executable, __file__, "--worker", "--policy", str(policy), "--pairs", str(pairs),
                                     "--out-dir", str(Path(args.out_dir) / f"trl{i}"), "--batch-size",
                                     str(args.batch_size), "--lr", str(args.lr), "--max-len", str(args.max_len)]
                                    + (["--precompute"] if precompute else []))
    res = json.loads(text.strip().splitlines()[-1])
    return dict(res, tool="trl-pre" if precompute else "trl", peak_mib=peak, wall=wall, cpu_s=cpu)


def trl_worker(args):
    """In its own process: TRL's DPOTrainer on the pairs; prints one JSON line."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer
    recs = [json.loads(x) for x in Path(args.pairs).read_text().splitlines() if x.strip()]
    ds = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in recs])
    tok = AutoTokenizer.from_pretrained(args.policy)
    model = AutoModelForCausalLM.from_pretrained(args.policy, dtype=torch.float32)
    cfg = DPOConfig(output_dir=args.out_dir, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
                    learning_rate=args.lr, num_train_epochs=1, beta=0.1, max_length=args.max_len, logging_steps=1000,
                    save_strategy="no", report_to=[], lr_scheduler_type="cosine", warmup_steps=0.03, use_cpu=True,
                    bf16=False, dataloader_num_workers=0, seed=0, precompute_ref_log_probs=args.precompute,
                    precompute_ref_batch_size=32, disable_tqdm=True, max_grad_norm=1.0,
                    activation_checkpointing=False)  # TRL defaults it on; ours does not checkpoint
    ref_seconds = []

    class Timed(DPOTrainer):
        """DPOTrainer whose reference pre-pass (run inside __init__ with precompute_ref_log_probs) is timed."""

        def _precompute_ref_logps(self, *a, **kw):
            t = time.time()
            out = super()._precompute_ref_logps(*a, **kw)
            ref_seconds.append(time.time() - t)
            return out

    trainer = Timed(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    td = trainer.train_dataset
    tokens = sum(2 * len(p) + len(c) + len(r) for p, c, r in zip(td["prompt_ids"], td["chosen_ids"], td["rejected_ids"]))
    t0 = time.time()
    res = trainer.train()
    train_secs = time.time() - t0
    secs = sum(ref_seconds) + train_secs
    print(json.dumps({"seconds": secs, "ref_seconds": sum(ref_seconds), "train_seconds": train_secs, "tokens": tokens,
                      "tok_s": tokens / secs, "steps": res.global_step, "final_loss": res.training_loss,
                      "pairs": len(td)}))


def markdown(rows, n_pairs, args):
    lines = ["| trainer | tokens/s (median) | runs | seconds (median; reference pass) | peak memory (MiB) | ours / this |", "|---|---|---|---|---|---|"]
    med = {}
    for tool in ("ours", "trl", "trl-pre"):
        rs = [r for r in rows if r["tool"] == tool]
        med[tool] = sorted(r["tok_s"] for r in rs)[len(rs) // 2]
    for tool, name in (("ours", "train_dpo.py"), ("trl", "TRL DPOTrainer (ref model)"),
                       ("trl-pre", "TRL DPOTrainer (precompute_ref_log_probs)")):
        rs = [r for r in rows if r["tool"] == tool]
        runs = ", ".join(f"{r['tok_s']:.0f}" for r in rs)
        lines.append(f"| {name} | {med[tool]:.0f} | {runs} | "
                     f"{sorted(r['seconds'] for r in rs)[len(rs) // 2]:.1f} "
                     + ("(in every step)" if tool == "trl" else f"({sorted(r['ref_seconds'] for r in rs)[len(rs) // 2]:.1f})")
                     + f" | {max(r['peak_mib'] for r in rs):.0f} | "
                     f"{med['ours'] / med[tool]:.2f}x |")
    return "\n".join(lines), med


def update_docs(section):
    put_section("benchmarks.md", "Benchmarks: DPO speed", section)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default=None, help="policy HF directory (default: build into --out-dir)")
    ap.add_argument("--pairs", default=None, help="pairs JSONL (default: build into --out-dir)")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "out" / "dpo"), help="builds, runs and results")
    ap.add_argument("--sft-steps", type=int, default=960, help="train_sft.py steps when building the policy")
    ap.add_argument("--n-problems", type=int, default=128, help="pool problems searched when building the pairs")
    ap.add_argument("--kinds", default="step,complete", help="pair kinds benchmarked")
    ap.add_argument("--n-pairs", type=int, default=1024, help="pairs per run")
    ap.add_argument("--batch-size", type=int, default=16, help="pairs per optimizer step (both trainers)")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate (both)")
    ap.add_argument("--max-len", type=int, default=512, help="max tokens per sequence (both)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each trainer, interleaved")
    ap.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    ap.add_argument("--worker", action="store_true", help="internal: run TRL in this process")
    ap.add_argument("--precompute", action="store_true", help="internal: TRL with precompute_ref_log_probs")
    args = ap.parse_args()
    if args.worker:
        return trl_worker(args)
    print(json.dumps(vars(args)))
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    policy, pairs = build(args)
    pairs, n = subset(args, pairs)
    rows = []
    for i in range(args.reps):
        for run in (lambda: ours(args, policy, pairs, i), lambda: trl(args, policy, pairs, i, False),
                    lambda: trl(args, policy, pairs, i, True)):
            rows.append(run())
            print(json.dumps(rows[-1]), flush=True)
    table, med = markdown(rows, n, args)
    import torch
    import trl as trl_pkg
    cmd = "python benchmarks/bench_dpo.py " + shlex.join(sys.argv[1:])
    meta = (f"{n} pairs ({args.kinds}), batch {args.batch_size}, 1 epoch, max length {args.max_len}, CPU "
            f"({os.cpu_count()} cores, {torch.get_num_threads()} torch threads), torch {torch.__version__}, "
            f"TRL {trl_pkg.__version__}, {args.reps} interleaved runs each")
    section = (f"## Benchmarks: DPO speed\n\n`{cmd}` ({meta})\n\n{table}\n\n"
               "Time = reference log-probs + training, in each trainer's own process; tokens = non-pad tokens of "
               "the chosen and rejected sequences in one epoch (TRL adds an EOS to every completion, ours only to "
               "finished ones). Peak memory = the process's maximum resident set, all included.\n")
    (Path(args.out_dir) / "bench_dpo.json").write_text(json.dumps({"args": vars(args), "rows": rows, "median_tok_s": med}, indent=2))
    (Path(args.out_dir) / "bench_dpo.md").write_text(section)
    print(section)
    if args.update_docs:
        update_docs(section)


if __name__ == "__main__":
    main()
