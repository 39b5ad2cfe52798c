"""Does search beat the same compute without it? The two baselines of a `loop.py` run, round by round.

For each finished round r of a `loop.py --out RUN` (it reads RUN's data, base policy, round timings,
searched problems and search tokens; a round the loop has not finished stops it, so it can run beside
the loop and be run again later), starting from the same base policy:
  more SFT      the previous more-SFT policy (round 1: the base) trained on the seed set alone for as
                many steps as the loop's round r spent in wall time on search + training, at the loop's
                refresh lr. Steps are converted from seconds with the loop's own SFT speed in that
                round (a ratio measured in one run: this machine's speed swings).
  RS-SFT        rejection sampling: the previous RS policy (round 1: the base) samples whole solutions
                (`--temperature`, default 1) for the same pool problems the loop searched in round r, in waves of
                `--wave-n` samples per unsolved problem, until it has generated as many tokens as the
                loop's search did; a sample is kept when its answer is correct and it passes the same
                verification as the loop's SFT data (grader.steps_verified), up to `--sft-k` distinct
                ones per problem (a problem with `--sft-k` of them is not sampled again). Then the same
                update as the loop: the SFT (seed set + every RS round's data, the loop's refresh steps
                and lr), and with `--update sft+corrections` the same correction iterations after it, so
                that the margin measures the search and nothing else.
Each policy is evaluated greedy on the whole test set. Output RUN/baselines/round{r}/..., and
RUN/baselines/results.json (rows like loop.py's, read by benchmarks/loop_table.py). Resumes like loop.py.

  python benchmarks/bench_loop.py --loop runs/loop_s1
"""
import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import (STEP_DELIM, format_prompt, load_jsonl, read_problems, stable_seed, write_json,  # noqa: E402
                    write_jsonl)
from engine import make_backend  # noqa: E402
from grader import grade, steps_verified  # noqa: E402
from loop import correction_iterations, read_eval, stage  # noqa: E402
from runner import run, seconds  # noqa: E402  (the loop's own runner)

PY = sys.executable


def rejection_sample(policy, problems, token_budget, args):
    """Whole-solution sampling on `problems` until `token_budget` generated tokens: verified ones kept."""
    backend = make_backend(args.backend, policy, batch_size=args.batch_size, seed=args.seed)
    prompts = {p["id"]: format_prompt(backend.tokenizer, p["question"]) for p in problems}
    kept, spent, wave = {p["id"]: [] for p in problems}, 0, 0
    while spent < token_budget:
        todo = [p for p in problems if len(kept[p["id"]]) < args.sft_k]
        if not todo:
            break
        outs = backend.generate([prompts[p["id"]] for p in todo], n=args.wave_n, temperature=args.temperature,
                                max_tokens=args.max_tokens, seeds=[stable_seed(args.seed, p["id"], "rs", wave) for p in todo])
        for p, samples in zip(todo, outs):
            for s in samples:
                spent += s["tokens"]
                got = kept[p["id"]]
                if (len(got) < args.sft_k and s["text"] not in got and grade(s["text"], p["answer"], free_text=False)
                        and steps_verified(s["text"].split(STEP_DELIM), p.get("ops"), p["question"])):
                    got.append(s["text"])
        wave += 1
        print(f"  wave {wave}: {spent}/{token_budget} tokens, {sum(map(bool, kept.values()))}/{len(problems)} solved",
              flush=True)
    recs = [{"id": f"{pid}-rs-{j}", "problem": pid, "prompt": prompts[pid], "completion": c}
            for pid, got in kept.items() for j, c in enumerate(got)]
    return recs, {"tokens": spent, "waves": wave, "examples": len(recs), "solved": sum(map(bool, kept.values()))}


def round_cost(rd):
    """What the loop spent in one round: wall seconds of search and of the whole update (the SFT, CPL DPO, the
    correction iterations' decoding and DPO), generated search tokens (of the merged trees files, not their shards)."""
    trees = [f for f in sorted(rd.glob("trees_*.jsonl")) if ".shard" not in f.name]  # merged; its shards repeat it
    update = [rd / "sft_time.json", rd / "dpo_time.json", *rd.glob("corrections/iter*/*_time.json")]
    return {"search": sum(seconds(f) for f in rd.glob("mcts_*_time.json")), "train": sum(map(seconds, update)),
            "mcts_tokens": sum(t["stats"]["tokens"] for f in trees for t in load_jsonl(f))}


def refresh_sft(la, log, init, data, dest, steps):
    """train_sft.py at the loop's refresh lr and seed."""
    run([PY, stage("train_sft.py"), "--init", init, "--data", *data, "--out", dest, "--steps", steps,
         "--lr", la["refresh_lr"], "--seed", la["seed"]], log, dest / "meta.json")


