"""Stage 4: preference training of the policy: DPO, CPL ordering, SVPO.

What it does
  - DPO (Rafailov et al. 2023, Eq. 7; CPL Eq. 3): L = -log sigmoid(beta * ((pc - rc) - (pr - rr)))
    where p*/r* are the summed completion log-probs (prompt masked, EOS included) of chosen (c) and
    rejected (r) under the policy / the reference. --label-smoothing gives cDPO. The reference is
    the starting policy; its log-probs are computed once before training, so one model is in memory.
  - Order of the pairs each epoch (--order):
    `cpl` (AlphaLLM-CPL section 3.2, Eqs. 4-7): r_g = sum r_chosen - sum r_rejected (fixed; pairs.py
    stores the Q of each step), p_g = log P(chosen) - log P(rejected) under the policy at the start
    of the epoch, each min-max normalised over the whole buffer to [0, 1], w = r_g + alpha * p_g;
    pairs sorted by w descending within a problem, then round-robin over problems (in order of
    first appearance); the loader does not shuffle. `shuffle`: a new random order each epoch
    (PL-Shuffle baseline). `file`: as written.
  - SVPO (Chen et al. 2024, Eqs. 8-10, App. A.1), --loss svpo: a value head Linear(hidden, 1) + tanh beside
    the LM head, read at the last token of each step (the step's trailing delimiter, or EOS for a
    finished one). L = 1 * DPO + 0.25 * max(0, gamma - h_V) + 0.001 * (h_pi - sg[h_V])^2
    + 5 * NLL(chosen) + 0.25 * MSE(V(s_t), Q_t), h_pi = beta * DPO logit, h_V = V(chosen) - V(rejected);
    the MSE runs over every step of both sides with the pair's per-step Q as targets.
  Departures (documented choices)
  - --sft-weight adds the chosen side's token-mean NLL to plain DPO too (RPO, Pang et al. 2024; SVPO's
    SFT term); 0 by default for DPO, 5 for SVPO (without it, plain DPO on the tiny model collapses: docs/findings.md).
  - SVPO's SFT/MSE data are the pairs' own chosen sides / steps (the paper mixes in whole solutions).
  - CPL's normalisation is unspecified: min-max over the buffer (all equal -> 0); ties keep file order.
  - A completion ending with the step delimiter is a partial trajectory: no EOS is appended to it
    (pairs.py convention); every other completion gets EOS.
  Precision: fp32 master weights, bf16 autocast on GPU (with --fsdp: bf16 all-gathers, fp32 gradient
  reduction); fp32 on CPU. DDP uses no_sync for gradient accumulation; --fsdp shards each decoder layer.
  Metrics per step (TRL names): loss, rewards/chosen, rewards/rejected, rewards/accuracies,
  rewards/margins, logps/chosen, logps/rejected, the SVPO terms, lr, tokens/s (non-pad tokens of
  the training forwards, all ranks).

Input   --pairs: pairs JSONL {"prompt", "chosen", "rejected", "r_chosen"?, "r_rejected"?, "problem"?,
        "kind"?} (pairs.py); --kinds picks kinds. --model: the policy HF directory (also the reference).
Output  --out: HF directory + meta.json (args, per-step log, timings); value_head.pt beside it for
        SVPO ({"weight", "bias"} of the Linear; value = tanh(head(h_last))); --save-epochs also writes
        OUT-epoch{k} after every epoch but the last (CPL reports each epoch).
        Written beside --out and renamed into place; an --out made with other flags or inputs is
        refused, --force replaces it.

Commands
  CPU smoke: python train_dpo.py --model runs/sft --pairs runs/pairs/pairs.jsonl --out runs/dpo \\
                 --kinds step,complete --order cpl --epochs 2 --batch-size 16 --grad-accum 1 --lr 2e-4
  one GPU:   python train_dpo.py --model ckpt --pairs pairs.jsonl --out dpo --order cpl --epochs 2 --lr 5e-7
  torchrun:  torchrun --nproc_per_node 8 train_dpo.py --model ckpt --pairs pairs.jsonl --out dpo \\
                 --batch-size 2 --grad-accum 4 --loss svpo --fsdp
"""
import argparse
import math
import random
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
import torch.nn.functional as F

from common import (STEP_DELIM, check_finite_loss, check_model_dir, check_not_input, check_output, claim_output,
                    float_in, load_for_training, load_tokenizer, lr_at, nonneg_float, positive_float, positive_int, print0,
                    run_main, save_checkpoint, setup_training, teardown_dist)
