"""The whole self-improvement loop from one command: K rounds of search -> verified data -> training -> eval.

What it does (the self-evolution recipe of "rStar-Math: Small LLMs Can Master Math Reasoning with
Self-Evolved Deep Thinking", Guan et al. 2025, on the built-in task by default; every step is one of
the stage scripts, run as a process of its own by runner.py):
  round 0  synth.py builtin (BUILTIN_DATA): a seed set with gold solutions, an answer-only pool, a
           disjoint test set; train_sft.py --init tiny on the seed set for `--base-steps` (its plateau), or
           a policy trained before (`--base-policy`); evaluate.py greedy.
  round r  mcts.py with policy_{r-1} on `--n-pool` pool problems: those earlier rounds did not solve
           first, with `--retry-rollouts` (rStar spends more rollouts on hard problems in later rounds),
           then fresh ones with `--rollouts`; terminal-guided (+1/-1 from the grader, backed up), steps
           whose written arithmetic is false dropped (`--check-equations` in `--mcts-args`, the text analog
           of rStar dropping code that fails); on a CPU split over SEARCH_PROCS processes;
           pairs.py -> sft.jsonl: up to 2 verified trajectories per problem (rStar) (correct answer, every
           equation true, one per operation: grader.steps_verified), pairs.jsonl, ppm_pairs.jsonl;
           the update (`--update`): `sft` trains policy_{r-1} (or the init, `--update-from init`, as rStar
           retrains) on the seed set plus every round's verified trajectories; `cpl` runs CPL DPO on the
           round's step + complete pairs; `sft+cpl` both; `sft+corrections` (the default on the built-in
           task) follows the SFT with `--fix-iterations` rounds of: greedy decoding of the whole pool, the
           first false step of each solution against the checker's correction (pairs.py --greedy), DPO
           with its NLL term from that policy as its own reference;
           with `--ppm`: PPM_r, by default the result verifier (policy_r fine-tuned on its pool samples
           with their false results corrected: pairs.py --samples, train_sft.py --verifier), or with
           `--ppm bt` train_ppm.py on every round's rStar PPM pairs; round r+1 searches with it as
           the prior of new nodes (rStar Eq. 3);
           evaluate.py: greedy pass@1 on the whole test set (`--eval-search`: also maj@N, and with a
           PPM best-of-N and MCTS, on the first EVAL_LIMIT problems).
Baselines at equal compute (more SFT on the seed set for the same wall time; rejection-sampling SFT with
the same verification at the same generated tokens): benchmarks/bench_loop.py, on this command's output.
Every round's artifacts go in OUT/round{r}/; a step whose output exists is skipped, so a rerun resumes
(more --rounds extend a finished run; other settings that shape the output are refused, naming the flags:
--force starts over). At the end a table is printed and saved (OUT/results.md, OUT/results.json).

Commands
  CPU (built-in task):  python loop.py --out runs/loop
  fewer minutes:        python loop.py --out runs/smoke --rounds 1 --n-pool 64 --base-steps 60 --refresh-steps 20 --update sft
  code steps:           python loop.py --out runs/loop_code --format code
  a real model (GPU):   python loop.py --out runs/qwen --init Qwen/Qwen2.5-Math-1.5B-Instruct \\
                            --seed-file sft_seed.jsonl --pool-file gsm8k_train.jsonl --test-file gsm8k_test.jsonl \\
                            --backend vllm --base-steps 500 --mcts-args "--children 8 --check-equations"
                        (MODEL_SETTINGS: lr, lengths; docs/gpu.md)
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from common import (check_model_dir, check_output, check_resume, load_jsonl, nonneg_int, positive_float, positive_int,
                    read_problems, run_main, write_json, write_jsonl)
from runner import run, timed

PY = sys.executable
HERE = Path(__file__).resolve().parent  # the stage scripts sit beside this file


# the built-in task's splits (synth.py builtin): a seed set spanning every difficulty of the test set (the tiny
# model does not generalise to more steps than its seed set shows), small enough that the base is data-limited
# (500 leaves the room verified search data can climb: docs/loop.md); a pool that rounds take --n-pool from
BUILTIN_DATA = "--n-seed 500 --seed-ops 2-6 --n-pool 4000 --pool-ops 2-6 --n-test 1000 --test-ops 2-6"
POOL_SIZE = 4000
# --ppm: the verifier's samples per pool problem, the optimizer steps of each kind and the peak lr (tuned on the
# tiny model, docs/ppm.md); pairs.py's edit-distance filter of PPM pairs (built-in steps can differ by one digit)
PPM_SAMPLES, PPM_STEPS, PPM_LR, PPM_MIN_EDIT = 16, {"verifier": 1000, "bt": 300}, 1e-3, 1
EVAL_LIMIT = 300  # test problems of --eval-search (greedy reads all)
# what depends on the model, passed to every round's stages (docs/gpu.md has the table): the tiny model from
# scratch, or a pretrained HF model (rStar-Math's lr 7e-6; lengths for GSM8K / MATH solutions, guessed). The
# step delimiter is "\n\n" and the prompt the tokenizer's chat template (common.format_prompt) for both.
MODEL_SETTINGS = {"tiny": {"base_lr": 3e-3, "refresh_lr": 1e-3, "max_len": 512, "max_tokens": 256, "max_step_tokens": 48,
                           "max_depth": 8},
                  "hf": {"base_lr": 7e-6, "refresh_lr": 7e-6, "max_len": 2048, "max_tokens": 1024, "max_step_tokens": 256,
                         "max_depth": 16}}
# mcts.py processes per search with the HF backend, each on 1/n of the problems with 1/n of the CPU threads,
# merged after: the same trees, sooner on 2 CPU cores (two one-thread searches do more work than one two-thread one)
SEARCH_PROCS = 2


def stage(name):
    return str(HERE / name)


def setting(args, key):
    """MODEL_SETTINGS[key] for --init (tiny or an HF model)."""
    return MODEL_SETTINGS["tiny" if args.init == "tiny" else "hf"][key]


def step_tokens(args):
    """Max new tokens per searched step: MODEL_SETTINGS', for the tiny char-level model (a token per character)
    raised to hold the seed set's longest gold step and a margin (a relations answer step runs to ~57 characters):
    a step cut short is a broken path the search goes on from."""
    if args.init != "tiny":
        return setting(args, "max_step_tokens")
    seed = args.seed_file or Path(args.out) / "data" / "seed.jsonl"
    longest = max((len(s) for p in read_problems(seed) for s in str(p.get("solution", "")).split("\n\n")), default=0)
    return max(setting(args, "max_step_tokens"), longest + 8)


def round_problems(pool, searched, solved, n):
    """rStar's curriculum: problems earlier rounds searched but did not solve, then fresh ones, n in all."""
    retry = [p for p in pool if p["id"] in searched and p["id"] not in solved][:n]
    fresh = [p for p in pool if p["id"] not in searched][:n - len(retry)]
    return retry, fresh


