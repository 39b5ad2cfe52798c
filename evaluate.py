"""Stage 6: evaluate a policy with the test-time methods of the O1 slides, compute on the x axis.

Methods (`--methods`, comma-separated)
  greedy   one temperature-0 solution per problem: pass@1.
  sample   N solutions per problem at `--temperature`, drawn once at the largest N and subsampled
           (the first k) for every smaller budget k in 1, 2, 4, ..., N:
           maj@k   (self-consistency, Wang et al. 2023): the most frequent extracted answer wins,
                   ties broken by first appearance;
           pass@k  the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021) over all n.
  bon      best-of-N with the PPM on the same samples (runs `sample` too). A sample is split into
           steps at the delimiter and the PPM value of every prefix is read in ONE forward pass
           over the sample (a causal model's score at a step's last token sees only that prefix;
           when the tokenizer would split a prefix differently, that prefix is scored alone).
           The three aggregations search-and-learn compares, for every budget k:
           bon-last  the sample whose last value (the whole solution) is highest (ORM-style);
           bon-min   the sample whose lowest step value is highest (Lightman et al.'s PRM min);
           bon-vote  PPM-weighted majority vote: an answer's weight is the sum of (1 + v_last) / 2
                     over the samples that give it (values mapped to [0, 1]).
  beam     value-guided step-level beam search (SVPO section 3.3, AlphaMath SBS; ToT-BFS of the
           slides): `--beam-children` C samples of the next step per live beam (C x width from the
           root), all problems in one generation call per depth; every new prefix is scored by the
           PPM; per problem the `--beam-width` distinct candidates with the highest value are kept.
           Finished beams (\\boxed, EOS or `--max-depth`) stay in the candidate set and keep their
           slot while they rank in the top width; the search stops when every kept beam is
           finished. Answer: the finished candidate with the highest value. A comma list of widths
           gives one point per width.
  mcts     mcts.py run as a subprocess with the PPM scoring terminals (`--no-gold`: the gold never
           leaves this script; rStar-Math section 6.1), `--mcts-rollouts` per tree (a comma list
           gives one point each). mcts = the terminal with the highest PPM reward (rStar's paper);
           mcts-vote = the PPM-weighted vote over all terminals (rStar's released code, weights as
           bon-vote); mcts-pvote = that vote with each terminal's weight times the policy's
           probability of its path (`path_weighted_vote`). Further mcts.py flags go through `--mcts-args`.
The PPM methods run once per `--ppm` model (label=DIR, comma-separated), on the same samples. Values are
scoring.PPMScorer's tanh(raw score) in [-1, 1] (train_ppm.py), or a result verifier's 2 min_j p(c_j) - 1
(scoring.ResultVerifier: bon-vote then weighs a sample by the probability of its least likely result).
For each method: accuracy (overall, per difficulty, mean and std over `--seed` seeds), generated tokens
per problem (the compute axis; PPM forward passes not counted) and wall time.

Input   `--data` problems JSONL (this project's, GSM8K's or MATH's records). A problem whose prompt
        alone does not fit the model's context is skipped with a count.
Output  `--out-dir`: predictions.jsonl (one record per problem and seed), summary.json (every number), table.md
        (a row per method and budget), accuracy_vs_tokens.png (`--plot`), mcts/ (mcts.py's trees), args.json.
        A folder made with other flags or inputs is refused; --force replaces it (and recomputes the trees).

Commands
  CPU smoke: python evaluate.py --model runs/sft --data runs/data/test.jsonl --out-dir runs/eval --limit 100
  with PPM:  python evaluate.py --model runs/sft --data runs/data/test.jsonl --out-dir runs/eval \\
                 --methods greedy,sample,bon,beam,mcts --ppm runs/ppm --n 16 --seed 0,1,2
  MCTS with checked steps: --methods mcts --mcts-children 2 --mcts-rollouts 8 --mcts-args=--check-equations
  one GPU:   python evaluate.py --model ckpt --data math500_test.jsonl --backend vllm --n 64 --max-tokens 2048 \\
                 --methods greedy,sample,bon,beam,mcts --ppm ckpt_ppm --mcts-args "--window 512"
  (an inference stage: no torchrun; on several GPUs, the vLLM backend's tensor parallelism.)
"""
import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from common import (STEP_DELIM, check_model_dir, check_output, claim_output, fit_context, format_prompt, int_list,
                    join_steps, load_jsonl, load_tokenizer, nonneg_float, nonneg_int, positive_int, print0,
                    read_problems, run_main, stable_seed, write_json, write_jsonl)