from pairdata import collate, load_pairs, read_pairs

# ----------------------------------------------------------------------------- the method


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta,
             label_smoothing=0.0):
    """DPO: L = -(1-e) log s(beta*h) - e log s(-beta*h), h = (pc - rc) - (pr - rr); all (B,).

    Returns per-example losses (B,), chosen rewards beta*(pc - rc) and rejected rewards
    beta*(pr - rr), both detached (B,).
    """
    h = (policy_chosen_logps - ref_chosen_logps) - (policy_rejected_logps - ref_rejected_logps)  # (B,)
    losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps).detach()
    return losses, chosen_rewards, rejected_rewards


def svpo_loss(pc, pr, rc, rr, v_chosen, v_rejected, n_chosen, v_steps, q_steps, step_mask, beta, gamma, w,
              label_smoothing=0.0):
    """SVPO Eq. 10 + App. A.1 (per example, all (B,) unless noted):
    h_pi = beta*((pc - rc) - (pr - rr))   h_V = V(s_w) - V(s_l)
    L = w.dpo * [-(1-e) log s(h_pi) - e log s(-h_pi)] + w.margin * max(0, gamma - h_V)
        + w.reg * (h_pi - sg[h_V])^2 + w.sft * (-pc / n_chosen) + w.mse * mean_t (V(s_t) - Q_t)^2
    (e = label_smoothing, cDPO's smoothing of the DPO term as in dpo_loss; SVPO itself uses e = 0.)
    v_steps, q_steps, step_mask: (B, S) values, Q targets and mask over the steps of both sides.
    Returns (total (B,), {term: (B,)}).
    """
    h_pi = beta * ((pc - rc) - (pr - rr))
    h_v = v_chosen - v_rejected
    terms = {
        "dpo": -(1 - label_smoothing) * F.logsigmoid(h_pi) - label_smoothing * F.logsigmoid(-h_pi),
        "margin": torch.relu(gamma - h_v),
        "reg": (h_pi - h_v.detach()) ** 2,
        "sft": -pc / n_chosen,
        "mse": ((v_steps - q_steps) ** 2 * step_mask).sum(-1) / step_mask.sum(-1).clamp(min=1),
    }
    return sum(w[k] * t for k, t in terms.items()), terms


def svpo_step_values(values, vpos, vmask, q_chosen, q_rejected):
    """SVPO's value reads (Eqs. 9-10): V(s_t) = tanh(head(h)) at the last token of each step t of a
    side (vpos); V(s_w), V(s_l) = the value at the last step of the chosen / rejected side; Q_t = the
    step's MCTS Q from pairs.py, the MSE target. values (2B, T), chosen rows first; vpos, vmask
    (2B, S); q_chosen, q_rejected: B lists of per-step Q.
    Returns (v (2B, S) values at the steps, v_last (2B,), q (2B, S) targets, zero-padded)."""
    v = values.gather(1, vpos) * vmask  # (2B, S) value at each step's last token
    last = vmask.sum(-1).long() - 1
    v_last = v.gather(1, last[:, None]).squeeze(-1)  # (2B,)
    q = torch.zeros_like(v)
    B = len(q_chosen)
    for b, (qc, qr) in enumerate(zip(q_chosen, q_rejected)):
        q[b, :len(qc)] = torch.tensor(qc)
        q[B + b, :len(qr)] = torch.tensor(qr)
    return v, v_last, q


def minmax(xs):
    """Min-max normalisation to [0, 1]; a constant list maps to zeros."""
    lo, hi = min(xs), max(xs)
    return [(x - lo) / (hi - lo) if hi > lo else 0.0 for x in xs]


def cpl_order(groups, r_gap, p_gap, alpha=0.5):
    """CPL order (AlphaLLM-CPL section 3.2, Eq. 7 and the prompt-level ranking): w = minmax(r_g) + alpha * minmax(p_g); sort each group (prompt)
    by w descending, then take every group's best, every group's second, ... (round-robin).
    groups, r_gap, p_gap: one entry per pair. Returns pair indices."""
    w = [r + alpha * p for r, p in zip(minmax(r_gap), minmax(p_gap))]
    by_group = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    queues = [sorted(ix, key=lambda i: -w[i]) for ix in by_group.values()]  # stable: ties keep file order
    return [q[r] for r in range(max(map(len, queues))) for q in queues if r < len(q)]


