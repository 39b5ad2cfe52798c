"""Benchmark of mcts.py on the built-in task's tiny model, on CPU.

Measures, in one process, with one loaded policy:
  (a) MCTS generated tokens/s (all included: selection, grading, bookkeeping, the prefix re-encoded at
      every step) over the backend's plain batched sampling tokens/s at the same concurrency (window x
      children rows per call): whole solutions from the question prompts (the headline), and one step
      each (stopping at the delimiter); measured before and after the MCTS run and averaged.
  (b) wall time of the same search over `--n-lockstep` problems one problem at a time (window 1) over
      lock-step (window = n), and whether both give identical trees.
  (c) on the built-in test set: the fraction of problems with at least one correct terminal after
      `--rollouts` rollouts, against pass@`--rollouts` of plain sampling (whole solutions) with the
      same policy and temperature, and the mean generated tokens per problem of each.
Writes `--out-dir`/bench_mcts.json and bench_mcts.md (a markdown table); `--update-docs` puts the
table under "## Benchmarks: MCTS" in docs/benchmarks.md.

Without --policy/--data it builds them with the project's own commands into `--out-dir`:
  python synth.py builtin --out-dir OUT/data
  python train_sft.py --init tiny --data OUT/data/seed.jsonl --out OUT/policy --steps SFT_STEPS
Run it alone on the machine (it measures speed):
  python benchmarks/bench_mcts.py --update-docs
"""
import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
from docs_section import put_section  # noqa: E402  (beside this script)
sys.path.insert(0, str(ROOT))

import mcts  # noqa: E402
import searchtree  # noqa: E402
from common import format_prompt, pick_device, read_problems, stable_seed, write_json  # noqa: E402
from engine import HFBackend  # noqa: E402
from grader import grade  # noqa: E402


def build(args):
    """Policy and data from the project's commands, unless given or already built."""
    out = Path(args.out_dir)
    data = Path(args.data) if args.data else out / "data"
    if not (data / "test.jsonl").exists():
        subprocess.run([sys.executable, "synth.py", "builtin", "--out-dir", str(data)], cwd=ROOT, check=True)
    policy = Path(args.policy) if args.policy else out / "policy"
    if not (policy / "config.json").exists():
        subprocess.run([sys.executable, "train_sft.py", "--init", "tiny", "--data", str(data / "seed.jsonl"),
                        "--out", str(policy), "--steps", str(args.sft_steps)], cwd=ROOT, check=True)
    return policy, data


def search_cfg(args, window):
    return mcts.get_parser().parse_args([
        "--rollouts", str(args.rollouts), "--children", str(args.children), "--max-depth", str(args.max_depth),
        "--max-step-tokens", str(args.max_step_tokens), "--window", str(window), "--seed", str(args.seed)])


def run_search(backend, args, problems, window):
    s = mcts.Search(backend, search_cfg(args, window))
    backend.store.clear()  # every measurement starts with no prompt's keys/values kept (engine.HFBackend)
    t0 = time.time()
    recs = list(s.run(problems))
    return recs, s.tokens, time.time() - t0