from engine import make_backend
from grader import extract_answer, is_equiv
from report import write_report
from scoring import load_ppm
from searchtree import record_path, split_steps

# ----------------------------------------------------------------------------- the metrics and rules


def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def majority_vote(answers, weights=None):
    """The answer with the largest total weight (count by default), equivalent answers pooled
    with the grader; None answers never vote; ties go to the answer seen first."""
    groups = []  # [representative, weight]
    for a, w in zip(answers, weights or [1.0] * len(answers)):
        if a is None:
            continue
        for g in groups:
            if g[0] == a or is_equiv(a, g[0]):
                g[1] += w
                break
        else:
            groups.append([a, w])
    return max(groups, key=lambda g: g[1])[0] if groups else None


def budgets(n):
    """1, 2, 4, ... up to n (n itself included)."""
    ks = [2 ** i for i in range(int(math.log2(n)) + 1)]
    return ks if ks[-1] == n else ks + [n]


def vote_weight(v):
    """A PPM value in [-1, 1] as a vote weight in [0, 1]."""
    return (1.0 + v) / 2.0


def bon_select(preds, values, rule):
    """Best-of-N: the answer picked from samples' answers and their per-step PPM values.
    last: highest last-step value; min: highest minimum over steps; vote: majority vote weighted
    by vote_weight(last value). Ties go to the earlier sample."""
    if rule == "vote":
        return majority_vote(preds, [vote_weight(v[-1]) for v in values])
    agg = (lambda v: v[-1]) if rule == "last" else min
    return preds[max(range(len(preds)), key=lambda i: agg(values[i]))]


def select_beams(candidates, width):
    """Step-level beam selection: the `width` distinct candidates ({"text", "value", ...}) with the
    highest value; an identical text counts once (the first), ties keep the earlier candidate."""
    seen, uniq = set(), []
    for c in candidates:
        if c["text"] not in seen:
            seen.add(c["text"])
            uniq.append(c)
    return sorted(uniq, key=lambda c: -c["value"])[:width]  # sorted() is stable


# ----------------------------------------------------------------------------- PPM scoring


def trajectory_text(prompt, steps, delim=STEP_DELIM):
    """What the PPM scores for a trajectory ending at its last step (mcts.py's Tree.text)."""
    return join_steps(prompt, steps[:-1], delim) + steps[-1]


def step_values(scorer, items, delim=STEP_DELIM):
    """PPM value of every step prefix of each (prompt, solution): [[v_1, ..., v_m] per item], read
    in one forward pass per solution (PPMScorer.prefix_values)."""
    prefixes = []
    for prompt, text in items:
        s = split_steps(text, delim)
        prefixes.append([trajectory_text(prompt, s[:i + 1], delim) for i in range(len(s))])
    return scorer.prefix_values(prefixes)


# ----------------------------------------------------------------------------- runners


def graded(pred, gold):
    return pred is not None and is_equiv(pred, gold)


def run_greedy(backend, problems, prompts, args, seed):
    outs = backend.generate(prompts, n=1, temperature=0.0, max_tokens=args.max_tokens,
                            seeds=[stable_seed(seed, p["id"]) for p in problems], progress=True)
    return [{"pred": (a := extract_answer(o[0]["text"])), "correct": graded(a, p["answer"]), "tokens": o[0]["tokens"],
             "text": o[0]["text"]} for p, o in zip(problems, outs)]


def run_sample(backend, problems, prompts, args, seed):
    outs = backend.generate(prompts, n=args.n, temperature=args.temperature, max_tokens=args.max_tokens,
                            seeds=[stable_seed(seed, p["id"], "sample") for p in problems], progress=True)
    rows = []
    for p, o in zip(problems, outs):
        preds = [extract_answer(s["text"]) for s in o]
        rows.append({"preds": preds, "correct": [graded(a, p["answer"]) for a in preds],
                     "tokens": [s["tokens"] for s in o], "texts": [s["text"] for s in o]})
    return rows


