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
  implicit (with --tuned T) sum log pi_T(side) - sum log pi_policy(side): the implicit process reward
        of a policy T trained with DPO on the pairs (Yuan et al. 2024, beta dropped: it does not change
        the ranking), an alternative to train_ppm.py's last-token head
  tuned (with --tuned T) sum log pi_T(side): T's own log-prob, without the reference
  LABEL (with --ppm LABEL=DIR) the score of a --ppm directory as mcts.py reads it (scoring.load_ppm:
        a train_ppm.py head or a train_dpo.py --implicit-prm directory) on train_ppm.ppm_text
and prints the share of pairs where the chosen side scores higher (ties count as wrong, as in
train_ppm.py's pair accuracy), per pair kind, and the share of arith ties.

  python benchmarks/ppm_oracle.py --policy P --pairs ppm_pairs.jsonl --limit 600
  implicit PPM on train_ppm.py's held-out problems (same --eval-frac and seed, so the numbers compare):
  python benchmarks/ppm_oracle.py --pairs ppm_pairs.jsonl --write-split S --eval-frac 0.1   # S.train/.heldout.jsonl
  python train_dpo.py --model P --pairs S.train.jsonl --out T --order shuffle --epochs 2 --lr 5e-5 --sft-weight 0 \
      --batch-size 32 --grad-accum 1 --max-len 512
  python benchmarks/ppm_oracle.py --policy P --tuned T --pairs S.heldout.jsonl --sample 1 --limit 0
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import load_jsonl, load_model, load_tokenizer, stable_seed, write_jsonl  # noqa: E402
from grader import equations_hold  # noqa: E402
from scoring import encode_completions, load_ppm, token_logps  # noqa: E402
from train_ppm import ppm_text, split_pairs  # noqa: E402


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
    ap.add_argument("--policy", help="policy HF directory (the reference of --tuned)")
    ap.add_argument("--pairs", required=True, help="ppm_pairs.jsonl from pairs.py")
    ap.add_argument("--tuned", default="", help="a DPO-trained copy of --policy: adds the implicit and tuned columns")
    ap.add_argument("--ppm", action="append", default=[], help="DIR or LABEL=DIR: a scorer that --ppm flags load (repeatable)")
    ap.add_argument("--sample", type=float, default=0.1, help="stable share of the pairs scored, in tenths (1: all)")
    ap.add_argument("--limit", type=int, default=600, help="then the first N of them (0: no limit)")
    ap.add_argument("--batch-size", type=int, default=32, help="pairs per forward")
    ap.add_argument("--write-split", default="", help="write PREFIX.train.jsonl / PREFIX.heldout.jsonl and exit")
    ap.add_argument("--eval-frac", type=float, default=0.1, help="held-out share of problems (as train_ppm.py)")
    ap.add_argument("--seed", type=int, default=0, help="split seed (as train_ppm.py)")
    args = ap.parse_args()
    if args.write_split:
        train, held = split_pairs(load_jsonl(args.pairs), args.eval_frac, args.seed)
        write_jsonl(f"{args.write_split}.train.jsonl", train)
        write_jsonl(f"{args.write_split}.heldout.jsonl", held)
        return print(f"{len(train)} train / {len(held)} held-out pairs -> {args.write_split}.{{train,heldout}}.jsonl")
    if not args.policy:
        ap.error("--policy is required unless --write-split")
    tok, model = load_tokenizer(args.policy), load_model(args.policy, "cpu", torch.float32)
    tuned = load_model(args.tuned, "cpu", torch.float32) if args.tuned else None
    pairs = [p for i, p in enumerate(load_jsonl(args.pairs)) if stable_seed(0, "o", i) % 10 < round(args.sample * 10)]
    pairs = pairs[:args.limit] if args.limit else pairs
    wins = {"sum": [], "mean": [], "min": []} | ({"implicit": [], "tuned": []} if tuned else {})
    for s in range(0, len(pairs), args.batch_size):
        b = pairs[s:s + args.batch_size]
        c, r = side_scores(model, tok, b, "chosen"), side_scores(model, tok, b, "rejected")
        for name, sc, sr in zip(("sum", "mean", "min"), c, r):
            wins[name] += (sc > sr).tolist()
        if tuned:  # implicit reward: log-ratio of the tuned policy to the reference, summed over the side
            tc, tr = side_scores(tuned, tok, b, "chosen")[0], side_scores(tuned, tok, b, "rejected")[0]
            wins["implicit"] += (tc - c[0] > tr - r[0]).tolist()
            wins["tuned"] += (tc > tr).tolist()
    for spec in args.ppm:
        label, path = spec.split("=", 1) if "=" in spec else (Path(spec).name, spec)
        scorer = load_ppm(path, torch.device("cpu"), torch.float32, args.batch_size)
        c, r = ([ppm_text(p["prompt"], p[side]) for p in pairs] for side in ("chosen", "rejected"))
        wins[label] = [sc > sr for sc, sr in zip(scorer(c), scorer(r))]
    arith = [(equations_hold(p["chosen"]), equations_hold(p["rejected"])) for p in pairs]
    wins["arith"] = [c > r for c, r in arith]
    kinds = [p.get("kind", "ppm") for p in pairs]
    print(f"{len(pairs)} pairs | share where the chosen side scores higher under the policy")
    for name, w in wins.items():
        per = {k: sum(x for x, kk in zip(w, kinds) if kk == k) / kinds.count(k) for k in sorted(set(kinds))}
        print(f"{name:8s} {sum(w) / len(w):.3f} | " + " | ".join(f"{k} {v:.3f}" for k, v in per.items()))
    print(f"arith ties (both sides equally right or wrong): {sum(c == r for c, r in arith) / len(arith):.3f}; "
          f"chosen side has a false equation: {sum(not c for c, _ in arith) / len(arith):.3f}")


if __name__ == "__main__":
    main()
