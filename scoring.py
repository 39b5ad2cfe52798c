"""Scoring with a model: summed completion log-probs (the DPO and SFT side) and the PPM scorer.

  - `encode_completions`, `token_logps`, `sequence_logps`: prompt + completion batches with the
    prompt masked (EOS included), log-probs read with positions from the attention mask, so
    padding on either side gives the same numbers; `pack_completions`: the same batch packed.
  - `PPMScorer`: batched scores of partial trajectories by a process preference model saved by
    train_ppm.py (an `AutoModelForSequenceClassification` directory), squashed to [-1, 1], and
    `prefix_values`: the value of every step prefix of whole solutions, one forward pass each.
  - `ResultVerifier`: the same interface for a generative verifier of the written arithmetic: a
    causal LM fine-tuned on the policy's samples with every false result corrected (train_sft.py
    --verifier) scores a trajectory by the probability it gives each result the trajectory wrote.
  `load_ppm` picks the class a directory needs.
"""
import json
import math
import sys
from pathlib import Path

import torch

from common import RESULT_VERIFIER_FILE, UsageError, encode, format_prompt, load_model, load_tokenizer, pick_device
from grader import result_spans

# ----------------------------------------------------------------------------- log-probs


def encode_pairs(tokenizer, prompts, completions, add_eos=True, max_len=None):
    """(token ids, completion mask) per prompt + completion (+ EOS), cut to the last max_len tokens."""
    seqs, lmask = [], []
    for p, c in zip(prompts, completions):
        pi = encode(tokenizer, p)
        ci = tokenizer(c, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
        x = (pi + ci)[-max_len:] if max_len else pi + ci
        seqs.append(x)
        lmask.append(([0] * len(pi) + [1] * len(ci))[-len(x):])
    return seqs, lmask


def encode_completions(tokenizer, prompts, completions, add_eos=True, max_len=None):
    """Right-padded batch of prompt + completion (+ EOS) with a mask over completion tokens only."""
    seqs, lmask = encode_pairs(tokenizer, prompts, completions, add_eos, max_len)
    T = max(len(x) for x in seqs)
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (T - len(x)) for x in seqs]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (T - len(x)) for x in seqs]),
        "loss_mask": torch.tensor([m + [0] * (T - len(m)) for m in lmask]),
    }


def pack_completions(tokenizer, prompts, completions, add_eos=True, max_len=None):
    """The batch of encode_completions as one row of all its sequences, no padding: input_ids, position_ids
    (from 0 in each sequence) and loss_mask (1, N), no sequence's first token a target; "packed" holds
    (sequence, position) of every token for `packed_attention`, which runs each sequence's attention on
    its own. The loss over it is the padded batch's loss; the linear layers see only real tokens."""
    seqs, lmask = encode_pairs(tokenizer, prompts, completions, add_eos, max_len)
    loss = [x for m in lmask for x in [0] + m[1:]]
    seq = torch.cat([torch.full((len(x),), i) for i, x in enumerate(seqs)])
    pos = torch.cat([torch.arange(len(x)) for x in seqs])
    return {"input_ids": torch.tensor([[t for x in seqs for t in x]]), "position_ids": pos[None],
            "loss_mask": torch.tensor([loss]), "packed": (seq, pos, len(seqs), max(len(x) for x in seqs)),
            "tokens": len(loss)}