def run_bon(scorer, prompts, samples, args):
    """Per problem, per sample, the PPM values of its steps (all problems batched together)."""
    flat = step_values(scorer, [(pr, t) for pr, r in zip(prompts, samples) for t in r["texts"]], args.step_delim)
    out, i = [], 0
    for r in samples:
        out.append(flat[i:i + len(r["texts"])])
        i += len(r["texts"])
    return out


def run_beam(backend, scorer, problems, prompts, args, seed, width):
    """Value-guided step-level beam search over all problems at once (see the module docstring)."""
    delim, P = args.step_delim, len(problems)
    beams = [[{"steps": [], "finished": False}] for _ in range(P)]
    done, tokens = [[] for _ in range(P)], [0] * P
    for depth in range(args.max_depth):
        jobs = [(i, k, b) for i in range(P) for k, b in enumerate(beams[i]) if not b["finished"]]
        if not jobs:
            break
        n = args.beam_children * (width if depth == 0 else 1)  # SVPO / AlphaMath: B1*B2 from the root
        outs = backend.generate([join_steps(prompts[i], b["steps"], delim) for i, _, b in jobs], n=n,
                                temperature=args.temperature, max_tokens=args.max_step_tokens, stop=[delim],
                                seeds=[stable_seed(seed, problems[i]["id"], "beam", width, depth, k) for i, k, _ in jobs])
        cands = [[b for b in beams[i] if b["finished"]] for i in range(P)]  # finished beams keep competing
        new = []
        for (i, _, b), os_ in zip(jobs, outs):
            for o in os_:
                tokens[i] += o["tokens"]
                steps = b["steps"] + [o["text"]]
                fin = "\\boxed" in o["text"] or o["finish"] != "stop" or len(steps) >= args.max_depth
                new.append((i, {"steps": steps, "text": trajectory_text(prompts[i], steps, delim), "finished": fin}))
        texts = list(dict.fromkeys(c["text"] for _, c in new))
        vals = dict(zip(texts, scorer(texts)))
        for i, c in new:
            c["value"] = vals[c["text"]]
            cands[i].append(c)
            if c["finished"]:
                done[i].append(c)
        beams = [select_beams(cands[i], width) for i in range(P)]
    rows = []
    for p, d, t in zip(problems, done, tokens):
        best = max(d, key=lambda c: c["value"]) if d else None
        pred = extract_answer(delim.join(best["steps"])) if best else None
        rows.append({"pred": pred, "correct": graded(pred, p["answer"]), "tokens": t,
                     "value": best["value"] if best else None, "text": delim.join(best["steps"]) if best else None})
    return rows


def run_mcts(problems, args, ppm_dir, label, seed, rollouts, out_dir):
    """mcts.py with the PPM at test time; the answer is read from its trees here."""
    work = out_dir / "mcts"
    work.mkdir(parents=True, exist_ok=True)
    blind = work / "problems.jsonl"  # the questions without their gold ("ops": a built-in problem's steps are read exactly)
    write_jsonl(blind, [{"id": p["id"], "question": p["question"], "answer": "?", **({"ops": p["ops"]} if "ops" in p else {})}
                        for p in problems])
    trees = work / f"{label}-r{rollouts}-s{seed}.jsonl"
    cmd = [sys.executable, str(Path(__file__).resolve().with_name("mcts.py")), "--policy", args.model,
           "--data", str(blind), "--out", str(trees), "--ppm", ppm_dir, "--no-gold", "--rollouts", str(rollouts),
           "--children", str(args.mcts_children), "--max-depth", str(args.max_depth), "--temperature", str(args.temperature),
           "--max-step-tokens", str(args.max_step_tokens), "--seed", str(seed), "--backend", args.backend,
           "--step-delim", args.step_delim, "--force"] + shlex.split(args.mcts_args)
    print0(" ".join(shlex.quote(c) for c in cmd))
    if subprocess.run(cmd).returncode:
        raise SystemExit(f"--methods mcts: mcts.py failed (its message is above); command: {shlex.join(cmd)}")
    recs = {str(r["id"]): r for r in load_jsonl(trees)}
    rows = []
    for p in problems:
        rec = recs.get(p["id"])  # None: skipped by mcts.py (its prompt does not fit the context), no answer
        terms = tree_terminals(rec["nodes"], args.step_delim) if rec else []
        best = max(terms, key=lambda t: t[1])[0] if terms else None  # the first of equal rewards
        vote = majority_vote([a for a, _, _ in terms], [vote_weight(v) for _, v, _ in terms])
        pvote = path_weighted_vote(terms)
        rows.append({"pred": best, "correct": graded(best, p["answer"]), "vote": vote, "vote_correct": graded(vote, p["answer"]),
                     "pvote": pvote, "pvote_correct": graded(pvote, p["answer"]),
                     "tokens": rec["stats"]["tokens"] if rec else 0, "terminals": len(terms)})
    return rows


