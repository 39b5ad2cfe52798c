"""Scoring with a model: summed completion log-probs (the DPO and SFT side) and the PPM scorer.

  - `encode_completions`, `token_logps`, `sequence_logps`: prompt + completion batches with the
    prompt masked (EOS included), log-probs read with positions from the attention mask, so
    padding on either side gives the same numbers.
  - `PPMScorer`: batched scores of partial trajectories by a process preference model saved by
    train_ppm.py (an `AutoModelForSequenceClassification` directory), squashed to [-1, 1], and
    `prefix_values`: the value of every step prefix of whole solutions, one forward pass each.
"""
import math
import sys

import torch

from common import encode, load_model, load_tokenizer, pick_device

# ----------------------------------------------------------------------------- log-probs


def encode_completions(tokenizer, prompts, completions, add_eos=True, max_len=None):
    """Right-padded batch of prompt + completion (+ EOS) with a mask over completion tokens only."""
    seqs, lmask = [], []
    for p, c in zip(prompts, completions):
        pi = encode(tokenizer, p)
        ci = tokenizer(c, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
        x = (pi + ci)[-max_len:] if max_len else pi + ci
        m = ([0] * len(pi) + [1] * len(ci))[-len(x):]
        seqs.append(x)
        lmask.append(m)
    T = max(len(x) for x in seqs)
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (T - len(x)) for x in seqs]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (T - len(x)) for x in seqs]),
        "loss_mask": torch.tensor([m + [0] * (T - len(m)) for m in lmask]),
    }


def token_logps(model, input_ids, attention_mask):
    """log p(x_t | x_<t) for t >= 1, with positions counted from the first real token.  # (B, T-1)"""
    pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos).logits[:, :-1]
    return torch.log_softmax(logits.float(), -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def sequence_logps(model, input_ids, attention_mask, loss_mask):
    """sum_t log p(y_t | x, y_<t) over completion tokens (loss_mask = 1; EOS included).  # (B,)

    Works with padding on either side: positions come from the attention mask.
    """
    return (token_logps(model, input_ids, attention_mask) * loss_mask[:, 1:]).sum(-1)


# ----------------------------------------------------------------------------- the PPM


class PPMScorer:
    """Scores partial trajectories with a train_ppm.py checkpoint: tanh(score at the last token).

    The head's raw score is unbounded (Bradley-Terry only fixes differences); tanh maps it to
    [-1, 1], the range of terminal rewards, so PPM values and +/-1 rewards can be averaged in Q.
    backend "hf": transformers, left-padded batches of similar lengths; "vllm": vLLM's pooling
    runner (`LLM.classify` with the activation off, so it returns the raw score; token ids in, as
    VLLMBackend; GPU only, reserving `gpu_memory` of it).
    """

    def __init__(self, path, device=None, dtype=None, batch_size=64, backend="hf", gpu_memory=0.2):
        self.llm = None
        if backend == "vllm":
            from vllm import LLM  # imported only when chosen
            self.llm = LLM(model=str(path), runner="pooling", gpu_memory_utilization=gpu_memory)
            self.tokenizer = self.llm.get_tokenizer()
            return
        from transformers import AutoModelForSequenceClassification
        if device is None:
            device, dtype = pick_device(announce=False)
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, device, dtype, cls=AutoModelForSequenceClassification)
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, texts):
        if self.llm is not None:
            from vllm import PoolingParams
            outs = self.llm.classify([{"prompt_token_ids": encode(self.tokenizer, t)} for t in texts],
                                     pooling_params=PoolingParams(use_activation=False), use_tqdm=False)
            return [math.tanh(o.outputs.probs[0]) for o in outs]
        ids = [encode(self.tokenizer, t) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths per batch: less padding
        scores = [0.0] * len(ids)
        for s in range(0, len(order), self.batch_size):
            rows = order[s:s + self.batch_size]
            T = max(len(ids[i]) for i in rows)
            pad = self.tokenizer.pad_token_id
            x = torch.tensor([[pad] * (T - len(ids[i])) + ids[i] for i in rows], device=self.device)
            m = torch.tensor([[0] * (T - len(ids[i])) + [1] * len(ids[i]) for i in rows], device=self.device)
            pos = (m.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=x, attention_mask=m, position_ids=pos).logits  # (B, 1)
            for i, v in zip(rows, torch.tanh(logits[:, 0].float()).tolist()):
                scores[i] = v
        return scores


    @torch.no_grad()
    def prefix_values(self, prefixes):
        """Values of the step prefixes of whole solutions: prefixes holds, per solution, its prefixes
        in order (the last one the whole solution) -> [[v_1, ..., v_m] per solution].

        A causal model's score at a step's last token sees only that prefix, so every prefix of a
        solution is read from ONE forward pass over the whole solution (the score head applied at
        every position); a prefix the tokenizer would split differently alone is scored alone."""
        if self.llm is not None:  # vLLM pooling: one score per prefix
            flat = self([p for ps in prefixes for p in ps])
            out, i = [], 0
            for ps in prefixes:
                out.append(flat[i:i + len(ps)])
                i += len(ps)
            return out
        model, tok, dev = self.model, self.tokenizer, self.device
        full = {ps[-1]: encode(tok, ps[-1]) for ps in prefixes}  # distinct whole solutions
        where, alone = {}, []  # prefix -> (full text, token index); prefixes whose ids are not a prefix
        for ps in prefixes:
            ids = full[ps[-1]]
            for p in ps:
                pi = encode(tok, p) if p != ps[-1] else ids
                if ids[:len(pi)] == pi:
                    where[p] = (ps[-1], len(pi) - 1)
                else:
                    alone.append(p)
        values = dict(zip(alone, self(alone))) if alone else {}
        per_full = {}
        order = sorted(full, key=lambda t: len(full[t]))
        body = getattr(model, model.base_model_prefix)
        for s in range(0, len(order), self.batch_size):
            rows = order[s:s + self.batch_size]
            T = max(len(full[t]) for t in rows)
            x = torch.tensor([[tok.pad_token_id] * (T - len(full[t])) + full[t] for t in rows], device=dev)
            m = (torch.arange(T)[None, :] >= torch.tensor([T - len(full[t]) for t in rows])[:, None]).long().to(dev)
            h = body(input_ids=x, attention_mask=m, position_ids=(m.cumsum(-1) - 1).clamp(min=0)).last_hidden_state
            v = torch.tanh(model.score(h)[..., 0].float()).cpu()  # (B, T): the value at every position
            for b, t in enumerate(rows):
                per_full[t] = (v[b], T - len(full[t]))
        for p, (t, j) in where.items():
            vrow, off = per_full[t]
            values[p] = vrow[off + j].item()
        return [[values[p] for p in ps] for ps in prefixes]


if __name__ == "__main__":
    sys.exit("scoring.py is a library; run one of the stage scripts.")
