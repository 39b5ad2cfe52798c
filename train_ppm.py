"""Stage 5: the process preference model (PPM), a scalar score of a partial trajectory.

What it does
  Trains a causal-LM body with a scalar head to score a partial trajectory x + s_1..s_i (the
  question and the steps so far), rStar-Math section 3.3 (process preference model).
  The model is a Hugging Face sequence-classification model with one label
  (`AutoModelForSequenceClassification`, e.g. LlamaForSequenceClassification): a linear head
  read at the last non-pad token, so the checkpoint loads as is in transformers, in
  scoring.PPMScorer (mcts.py, evaluate.py) and in vLLM's pooling runner.
  - `--loss bt` (rStar-Math Eq. 4): L = -log sigmoid(r(x, y+) - r(x, y-)), averaged over the
    pairs. y+ and y- share the prefix (siblings in the MCTS tree). rStar's 1/(2x2) factor is
    a constant that the learning rate absorbs; we take the plain mean.
  - `--loss mse` (rStar's PQM ablation, Table 8; AlphaLLM's value function v^pi):
    L = (tanh(r(x, y)) - Q(y))^2 over every distinct (prompt, step) text of the same pair file,
    with Q = q_chosen / q_rejected (the node's MCTS Q in [-1, 1]). Same problems, same texts as
    bt: the loss is the only difference, which is what Table 8 compares. A micro-batch holds
    2 x --batch-size texts, the number of sequences a bt micro-batch of pairs forwards.
  Init: the policy checkpoint (`--init DIR`, as rStar does; the LM head is dropped, the new
  linear head starts at zero so every value starts at 0); `build_model(init, from_scratch=True)`
  gives the same architecture with fresh weights, for a fork that trains one from scratch.

The value in [-1, 1], one way everywhere
  The head outputs a raw score r in R. Every consumer (scoring.PPMScorer, so mcts.py and
  evaluate.py) uses the value v = tanh(r), bounded like the +/-1 terminal rewards so that PPM
  values and rewards can be averaged in Q.
  - bt trains on the raw difference r+ - r-: tanh is monotone, so the ranking BT learns is the
    ranking of v, and the loss keeps its gradient where tanh would saturate. BT fixes only
    differences; the zero-initialised head starts every r at 0.
  - mse trains tanh(r) itself against Q, so v is directly an estimate of Q.
  rStar's released code trains on the raw score and applies tanh(r / 5) only at inference;
  we drop the /5 (a constant scale that the head learns anyway) so that both losses and all
  consumers share one mapping, v = tanh(r).

Input
  `--pairs`: ppm_pairs.jsonl from pairs.py {"id", "problem", "prompt", "chosen", "rejected",
  "kind", "q_chosen", "q_rejected", ...}; prompt = formatted question + the shared prefix steps,
  each followed by the delimiter; chosen / rejected = the next step (kind ppm) or the rest of a
  whole trajectory (kind ppm_final). The scored text is prompt + side without a trailing
  delimiter: the string mcts.py scores for a node, join_steps(prompt, steps[:-1]) + steps[-1].
  Only records of `--kinds` are used (default: ppm and ppm_final, the two rStar rules). Held
  out: the pairs of a `--eval-frac` share of the problems (by "problem", so no problem is on
  both sides; rStar holds out 5%), or `--eval-pairs FILE`.
Output
  `--out DIR`: an HF directory (model + tokenizer, config.num_labels = 1, pad_token_id set) and
  meta.json (args; metrics: train loss, held-out loss, pairwise accuracy, value MSE to Q). Written beside
  DIR and renamed into place; a DIR made with other flags or inputs is refused, --force replaces it.

Commands
  CPU smoke: python train_ppm.py --init runs/sft --pairs runs/pairs.jsonl --out runs/ppm --steps 50
  one GPU:   python train_ppm.py --init ckpt/policy --pairs ppm.jsonl --out ckpt/ppm --lr 7e-6 \\
                 --batch-size 16 --grad-accum 32 --epochs 1 --max-len 2048
  torchrun:  torchrun --nproc_per_node 8 train_ppm.py --init ckpt/policy --pairs ppm.jsonl \\
                 --out ckpt/ppm --lr 7e-6 --batch-size 16 --grad-accum 4 --epochs 1 --max-len 2048
  (rStar: lr 7e-6, global batch 512, 1 epoch; its section 4.1.)
"""
import argparse
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from common import (STEP_DELIM, check_finite_loss, check_model_dir, check_not_input, check_output, claim_output,
                    drop_equal_sides, encode, global_batches, load_for_training, load_jsonl, load_tokenizer, lr_at, nonneg_int,
                    positive_float, positive_int, print0, run_main, save_checkpoint, setup_training, stable_seed,
                    teardown_dist, unit_float)