def tree_terminals(nodes, delim=STEP_DELIM):
    """(answer, PPM reward, the policy's log-prob of the path) of every scored terminal of a test-time tree
    (mcts.py's nodes; the path is the terminal's parent chain, its log-prob the sum of its steps' "logp")."""
    out = []
    for i, nd in enumerate(nodes):
        if nd["terminal"] and nd.get("reward") is not None:
            path = record_path(nodes, i)
            text = delim.join(nodes[j]["step"] for j in path)
            out.append((extract_answer(text, free_text=False), nd["reward"],  # the answer as mcts.py scored it
                        sum(nodes[j].get("logp") or 0.0 for j in path)))
    return out


def path_weighted_vote(terminals):
    """mcts-pvote: the answer a maximizing sum over the terminals t that give it of (1 + v_t) / 2 * pi(path_t),
    pi(path) = prod over its steps of p(step | prefix) under the policy. A tree's terminals are not samples:
    the search decides how often each is reached (merged repeats, re-expansions), so the policy's
    probability of each path stands in for the frequency best-of-N's vote counts. terminals: tree_terminals."""
    if not terminals:
        return None
    top = max(lp for _, _, lp in terminals)  # exp(lp - top): the same ratios, no underflow
    return majority_vote([a for a, _, _ in terminals], [vote_weight(v) * math.exp(lp - top) for _, v, lp in terminals])


# ----------------------------------------------------------------------------- report


def score_rows(problems, res, n):
    """{name: [(difficulty, score, tokens)]} for one seed from the runners' per-problem rows."""
    scores = defaultdict(list)
    for i, p in enumerate(problems):
        d = p.get("difficulty", "all")
        add = lambda name, s, t: scores[name].append((d, float(s), t))  # noqa: E731
        if "greedy" in res:
            add("greedy", res["greedy"][i]["correct"], res["greedy"][i]["tokens"])
        if "sample" in res:
            r = res["sample"][i]
            for k in budgets(n):
                toks = sum(r["tokens"][:k])
                add(f"maj@{k}", graded(majority_vote(r["preds"][:k]), p["answer"]), toks)
                add(f"pass@{k}", pass_at_k(n, sum(r["correct"]), k), toks)
                for label, vals in res.get("bon", {}).items():
                    for rule in ("last", "min", "vote"):
                        pick = bon_select(r["preds"][:k], vals[i][:k], rule)
                        add(f"bon-{rule}:{label}@{k}", graded(pick, p["answer"]), toks)
        for key, rows in res.get("beam", {}).items():  # key = label@width
            add(f"beam:{key}", rows[i]["correct"], rows[i]["tokens"])
        for key, rows in res.get("mcts", {}).items():  # key = label@rollouts
            add(f"mcts:{key}", rows[i]["correct"], rows[i]["tokens"])
            add(f"mcts-vote:{key}", rows[i]["vote_correct"], rows[i]["tokens"])
            add(f"mcts-pvote:{key}", rows[i]["pvote_correct"], rows[i]["tokens"])
    return scores


# ----------------------------------------------------------------------------- run