def greedy_eval(la, log, test_file, pol, d):
    """evaluate.py greedy on the test set, as the loop evaluates: {"greedy", "greedy_by_difficulty"}."""
    run([PY, stage("evaluate.py"), "--model", pol, "--data", test_file, "--out-dir", d, "--methods", "greedy",
         "--seed", la["seed"], "--backend", la["backend"], "--no-plot"], log, d / "summary.json")
    acc, by = read_eval(d)
    return {"greedy": acc["greedy"], "greedy_by_difficulty": by["greedy"]}


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", required=True, help="a finished loop.py --out directory")
    ap.add_argument("--wave-n", type=int, default=4, help="samples per unsolved problem per wave")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of rejection sampling")
    ap.add_argument("--max-tokens", type=int, default=256, help="max new tokens per sampled solution")
    ap.add_argument("--batch-size", type=int, default=128, help="HF generation batch")
    ap.add_argument("--rounds", type=int, default=2, help="baselines for the loop's rounds 1..R (those finished so far)")
    ap.add_argument("--baselines", default="more,rs", help="comma list of the baselines to run: more (more SFT), rs "
                    "(rejection sampling); a later run with both adds the other")
    return ap


def main():
    args = get_parser().parse_args()
    run_dir = Path(args.loop)
    la = json.loads((run_dir / "loop_args.json").read_text())
    args.seed, args.backend, args.sft_k = la["seed"], la["backend"], la.get("sft_k", 2)  # 2: loop.py's
    seed_file = la["seed_file"] or run_dir / "data" / "seed.jsonl"
    test_file = la["test_file"] or run_dir / "data" / "test.jsonl"
    out = run_dir / "baselines"
    out.mkdir(exist_ok=True)
    log = out / "log.txt"

    sft, evaluate = partial(refresh_sft, la, log), partial(greedy_eval, la, log, test_file)
    rows, more_prev, rs_prev, rs_files = [], run_dir / "round0" / "policy", run_dir / "round0" / "policy", []
    n_seed = len(read_problems(seed_file))
    for r in range(1, args.rounds + 1):
        rd, bd = run_dir / f"round{r}", out / f"round{r}"
        if not (rd / "eval" / "greedy" / "summary.json").exists():
            print(f"round {r} of {run_dir} has not finished: stopping here")
            break
        bd.mkdir(exist_ok=True)
        row = round_cost(rd)
        sec_per_step = seconds(rd / "sft_time.json") / la["refresh_steps"]
        more_steps = max(1, round((row["search"] + row["train"]) / sec_per_step))
        if "more" in args.baselines.split(","):
            sft(more_prev, [seed_file], bd / "more_sft", more_steps)
            rows.append({"round": r, "policy": "more SFT on seed", **evaluate(bd / "more_sft", bd / "eval_more"),
                         "examples": n_seed, "steps": more_steps})
            more_prev = bd / "more_sft"
        if "rs" not in args.baselines.split(","):
            continue

        problems = [p for f in sorted(rd.glob("pool_*.jsonl")) for p in read_problems(f)]
        if not (bd / "rs_stats.json").exists():
            t0 = time.time()
            recs, stats = rejection_sample(rs_prev, problems, row["mcts_tokens"], args)
            write_jsonl(bd / "rs_sft.jsonl", recs)
            write_json(bd / "rs_stats.json", {**stats, "seconds": time.time() - t0})
        stats = json.loads((bd / "rs_stats.json").read_text())
        rs_files += [bd / "rs_sft.jsonl"] if stats["examples"] else []
        if la.get("update") == "sft+corrections":  # the loop's update after its SFT, from the RS policy's SFT
            sft(rs_prev, [seed_file, *rs_files], bd / "rs_policy_sft", la["refresh_steps"])
            loop_args = argparse.Namespace(**{**la, "out": str(run_dir)})
            correction_iterations(loop_args, log, bd / "rs_update", bd / "rs_policy_sft", bd / "rs_policy")
        else:
            sft(rs_prev, [seed_file, *rs_files], bd / "rs_policy", la["refresh_steps"])
        rows.append({"round": r, "policy": "RS-SFT, same filter, same tokens", **evaluate(bd / "rs_policy", bd / "eval_rs"),
                     "examples": n_seed + sum(len(load_jsonl(f)) for f in rs_files), "solved": stats["solved"],
                     "searched": len(problems), "tokens": stats["tokens"]})
        rs_prev = bd / "rs_policy"
    write_json(out / "results.json", {"loop": str(run_dir), "rows": rows})
    for x in rows:
        print(f"round {x['round']} | {x['policy']:<34} | greedy {100 * x['greedy']:.1f} | examples {x['examples']}")


if __name__ == "__main__":
    main()