def read_eval(d):
    s = json.loads((Path(d) / "summary.json").read_text())["methods"]
    return {k: v["acc"] for k, v in s.items()}, {k: v["by_difficulty"] for k, v in s.items()}


def report(rows, methods):
    """Markdown: one line per round (methods, verified data, search), then greedy by difficulty."""
    lines = ["| round | " + " | ".join(methods) + " | verified examples | pool solved | search tokens | minutes |",
             "|---|" + "---|" * (len(methods) + 4)]
    for r in rows:
        cells = [f"{100 * r[m]:.1f}" if r.get(m) is not None else "-" for m in methods]
        solved = f"{r['solved']}/{r['searched']}" if r.get("searched") else "-"
        lines.append(f"| {r['round']} | " + " | ".join(cells) + f" | {r['examples']} | {solved} | "
                     f"{r.get('mcts_tokens', '-')} | {r['minutes']:.1f} |")
    diffs = sorted({d for r in rows for d in r["greedy_by_difficulty"]}, key=lambda d: (len(d), d))
    lines += ["", "greedy pass@1 by difficulty (operations):", "",
              "| round | " + " | ".join(diffs) + " |", "|---|" + "---|" * len(diffs)]
    lines += [f"| {r['round']} | " + " | ".join(f"{100 * r['greedy_by_difficulty'][d]:.1f}" for d in diffs) + " |"
              for r in rows]
    return "\n".join(lines)


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("run")
    g.add_argument("--out", default="runs/loop", help="root folder of the run (rounds go in OUT/round{r})")
    g.add_argument("--rounds", type=nonneg_int, default=2, help="self-improvement rounds K (rStar: 4; 2 on CPU)")
    g.add_argument("--seed", type=int, default=1, help="seed of the task, the tiny model, sampling and search")
    g.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation backend for every stage")
    g.add_argument("--force", action="store_true",
                   help="OUT was made with other settings: delete the whole folder and start over (without it: refuse)")
    g = ap.add_argument_group("data (built-in task unless files are given)")
    g.add_argument("--seed-file", default="", help="seed problems with solutions (default: synth.py builtin)")
    g.add_argument("--pool-file", default="", help="answer-only problems to search (default: synth.py builtin)")
    g.add_argument("--test-file", default="", help="held-out problems (default: synth.py builtin)")
    g.add_argument("--synth-args", default="", help="synth.py builtin flags after the loop's own (BUILTIN_DATA), "
                   "e.g. '--n-seed 1000 --max-operand 5'")
    g.add_argument("--format", default="text", choices=["text", "code"], help="solution steps: text, or rStar's code "
                   "(the built-in task's code format; a searched step that does not run is dropped, a printing one "
                   "gets its output); real data in code format comes from synth.py convert --format code")
    g = ap.add_argument_group("training")
    g.add_argument("--init", default="tiny", help="'tiny' (built-in) or an HF policy to start from")
    g.add_argument("--base-steps", type=positive_int, default=3000,
                   help="round 0 SFT steps (built-in: the base's plateau, docs/loop.md)")
    g.add_argument("--base-lr", type=positive_float, default=None, help="round 0 SFT peak lr (default: MODEL_SETTINGS, "
                   "3e-3 for the tiny model from scratch, 7e-6 for an HF model)")
    g.add_argument("--base-policy", default=None, help="round 0's policy: a checkpoint already trained (of --init's "
                   "family), copied to OUT/round0/policy in place of the --base-steps SFT")
    g.add_argument("--sft-args", default="", help="extra train_sft.py flags for every SFT, e.g. '--hidden 64 --layers 2' "
                   "(the tiny model's shape: round 0 only) or '--batch-size 4 --grad-accum 4'")
    g.add_argument("--update", default=None, choices=["sft", "cpl", "sft+cpl", "sft+corrections"],
                   help="policy update each round: sft (rStar; the default with an HF --init); cpl: CPL DPO on the "
                        "round's step + complete pairs; sft+cpl: both; sft+corrections (the default on the built-in task): "
                        "the SFT, then --fix-iterations of DPO with its NLL term on the checker's corrections of the "
                        "policy's greedy errors on the pool")
    g.add_argument("--fix-iterations", type=positive_int, default=4,
                   help="sft+corrections: iterations of greedy decoding of the pool -> corrected-step pairs -> DPO")
    g.add_argument("--update-from", default="previous", choices=["previous", "init"],
                   help="SFT of a round starts from the previous policy, or from --init for --base-steps (rStar)")
    g.add_argument("--refresh-steps", type=positive_int, default=600, help="SFT steps of a round's update from the previous policy")
    g.add_argument("--refresh-lr", type=positive_float, default=None, help="peak lr of a round's SFT update "
                   "(default: MODEL_SETTINGS, 1e-3 tiny, 7e-6 HF)")
    g.add_argument("--dpo-args", default="--epochs 2 --lr 5e-5 --sft-weight 1.0", help="extra train_dpo.py flags (cpl, sft+cpl, sft+corrections)")
    g = ap.add_argument_group("search")
    g.add_argument("--n-pool", type=positive_int, default=1000,
                   help="pool problems searched per round")
    g.add_argument("--rollouts", type=positive_int, default=16, help="mcts.py rollouts per fresh problem (rStar rounds 2-4: 16)")
    g.add_argument("--retry-rollouts", type=positive_int, default=32, help="rollouts for problems earlier rounds did not solve")
    g.add_argument("--mcts-args", default="--children 4 --stop-after 4 --check-equations",
                   help="mcts.py flags of every search, after the model's --max-depth and --max-step-tokens (MODEL_SETTINGS) "
                   "(--check-equations drops steps with false arithmetic)")
    g.add_argument("--ppm", nargs="?", const="verifier", choices=["verifier", "bt"], default=None,
                   help="train a PPM each round and search with it from round 2: verifier (--ppm alone), the result "
                        "verifier (train_sft.py --verifier on the round policy's corrected pool samples); bt: rStar's "
                        "PPM (train_ppm.py on the PPM pairs)")
    g.add_argument("--ppm-steps", type=positive_int, default=None, help="PPM optimizer steps (default: PPM_STEPS)")
    g = ap.add_argument_group("evaluation")
    g.add_argument("--eval-search", action="store_true", help="also maj@N (and best-of-N, MCTS with the PPM) on "
                   "the first EVAL_LIMIT test problems")
    g.add_argument("--n", type=positive_int, default=16, help="N for maj@N and best-of-N; MCTS rollouts at test time")
    return ap