PPM_GPU_MEMORY = 0.2  # --ppm-backend vllm: the share of the GPU each PPM engine reserves (guessed)


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="policy HF directory")
    ap.add_argument("--data", required=True, help="problems JSONL (project, GSM8K or MATH records)")
    ap.add_argument("--out-dir", required=True, help="where predictions.jsonl, summary.json, table.md, the plot go")
    ap.add_argument("--methods", default="greedy,sample", help="comma list of: greedy, sample (maj@k, pass@k), bon, beam, mcts (mcts, mcts-vote, mcts-pvote)")
    ap.add_argument("--ppm", default="", help="PPM directories for bon/beam/mcts: DIR or label=DIR, comma-separated")
    ap.add_argument("--n", type=positive_int, default=16, help="largest sampling budget N (smaller budgets are subsampled)")
    ap.add_argument("--temperature", type=nonneg_float, default=1.0, help="sampling temperature (sample, beam, mcts)")
    ap.add_argument("--max-tokens", type=positive_int, default=256, help="max new tokens per solution (greedy, sample)")
    ap.add_argument("--max-step-tokens", type=positive_int, default=64, help="max new tokens per step (beam, mcts; 64 is plenty for the built-in task)")
    ap.add_argument("--max-depth", type=positive_int, default=16, help="max steps per trajectory (beam, mcts; rStar: 16)")
    ap.add_argument("--beam-width", type=int_list(1), default="4", help="beam width(s), comma list: one run each (SVPO: 1 and 3; rStar code: 8)")
    ap.add_argument("--beam-children", type=positive_int, default=4, help="samples per live beam per step (SVPO/AlphaMath: 5; rStar code: 8)")
    ap.add_argument("--mcts-rollouts", type=int_list(1), default="16", help="mcts.py --rollouts, comma list: one run each (rStar README: 8-16)")
    ap.add_argument("--mcts-children", type=positive_int, default=4, help="mcts.py --children (rStar test time: 16-32)")
    ap.add_argument("--mcts-args", default="", help="extra mcts.py flags, e.g. '--leaf-eval ppm --window 128'")
    ap.add_argument("--step-delim", default=STEP_DELIM, help="step delimiter (beam, bon, mcts)")
    ap.add_argument("--limit", type=nonneg_int, default=0, help="evaluate only the first N problems (0: all)")
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation backend")
    ap.add_argument("--ppm-backend", default="hf", choices=["hf", "vllm"], help="PPM scoring backend (vllm: pooling runner)")
    ap.add_argument("--batch-size", type=positive_int, default=128, help="rows per HF generation batch")
    ap.add_argument("--seed", type=int_list(0), default="0", help="sampling seed(s), comma list: every sampled method runs once per seed")
    ap.add_argument("--plot", action=argparse.BooleanOptionalAction, default=True, help="write accuracy_vs_tokens.png (needs matplotlib)")
    ap.add_argument("--force", action="store_true", help="replace an --out-dir made with other flags or inputs (else: refuse)")
    return ap


