"""How well does the policy itself rank PPM pairs? A diagnostic for train_ppm.py (Issue 5).

rStar-Math initialises the PPM from the policy. If the policy's own log-probability of a step
already separates the chosen from the rejected side, the PPM starts from a useful signal; if it
does not, the PPM must learn to verify steps better than the policy generates them. This script
scores both sides of ppm pairs (pairs.py --rules ppm) with the policy, without any training:
  sum   sum of the side's token log-probs      (longer sides lose)
  mean  mean token log-prob                    (the policy's confidence in the side)
  min   lowest token log-prob                  (its least likely token: where an error would show)
  arith an exact checker of the side's `a op b = c` equations (grader.equations_hold): what a
        perfect arithmetic verifier of the visible steps could do (built-in task)
and prints the share of pairs where the chosen side scores higher (ties count as wrong, as in
train_ppm.py's pair accuracy), per pair kind, and the share of arith ties.

  python benchmarks/ppm_oracle.py --policy P --pairs ppm_pairs.jsonl --limit 600
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import encode_completions, load_jsonl, load_model, load_tokenizer, stable_seed, token_logps  # noqa: E402
from grader import equations_hold  # noqa: E402


@torch.no_grad()
def side_scores(model, tok, pairs, side):
    """(sum, mean, min) of the side's token log-probs given the pair's prompt.  3 x (B,)"""
    enc = encode_completions(tok, [p["prompt"] for p in pairs], [p[side].rstrip("\n") for p in pairs], add_eos=False)
    m = enc["loss_mask"][:, 1:].bool()
    lp = token_logps(model, enc["input_ids"], enc["attention_mask"])
    total = (lp * m).sum(-1)
    return total, total / m.sum(-1), torch.where(m, lp, torch.zeros_like(lp)).min(-1).values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True, help="policy HF directory")
    ap.add_argument("--pairs", required=True, help="ppm_pairs.jsonl from pairs.py")
    ap.add_argument("--limit", type=int, default=600, help="pairs scored (a stable 10%% sample, then the first N)")
    ap.add_argument("--batch-size", type=int, default=32, help="pairs per forward")
    args = ap.parse_args()
    tok, model = load_tokenizer(args.policy), load_model(args.policy, "cpu", torch.float32)
    pairs = [p for i, p in enumerate(load_jsonl(args.pairs)) if stable_seed(0, "o", i) % 10 == 0][:args.limit]
    wins = {"sum": [], "mean": [], "min": []}
    for s in range(0, len(pairs), args.batch_size):
        b = pairs[s:s + args.batch_size]
        for name, c, r in zip(wins, side_scores(model, tok, b, "chosen"), side_scores(model, tok, b, "rejected")):
            wins[name] += (c > r).tolist()
    arith = [(equations_hold(p["chosen"]), equations_hold(p["rejected"])) for p in pairs]
    wins["arith"] = [c > r for c, r in arith]
    kinds = [p.get("kind", "ppm") for p in pairs]
    print(f"{len(pairs)} pairs | share where the chosen side scores higher under the policy")
    for name, w in wins.items():
        per = {k: sum(x for x, kk in zip(w, kinds) if kk == k) / kinds.count(k) for k in sorted(set(kinds))}
        print(f"{name:5s} {sum(w) / len(w):.3f} | " + " | ".join(f"{k} {v:.3f}" for k, v in per.items()))
    print(f"arith ties (both sides equally right or wrong): {sum(c == r for c, r in arith) / len(arith):.3f}; "
          f"chosen side has a false equation: {sum(not c for c, _ in arith) / len(arith):.3f}")


if __name__ == "__main__":
    main()