# flags that may change between a run and its resumption: they do not change what is already there
RESUME_FREE = {"rounds", "backend", "force", "eval_search", "n"}


def expected_minutes(args):
    """Measured on a 2-core CPU with both cores free (docs/loop.md, seed 2): 0.31 s per SFT step of 16
    built-in examples, 0.28 s per pool problem searched with SEARCH_PROCS 2 (0.39 s with one process;
    16 rollouts x 4 children, a tree that finds 4 correct answers stops sooner), ~0.5 min for pairs,
    evaluation and start-ups. Round 0 applies the same SFT speed (the base was never timed alone)."""
    if args.init != "tiny":
        return "a real model: see docs/gpu.md"
    per_problem = 0.28 if SEARCH_PROCS > 1 else 0.39
    r0 = (0 if args.base_policy else 0.31 * args.base_steps / 60) + 0.5
    rnd = (per_problem * args.n_pool + 0.31 * args.refresh_steps) / 60 + 0.5
    if args.update == "sft+corrections":  # per iteration, measured on a host 1.4x faster (seed 2, docs/preference.md):
        rnd += args.fix_iterations * (0.016 * POOL_SIZE / 60 + 1.3)  # 0.011 s per pool problem decoded, ~55 s of DPO
    if args.ppm == "verifier":  # docs/ppm.md: 16 samples on 4000 pool problems took 4.5-5 min
        rnd += 0.075 * POOL_SIZE * PPM_SAMPLES / 16 / 60 + 0.31 * (args.ppm_steps or PPM_STEPS["verifier"]) / 60
    return f"~{r0:.0f} min for round 0 (the base), then ~{rnd:.0f} min per round on 2 free CPU cores"


