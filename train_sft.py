"""Stage 1: supervised fine-tuning of the policy (and the built-in tiny model from scratch).

What it does
  Trains a causal LM with the negative log-likelihood of the completion tokens only (the prompt
  is masked, EOS is included): loss = -sum_t m_t log p(y_t | x, y_<t) / sum_t m_t.
  - `--init tiny` builds a fresh ~1M-parameter Llama-architecture model and a character-level
    tokenizer (`tokenizers` WordLevel over single characters, saved as an HF directory), with no
    download: the built-in default (hidden 128, 4 layers, 4 heads, tied embeddings; sizes chosen for a
    2-core CPU, shared/NOTES.md).
  - `--init PATH` fine-tunes any HF causal LM directory (e.g. Qwen2.5-Math-1.5B-Instruct):
    AlphaLLM's policy update on the best trajectory per problem, rStar-Math's SFT on the top-2
    trajectories per problem (both written by pairs.py as sft JSONL).
  - `--verifier` also marks the output as a result verifier, a PPM that `--ppm` flags load
    (scoring.ResultVerifier): trained from the policy on its samples with every false result
    corrected (pairs.py --samples), it scores a step by the probability it gives the step's results.

Input (one or more `--data` files, mixed freely)
  problems JSONL with a "solution" (seed set: prompt = format_prompt(question), completion =
  solution), or sft JSONL {"id", "prompt", "completion"} from pairs.py.
Output
  `--out DIR`: an HF directory (model + tokenizer) and meta.json (args, metrics, time).
  It is written beside DIR and renamed into place when complete; a DIR made with other flags or inputs
  is refused, --force replaces it.

Schedule: AdamW, linear warm-up then cosine decay to MIN_LR_FRAC of the peak, a fixed number of
optimizer steps (budgets in steps, not minutes: machines' speeds differ and swing). A micro-batch's
sequences are packed end to end, no padding, each attending only to itself (scoring.pack_completions;
--no-pack pads them instead): the same loss.

Commands
  CPU smoke:  python train_sft.py --init tiny --data runs/data/seed.jsonl --out runs/sft --steps 50
  one GPU:    python train_sft.py --init Qwen/Qwen2.5-Math-1.5B-Instruct --data sft.jsonl --out ckpt \\
                  --lr 7e-6 --batch-size 8 --grad-accum 16 --epochs 2 --max-len 2048
  torchrun:   torchrun --nproc_per_node 8 train_sft.py --init PATH --data sft.jsonl --out ckpt --epochs 2
"""
import argparse
import contextlib
import os
import shutil
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from common import (UsageError, check_finite_loss, check_model_dir, check_not_input, check_output, claim_output,
                    format_prompt, global_batches, load_for_training, load_jsonl, load_tokenizer, lr_at, nonneg_int,
                    positive_float, positive_int, print0, read_problems, run_main, save_checkpoint, setup_training,
                    teardown_dist)
from scoring import encode_completions, pack_completions, token_logps, use_packed_attention, write_result_verifier

# ----------------------------------------------------------------------------- the tiny model

CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # printable ASCII: the built-in task's alphabet


WARMUP, MIN_LR_FRAC = 0.03, 0.05  # linear warm-up over 3% of the steps, cosine to 5% of the peak (the decay is
# worth ~15 points to the tiny model: shared/NOTES.md); AdamW without weight decay