# ----------------------------------------------------------------------------- the losses


def bt_loss(r_chosen, r_rejected):
    """Bradley-Terry (rStar-Math Eq. 4): mean of -log sigmoid(r+ - r-).  (B,), (B,) -> scalar"""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def mse_loss(r, q):
    """Value regression (rStar's PQM, AlphaLLM's v^pi): mean of (tanh(r) - Q)^2.  (B,), (B,) -> scalar"""
    return (torch.tanh(r) - q).pow(2).mean()


def pair_accuracy(r_chosen, r_rejected):
    """Share of pairs ranked right, 1[r+ > r-] (rStar's eval metric); ties count as wrong."""
    return (r_chosen > r_rejected).float().mean()


# ----------------------------------------------------------------------------- data


def ppm_text(prompt, step, delim=STEP_DELIM):
    """The partial trajectory the PPM scores: prompt (question + earlier steps, each followed by the
    delimiter) + the step WITHOUT a trailing delimiter, as mcts.py scores a node:
    join_steps(prompt, steps[:-1]) + steps[-1]. pairs.py ends a non-terminal side with the
    delimiter (for DPO's benefit); it is cut here so training and search see the same string."""
    return prompt + (step[:-len(delim)] if delim and step.endswith(delim) else step)


def problem_key(pair):
    """The problem a pair comes from: its "problem" field (pairs.py), else the id up to a '/' or '#'
    (so every pair of a problem lands on the same side of the split)."""
    return str(pair["problem"]) if "problem" in pair else re.split(r"[/#]", str(pair["id"]))[0]


def split_pairs(pairs, eval_frac, seed):
    """(train, held-out): a problem goes to held-out when its stable hash falls under eval_frac."""
    held = [stable_seed(seed, "ppm-split", problem_key(p)) % 10000 < eval_frac * 10000 for p in pairs]
    return [p for p, h in zip(pairs, held) if not h], [p for p, h in zip(pairs, held) if h]


def value_examples(pairs, delim):
    """The mse data: every distinct scored text of the pairs with its Q (mean if listed twice)."""
    acc = {}
    for p in pairs:
        for side in ("chosen", "rejected"):
            t = ppm_text(p["prompt"], p[side], delim)
            acc.setdefault(t, []).append(float(p[f"q_{side}"]))
    return [(t, sum(q) / len(q)) for t, q in acc.items()]


def encode_texts(tokenizer, texts, max_len):
    """Right-padded ids and mask; truncation keeps the END (the step being scored must stay)."""
    ids = [encode(tokenizer, t)[-max_len:] for t in texts]
    T, pad = max(len(x) for x in ids), tokenizer.pad_token_id
    return (torch.tensor([x + [pad] * (T - len(x)) for x in ids]),
            torch.tensor([[1] * len(x) + [0] * (T - len(x)) for x in ids]))


def raw_scores(model, tokenizer, texts, max_len, device):
    """The head's raw score r at each text's last non-pad token (HF seq-cls pooling).  # (B,)"""
    ids, mask = encode_texts(tokenizer, texts, max_len)
    return model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, 0].float()


WARMUP, MIN_LR_FRAC = 0.05, 0.05  # linear warm-up over 5% of the steps, cosine to 5% of the peak; AdamW, no decay


# ----------------------------------------------------------------------------- model