def check_run(args, out):
    """Flags, files and OUT checked before any work (a bad one fails here, in one line); OUT's args
    written. A rerun resumes only with the settings that made OUT (more rounds, other evaluation: fine)."""
    check_output(out, "--out", is_dir=True)
    if args.init != "tiny":
        check_model_dir(args.init, "--init")
    if args.base_policy:
        check_model_dir(args.base_policy, "--base-policy")
    for f in (args.seed_file, args.pool_file, args.test_file):
        if f:
            read_problems(f)
    record = check_resume(out, out / "loop_args.json", args, ignore=RESUME_FREE, force=args.force,
                          defaults={k: get_parser().get_default(k) for k in vars(args)},
                          inputs={"--seed-file": args.seed_file, "--pool-file": args.pool_file, "--test-file": args.test_file,
                                  "--base-policy": args.base_policy})
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "loop_args.json", record)


def pool_path(args):
    """The pool problems' file: --pool-file, else the built-in task's (make_data writes it)."""
    return args.pool_file or Path(args.out) / "data" / "pool.jsonl"


def make_data(args, out, log):
    """(seed file, pool problems, test file): the given files, else the built-in task (synth.py)."""
    data = out / "data"
    if not (args.seed_file and args.pool_file and args.test_file):
        run([PY, stage("synth.py"), "builtin", "--out-dir", data, "--seed", args.seed, "--format", args.format]
            + BUILTIN_DATA.split() + args.synth_args.split(), log, data / "test.jsonl")
    return (args.seed_file or data / "seed.jsonl", read_problems(pool_path(args)),
            args.test_file or data / "test.jsonl")


def sft(args, log, init, data_files, dest, steps, lr, time_file):
    """train_sft.py with the model's --max-len and --sft-args; its seconds."""
    return timed([PY, stage("train_sft.py"), "--init", init, "--data", *data_files, "--out", dest, "--steps", steps,
                  "--lr", lr, "--seed", args.seed, "--max-len", setting(args, "max_len"), *args.sft_args.split()],
                 log, dest / "meta.json", time_file)


