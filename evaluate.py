"""Stage 6: evaluate a policy on a problems file with the test-time methods of the O1 slides.

Methods (`--methods`, comma-separated)
  greedy   one temperature-0 solution per problem: pass@1.
  sample   N solutions per problem at `--temperature`, drawn once at the largest N and subsampled
           (the first k) for every smaller budget k in 1, 2, 4, ..., N:
           maj@k   (self-consistency, Wang et al. 2023): the most frequent extracted answer wins,
                   ties broken by first appearance;
           pass@k  the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021) over all n.
For each method: accuracy (overall and per difficulty when the problems carry one), generated
tokens per problem (the compute axis) and wall time.

Input   `--data` problems JSONL (this project's, GSM8K's or MATH's records).
Output  `--out-dir`: predictions.jsonl (one record per problem: gold, each method's answers),
        summary.json (every number), table.md (one markdown row per method and budget).

Commands
  CPU smoke: python evaluate.py --model runs/sft --data runs/data/test.jsonl --out-dir runs/eval --limit 100
  one GPU:   python evaluate.py --model ckpt --data math500_test.jsonl --backend vllm --n 64 --max-tokens 2048
  shards:    python evaluate.py ... --shard 0/2 (and 1/2), then the same command with --merge 2
"""
import argparse
import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path

from common import (format_prompt, make_backend, mean, print0, read_problems, stable_seed, write_json,
                    write_jsonl)
from grader import extract_answer, is_equiv

# ----------------------------------------------------------------------------- the metrics


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


# ----------------------------------------------------------------------------- run


def run_greedy(backend, problems, prompts, args):
    outs = backend.generate(prompts, n=1, temperature=0.0, max_tokens=args.max_tokens,
                            seeds=[stable_seed(args.seed, p["id"]) for p in problems], progress=True)
    rows = []
    for p, o in zip(problems, outs):
        pred = extract_answer(o[0]["text"])
        rows.append({"pred": pred, "correct": pred is not None and is_equiv(pred, p["answer"]),
                     "tokens": o[0]["tokens"], "text": o[0]["text"]})
    return rows


def run_sample(backend, problems, prompts, args):
    outs = backend.generate(prompts, n=args.n, temperature=args.temperature, max_tokens=args.max_tokens,
                            seeds=[stable_seed(args.seed, p["id"], "sample") for p in problems], progress=True)
    rows = []
    for p, o in zip(problems, outs):
        preds = [extract_answer(s["text"]) for s in o]
        correct = [a is not None and is_equiv(a, p["answer"]) for a in preds]
        rows.append({"preds": preds, "correct": correct, "tokens": [s["tokens"] for s in o]})
    return rows


def summarize(problems, results, n):
    """{method@k: {"acc", "tokens", "by_difficulty": {d: acc}}} from the per-problem rows."""
    scores = defaultdict(list)  # name -> [(difficulty, score, tokens)]
    for i, p in enumerate(problems):
        d = p.get("difficulty", "all")
        if "greedy" in results:
            r = results["greedy"][i]
            scores["greedy"].append((d, float(r["correct"]), r["tokens"]))
        if "sample" in results:
            r = results["sample"][i]
            for k in budgets(n):
                maj = majority_vote(r["preds"][:k])
                ok = maj is not None and is_equiv(maj, p["answer"])
                toks = sum(r["tokens"][:k])
                scores[f"maj@{k}"].append((d, float(ok), toks))
                scores[f"pass@{k}"].append((d, pass_at_k(n, sum(r["correct"]), k), toks))
    summary = {}
    for name, rows in scores.items():
        by = defaultdict(list)
        for d, s, _ in rows:
            by[str(d)].append(s)
        summary[name] = {"acc": mean(s for _, s, _ in rows), "tokens": mean(t for _, _, t in rows),
                         "by_difficulty": {d: mean(v) for d, v in sorted(by.items())}}
    return summary


def markdown(summary, label):
    diffs = sorted({d for v in summary.values() for d in v["by_difficulty"]})
    head = "| model | method | acc % | tokens/problem | " + " | ".join(f"d={d}" for d in diffs) + " |"
    lines = [head, "|" + "---|" * (4 + len(diffs))]
    for name, v in summary.items():
        cells = " | ".join(f"{100 * v['by_difficulty'].get(d, float('nan')):.1f}" for d in diffs)
        lines.append(f"| {label} | {name} | {100 * v['acc']:.1f} | {v['tokens']:.0f} | {cells} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="policy HF directory")
    ap.add_argument("--data", required=True, help="problems JSONL (project, GSM8K or MATH records)")
    ap.add_argument("--out-dir", required=True, help="where predictions.jsonl, summary.json, table.md go")
    ap.add_argument("--methods", default="greedy,sample", help="comma list of: greedy, sample (maj@k and pass@k)")
    ap.add_argument("--n", type=int, default=16, help="largest sampling budget N (smaller budgets are subsampled)")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature for 'sample'")
    ap.add_argument("--max-tokens", type=int, default=256, help="max new tokens per solution")
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N problems (0: all)")
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation backend")
    ap.add_argument("--batch-size", type=int, default=128, help="rows per HF generation batch")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (per-problem seeds derive from it)")
    ap.add_argument("--label", default="", help="name of the model in the markdown table (default: --model)")
    args = ap.parse_args()
    print0(json.dumps(vars(args)))

    problems = read_problems(args.data)
    problems = problems[:args.limit] if args.limit else problems
    backend = make_backend(args.backend, args.model, batch_size=args.batch_size, seed=args.seed)
    prompts = [format_prompt(backend.tokenizer, p["question"]) for p in problems]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    runners = {"greedy": run_greedy, "sample": run_sample}
    results, seconds = {}, {}
    for m in methods:
        if m not in runners:
            raise SystemExit(f"unknown method {m!r}; choose from {', '.join(runners)}")
        t0 = time.time()
        results[m] = runners[m](backend, problems, prompts, args)
        seconds[m] = time.time() - t0
        print0(f"{m}: {seconds[m]:.1f}s")

    summary = summarize(problems, results, args.n)
    out = Path(args.out_dir)
    preds = [{"id": p["id"], "answer": p["answer"], "difficulty": p.get("difficulty"),
              **{m: results[m][i] for m in results}} for i, p in enumerate(problems)]
    write_jsonl(out / "predictions.jsonl", preds)
    write_json(out / "summary.json", {"args": vars(args), "problems": len(problems), "seconds": seconds,
                                      "methods": summary})
    table = markdown(summary, args.label or Path(args.model).name)
    (out / "table.md").write_text(table + "\n")
    print0(table)


if __name__ == "__main__":
    main()