def build_model(init, from_scratch):
    """A one-label sequence-classification model on the policy's body, head at zero."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()  # the load report would list the new head as MISSING: expected
    tokenizer = load_tokenizer(init)
    config = AutoConfig.from_pretrained(init, num_labels=1)
    config.pad_token_id = tokenizer.pad_token_id  # the seq-cls pooling finds the last token by it
    if from_scratch:
        model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    else:
        model = load_for_training(init, AutoModelForSequenceClassification, config)  # fp32 master weights
    head = model.get_submodule("score")  # the HF name of the seq-cls head (Llama, Qwen2, Mistral, ...)
    with torch.no_grad():  # rStar inits the head near zero (N(5e-7, 1e-6)); exactly zero: v = 0 at start
        head.weight.zero_()
        if getattr(head, "bias", None) is not None:
            head.bias.zero_()
    return model, tokenizer


@torch.no_grad()
def evaluate(model, tokenizer, pairs, args, device):
    """Held-out metrics of both kinds, whatever the training loss: BT loss and pairwise accuracy
    on the pairs, MSE of tanh(r) to Q on their texts."""
    model.eval()
    rc, rr, qc, qr = [], [], [], []
    for s in range(0, len(pairs), args.batch_size):
        b = pairs[s:s + args.batch_size]
        r = raw_scores(model, tokenizer, [ppm_text(p["prompt"], p["chosen"], STEP_DELIM) for p in b]
                       + [ppm_text(p["prompt"], p["rejected"], STEP_DELIM) for p in b], args.max_len, device)
        rc.append(r[:len(b)])
        rr.append(r[len(b):])
        qc += [float(p.get("q_chosen", "nan")) for p in b]
        qr += [float(p.get("q_rejected", "nan")) for p in b]
    model.train()
    rc, rr, q = torch.cat(rc), torch.cat(rr), torch.tensor(qc + qr)
    r, ok = torch.cat([rc, rr]), ~torch.isnan(q)
    return {"pairs": len(pairs), "bt_loss": bt_loss(rc, rr).item(), "pair_acc": pair_accuracy(rc, rr).item(),
            "value_mse": mse_loss(r[ok], q[ok]).item() if ok.any() else float("nan"),
            "mean_value_chosen": torch.tanh(rc).mean().item(), "mean_value_rejected": torch.tanh(rr).mean().item()}


# ----------------------------------------------------------------------------- run


def check_flags(args):
    """Model directory and output, before the model is loaded (not after training); an --out made with other flags
    or inputs refused unless --force (records.claim_output). Returns the args record."""
    check_model_dir(args.init, "--init")
    check_not_input(args.out, "--out", {"--pairs": args.pairs, "--eval-pairs": args.eval_pairs, "--init": args.init})
    check_output(args.out, "--out", is_dir=True)
    return claim_output("--out", [args.out], Path(args.out) / "meta.json", args, args.force,
                        {"--init": args.init, "--pairs": args.pairs, "--eval-pairs": args.eval_pairs},
                        ignore={"force", "out"})[0]


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="policy HF directory: the PPM body (and tokenizer) starts from it")
    ap.add_argument("--pairs", nargs="+", required=True, help="ppm pairs JSONL file(s) (pairs.py; rStar: every round's)")
    ap.add_argument("--kinds", default="ppm,ppm_final", help="comma list: use only pairs of these kinds ('' for all)")
    ap.add_argument("--eval-pairs", default="", help="held-out pairs JSONL (default: split off --eval-frac of the problems)")
    ap.add_argument("--eval-frac", type=unit_float, default=0.05, help="share of problems held out (rStar: 5%%)")
    ap.add_argument("--out", required=True, help="output HF directory")
    ap.add_argument("--loss", default="bt", choices=["bt", "mse"], help="bt: pairwise Bradley-Terry (rStar); mse: regress Q")
    ap.add_argument("--steps", type=nonneg_int, default=0, help="optimizer steps (0: use --epochs)")
    ap.add_argument("--epochs", type=positive_float, default=2.0, help="passes over the training pairs when --steps is 0 (rStar code: 2)")
    ap.add_argument("--batch-size", type=positive_int, default=16, help="pairs per micro-batch per rank (mse: 2x this many texts)")
    ap.add_argument("--grad-accum", type=positive_int, default=1, help="micro-batches per optimizer step")
    ap.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (1e-3 for the tiny model; rStar: 7e-6 for 7B)")
    ap.add_argument("--max-len", type=positive_int, default=512, help="truncate scored texts to this many tokens (from the left)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the split and the data order")
    ap.add_argument("--force", action="store_true", help="replace an --out made with other flags or inputs (else: refuse)")
    return ap


def load_pairs(args):
    """(train, held-out) pairs of --kinds: --eval-pairs, else --eval-frac of the problems split off."""
    fields = {"id": (str, int), "prompt": str, "chosen": str, "rejected": str}
    if args.loss == "mse":
        fields.update(q_chosen=(int, float), q_rejected=(int, float))
    kinds = {k for k in args.kinds.split(",") if k}
    pairs = drop_equal_sides([p for f in args.pairs for p in load_jsonl(f, fields) if not kinds or p.get("kind", "ppm") in kinds],
                             " ".join(args.pairs))
    if args.eval_pairs:
        train, held = pairs, load_jsonl(args.eval_pairs, fields)
    else:
        train, held = split_pairs(pairs, args.eval_frac, args.seed)
    if not train:
        raise SystemExit(f"{' '.join(args.pairs)}: no training pairs of kinds {args.kinds!r} with two different sides")
    return train, held


def micro_loss(model, tokenizer, b, args, device):
    """(loss, pair accuracy) of one micro-batch: bt on pairs (accuracy too), mse on (text, Q) examples."""
    if args.loss == "bt":
        texts = [ppm_text(p["prompt"], p["chosen"], STEP_DELIM) for p in b] + \
                [ppm_text(p["prompt"], p["rejected"], STEP_DELIM) for p in b]
        r = raw_scores(model, tokenizer, texts, args.max_len, device)  # (2B,)
        return bt_loss(r[:len(b)], r[len(b):]), pair_accuracy(r[:len(b)], r[len(b):]).item()
    r = raw_scores(model, tokenizer, [t for t, _ in b], args.max_len, device)  # (B,)
    return mse_loss(r, torch.tensor([q for _, q in b], device=device)), float("nan")


def train_step(ddp, tokenizer, mine, per_micro, args, device, dtype, world):
    """One optimizer step on this rank's examples `mine`, in --grad-accum micro-batches (DDP no_sync
    until the last); (loss, accuracy) of the global batch."""
    loss_sum, acc_sum = 0.0, 0.0
    for micro in range(args.grad_accum):
        b = mine[micro * per_micro:(micro + 1) * per_micro]
        sync = micro == args.grad_accum - 1 or world == 1
        with (ddp.no_sync() if not sync else torch.enable_grad()):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss, acc = micro_loss(ddp, tokenizer, b, args, device)
            (loss / args.grad_accum).backward()
        loss_sum += loss.item() / args.grad_accum
        acc_sum += acc / args.grad_accum
    if world > 1:  # log the global batch's loss (DDP averages the gradients the same way)
        t = torch.tensor([loss_sum, acc_sum], device=device)
        torch.distributed.all_reduce(t)
        loss_sum, acc_sum = (t / world).tolist()
    return loss_sum, acc_sum


def main():
    args = get_parser().parse_args()
    record = check_flags(args)

    rank, world, device, dtype = setup_training(args)
    train, held = load_pairs(args)
    model, tokenizer = build_model(args.init, from_scratch=False)
    model.to(device).train()
    # bt trains on pairs; mse on the distinct (text, Q) of the same pairs, 2 texts per pair slot
    examples = train if args.loss == "bt" else value_examples(train, STEP_DELIM)
    per_micro = args.batch_size * (1 if args.loss == "bt" else 2)
    global_batch = per_micro * args.grad_accum * world
    steps = args.steps or max(1, int(args.epochs * len(examples) / global_batch))
    print0(f"{len(train)} train pairs ({len(examples)} {args.loss} examples) | {len(held)} held-out pairs | "
           f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params | {steps} steps of {global_batch} | world {world}")
    ddp = DDP(model) if world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.95))
    batches = global_batches(len(examples), global_batch, args.seed)

    t0, log = time.time(), []
    for step in range(steps):
        lr = lr_at(step, steps, args.lr, max(1, int(WARMUP * steps)), MIN_LR_FRAC)
        for group in opt.param_groups:
            group["lr"] = lr
        mine = next(batches)[rank * per_micro * args.grad_accum:(rank + 1) * per_micro * args.grad_accum]
        loss_sum, acc_sum = train_step(ddp, tokenizer, [examples[i] for i in mine], per_micro, args,
                                       device, dtype, world)
        check_finite_loss(loss_sum, step + 1)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        log.append(loss_sum)
        if step % max(1, steps // 30) == 0 or step == steps - 1:  # about 30 log lines
            print0(f"step {step + 1}/{steps} | {args.loss} loss {loss_sum:.4f} | acc {acc_sum:.2f} | lr {lr:.2e} | "
                   f"{time.time() - t0:.0f}s")

    final = evaluate(model, tokenizer, held, args, device) if rank == 0 and held else {}
    meta = {"args": record, "steps": steps, "train_pairs": len(train), "examples": len(examples), "world": world,
            "final_train_loss": sum(log[-20:]) / len(log[-20:]), "losses": log,
            "heldout": final, "train_seconds": time.time() - t0,
            "value": "tanh(raw score at the last non-pad token)"}
    if rank == 0:
        save_checkpoint(model, tokenizer, args.out, meta)
        if final:
            print0(f"held-out {final['pairs']} pairs | pair acc {final['pair_acc']:.3f} | bt loss {final['bt_loss']:.4f} | "
                   f"value mse {final['value_mse']:.4f}")
        print0(f"saved {args.out} | {meta['train_seconds']:.0f}s")
    teardown_dist()


if __name__ == "__main__":
    run_main(main, "train_ppm")