def base_policy(args, log, seed_file, r0):
    """Round 0's policy: --base-policy copied (once; a partial copy is never left as the policy), else the
    --base-steps SFT of --init on the seed set; (policy, seconds of training)."""
    base = r0 / "policy"
    if not args.base_policy:
        return base, sft(args, log, args.init, [seed_file], base, args.base_steps, args.base_lr, r0 / "sft_time.json")
    if not base.exists():
        shutil.rmtree(r0 / "policy.tmp", ignore_errors=True)
        shutil.copytree(args.base_policy, r0 / "policy.tmp")
        (r0 / "policy.tmp").rename(base)
    return base, 0.0


def evaluate_policy(args, log, test_file, pol, d, ppm=None):
    """evaluate.py greedy on the test file (and with --eval-search: maj@N, best-of-N and MCTS with the
    PPM); (accuracy per method, greedy accuracy per difficulty)."""
    run([PY, stage("evaluate.py"), "--model", pol, "--data", test_file, "--out-dir", d / "greedy",
         "--methods", "greedy", "--seed", args.seed, "--backend", args.backend, "--no-plot",
         "--max-tokens", setting(args, "max_tokens")], log, d / "greedy" / "summary.json")
    acc, by = read_eval(d / "greedy")
    if args.eval_search:
        extra = ["--ppm", f"ppm={ppm}", "--mcts-rollouts", args.n] if ppm else []
        run([PY, stage("evaluate.py"), "--model", pol, "--data", test_file, "--out-dir", d / "search",
             "--methods", "sample,bon,mcts" if ppm else "sample", "--n", args.n, "--limit", EVAL_LIMIT,
             "--seed", args.seed, "--backend", args.backend, "--no-plot", "--max-tokens", setting(args, "max_tokens"),
             "--max-step-tokens", step_tokens(args), "--max-depth", setting(args, "max_depth")] + extra,
            log, d / "search" / "summary.json")
        acc.update(read_eval(d / "search")[0])
    return acc, by["greedy"]


def search(args, log, rd, retry, fresh, policy, ppm):
    """mcts.py on the round's retried and fresh problems; (seconds, trees files)."""
    search_s, trees_files = 0.0, []
    for name, probs, rollouts in [("retry", retry, args.retry_rollouts), ("fresh", fresh, args.rollouts)]:
        if not probs:
            continue
        write_jsonl(rd / f"pool_{name}.jsonl", probs)
        trees = rd / f"trees_{name}.jsonl"
        mcts_extra = ["--ppm", ppm, "--ppm-prior"] if ppm else []  # rStar round 2+: PPM-augmented search
        search_s += timed([PY, stage("mcts.py"), "--policy", policy, "--data", rd / f"pool_{name}.jsonl",
                           "--out", trees, "--rollouts", rollouts, "--seed", args.seed, "--backend", args.backend,
                           "--format", args.format, "--max-depth", setting(args, "max_depth"),
                           "--max-step-tokens", step_tokens(args)] + args.mcts_args.split() + mcts_extra,
                          log, rd / f"mcts_{name}_time.json", rd / f"mcts_{name}_time.json",
                          shards=1 if args.backend == "vllm" else min(SEARCH_PROCS, len(probs)))
        trees_files.append(trees)
    return search_s, trees_files


def update_policy(args, log, rd, policy, seed_file, sft_files):
    """The round's policy update (--update: SFT on the seed set and every verified trajectory so far,
    then, or instead, CPL DPO on step + complete pairs, or DPO on corrected greedy errors); (new policy, seconds)."""
    new_policy, train_s = rd / "policy", 0.0
    if "sft" in args.update.split("+"):
        dest = new_policy if args.update == "sft" else rd / "policy_sft"
        init, steps, lr = ((policy, args.refresh_steps, args.refresh_lr) if args.update_from == "previous"
                           else (args.init, args.base_steps, args.base_lr))
        train_s += sft(args, log, init, [seed_file, *sft_files], dest, steps, lr, rd / "sft_time.json")
    if args.update in ("cpl", "sft+cpl"):
        start = rd / "policy_sft" if args.update == "sft+cpl" else policy
        train_s += timed([PY, stage("train_dpo.py"), "--model", start, "--pairs", rd / "pairs" / "pairs.jsonl",
                          "--kinds", "step,complete", "--order", "cpl", "--out", new_policy, "--seed", args.seed,
                          "--max-len", setting(args, "max_len")] + args.dpo_args.split(), log, new_policy / "meta.json", rd / "dpo_time.json")
    if args.update == "sft+corrections":
        train_s += correction_iterations(args, log, rd, rd / "policy_sft", new_policy)
    return new_policy, train_s


