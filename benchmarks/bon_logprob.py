"""Best-of-N with a language model's log-probability as the verifier, on samples evaluate.py saved.

benchmarks/ppm_oracle.py finds that a policy DPO-tuned on the PPM pairs ranks held-out pairs by its
own log-probability better (0.757) than train_ppm.py's last-token head (0.517). This script asks
whether that ranking picks better answers: it re-scores the N samples per problem that
`evaluate.py --methods sample` stored in predictions.jsonl, with no new generation, and reports
for each scorer the accuracy of the sample it ranks first (mean +- sd over the sampling seeds),
beside maj@N computed from the same samples:
  <model> sum   sum of the completion's token log-probs given the prompt
  <model> mean  their mean (length-normalised)
  <model> implicit  the implicit process reward of a --tuned model (Yuan et al. 2024): its summed
                log-prob minus the policy's, sum_t log pi_tuned(y_t) / pi_policy(y_t)
Scorers: --policy (the model that sampled) and each --tuned model; and each --ppm directory
(scoring.load_ppm: a train_ppm.py head or a train_dpo.py --implicit-prm directory) with evaluate.py's
three best-of-N rules (evaluate.bon_select: bon-last, bon-min, bon-vote) on the same samples.

  python benchmarks/bon_logprob.py --predictions benchmarks/out/search2/eval/predictions.jsonl \\
      --data benchmarks/out/search2/data/test.jsonl --policy benchmarks/out/search2/policy \\
      --tuned benchmarks/out/implicit/dpo_5e-5
"""
import argparse
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import format_prompt, load_jsonl, load_model, load_tokenizer  # noqa: E402
from evaluate import bon_select, graded, step_values  # noqa: E402
from scoring import encode_completions, load_ppm, sequence_logps  # noqa: E402


@torch.no_grad()
def completion_logps(model, tok, prompts, completions, batch_size):
    """(sum, mean) token log-prob of each completion given its prompt.  2 lists of len(prompts)"""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(completions[i]))
    sums, means = [0.0] * len(prompts), [0.0] * len(prompts)
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        enc = encode_completions(tok, [prompts[i] for i in rows], [completions[i] for i in rows], add_eos=False)
        total = sequence_logps(model, **enc)
        for i, t, n in zip(rows, total.tolist(), enc["loss_mask"][:, 1:].sum(-1).tolist()):
            sums[i], means[i] = t, t / max(n, 1.0)
    return sums, means


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictions", required=True, help="evaluate.py's predictions.jsonl (with the sample method)")
    ap.add_argument("--data", required=True, help="the problems JSONL evaluate.py read (for the questions)")
    ap.add_argument("--policy", required=True, help="the policy that sampled (its tokenizer is used for all)")
    ap.add_argument("--tuned", action="append", default=[], help="another scorer model (repeatable)")
    ap.add_argument("--ppm", action="append", default=[], help="a --ppm directory: bon-last / min / vote (repeatable)")
    ap.add_argument("--batch-size", type=int, default=64, help="sequences per forward")
    args = ap.parse_args()
    tok = load_tokenizer(args.policy)
    question = {str(p["id"]): p["question"] for p in load_jsonl(args.data)}
    answer = {str(p["id"]): p["answer"] for p in load_jsonl(args.data)}
    recs = [r for r in load_jsonl(args.predictions) if "sample" in r]
    texts = sorted({(str(r["id"]), t) for r in recs for t in r["sample"]["texts"]})  # each distinct sample once
    prompts = [format_prompt(tok, question[i]) for i, _ in texts]
    scores = {}
    for path in [args.policy] + args.tuned:
        model = load_model(path, "cpu", torch.float32)
        sums, means = completion_logps(model, tok, prompts, [t for _, t in texts], args.batch_size)
        name = Path(path).name
        if path != args.policy:
            policy_sums = scores[f"{Path(args.policy).name} sum"]
            scores[f"{name} implicit"] = {t: s - policy_sums[t] for t, s in zip(texts, sums)}
        scores[f"{name} sum"] = dict(zip(texts, sums))
        scores[f"{name} mean"] = dict(zip(texts, means))
        print(f"scored {len(texts)} distinct samples with {path}", flush=True)
    ppm_values = {}  # (ppm name, problem id, text) -> the step values of that sample
    for path in args.ppm:
        scorer = load_ppm(path, torch.device("cpu"), torch.float32, args.batch_size)
        values = step_values(scorer, [(prompt, t) for prompt, (_, t) in zip(prompts, texts)])
        ppm_values.update({(Path(path).name, *key): v for key, v in zip(texts, values)})
        print(f"scored {len(texts)} distinct samples with the PPM {path}", flush=True)
    acc = defaultdict(lambda: defaultdict(list))  # method -> seed -> [correct]
    for r in recs:
        s, key = r["sample"], str(r["id"])
        votes = Counter(p for p in s["preds"] if p is not None)
        top = votes.most_common(1)[0][0] if votes else None
        acc[f"maj@{len(s['preds'])}"][r["seed"]].append(top is not None and top in
                                                         [p for p, c in zip(s["preds"], s["correct"]) if c])
        for name, sc in scores.items():
            best = max(range(len(s["texts"])), key=lambda j: sc[(key, s["texts"][j])])
            acc[f"best-of-{len(s['preds'])}, {name}"][r["seed"]].append(bool(s["correct"][best]))
        for name in map(lambda p: Path(p).name, args.ppm):
            values = [ppm_values[(name, key, t)] for t in s["texts"]]
            for rule in ("last", "min", "vote"):
                pick = bon_select(s["preds"], values, rule)
                acc[f"bon-{rule}@{len(s['preds'])}, {name}"][r["seed"]].append(graded(pick, answer[key]))
    print("| method | accuracy % (mean +- sd over seeds) |\n|---|---|")
    for method, per_seed in acc.items():
        vals = [100 * sum(v) / len(v) for v in per_seed.values()]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"| {method} | {statistics.mean(vals):.1f} +- {sd:.1f} |")


if __name__ == "__main__":
    main()