def parse_methods(args):
    """(seeds, methods, {label: PPM dir}), checked; every method with a PPM runs once per --ppm."""
    seeds = [int(s) for s in args.seed.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = set(methods) - {"greedy", "sample", "bon", "beam", "mcts"}
    if bad:
        raise SystemExit(f"unknown method(s) {sorted(bad)}; choose from greedy, sample, bon, beam, mcts")
    ppms = dict((s.split("=", 1) if "=" in s else (Path(s).name, s)) for s in args.ppm.split(",") if s)
    if {"bon", "beam", "mcts"} & set(methods) and not ppms:
        raise SystemExit("bon, beam and mcts need --ppm")
    return seeds, methods, ppms


def check_flags(args, ppms):
    """Model directories (a policy; each --ppm a sequence-classification PPM) and the output folder, replaced only
    when made with the same flags and inputs or with --force (records.claim_output); returns its args record."""
    check_model_dir(args.model, "--model")
    for d in ppms.values():
        check_model_dir(d, "--ppm", kind="ppm")
    check_output(args.out_dir, "--out-dir", is_dir=True)
    inputs = {"--model": args.model, "--data": args.data, **{f"--ppm {label}": d for label, d in ppms.items()}}
    return claim_output("--out-dir", [args.out_dir], Path(args.out_dir) / "args.json", args, args.force, inputs,
                        ignore={"force", "out_dir"})[0]


def timed(seconds, group, seed, fn, *a):
    """fn(*a), its wall time kept in seconds[group][seed] and printed."""
    t0 = time.time()
    r = fn(*a)
    seconds[group][seed] = time.time() - t0
    print0(f"seed {seed} | {group}: {seconds[group][seed]:.1f}s")
    return r


def load_models(args, methods, ppms, seed):
    """The policy's backend and a scorer per --ppm (scoring.load_ppm; bon, beam). vLLM engines in one process share
    the GPU: each vLLM PPM takes PPM_GPU_MEMORY of it, the policy the rest of 0.9."""
    vllm_ppms = len(ppms) if args.ppm_backend == "vllm" and {"bon", "beam"} & set(methods) else 0
    if 0.9 - PPM_GPU_MEMORY * vllm_ppms < 0.1:
        raise SystemExit(f"{vllm_ppms} vLLM PPMs x {PPM_GPU_MEMORY} of the GPU each leave the policy no memory")
    backend = make_backend(args.backend, args.model, batch_size=args.batch_size, seed=seed,
                           gpu_memory=0.9 - PPM_GPU_MEMORY * vllm_ppms)
    scorers = {k: load_ppm(d, batch_size=64, backend=args.ppm_backend, gpu_memory=PPM_GPU_MEMORY)
               for k, d in ppms.items()} if {"bon", "beam"} & set(methods) else {}
    return backend, scorers


def run_seed(seed, methods, backend, scorers, problems, prompts, args, seconds, greedy):
    """Every in-process method's per-problem rows for one seed: {method: rows or {label@x: rows}}.
    greedy: the greedy rows of an earlier seed (temperature 0: the same for every seed, run once)."""
    res = {}
    if "greedy" in methods:
        res["greedy"] = greedy or timed(seconds, "greedy", seed, run_greedy, backend, problems, prompts, args, seed)
    if {"sample", "bon"} & set(methods):
        res["sample"] = timed(seconds, "sample", seed, run_sample, backend, problems, prompts, args, seed)
    if "bon" in methods:
        res["bon"] = {}
        for label, sc in scorers.items():
            res["bon"][label] = timed(seconds, f"bon:{label}", seed, run_bon, sc, prompts, res["sample"], args)
    for label in scorers if "beam" in methods else []:
        for w in [int(x) for x in args.beam_width.split(",")]:
            res.setdefault("beam", {})[f"{label}@{w}"] = timed(seconds, f"beam:{label}@{w}", seed, run_beam, backend,
                                                               scorers[label], problems, prompts, args, seed, w)
    return res


def prediction_records(problems, res, seed):
    """One predictions.jsonl record per problem: its rows of every method for this seed."""
    preds = []
    for i, p in enumerate(problems):
        rec = {"id": p["id"], "answer": p["answer"], "difficulty": p.get("difficulty"), "seed": seed}
        for m, v in res.items():
            rec[m] = {k: rows[i] for k, rows in v.items()} if isinstance(v, dict) else v[i]
        preds.append(rec)
    return preds


def main():
    args = get_parser().parse_args()
    print0(json.dumps(vars(args)))
    seeds, methods, ppms = parse_methods(args)
    record = check_flags(args, ppms)
    problems = read_problems(args.data)[:args.limit or None]
    out = Path(args.out_dir)
    write_json(out / "args.json", record)
    problems = fit_context(problems, load_tokenizer(args.model), args.model, 1)  # a prompt longer than the context: skipped
    seconds = defaultdict(dict)
    # mcts.py runs first, in its own process: a vLLM engine made here would hold the GPU memory it needs
    searched = {seed: {f"{label}@{r}": timed(seconds, f"mcts:{label}@{r}", seed, run_mcts, problems, args, ppms[label],
                                             label, seed, r, out)
                       for label in ppms for r in [int(x) for x in args.mcts_rollouts.split(",")]}
                for seed in seeds} if "mcts" in methods else {}
    backend, scorers = load_models(args, methods, ppms, seeds[0])
    prompts = [format_prompt(backend.tokenizer, p["question"], p.get("format") == "code") for p in problems]
    per_seed, preds, greedy = [], [], None
    for seed in seeds:
        res = run_seed(seed, methods, backend, scorers, problems, prompts, args, seconds, greedy)
        greedy = res.get("greedy")
        if searched:
            res["mcts"] = searched[seed]
        per_seed.append(score_rows(problems, res, args.n))
        preds += prediction_records(problems, res, seed)
    write_report(out, args, problems, seeds, per_seed, seconds, preds)


if __name__ == "__main__":
    run_main(main, "evaluate")