def build_char_tokenizer():
    """A character-level tokenizer saved/loaded as a PreTrainedTokenizerFast (round-trips exactly)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    specials = ["<pad>", "<eos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + list(CHARS))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>", padding_side="left")


def build_tiny_model(tokenizer, hidden=128, layers=4, heads=4, max_len=512):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                      max_position_embeddings=max_len, tie_word_embeddings=True,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      bos_token_id=None)
    return LlamaForCausalLM(cfg)


# ----------------------------------------------------------------------------- the method


def sft_loss(logps, loss_mask):
    """Completion-only NLL: -sum(m * log p) / sum(m).  logps, loss_mask: (B, T-1) -> scalar"""
    return -(logps * loss_mask).sum() / loss_mask.sum().clamp(min=1)


def load_examples(paths, tokenizer):
    """(prompt, completion) pairs from problems-with-solution and/or sft JSONL files."""
    out = []
    for path in paths:
        first = load_jsonl(path)[0]
        if "prompt" in first and "completion" in first:
            recs = load_jsonl(path, {"prompt": str, "completion": str})
            out += [(r["prompt"], r["completion"]) for r in recs]
        else:
            probs = [p for p in read_problems(path) if p.get("solution")]
            if not probs:
                raise SystemExit(f"{path}: no record has a 'solution' to train on")
            out += [(format_prompt(tokenizer, p["question"], p.get("format") == "code"), p["solution"]) for p in probs]
    return out


# ----------------------------------------------------------------------------- run


def check_flags(args):
    """Paths, model directory, shapes and data, before a model is built (not after training every step); an --out
    made with other flags or inputs refused unless --force (records.claim_output). Returns the args record."""
    if args.init != "tiny":
        check_model_dir(args.init, "--init")
    elif args.hidden % args.heads:
        raise UsageError(f"--hidden: {args.hidden} is not a multiple of --heads {args.heads}")
    check_not_input(args.out, "--out", {"--data": args.data, "--init": args.init})
    check_output(args.out, "--out", is_dir=True)
    load_examples(args.data, None)  # every record checked now (plain prompts), not after the model is built
    record, replace = claim_output("--out", [args.out], Path(args.out) / "meta.json", args, args.force,
                                   {"--data": args.data, "--init": None if args.init == "tiny" else args.init},
                                   ignore={"force", "out"})
    if replace:  # the checkpoint itself is replaced when the new one is complete; steps saved by the old run go now
        shutil.rmtree(Path(args.out) / "checkpoints", ignore_errors=True)
    return record


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", default="tiny", help="'tiny' for a fresh char-level Llama, or an HF model directory to fine-tune")
    ap.add_argument("--data", nargs="+", required=True, help="problems JSONL with solutions and/or sft JSONL (prompt, completion)")
    ap.add_argument("--out", required=True, help="output HF directory")
    ap.add_argument("--steps", type=nonneg_int, default=None,
                    help="optimizer steps (default: 900 for --init tiny, else from --epochs)")
    ap.add_argument("--epochs", type=positive_float, default=1.0, help="passes over the data when --steps is 0")
    ap.add_argument("--batch-size", type=positive_int, default=16, help="examples per micro-batch per rank")
    ap.add_argument("--grad-accum", type=positive_int, default=1, help="micro-batches per optimizer step")
    ap.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate (3e-3 for the tiny model from scratch; ~1e-5 for 1B+ models)")
    ap.add_argument("--pack", action=argparse.BooleanOptionalAction, default=True,
                    help="lay a micro-batch's sequences end to end in one row, no padding, each attending only to "
                         "itself (--no-pack: one right-padded row each); the same loss either way")
    ap.add_argument("--max-len", type=positive_int, default=512, help="truncate prompt+completion to this many tokens (from the left)")
    ap.add_argument("--hidden", type=positive_int, default=128, help="tiny model: hidden size")
    ap.add_argument("--layers", type=positive_int, default=4, help="tiny model: layers")
    ap.add_argument("--heads", type=positive_int, default=4, help="tiny model: attention heads")
    ap.add_argument("--seed", type=int, default=0, help="seed for init and data order")
    ap.add_argument("--save-every", type=nonneg_int, default=0,
                    help="also save OUT/checkpoints/step{N} every N steps (for accuracy-vs-steps curves; 0: off)")
    ap.add_argument("--verifier", action="store_true",
                    help="mark OUT as a result verifier (scoring.ResultVerifier) that --ppm flags load: train it from "
                         "the policy on pairs.py --samples output")
    ap.add_argument("--force", action="store_true", help="replace an --out made with other flags or inputs (else: refuse)")
    return ap


def build_policy(args):
    """(tokenizer, model): the tiny char-level model from scratch (--init tiny), or --init's checkpoint."""
    if args.init == "tiny":
        tokenizer = build_char_tokenizer()
        return tokenizer, build_tiny_model(tokenizer, args.hidden, args.layers, args.heads, max(512, args.max_len))
    return load_tokenizer(args.init), load_for_training(args.init)  # fp32 master weights, bf16 autocast on a GPU


def encode_batch(tokenizer, pairs, args, device):
    """A micro-batch of (prompt, completion) pairs on `device`: packed (pack_completions), or right-padded
    (encode_completions) with --no-pack; "tokens" counts its real tokens."""
    prompts, completions = [p for p, _ in pairs], [c for _, c in pairs]
    if not args.pack:
        b = encode_completions(tokenizer, prompts, completions, max_len=args.max_len)
        return {**{k: v.to(device) for k, v in b.items()}, "tokens": int(b["attention_mask"].sum())}
    b = pack_completions(tokenizer, prompts, completions, max_len=args.max_len)
    seq, pos, n, longest = b.pop("packed")
    return {**{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()},
            "packed": (seq.to(device), pos.to(device), n, longest)}