def raw_sampling(backend, args, prompts, rows, whole, reps=2):
    """tokens/s of plain batched sampling with `rows` rows per call (prompts x children samples):
    whole solutions (no stop, --max-tokens) or one step (stop at the delimiter, --max-step-tokens)."""
    toks, dt = 0, 0.0
    backend.store.clear()
    for rep in range(reps):
        ps = [prompts[(rep * rows // args.children + i) % len(prompts)] for i in range(rows // args.children)]
        t0 = time.time()
        outs = backend.generate(ps, n=args.children, temperature=1.0, stop=None if whole else ["\n\n"],
                                max_tokens=args.max_tokens if whole else args.max_step_tokens,
                                seeds=[stable_seed(args.seed, "raw", rep, i) for i in range(len(ps))])
        dt += time.time() - t0
        toks += sum(o["tokens"] for row in outs for o in row)
    return toks / dt


def markdown(r):
    a, b, c = r["a"], r["b"], r["c"]
    n = c["rollouts"]
    return "\n".join([
        "| measurement | MCTS | reference | ratio | goal |",
        "|---|---|---|---|---|",
        f"| (a) generated tok/s, {a['rows']} rows per call | {a['mcts_tok_s']:.0f} | {a['whole_tok_s']:.0f} (batched "
        f"sampling of whole solutions) | {a['ratio']:.2f} | >= 1.5 |",
        f"| (a'') prompt tokens reused | {100 * a.get('prompt_tokens_reused', 0):.0f}% | | | |",
        f"| (a') same, other reference | {a['mcts_tok_s']:.0f} | {a['step_tok_s']:.0f} (batched sampling of one "
        f"step) | {a['mcts_tok_s'] / a['step_tok_s']:.2f} | |",
        f"| (b) wall time, {b['problems']} problems | {b['lockstep_s']:.1f} s (lock-step) | {b['sequential_s']:.1f} s "
        f"(one at a time) | {b['speedup']:.1f}x | >= 5x |",
        f"| (b') the backend alone: one-step tok/s | {b['backend_large_tok_s']:.0f} ({a['rows']} rows per call) | "
        f"{b['backend_small_tok_s']:.0f} ({a['rows'] // r['args']['window']} rows per call) | {b['backend_gain']:.1f}x | |",
        f"| (c) test problems solved, {c['problems']} problems | {100 * c['mcts_solved']:.1f}% (a correct terminal "
        f"after {n} rollouts) | {100 * c['pass_at_n']:.1f}% (pass@{n} of plain sampling) | | |",
        f"| (c) generated tokens per problem | {c['mcts_tokens']:.0f} | {c['sample_tokens']:.0f} | "
        f"{c['mcts_tokens'] / c['sample_tokens']:.2f} | |",
    ])


NOTE = """(a) is MCTS generated tokens/s, everything included (selection, grading, bookkeeping, prefills), over
the same backend sampling whole solutions (a': one step each) for as many rows per call. (b) is the same
search run one tree at a time (the trees are the same, checked: every field but the nodes' logp, equal to
1e-4); (b') is the backend alone at the two batch shapes, which bounds (b). The backend stores each distinct
prompt's keys/values once for all its samples (engine.SharedPrefixCache), drops a prompt's keys from the
decode once its samples have all stopped (half the prompts at a time), and keeps prompts' keys/values across
calls (kvstore.PrefixStore): a node's children run only the node's own step, not the question and the path
again ("prompt tokens reused" is the share of prompt tokens found stored). Every measurement starts with an
empty store. (c) counts a problem as solved when any terminal of its tree is correct, against pass@N of N
whole sampled solutions; the search spends more tokens per problem (every expansion draws `children`
samples)."""


def update_docs(table, cmd, meta):
    put_section("benchmarks.md", "Benchmarks: MCTS", f"## Benchmarks: MCTS\n\n`{cmd}` ({meta})\n\n{table}\n\n{NOTE}\n")


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default=None, help="policy HF directory (default: build into --out-dir)")
    ap.add_argument("--data", default=None, help="directory with synth.py's pool.jsonl and test.jsonl (default: build)")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "out"), help="where the JSON, table and builds go")
    ap.add_argument("--sft-steps", type=int, default=960, help="train_sft.py steps when building the policy (an early probe: ~960)")
    ap.add_argument("--window", type=int, default=64, help="trees in lock-step for (a) and (c)")
    ap.add_argument("--children", type=int, default=4, help="samples per expansion")
    ap.add_argument("--rollouts", type=int, default=16, help="rollouts per problem (and N of pass@N)")
    ap.add_argument("--max-depth", type=int, default=8, help="max steps (the built-in task has at most 5)")
    ap.add_argument("--max-step-tokens", type=int, default=48, help="max new tokens per step")
    ap.add_argument("--max-tokens", type=int, default=256, help="max new tokens of a whole sampled solution")
    ap.add_argument("--n-test", type=int, default=500, help="test problems for (a) and (c)")
    ap.add_argument("--n-lockstep", type=int, default=64, help="pool problems for (b)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: on this shared 2-core machine two threads "
                    "ran 3-60x slower whenever another process was busy; 0: torch's default)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    ap.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    return ap


def solved_vs_pass(backend, args, test, prompts, recs, mcts_seconds):
    """(c): the share of problems whose tree holds a correct terminal against pass@N of N whole samples."""
    t0 = time.time()
    outs = backend.generate(prompts, n=args.rollouts, temperature=1.0, max_tokens=args.max_tokens,
                            seeds=[stable_seed(args.seed, p["id"], "sample") for p in test])
    sample_s = time.time() - t0
    solved = {r["id"]: r["stats"]["correct"] > 0 for r in recs}
    c = {"problems": len(test), "rollouts": args.rollouts,
         "mcts_solved": sum(solved.values()) / len(test),
         "pass_at_n": sum(any(grade(o["text"], p["answer"], free_text=False) for o in os_) for p, os_ in zip(test, outs)) / len(test),
         "mcts_tokens": sum(r["stats"]["tokens"] for r in recs) / len(test),
         "sample_tokens": sum(o["tokens"] for os_ in outs for o in os_) / len(test),
         "sample_seconds": sample_s, "mcts_seconds": mcts_seconds,
         "mcts_solved_by_difficulty": {}}
    for d in sorted({p.get("difficulty") for p in test}, key=str):
        ids = [p["id"] for p in test if p.get("difficulty") == d]
        c["mcts_solved_by_difficulty"][str(d)] = sum(solved[i] for i in ids) / len(ids)
    return c


def main():
    args = get_parser().parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    print(json.dumps(vars(args)))
    policy, data = build(args)
    device, dtype = pick_device()
    backend = HFBackend(policy, device, dtype, batch_size=args.window * args.children)
    test = read_problems(data / "test.jsonl")[:args.n_test]
    pool = read_problems(data / "pool.jsonl")[:args.n_lockstep]
    prompts = [format_prompt(backend.tokenizer, p["question"]) for p in test]
    rows = args.window * args.children

    # (a) + (c): plain sampling, MCTS on the test set, plain sampling again (the machine's speed drifts)
    before = [raw_sampling(backend, args, prompts, rows, whole) for whole in (True, False)]
    recs, toks, dt = run_search(backend, args, test, args.window)
    reused = backend.store.reused / max(backend.store.asked, 1)
    print(f"MCTS {len(recs)} test problems: {toks} tokens in {dt:.1f}s = {toks / dt:.0f} tok/s; "
          f"{100 * reused:.0f}% of prompt tokens reused")
    after = [raw_sampling(backend, args, prompts, rows, whole) for whole in (True, False)]
    print(f"plain sampling, {rows} rows: whole solutions {before[0]:.0f} / {after[0]:.0f} tok/s, "
          f"one step {before[1]:.0f} / {after[1]:.0f} tok/s (before / after)")
    whole, step = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    a = {"rows": rows, "mcts_tok_s": toks / dt, "whole_tok_s": whole, "step_tok_s": step, "ratio": toks / dt / whole,
         "whole_runs": [before[0], after[0]], "step_runs": [before[1], after[1]], "mcts_seconds": dt, "mcts_tokens": toks, "prompt_tokens_reused": reused}
    c = solved_vs_pass(backend, args, test, prompts, recs, dt)
    print(f"(c) MCTS solved {100 * c['mcts_solved']:.1f}% | pass@{args.rollouts} {100 * c['pass_at_n']:.1f}%")

    # (b) lock-step vs one problem at a time, the same search
    lock, _, lock_s = run_search(backend, args, pool, len(pool))
    print(f"(b) lock-step {len(pool)} problems: {lock_s:.1f}s")
    seq, _, seq_s = run_search(backend, args, pool, 1)
    print(f"(b) one at a time: {seq_s:.1f}s")
    # the backend alone at the two batch shapes: one step, `children` rows per call vs window x children
    small, large = raw_sampling(backend, args, prompts, args.children, False, reps=64), raw_sampling(backend, args, prompts, rows, False)
    print(f"plain one-step sampling: {small:.0f} tok/s at {args.children} rows, {large:.0f} tok/s at {rows} rows")
    b = {"problems": len(pool), "lockstep_s": lock_s, "sequential_s": seq_s, "speedup": seq_s / lock_s,
         "identical_trees": searchtree.same_trees(lock, seq), "backend_small_tok_s": small, "backend_large_tok_s": large,
         "backend_gain": large / small}

    result = {"args": vars(args), "policy": str(policy), "threads": torch.get_num_threads(), "a": a, "b": b, "c": c,
              "seconds": time.time() - t_start, "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(args.out_dir)
    write_json(out / "bench_mcts.json", result)
    table = markdown(result)
    (out / "bench_mcts.md").write_text(table + "\n")
    print(table)
    if args.update_docs:
        meta = (f"{time.strftime('%Y-%m-%d')}, CPU, torch threads: {torch.get_num_threads()}, tiny policy trained {args.sft_steps} steps, "
                f"{args.children} children, {args.rollouts} rollouts, max depth {args.max_depth}, window {args.window}")
        update_docs(table, "python benchmarks/bench_mcts.py " + shlex.join(sys.argv[1:]), meta)


if __name__ == "__main__":
    main()