def correction_iterations(args, log, rd, start, new_policy):
    """--update sft+corrections: --fix-iterations times, the policy decodes the whole pool greedily, the
    first false step of each solution is paired with the checker's correction (pairs.py --greedy),
    and DPO on those pairs (the policy itself as the reference) gives the next policy; the last one is
    the round's. An iteration with nothing to correct ends them: the policy it decoded is the round's.
    Seconds spent (decoding included)."""
    pool_file, policy, spent = pool_path(args), start, 0.0
    for k in range(1, args.fix_iterations + 1):
        it = rd / "corrections" / f"iter{k}"
        dest = new_policy if k == args.fix_iterations else it / "policy"
        spent += timed([PY, stage("evaluate.py"), "--model", policy, "--data", pool_file, "--out-dir",
                        it / "pool_greedy", "--methods", "greedy", "--backend", args.backend, "--no-plot",
                        "--max-tokens", setting(args, "max_tokens")],
                       log, it / "pool_greedy" / "summary.json", it / "decode_time.json")
        run([PY, stage("pairs.py"), "--greedy", it / "pool_greedy" / "predictions.jsonl", "--problems", pool_file,
             "--model", policy, "--out-dir", it / "pairs"], log, it / "pairs" / "pairs_meta.json")
        if not (it / "pairs" / "pairs.jsonl").stat().st_size:
            print(f"[skip] {it / 'pairs'}: no false step to correct, no further iterations", flush=True)
            break
        spent += timed([PY, stage("train_dpo.py"), "--model", policy, "--pairs", it / "pairs" / "pairs.jsonl",
                        "--kinds", "fixed_step", "--order", "shuffle", "--out", dest, "--seed", args.seed,
                        "--batch-size", 32, "--grad-accum", 1, "--max-len", setting(args, "max_len")] + args.dpo_args.split(),
                       log, dest / "meta.json", it / "dpo_time.json")
        policy = dest
    if policy != new_policy:
        shutil.copytree(policy, new_policy, dirs_exist_ok=True)
    return spent


def round_ppm(args, log, rd, policy, ppm_files):
    """PPM_r, (its directory or None, seconds). --ppm verifier (docs/ppm.md): the policy's samples on the
    whole pool, every false result corrected by the checker (pairs.py --samples), and the policy fine-tuned on
    them (train_sft.py --verifier). bt (rStar): train_ppm.py on every round's PPM pairs so far (None without any)."""
    steps = args.ppm_steps or PPM_STEPS[args.ppm]
    if args.ppm == "bt":
        if not ppm_files:
            return None, 0.0
        return rd / "ppm", timed([PY, stage("train_ppm.py"), "--init", policy, "--pairs", *ppm_files, "--out", rd / "ppm",
                                  "--loss", "bt", "--steps", steps, "--lr", PPM_LR, "--seed", args.seed,
                                  "--max-len", setting(args, "max_len")],
                                 log, rd / "ppm" / "config.json", rd / "ppm_time.json")
    pool_file, d = pool_path(args), rd / "verifier"
    spent = timed([PY, stage("evaluate.py"), "--model", policy, "--data", pool_file, "--out-dir", d / "samples",
                   "--methods", "sample", "--n", PPM_SAMPLES, "--seed", args.seed + 100, "--backend", args.backend,
                   "--no-plot", "--max-tokens", setting(args, "max_tokens")], log, d / "samples" / "summary.json", d / "samples_time.json")
    run([PY, stage("pairs.py"), "--samples", d / "samples" / "predictions.jsonl", "--problems", pool_file,
         "--model", policy, "--out-dir", d / "data"], log, d / "data" / "pairs_meta.json")
    spent += timed([PY, stage("train_sft.py"), "--init", policy, "--data", d / "data" / "sft.jsonl", "--out", rd / "ppm",
                    "--steps", steps, "--lr", PPM_LR, "--seed", args.seed, "--max-len", setting(args, "max_len"),
                    "--verifier"], log, rd / "ppm" / "result_verifier.json", d / "train_time.json")
    return rd / "ppm", spent