def train_step(ddp, tokenizer, examples, mine, args, device, dtype, world):
    """Forward and backward of this rank's examples `mine` in --grad-accum micro-batches (DDP no_sync
    until the last); (the global batch's loss, tokens of all ranks' forwards)."""
    batches, tokens = [], 0
    for micro in range(args.grad_accum):
        idx = mine[micro * args.batch_size:(micro + 1) * args.batch_size]
        batches.append(encode_batch(tokenizer, [examples[i] for i in idx], args, device))
    # normalise by the completion tokens of the whole global batch (all ranks, all micro-batches),
    # so 1 process and N processes compute the same loss and the same gradients
    n_tok = torch.tensor(float(sum(int(b["loss_mask"][:, 1:].sum()) for b in batches)), device=device)
    if world > 1:
        torch.distributed.all_reduce(n_tok)
    loss_sum = torch.zeros((), device=device)
    for micro, batch in enumerate(batches):
        sync = micro == args.grad_accum - 1
        with (ddp.no_sync() if world > 1 and not sync else contextlib.nullcontext()):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                logps = token_logps(ddp, batch["input_ids"], batch.get("attention_mask"), batch.get("position_ids"),
                                    **({"packed": batch["packed"]} if "packed" in batch else {}))
            mask = batch["loss_mask"][:, 1:].to(logps.dtype)
            loss = sft_loss(logps, mask) * mask.sum() / n_tok
            (loss * world).backward()  # DDP averages gradients over ranks; undo it to get the global sum
        loss_sum += loss.detach()
        tokens += batch["tokens"] * world
    if world > 1:
        torch.distributed.all_reduce(loss_sum)
    return loss_sum.item(), tokens


def main():
    args = get_parser().parse_args()
    record = check_flags(args)

    rank, world, device, dtype = setup_training(args)
    tokenizer, model = build_policy(args)
    model.to(device).train()
    if args.pack:
        use_packed_attention(model)
    n_params = sum(p.numel() for p in model.parameters())
    examples = load_examples(args.data, tokenizer)
    global_batch = args.batch_size * args.grad_accum * world
    steps = args.steps or (900 if args.init == "tiny" and args.steps is None else
                           max(1, int(args.epochs * len(examples) / global_batch)))
    print0(f"{len(examples)} examples | {n_params / 1e6:.2f}M params | vocab {len(tokenizer)} | "
           f"{steps} steps of {global_batch} | world {world}")
    ddp = DDP(model) if world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.95))
    # the data order: one permutation per epoch from the seed, the same on every rank; rank r takes
    # its own slice of each global batch, so 1 process and N processes see the same global batches
    batches = global_batches(len(examples), global_batch, args.seed)

    t0, tokens, log = time.time(), 0, []
    for step in range(steps):
        lr = lr_at(step, steps, args.lr, max(1, int(WARMUP * steps)), MIN_LR_FRAC)
        for group in opt.param_groups:
            group["lr"] = lr
        mine = next(batches)[rank * args.batch_size * args.grad_accum:(rank + 1) * args.batch_size * args.grad_accum]
        loss_sum, n = train_step(ddp, tokenizer, examples, mine, args, device, dtype, world)
        tokens += n
        check_finite_loss(loss_sum, step + 1)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        log.append(loss_sum)
        if step % max(1, steps // 30) == 0 or step == steps - 1:  # about 30 log lines
            dt = time.time() - t0
            print0(f"step {step + 1}/{steps} | loss {loss_sum:.4f} | lr {lr:.2e} | {tokens / dt:.0f} tok/s | {dt:.0f}s")
        if args.save_every and (step + 1) % args.save_every == 0 and step + 1 < steps and rank == 0:
            save_checkpoint(model, tokenizer, os.path.join(args.out, "checkpoints", f"step{step + 1}"),
                            {"args": vars(args), "step": step + 1, "loss": loss_sum})

    meta = {"args": record, "params": n_params, "steps": steps, "examples": len(examples), "world": world,
            "final_loss": sum(log[-20:]) / len(log[-20:]), "losses": log, "train_seconds": time.time() - t0,
            "tokens": tokens}
    if rank == 0:
        save_checkpoint(model, tokenizer, args.out, meta, also=write_result_verifier if args.verifier else None)
        print0(f"saved {args.out} | final loss {meta['final_loss']:.4f} | {meta['train_seconds']:.0f}s")
    teardown_dist()


if __name__ == "__main__":
    run_main(main, "train_sft")