def packed_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, packed=None, **kwargs):
    """Causal attention within each sequence of a packed row (pack_completions): queries, keys and values
    (1, H, N, D) are scattered into a right-padded (sequences, H, longest, D) batch, attended with SDPA's
    causal kernel (the padding comes after every real token, so no mask), and gathered back. Without
    `packed`: plain SDPA. Registered in transformers as "packed" by `use_packed_attention`."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    if packed is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    seq, pos, B, T = packed

    def unpack(x):  # (1, H, N, D) -> (B, H, T, D)
        return x.new_zeros(B, T, x.shape[1], x.shape[-1]).index_put((seq, pos), x[0].transpose(0, 1)).transpose(1, 2)
    out = torch.nn.functional.scaled_dot_product_attention(
        unpack(query), unpack(key), unpack(value), is_causal=True, scale=scaling,
        enable_gqa=query.shape[1] != key.shape[1])
    return out.transpose(1, 2)[seq, pos][None], None  # (1, N, H, D)


def use_packed_attention(model):
    """Switch `model` to packed_attention (plain SDPA when a call passes no `packed`)."""
    from transformers import AttentionInterface
    AttentionInterface.register("packed", packed_attention)
    model.set_attn_implementation("packed")


def token_logps(model, input_ids, attention_mask, position_ids=None, **kwargs):
    """log p(x_t | x_<t) for t >= 1, with positions counted from the first real token (or given: a packed
    batch, its `packed` in kwargs).  # (B, T-1)"""
    pos = (attention_mask.cumsum(-1) - 1).clamp(min=0) if position_ids is None else position_ids
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, **kwargs).logits[:, :-1]
    return torch.log_softmax(logits.float(), -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def sequence_logps(model, input_ids, attention_mask, loss_mask):
    """sum_t log p(y_t | x, y_<t) over completion tokens (loss_mask = 1; EOS included).  # (B,)

    Works with padding on either side: positions come from the attention mask.
    """
    return (token_logps(model, input_ids, attention_mask) * loss_mask[:, 1:]).sum(-1)


def padded_batches(seqs, batch_size, pad_id, device):
    """Batches of token-id lists of similar lengths (less padding), left-padded: yields (indices into
    seqs, input_ids, attention_mask, position_ids counted from each row's first real token)."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        T = max(len(seqs[i]) for i in rows)
        x = torch.tensor([[pad_id] * (T - len(seqs[i])) + list(seqs[i]) for i in rows], device=device)
        m = torch.tensor([[0] * (T - len(seqs[i])) + [1] * len(seqs[i]) for i in rows], device=device)
        yield rows, x, m, (m.cumsum(-1) - 1).clamp(min=0)


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
        scores = [0.0] * len(ids)
        for rows, x, m, pos in padded_batches(ids, self.batch_size, self.tokenizer.pad_token_id, self.device):
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
        texts = list(full)
        body = getattr(model, model.base_model_prefix)
        for rows, x, m, pos in padded_batches([full[t] for t in texts], self.batch_size, tok.pad_token_id, dev):
            h = body(input_ids=x, attention_mask=m, position_ids=pos).last_hidden_state
            v = torch.tanh(model.score(h)[..., 0].float()).cpu()  # (B, T): the value at every position
            for b, i in enumerate(rows):
                per_full[texts[i]] = (v[b], x.shape[1] - len(full[texts[i]]))
        for p, (t, j) in where.items():
            vrow, off = per_full[t]
            values[p] = vrow[off + j].item()
        return [[values[p] for p in ps] for ps in prefixes]


# ----------------------------------------------------------------------------- the result verifier


def result_value(result_probs):
    """The value of a partial trajectory from the probability a result verifier gives each result it
    wrote so far (c_j of every equation a op b = c_j after the prompt):
        v = 2 * min_j p(c_j) - 1,   p(c_j) = prod over the tokens x_t of c_j of p(x_t | x_<t)
    (v = 1 before the first equation). 2p - 1 puts the weakest result's probability on the [-1, 1]
    scale of the terminal rewards, and evaluate.py's vote weight (1 + v) / 2 is that probability."""
    return 2.0 * min(result_probs, default=1.0) - 1.0


def write_result_verifier(out):
    """Mark OUT (a causal LM's HF directory) as a result verifier: RESULT_VERIFIER_FILE."""
    Path(out, RESULT_VERIFIER_FILE).write_text(json.dumps(
        {"score": "p(c) of each written result c of a op b = c after the prompt", "value": "2 * min_j p(c_j) - 1"}) + "\n")


class ResultVerifier:
    """Scores partial trajectories by how likely a causal LM finds the results they wrote
    (result_value): a generative process verifier of the arithmetic. The LM is the policy fine-tuned
    on its own samples with every false result replaced by the checker's (pairs.py --samples,
    train_sft.py --verifier), so it knows the sums the policy gets wrong; it reads only the results
    (grader.result_spans), not the operands or the words, so a sampled phrasing costs nothing. A result's
    tokens are those whose characters overlap it; only results after the prompt's end count.
    One forward pass per batch; hf backend only."""

    def __init__(self, path, device=None, dtype=None, batch_size=64):
        if device is None:
            device, dtype = pick_device(announce=False)
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, device, dtype)
        self.device, self.batch_size = device, batch_size
        self.prompt_ends = [format_prompt(self.tokenizer, "\x00", code).split("\x00", 1)[1] for code in (False, True)]

    def encode(self, text):
        """(token ids, character offsets) as common.encode tokenizes the text."""
        bos = self.tokenizer.bos_token
        e = self.tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)), return_offsets_mapping=True)
        return e["input_ids"], e["offset_mapping"]

    @torch.no_grad()
    def per_token_logps(self, ids):
        """Per id list, [0, log p(x_1 | x_0), ..., log p(x_n | x_<n)] (the first token is not scored)."""
        out = [None] * len(ids)
        for rows, x, m, _ in padded_batches(ids, self.batch_size, self.tokenizer.pad_token_id, self.device):
            lp = token_logps(self.model, x, m).float().cpu()  # (B, T-1): token k of a row at column k - 1
            for b, i in enumerate(rows):
                out[i] = [0.0] + lp[b, x.shape[1] - len(ids[i]):].tolist()
        return out

    def value(self, text, offsets, logps):
        """result_value of `text` from its tokens' offsets and log-probs."""
        start = max((text.find(end) + len(end) for end in self.prompt_ends if end in text), default=0)
        probs = [math.exp(sum(lp for (s, e), lp in zip(offsets, logps) if e > s and s < b and e > a))
                 for a, b in result_spans(text) if a >= start]
        return result_value(probs)

    def __call__(self, texts):
        enc = [self.encode(t) for t in texts]
        logps = self.per_token_logps([ids for ids, _ in enc])
        return [self.value(t, offs, lp) for t, (_, offs), lp in zip(texts, enc, logps)]

    def prefix_values(self, prefixes):
        """As PPMScorer.prefix_values: every prefix of a solution read from one pass over it (a causal
        LM's log-probs of a prefix's tokens do not depend on what follows)."""
        full = list(dict.fromkeys(ps[-1] for ps in prefixes))
        enc = {t: self.encode(t) for t in full}
        logps = dict(zip(full, self.per_token_logps([enc[t][0] for t in full])))
        values, alone = {}, []
        for ps in prefixes:
            ids, offs = enc[ps[-1]]
            for p in ps:
                pids = self.encode(p)[0]
                if ids[:len(pids)] == pids:
                    values[p] = self.value(p, offs[:len(pids)], logps[ps[-1]][:len(pids)])
                else:  # the tokenizer splits this prefix differently alone
                    alone.append(p)
        values.update(zip(alone, self(alone)) if alone else {})
        return [[values[p] for p in ps] for ps in prefixes]


def load_ppm(path, device=None, dtype=None, batch_size=64, backend="hf", gpu_memory=0.2):
    """The scorer a --ppm directory needs: ResultVerifier when it holds RESULT_VERIFIER_FILE, else PPMScorer."""
    if Path(path, RESULT_VERIFIER_FILE).exists():
        if backend != "hf":
            raise UsageError(f"{path}: a result verifier scores with the hf backend only (--ppm-backend hf)")
        return ResultVerifier(path, device, dtype, batch_size)
    return PPMScorer(path, device, dtype, batch_size, backend, gpu_memory)


if __name__ == "__main__":
    sys.exit("scoring.py is a library; run one of the stage scripts.")