def write_results(args, out, rows, t_start):
    """results.md (the table, printed too) and results.json."""
    methods = ["greedy"] + ([f"maj@{args.n}", f"bon-last:ppm@{args.n}", f"bon-vote:ppm@{args.n}", f"mcts:ppm@{args.n}"]
                            if args.eval_search else [])
    md = report(rows, methods)
    total = (time.time() - t_start) / 60
    md += f"\n\nwall time of this invocation {total:.1f} min (stages skipped on resume are not counted)"
    (out / "results.md").write_text(md + "\n")
    write_json(out / "results.json", {"args": vars(args), "rows": rows, "minutes": total})
    print(md)


def default_update(init):
    """--update when not given: sft+corrections on the built-in task; sft for an HF model (rStar's update)."""
    return "sft+corrections" if init == "tiny" else "sft"


def main():
    args = get_parser().parse_args()
    args.update = args.update or default_update(args.init)
    args.base_lr, args.refresh_lr = args.base_lr or setting(args, "base_lr"), args.refresh_lr or setting(args, "refresh_lr")
    print(json.dumps(vars(args)), flush=True)
    print(f"expected time: {expected_minutes(args)}", flush=True)
    out = Path(args.out)
    check_run(args, out)
    log = out / "log.txt"
    t_start = time.time()

    # ---- round 0: data and the base policy
    seed_file, pool, test_file = make_data(args, out, log)
    r0 = out / "round0"
    r0.mkdir(exist_ok=True)
    base, base_s = base_policy(args, log, seed_file, r0)
    acc, by = evaluate_policy(args, log, test_file, base, r0 / "eval")
    n_seed_examples = len(read_problems(seed_file))
    rows = [{"round": 0, **acc, "greedy_by_difficulty": by, "examples": n_seed_examples,
             "minutes": (time.time() - t_start) / 60, "round_seconds": {"train": base_s}}]

    # ---- rounds 1..K: search, pairs and verified trajectories, policy update, PPM, evaluation
    policy, ppm, sft_files, ppm_files, searched, solved = base, None, [], [], set(), set()
    for r in range(1, args.rounds + 1):
        rd = out / f"round{r}"
        rd.mkdir(exist_ok=True)
        t_round = time.time()
        retry, fresh = round_problems(pool, searched, solved, args.n_pool)
        search_s, trees_files = search(args, log, rd, retry, fresh, policy, ppm)
        searched |= {p["id"] for p in retry + fresh}
        mcts_tokens = sum(t["stats"]["tokens"] for f in trees_files for t in load_jsonl(f))
        run([PY, stage("pairs.py"), "--trees", *trees_files, "--out-dir", rd / "pairs", "--model", policy,
             "--sft-k", 2, "--ppm-min-edit", PPM_MIN_EDIT],
            log, rd / "pairs" / "pairs_meta.json")
        sft_file, ppm_file = rd / "pairs" / "sft.jsonl", rd / "pairs" / "ppm_pairs.jsonl"
        round_sft = load_jsonl(sft_file) if sft_file.stat().st_size else []  # a round may verify nothing
        solved |= {rec["problem"] for rec in round_sft}
        sft_files += [sft_file] if round_sft else []
        ppm_files += [ppm_file] if ppm_file.stat().st_size else []
        policy, train_s = update_policy(args, log, rd, policy, seed_file, sft_files)
        new_ppm, ppm_s = round_ppm(args, log, rd, policy, ppm_files) if args.ppm else (None, 0.0)
        ppm = new_ppm or ppm
        acc, by = evaluate_policy(args, log, test_file, policy, rd / "eval", ppm)
        rows.append({"round": r, **acc, "greedy_by_difficulty": by,
                     "examples": n_seed_examples + sum(len(load_jsonl(f)) for f in sft_files),
                     "searched": len(retry) + len(fresh), "retried": len(retry), "solved": len(solved & {
                         p["id"] for p in retry + fresh}), "mcts_tokens": mcts_tokens,
                     "minutes": (time.time() - t_start) / 60,
                     "round_seconds": {"search": search_s, "train": train_s, "ppm": ppm_s}})
        print(f"round {r} done in {(time.time() - t_round) / 60:.1f} min (total {(time.time() - t_start) / 60:.1f} "
              f"min)", flush=True)
    write_results(args, out, rows, t_start)


if __name__ == "__main__":
    run_main(main, "loop")
