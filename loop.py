"""The whole self-improvement loop from one command: K rounds of search -> pairs -> training -> eval.

What it does (rStar-Math's self-evolution recipe, section 5 of shared/spec/spec_004.md, on the
built-in task by default; every step is one of the stage scripts, run as a subprocess):
  round 0  synth.py builtin (seed set with solutions, answer-only pool, test set);
           train_sft.py --init tiny on the seed set -> policy_0; evaluate.py.
  round r  mcts.py on a fresh slice of the pool with policy_{r-1}: terminal-guided search in round 1
           (+1/-1 from the grader, backed up), PPM-augmented from round 2 (the previous round's
           PPM seeds the Q of new nodes, rStar Eq. 3; terminal rewards stay the grader's);
           pairs.py -> sft.jsonl (top-2 correct trajectories per problem by mean Q, rStar),
           pairs.jsonl (step/complete pairs, CPL), ppm_pairs.jsonl (rStar PPM pairs);
           policy_r: `--update sft` continues SFT of policy_{r-1} on the seed set plus every round's
           top-2 trajectories (rStar, AlphaLLM); `cpl` runs CPL DPO on the step + complete pairs;
           `sft+cpl` does both in that order;
           PPM_r: train_ppm.py (Bradley-Terry, initialised from policy_r, rStar) on every round's pairs;
           evaluate.py: greedy pass@1 on the whole test set; maj@N, best-of-N with PPM_r and
           MCTS with PPM_r on its first `--eval-limit` problems.
  baseline (`--baseline`, per round, compute-matched): rejection-sampling SFT: plain full-solution
           sampling on the same pool slice with as many generated tokens as the round's MCTS, the
           top-2 distinct correct samples per problem, then the same SFT update; and more SFT: the
           previous baseline policy trained on the seed set for as many extra steps as the round's
           search + training took in wall time.
Every round's artifacts go in OUT/round{r}/; a step whose output exists is skipped, so a rerun
resumes where it stopped. At the end a before/after table is printed and saved (OUT/results.md,
OUT/results.json).

Commands
  CPU (built-in task):  python loop.py --out runs/loop --rounds 2
  fewer minutes:        python loop.py --out runs/smoke --rounds 1 --n-pool 64 --sft-steps 60 --eval-limit 32
  a real model (GPU):   python loop.py --out runs/qwen --init Qwen/Qwen2.5-Math-1.5B-Instruct \\
                            --seed-file sft_seed.jsonl --pool-file gsm8k_train.jsonl --test-file gsm8k_test.jsonl \\
                            --backend vllm --sft-lr 7e-6 --sft-steps 500 --refresh-steps 300 --ppm-lr 7e-6
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import (format_prompt, load_jsonl, load_tokenizer, make_backend, read_problems, stable_seed,
                    write_json, write_jsonl)
from grader import grade

PY = sys.executable


def run(cmd, log, done):
    """Run one stage unless its output `done` exists; its output goes to `log` and the console."""
    if Path(done).exists():
        print(f"[skip] {Path(done)} exists", flush=True)
        return 0.0
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    t0 = time.time()
    with open(log, "a") as f:
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            f.write(line)
            if not line.startswith(("Loading weights", "Writing model")) and "it/s]" not in line:
                print("  " + line.rstrip(), flush=True)
    if p.wait() != 0:
        raise SystemExit(f"stage failed ({p.returncode}): {' '.join(str(c) for c in cmd)}; see {log}")
    return time.time() - t0


def seconds_of(path):
    """Wall time of a finished stage, stored beside its output (so resumed runs keep their timings)."""
    return json.loads(Path(path).read_text())["seconds"] if Path(path).exists() else 0.0


def timed(cmd, log, done, time_file):
    dt = run(cmd, log, done)
    if dt:
        write_json(time_file, {"seconds": dt})
    return seconds_of(time_file)


def rejection_sample(policy, problems, token_budget, out, args):
    """Plain sampling on the same problems until `token_budget` tokens: top-2 distinct correct per problem.

    The baseline for search: the same generation compute, spent on whole solutions instead of a tree.
    """
    backend = make_backend(args.backend, policy, batch_size=args.batch_size, seed=args.seed)
    prompts = [format_prompt(backend.tokenizer, p["question"]) for p in problems]
    kept, spent, wave = {}, 0, 0
    while spent < token_budget:
        outs = backend.generate(prompts, n=4, temperature=1.0, max_tokens=256,
                                seeds=[stable_seed(args.seed, p["id"], "rs", wave) for p in problems])
        for p, pr, samples in zip(problems, prompts, outs):
            for s in samples:
                spent += s["tokens"]
                got = kept.setdefault(p["id"], [])
                if len(got) < 2 and s["text"] not in [g["completion"] for g in got] and grade(s["text"], p["answer"], free_text=False):
                    got.append({"id": p["id"], "prompt": pr, "completion": s["text"]})
        wave += 1
    recs = [r for v in kept.values() for r in v]
    write_jsonl(out, recs)
    return {"tokens": spent, "examples": len(recs), "solved": sum(1 for v in kept.values() if v)}


def table(rows, methods):
    lines = ["| round | policy | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for r in rows:
        lines.append(f"| {r['round']} | {r['policy']} | " + " | ".join(
            f"{100 * r[m]:.1f}" if r.get(m) is not None else "-" for m in methods) + " |")
    return "\n".join(lines)


def read_eval(d):
    s = json.loads((Path(d) / "summary.json").read_text())["methods"]
    return {k: v["acc"] for k, v in s.items()}, {k: v["by_difficulty"] for k, v in s.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/loop", help="root folder of the run (rounds go in OUT/round{r})")
    ap.add_argument("--rounds", type=int, default=2, help="self-improvement rounds K (rStar: 4; 2 on CPU)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the task, the tiny model, sampling and search")
    ap.add_argument("--init", default="tiny", help="'tiny' (built-in) or an HF policy to start from")
    ap.add_argument("--seed-file", default="", help="seed problems with solutions (default: synth.py builtin)")
    ap.add_argument("--pool-file", default="", help="answer-only problems to search (default: synth.py builtin)")
    ap.add_argument("--test-file", default="", help="held-out problems (default: synth.py builtin)")
    ap.add_argument("--n-seed", type=int, default=1000, help="built-in: seed problems (with solutions)")
    ap.add_argument("--seed-ops", default="2-4", help="built-in: operations per seed problem (easy ones)")
    ap.add_argument("--n-pool", type=int, default=500, help="pool problems searched per round (a fresh slice each round)")
    ap.add_argument("--n-test", type=int, default=1000, help="built-in: test problems")
    ap.add_argument("--synth-args", default="", help="extra synth.py builtin flags, e.g. '--max-operand 5 --max-value 20'")
    ap.add_argument("--sft-args", default="", help="extra train_sft.py flags for round 0, e.g. '--hidden 64 --layers 2'")
    ap.add_argument("--sft-steps", type=int, default=1500, help="round 0 SFT steps (built-in: at 900 the base was "
                    "under-trained and more SFT beat the loop; 1500: README, Results)")
    ap.add_argument("--sft-lr", type=float, default=3e-3, help="round 0 SFT peak lr (tiny model: probe)")
    ap.add_argument("--update", default="sft", choices=["sft", "cpl", "sft+cpl"], help="policy update each round")
    ap.add_argument("--refresh-steps", type=int, default=300, help="SFT steps of the policy update each round")
    ap.add_argument("--refresh-lr", type=float, default=1e-3, help="peak lr of the SFT policy update")
    ap.add_argument("--dpo-args", default="--epochs 2 --lr 2e-4 --sft-weight 1.0", help="extra train_dpo.py flags for cpl")
    ap.add_argument("--rollouts", type=int, default=16, help="mcts.py rollouts per problem (rStar rounds 2-4: 16)")
    ap.add_argument("--children", type=int, default=4, help="mcts.py samples per expansion")
    ap.add_argument("--mcts-args", default="--max-depth 8 --max-step-tokens 48", help="extra mcts.py flags")
    ap.add_argument("--ppm-min-edit", type=int, default=1, help="pairs.py --ppm-min-edit (rStar's 20 characters "
                    "suits sentence steps; built-in steps like '4-4=0' vs '4-4=1' differ by one)")
    ap.add_argument("--ppm-steps", type=int, default=300, help="train_ppm.py optimizer steps")
    ap.add_argument("--ppm-lr", type=float, default=1e-3, help="train_ppm.py peak lr (tiny model: tuned)")
    ap.add_argument("--eval-limit", type=int, default=300, help="test problems for maj@N, best-of-N and MCTS (greedy uses all)")
    ap.add_argument("--n", type=int, default=16, help="N for maj@N and best-of-N; MCTS rollouts at test time")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the compute-matched baselines (rejection-sampling SFT, more SFT)")
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation backend for every stage")
    ap.add_argument("--batch-size", type=int, default=128, help="HF generation batch")
    args = ap.parse_args()
    print(json.dumps(vars(args)), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "loop_args.json", vars(args))
    log = out / "log.txt"
    t_start = time.time()

    # ---- round 0: data and the base policy
    data = out / "data"
    run([PY, "synth.py", "builtin", "--out-dir", data, "--seed", args.seed, "--n-seed", args.n_seed,
         "--seed-ops", args.seed_ops, "--n-pool", args.n_pool * args.rounds, "--n-test", args.n_test]
        + args.synth_args.split(),
        log, data / "test.jsonl")
    seed_file = args.seed_file or data / "seed.jsonl"
    pool = read_problems(args.pool_file or data / "pool.jsonl")
    test_file = args.test_file or data / "test.jsonl"
    r0 = out / "round0"
    r0.mkdir(exist_ok=True)
    policy = r0 / "policy"
    sft_time = timed([PY, "train_sft.py", "--init", args.init, "--data", seed_file, "--out", policy,
                      "--steps", args.sft_steps, "--lr", args.sft_lr, "--seed", args.seed, "--log-every", 100]
                     + args.sft_args.split(),
                     log, policy / "meta.json", r0 / "sft_time.json")
    sec_per_step = sft_time / args.sft_steps

    def evaluate(pol, d, ppm=None):
        run([PY, "evaluate.py", "--model", pol, "--data", test_file, "--out-dir", d / "greedy", "--methods", "greedy",
             "--seed", args.seed, "--backend", args.backend, "--no-plot"], log, d / "greedy" / "summary.json")
        methods = "sample,bon,mcts" if ppm else "sample"
        extra = ["--ppm", f"ppm={ppm}", "--mcts-rollouts", args.n] if ppm else []
        run([PY, "evaluate.py", "--model", pol, "--data", test_file, "--out-dir", d / "search", "--methods", methods,
             "--n", args.n, "--limit", args.eval_limit, "--seed", args.seed, "--backend", args.backend,
             "--no-plot"] + extra, log, d / "search" / "summary.json")
        acc, by = read_eval(d / "greedy")
        acc2, _ = read_eval(d / "search")
        return {**acc, **acc2}, by["greedy"]

    rows = []
    acc, by = evaluate(policy, r0 / "eval")
    rows.append({"round": 0, "policy": "SFT on seed", **acc, "greedy_by_difficulty": by,
                 "minutes": (time.time() - t_start) / 60})

    # ---- rounds 1..K
    ppm, sft_files, ppm_files, base_policy = None, [], [], policy
    for r in range(1, args.rounds + 1):
        rd = out / f"round{r}"
        rd.mkdir(exist_ok=True)
        t_round = time.time()
        problems = pool[(r - 1) * args.n_pool: r * args.n_pool]
        write_jsonl(rd / "pool.jsonl", problems)
        mcts_extra = ["--ppm", ppm, "--ppm-prior"] if ppm else []  # rStar round 2+: PPM-augmented search
        search_s = timed([PY, "mcts.py", "--policy", policy, "--data", rd / "pool.jsonl", "--out", rd / "trees.jsonl",
                          "--rollouts", args.rollouts, "--children", args.children, "--seed", args.seed,
                          "--backend", args.backend] + args.mcts_args.split() + mcts_extra,
                         log, rd / "mcts_time.json", rd / "mcts_time.json")  # written only when the search finished
        trees = load_jsonl(rd / "trees.jsonl")
        mcts_tokens = sum(t["stats"]["tokens"] for t in trees)
        solved = sum(1 for t in trees if t["stats"]["correct"] > 0) / max(1, len(trees))
        run([PY, "pairs.py", "--trees", rd / "trees.jsonl", "--out-dir", rd / "pairs", "--model", policy,
             "--sft-k", 2, "--ppm-min-edit", args.ppm_min_edit], log, rd / "pairs" / "pairs_meta.json")
        # a round that solved nothing adds no data (the readers refuse empty files)
        sft_files += [f for f in [rd / "pairs" / "sft.jsonl"] if f.stat().st_size]
        ppm_files += [f for f in [rd / "pairs" / "ppm_pairs.jsonl"] if f.stat().st_size]

        new_policy = rd / "policy"
        train_s = 0.0
        if "sft" in args.update.split("+"):
            train_s += timed([PY, "train_sft.py", "--init", policy, "--data", seed_file, *sft_files,
                              "--out", new_policy if args.update == "sft" else rd / "policy_sft",
                              "--steps", args.refresh_steps, "--lr", args.refresh_lr, "--seed", args.seed,
                              "--log-every", 100],
                             log, (new_policy if args.update == "sft" else rd / "policy_sft") / "meta.json",
                             rd / "sft_time.json")
        if "cpl" in args.update.split("+"):
            start = rd / "policy_sft" if args.update == "sft+cpl" else policy
            train_s += timed([PY, "train_dpo.py", "--model", start, "--pairs", rd / "pairs" / "pairs.jsonl",
                              "--kinds", "step,complete", "--order", "cpl", "--out", new_policy, "--seed", args.seed]
                             + args.dpo_args.split(), log, new_policy / "meta.json", rd / "dpo_time.json")
        policy = new_policy
        ppm_s = 0.0
        if ppm_files:
            ppm_s = timed([PY, "train_ppm.py", "--init", policy, "--pairs", ppm_files[-1], "--out", rd / "ppm",
                           "--loss", "bt", "--steps", args.ppm_steps, "--lr", args.ppm_lr, "--seed", args.seed],
                          log, rd / "ppm" / "config.json", rd / "ppm_time.json")
            ppm = rd / "ppm"
        acc, by = evaluate(policy, rd / "eval", ppm)
        rows.append({"round": r, "policy": f"loop round {r} ({args.update})", **acc, "greedy_by_difficulty": by,
                     "search_solved": solved, "mcts_tokens": mcts_tokens, "minutes": (time.time() - t_start) / 60,
                     "round_seconds": {"search": search_s, "train": train_s, "ppm": ppm_s}})

        if args.baseline:  # the same compute without search
            bd = rd / "baseline"
            bd.mkdir(exist_ok=True)
            rs_prev = base_policy if r == 1 else out / f"round{r - 1}" / "baseline" / "rs_policy"
            if not (bd / "rs_stats.json").exists():
                write_json(bd / "rs_stats.json", rejection_sample(rs_prev, problems, mcts_tokens, bd / "rs_sft.jsonl", args))
            rs_files = [f for k in range(1, r + 1) for f in [out / f"round{k}" / "baseline" / "rs_sft.jsonl"]
                        if f.stat().st_size]
            run([PY, "train_sft.py", "--init", rs_prev, "--data", seed_file, *rs_files, "--out", bd / "rs_policy",
                 "--steps", args.refresh_steps, "--lr", args.refresh_lr, "--seed", args.seed], log,
                bd / "rs_policy" / "meta.json")
            more_prev = base_policy if r == 1 else out / f"round{r - 1}" / "baseline" / "more_sft"
            extra_steps = max(1, round((search_s + train_s) / sec_per_step))
            run([PY, "train_sft.py", "--init", more_prev, "--data", seed_file, "--out", bd / "more_sft",
                 "--steps", extra_steps, "--lr", args.refresh_lr, "--seed", args.seed], log, bd / "more_sft" / "meta.json")
            for name, pol in [("rejection-sampling SFT", bd / "rs_policy"), ("more SFT on seed", bd / "more_sft")]:
                d = bd / ("eval_rs" if "rejection" in name else "eval_more")
                run([PY, "evaluate.py", "--model", pol, "--data", test_file, "--out-dir", d, "--methods", "greedy",
                     "--seed", args.seed, "--backend", args.backend, "--no-plot"], log, d / "summary.json")
                acc, by = read_eval(d)
                rows.append({"round": r, "policy": f"baseline: {name}", **acc, "greedy_by_difficulty": by["greedy"]})
        print(f"round {r} done in {(time.time() - t_round) / 60:.1f} min (total {(time.time() - t_start) / 60:.1f} min)",
              flush=True)

    methods = ["greedy", f"maj@{args.n}", f"bon-last:ppm@{args.n}", f"mcts:ppm@{args.n}"]
    md = table(rows, methods)
    diffs = sorted({d for row in rows for d in row["greedy_by_difficulty"]})
    md += "\n\ngreedy pass@1 by difficulty (operations):\n\n| round | policy | " + " | ".join(diffs) + " |\n|---|---|" + \
        "---|" * len(diffs) + "\n" + "\n".join(
            f"| {row['round']} | {row['policy']} | " + " | ".join(f"{100 * row['greedy_by_difficulty'][d]:.1f}" for d in diffs)
            + " |" for row in rows)
    total = (time.time() - t_start) / 60
    md += f"\n\nwall time of this invocation {total:.1f} min (stages skipped on resume are not counted)"
    (out / "results.md").write_text(md + "\n")
    write_json(out / "results.json", {"args": vars(args), "rows": rows, "minutes": total})
    print(md)


if __name__ == "__main__":
    main()