def epoch_order(kind, epoch, seed, groups, r_gap, p_gap, alpha):
    if kind == "cpl":
        return cpl_order(groups, r_gap, p_gap, alpha)
    order = list(range(len(groups)))
    if kind == "shuffle":
        random.Random(seed * 1000 + epoch).shuffle(order)
    return order


# ----------------------------------------------------------------------------- model


class PolicyWithValue(torch.nn.Module):
    """The causal LM, plus (SVPO) a value head Linear(hidden, 1) + tanh on the last hidden state."""

    def __init__(self, lm, value_head=False):
        super().__init__()
        self.lm = lm
        self.v_head = torch.nn.Linear(lm.config.hidden_size, 1) if value_head else None
        if value_head:  # SVPO's repo: N(0, initializer_range), bias 0
            torch.nn.init.normal_(self.v_head.weight, std=getattr(lm.config, "initializer_range", 0.02))
            torch.nn.init.zeros_(self.v_head.bias)

    def forward(self, ids, attn):
        """Token log-probs log p(x_t | x_<t), t >= 1 (B, T-1); values tanh(head(h_t)) (B, T) or None."""
        pos = (attn.cumsum(-1) - 1).clamp(min=0)  # positions from the first real token: any padding side
        # right padding only (our batches): a real token never attends to a later pad, so the plain
        # causal mask gives the same log-probs and lets SDPA skip building a padding mask
        mask = None if bool(attn[:, 0].all()) else attn
        out = self.lm(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                      output_hidden_states=self.v_head is not None)
        logits = out.logits[:, :-1].float()  # (B, T-1, V)
        logps = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - torch.logsumexp(logits, -1)
        values = None
        if self.v_head is not None:
            h = out.hidden_states[-1]
            values = torch.tanh(self.v_head(h.to(self.v_head.weight.dtype)).float()).squeeze(-1)  # (B, T)
        return logps, values


def seq_logps(logps, lmask):
    """Summed completion log-probs (B,) from token log-probs (B, T-1) and the loss mask (B, T)."""
    return (logps * lmask[:, 1:]).sum(-1)


@torch.no_grad()
def all_logps(model, data, bs, rank, world, pad_id, device, dtype):
    """(N, 2) summed log-probs of chosen/rejected for every pair; ranks split the pairs and every
    rank runs the same number of batches (FSDP needs lock-step forwards). Each rank's pairs go
    longest first, so a batch holds sides of similar length and little padding."""
    was = model.training
    model.eval()
    out = torch.zeros(len(data), 2)
    mine = sorted(range(rank, len(data), world), key=lambda i: -max(len(data[i]["c"][0]), len(data[i]["r"][0])))
    for b in range(math.ceil(math.ceil(len(data) / world) / bs)):
        idx = mine[b * bs:(b + 1) * bs] or [0]
        real = len(mine[b * bs:(b + 1) * bs])
        ids, attn, lmask, _, _ = collate([data[i]["c"] for i in idx] + [data[i]["r"] for i in idx], pad_id, device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            lp = seq_logps(model(ids, attn)[0], lmask).float().cpu()
        out[idx[:real]] = torch.stack([lp[:len(idx)], lp[len(idx):]], -1)[:real]
    if world > 1:
        dist.all_reduce(out)
    model.train(was)
    return out


def save(model, tok, out, meta, fsdp, rank):
    """HF directory of the LM (+ value_head.pt for SVPO); FSDP gathers a full state dict first."""
    sd = None
    if fsdp:  # a collective: every rank takes part
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank != 0:
        return
    lm = {k[3:]: v for k, v in sd.items() if k.startswith("lm.")} if fsdp else None
    head = {k[7:]: v for k, v in sd.items() if k.startswith("v_head.")} if fsdp else \
        model.v_head.state_dict() if model.v_head is not None else None

    def write_head(folder):
        torch.save({k: v.detach().cpu() for k, v in head.items()}, folder / "value_head.pt")
    save_checkpoint(model.lm, tok, out, meta, state_dict=lm, also=write_head if head else None)


# ----------------------------------------------------------------------------- training

WARMUP = 0.03  # warm-up fraction of the steps (SVPO: 0.03), then cosine to 0; AdamW without weight decay
EVAL_BATCH = 32  # pairs per batch of the no-grad log-prob passes (reference, CPL's policy gap)


# the per-step sums, all-reduced as one tensor: slot SUMS.index(name) holds metric `name`
SUMS = ("loss", "dpo", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected",
        "sft", "margin", "reg", "mse", "tokens")


def pair_losses(model, data, idx, ref, args, rt, weights):
    """One micro-batch: the chosen sides of pairs idx, then their rejected sides, in one forward.
    Returns (total (B,), {term: (B,)}, chosen rewards (B,), rejected rewards (B,), pc (B,), pr (B,),
    attention mask (2B, T))."""
    ids, attn, lmask, vpos, vmask = collate([data[i]["c"] for i in idx] + [data[i]["r"] for i in idx], rt.pad, rt.device)
    B = len(idx)
    with torch.autocast(rt.device.type, dtype=rt.dtype, enabled=rt.dtype != torch.float32):
        logps, values = model(ids, attn)
    seq = seq_logps(logps, lmask)
    pc, pr = seq[:B], seq[B:]
    rc, rr = ref[idx, 0].to(rt.device), ref[idx, 1].to(rt.device)
    n_c = lmask[:B, 1:].sum(-1).float()
    if args.loss == "dpo":
        losses, rew_c, rew_r = dpo_loss(pc, pr, rc, rr, args.beta, args.label_smoothing)
        terms = {"dpo": losses, "sft": -pc / n_c}
        return losses + args.sft_weight * terms["sft"], terms, rew_c, rew_r, pc, pr, attn
    # SVPO: its own loss; the rewards are logged the same way
    rew_c, rew_r = args.beta * (pc - rc).detach(), args.beta * (pr - rr).detach()
    v, v_last, q = svpo_step_values(values, vpos, vmask, [data[i]["q_c"] for i in idx], [data[i]["q_r"] for i in idx])
    total, terms = svpo_loss(pc, pr, rc, rr, v_last[:B], v_last[B:], n_c,
                             torch.cat([v[:B], v[B:]], -1), torch.cat([q[:B], q[B:]], -1),
                             torch.cat([vmask[:B], vmask[B:]], -1), args.beta, args.gamma, weights,
                             args.label_smoothing)
    return total, terms, rew_c, rew_r, pc, pr, attn


def micro_sums(total, terms, rew_c, rew_r, pc, pr, attn, weight):
    """The SUMS of one micro-batch, as a tensor (weight 0: a dummy batch that only keeps ranks in step)."""
    terms = {k: t.detach().sum().item() * weight for k, t in terms.items()}
    got = {"loss": total.detach().sum().item(), "dpo": terms["dpo"], "rewards/chosen": rew_c.sum().item(),
           "rewards/rejected": rew_r.sum().item(), "rewards/accuracies": (rew_c > rew_r).float().sum().item(),
           "logps/chosen": pc.detach().sum().item(), "logps/rejected": pr.detach().sum().item(),
           "sft": terms["sft"], "margin": terms.get("margin", 0.0), "reg": terms.get("reg", 0.0),
           "mse": terms.get("mse", 0.0), "tokens": float(attn.sum())}
    return torch.tensor([got[k] for k in SUMS]) * weight


def train_step(model, ddp, opt, sched, gb, data, ref, args, rt, weights):
    """One optimizer step on the global batch gb (pair indices): this rank's share in micro-batches
    of --batch-size, gradients accumulated (DDP no_sync, FSDP's sync flag, both off until the last),
    clipped to norm 1. Returns the SUMS of all ranks."""
    bounds = [len(gb) * r // rt.world for r in range(rt.world + 1)]
    mine = gb[bounds[rt.rank]:bounds[rt.rank + 1]]
    n_micro = math.ceil(math.ceil(len(gb) / rt.world) / args.batch_size)  # the same on every rank
    sums = torch.zeros(len(SUMS))
    for m in range(n_micro):
        idx = mine[len(mine) * m // n_micro:len(mine) * (m + 1) // n_micro]
        weight = 1.0 if idx else 0.0  # an empty slice runs a dummy example so ranks stay in step
        idx = idx or gb[:1]
        sync = m == n_micro - 1
        if args.fsdp:
            model.set_requires_gradient_sync(sync)
        with ddp.no_sync() if ddp is not None and not sync else nullcontext():
            total, *out = pair_losses(ddp or model, data, idx, ref, args, rt, weights)
            (total.sum() * weight * rt.world / len(gb)).backward()
        sums += micro_sums(total, *out, weight)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    if rt.world > 1:
        dist.all_reduce(sums)
    return sums


def step_record(sums, n, step, epoch, lr, tokens_per_s, svpo):
    """The log line of a step (TRL's names): each sum per pair of the global batch of n."""
    at = {k: sums[i] for i, k in enumerate(SUMS)}
    rec = {"step": step, "epoch": epoch, **{k: at[k].item() / n for k in ("loss", "dpo", "rewards/chosen",
                                                                          "rewards/rejected", "rewards/accuracies")},
           "rewards/margins": (at["rewards/chosen"] - at["rewards/rejected"]).item() / n,
           **{k: at[k].item() / n for k in ("logps/chosen", "logps/rejected", "sft")},
           "lr": lr, "tokens/s": tokens_per_s}
    if svpo:
        rec.update({k: at[k].item() / n for k in ("margin", "reg", "mse")})
    return rec


# ----------------------------------------------------------------------------- run


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("data")
    g.add_argument("--model", required=True, help="policy HF directory (also the frozen reference)")
    g.add_argument("--pairs", nargs="+", required=True, help="pairs JSONL file(s) from pairs.py")
    g.add_argument("--out", required=True, help="output HF directory")
    g.add_argument("--kinds", default="", help="comma-separated pair kinds to train on (empty: all)")
    g = ap.add_argument_group("loss and pair order")
    g.add_argument("--loss", choices=["dpo", "svpo"], default="dpo", help="plain DPO (+ optional NLL) or the SVPO loss")
    g.add_argument("--order", choices=["cpl", "shuffle", "file"], default="cpl", help="pair order each epoch")
    g.add_argument("--alpha", type=nonneg_float, default=0.5, help="CPL: weight of the policy gap p_g (CPL App. A: 0.5)")
    g.add_argument("--epochs", type=positive_int, default=2, help="passes over the pairs (CPL: 2)")
    g.add_argument("--beta", type=positive_float, default=0.1, help="DPO beta (SVPO: 0.1; CPL: unstated)")
    g.add_argument("--label-smoothing", type=float_in(0, 0.5), default=0.0, help="cDPO label smoothing")
    g.add_argument("--sft-weight", type=nonneg_float, default=None,
                    help="weight of the chosen side's token-mean NLL (default: 0 for dpo, 5 for svpo, SVPO App. A.1)")
    g.add_argument("--margin-weight", type=nonneg_float, default=0.25, help="SVPO value margin term weight (SVPO: 0.25)")
    g.add_argument("--reg-weight", type=nonneg_float, default=0.001, help="SVPO implicit-reward/value consistency weight (SVPO: 0.001)")
    g.add_argument("--mse-weight", type=nonneg_float, default=0.25, help="SVPO value MSE to Q weight (SVPO: 0.25)")
    g.add_argument("--gamma", type=nonneg_float, default=0.5, help="SVPO value margin (SVPO: 0.5)")
    g = ap.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=positive_int, default=8, help="pairs per micro-batch per rank")
    g.add_argument("--grad-accum", type=positive_int, default=8, help="micro-batches per optimizer step (8 x 8 = CPL's batch 64)")
    g.add_argument("--lr", type=positive_float, default=5e-6, help="peak learning rate (SVPO: 5e-6 for 7B; tiny model: ~1e-4..5e-4)")
    g.add_argument("--max-len", type=positive_int, default=1024, help="prompt+completion tokens kept (from the right; AlphaMath: 1024)")
    g = ap.add_argument_group("runtime")
    g.add_argument("--fsdp", action="store_true", help="shard the model with FSDP2 (fully_shard per decoder layer)")
    g.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing (large models)")
    g.add_argument("--seed", type=int, default=0, help="seed (value-head init, shuffle order)")
    g.add_argument("--save-epochs", action="store_true", help="also save OUT-epoch{k} after every epoch but the last")
    g.add_argument("--force", action="store_true", help="replace an --out made with other flags or inputs (else: refuse)")
    return ap


def check_flags(args):
    """Model directory, output and pair records, before the model is loaded (not after training); an --out made with
    other flags or inputs refused unless --force (records.claim_output). Returns the args record."""
    check_model_dir(args.model, "--model")
    check_not_input(args.out, "--out", {"--pairs": args.pairs, "--model": args.model})
    check_output(args.out, "--out", is_dir=True)
    read_pairs(args.pairs, set(filter(None, args.kinds.split(","))), quiet=True)  # checked now, not after the model loads
    return claim_output("--out", [args.out], Path(args.out) / "meta.json", args, args.force,
                        {"--model": args.model, "--pairs": args.pairs}, ignore={"force", "out"})[0]


def build_model(args, device, dtype, world):
    """The policy (+ SVPO value head) in fp32 master weights, sharded by FSDP2 (--fsdp: bf16
    all-gathers, fp32 gradient reduction) or wrapped in DDP (world > 1). Returns (model, ddp or None)."""
    lm = load_for_training(args.model).to(device)
    if args.grad_ckpt:
        lm.gradient_checkpointing_enable()
    model = PolicyWithValue(lm, args.loss == "svpo").to(device).train()
    if args.fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)  # bf16 gathers, fp32 grads
        for m in lm.modules():
            if type(m).__name__ in (getattr(lm, "_no_split_modules", None) or []):
                fully_shard(m, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False) if world > 1 and not args.fsdp else None
    return model, ddp


def main():
    args = get_parser().parse_args()
    record = check_flags(args)
    if args.sft_weight is None:
        args.sft_weight = 5.0 if args.loss == "svpo" else 0.0

    rank, world, device, dtype = setup_training(args)
    tok = load_tokenizer(args.model)
    # fp32 master weights, bf16 autocast on GPU: AdamW on bf16 weights rounds DPO-sized updates away
    model, ddp = build_model(args, device, dtype, world)
    data = load_pairs(args.pairs, set(filter(None, args.kinds.split(","))), tok, STEP_DELIM, args.max_len,
                      per_step_q=args.loss == "svpo")
    rt = SimpleNamespace(rank=rank, world=world, device=device, dtype=dtype, pad=tok.pad_token_id)
    G = args.batch_size * args.grad_accum * world  # pairs per optimizer step
    per_epoch = len(data) // G + (len(data) % G >= world)
    steps = per_epoch * args.epochs
    print0(f"{len(data)} pairs {dict(sorted(Counter(d['kind'] for d in data).items()))} | "
           f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params | {steps} steps of {G} | world {world}")

    # the optimizer before any forward: FSDP2 swaps the root's sharded parameters for unsharded ones
    # during a forward, and an optimizer built then would hold the wrong tensors
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                            weight_decay=0.0)
    t0 = time.time()
    ref = all_logps(model, data, EVAL_BATCH, rank, world, rt.pad, device, dtype)  # (N, 2), once
    ref_seconds = time.time() - t0
    print0(f"reference log-probs of {len(data)} pairs in {ref_seconds:.1f}s")
    warm = max(1, int(WARMUP * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, steps, 1.0, warm, 0.0))  # cosine to 0
    weights = {"dpo": 1.0, "margin": args.margin_weight, "reg": args.reg_weight, "sft": args.sft_weight,
               "mse": args.mse_weight}
    groups, r_gap = [d["group"] for d in data], [d["r_gap"] for d in data]
    log, step, tokens, t_train = [], 0, 0, time.time()
    for epoch in range(args.epochs):
        p_all = ref if epoch == 0 else all_logps(model, data, EVAL_BATCH, rank, world, rt.pad, device, dtype)
        order = epoch_order(args.order, epoch, args.seed, groups, r_gap, (p_all[:, 0] - p_all[:, 1]).tolist(), args.alpha)
        for s in range(0, len(order), G):
            gb = order[s:s + G]
            if len(gb) < world:
                continue
            sums = train_step(model, ddp, opt, sched, gb, data, ref, args, rt, weights)
            check_finite_loss(sums[SUMS.index("loss")].item() / len(gb), step + 1)
            tokens += int(sums[SUMS.index("tokens")])
            dt = time.time() - t_train
            step += 1
            rec = step_record(sums, len(gb), step, epoch + 1, sched.get_last_lr()[0], tokens / dt, args.loss == "svpo")
            log.append(rec)
            if step % max(1, steps // 30) == 0 or step == steps:  # about 30 log lines
                print0(f"step {step}/{steps} | ep {epoch + 1} | " + " | ".join(
                    f"{k} {v:.4g}" for k, v in rec.items() if k not in ("step", "epoch")) + f" | {dt:.0f}s")
        meta = {"args": record, "pairs": len(data), "steps": step, "world": world, "epochs_done": epoch + 1,
                "ref_seconds": ref_seconds, "train_seconds": time.time() - t_train, "train_tokens": tokens,
                "tokens_per_s": tokens / (time.time() - t_train), "log": log}
        if epoch == args.epochs - 1:
            save(model, tok, args.out, meta, args.fsdp, rank)
        elif args.save_epochs:
            save(model, tok, f"{args.out}-epoch{epoch + 1}", meta, args.fsdp, rank)
    print0(f"saved {args.out} | {step} steps | {tokens / (time.time() - t_train):.0f} tok/s | ref {ref_seconds:.0f}s")
    teardown_dist()


if __name__ == "__main__":
    run_main(main, "train_dpo")
