"""Generation: one interface, two backends, for every stage that samples from a policy.

`HFBackend` (a transformers model and our own batched sampler: left padding, per-row seeds, stop
strings, finished rows dropped from the batch, a KV cache that stores each distinct prompt once
for all its samples, read by a registered "shared_prefix" attention, the cascade idea of
vLLM/FlashInfer in a few lines of torch, and prompts' keys/values kept across calls by token-id
prefix, vLLM's prefix caching on a CPU) and `VLLMBackend` (`LLM.generate` + `SamplingParams`,
prefix caching on; vllm is imported only when chosen). `make_backend` picks one by name. Both
return, per prompt, n dicts {"text", "tokens", "logp" (mean token log-prob), "finish" ("stop" |
"eos" | "length")}.
"""
import functools
import sys

import torch

from common import encode, load_model, load_tokenizer, pick_device, stable_seed
from kvstore import PrefixStore

# ----------------------------------------------------------------------------- the HF sampler


class HFBackend:
    """Batched sampling with a transformers causal LM and its KV cache.

    Rows are (prompt, sample) pairs, left padded, `batch_size` at a time. Sampling is
    inverse-CDF with one pre-drawn uniform per (row, position) from a generator seeded with
    stable_seed(prompt seed, sample index), so a row's text does not depend on what else is in
    the batch. Rows that hit EOS or a stop string leave the batch (their cache rows are dropped).
    A distinct prompt is prefilled once and its keys/values are shared by its samples
    (SharedPrefixCache); prompts' keys/values are kept across calls (kvstore.PrefixStore, at most
    `prefix_cache_mb`, 0: off), so a prompt that extends an earlier one (a tree node's children after
    the node itself) runs only its new tokens. docs/benchmarks.md measures both.
    """

    def __init__(self, path, device=None, dtype=None, batch_size=64, prefix_cache_mb=512):
        if device is None:
            device, dtype = pick_device(announce=False)
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, device, dtype)
        shared_prefix_cache_class()  # registers the attention below; without its cache it is plain SDPA
        self.model.set_attn_implementation("shared_prefix")
        self.device, self.batch_size = device, batch_size
        self.store = PrefixStore(prefix_cache_mb * 2 ** 20)  # prompts' keys/values across calls (0: off)
        self._pieces = {}

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        seeds = seeds if seeds is not None else list(range(len(prompts)))
        rows = [(i, j) for i in range(len(prompts)) for j in range(n)]
        out = [[None] * n for _ in prompts]
        chunks = range(0, len(rows), self.batch_size)
        if progress:
            from tqdm import tqdm
            chunks = tqdm(chunks, desc="generate", unit="batch")
        for s in chunks:
            batch = rows[s:s + self.batch_size]
            res = self._generate_batch([prompts[i] for i, _ in batch], [stable_seed(seeds[i], j) for i, j in batch],
                                       temperature, max_tokens, stop or [])
            for (i, j), r in zip(batch, res):
                out[i][j] = r
        return out

    def _prefill(self, prompts, max_tokens):
        """Each distinct prompt run once, its stored prefix (kvstore) not run again: the rows' stored
        keys/values and new tokens are each left-padded, [past | new], the padding masked. The cache then
        gives every row its prompt's keys and values. (cache, next-token logits per row, position ids per row)."""
        index = {}
        rows = [index.setdefault(p, len(index)) for p in prompts]  # each row's distinct prompt
        ids = [encode(self.tokenizer, p) for p in index]
        hits = [self.store.lookup(x) for x in ids]
        Tp, Tn = max(n for n, _ in hits), max(len(x) - n for x, (n, _) in zip(ids, hits))
        input_ids = torch.full((len(ids), Tn), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), Tp + Tn), dtype=torch.long)
        for b, (x, (n, _)) in enumerate(zip(ids, hits)):
            input_ids[b, Tn - len(x) + n:] = torch.tensor(x[n:])
            mask[b, Tp - n:Tp] = 1
            mask[b, Tp + Tn - len(x) + n:] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, Tp:]
        cache = shared_prefix_cache_class()(self.model.config)
        if Tp:
            self._fill_past(cache, hits, Tp)
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                            use_cache=True).logits[:, -1].float()
        self._store(cache, ids, mask.bool())
        cache.share(rows, mask.bool(), max_tokens)
        return cache, logits[cache.rows], pos[cache.rows, -1:]

    def _fill_past(self, cache, hits, Tp):
        """Write each row's stored keys/values of its first n tokens, right-aligned in Tp slots, into the cache."""
        for i in range(len(cache.layers)):
            k0 = next(lay[i][0] for n, lay in hits if n)  # (kv heads, tokens, head dim) of a stored prompt
            k = k0.new_zeros(len(hits), k0.shape[0], Tp, k0.shape[-1])
            v = torch.zeros_like(k)
            for b, (n, lay) in enumerate(hits):
                if n:
                    k[b, :, Tp - n:], v[b, :, Tp - n:] = lay[i][0][:, :n], lay[i][1][:, :n]
            cache.update(k, v, i)

    def _store(self, cache, ids, mask):
        """Keep each prompt's keys/values (its unmasked positions) for later prompts that extend it."""
        if self.store.max_bytes <= 0:
            return
        for b, x in enumerate(ids):
            at = mask[b].nonzero().squeeze(-1)
            self.store.add(x, [(layer.keys[b][:, at], layer.values[b][:, at]) for layer in cache.layers])

    @staticmethod
    def _next_tokens(logits, uniforms, temperature):
        """(next token per row, the model's log-prob of it): argmax at temperature 0, else inverse-CDF
        sampling at the temperature with each row's own uniform draw."""
        logp = torch.log_softmax(logits, -1)  # (b, V) the model's own distribution
        if temperature <= 0:
            nxt = logp.argmax(-1)
        else:
            cdf = torch.softmax(logits / temperature, -1).double().cumsum(-1)
            nxt = torch.searchsorted(cdf, uniforms.unsqueeze(-1) * cdf[:, -1:]).squeeze(-1).clamp(max=cdf.shape[-1] - 1)
        return nxt, logp.gather(-1, nxt[:, None]).squeeze(-1).tolist()

    def _stopped(self, gen, tk, stop, max_stop):
        """Whether a row's text now holds a stop string; its tail is decoded only when the new token could
        end one (it holds a stop string's last character, or a character split across tokens)."""
        if tk not in self._pieces:  # token id -> its text alone
            self._pieces[tk] = self.tokenizer.decode([tk], skip_special_tokens=True)
        if not any(e in self._pieces[tk] for e in {s[-1] for s in stop} | {"\ufffd"}):
            return False
        tail = self.tokenizer.decode(gen[-(max_stop + 8):], skip_special_tokens=True)
        return any(s in tail for s in stop)

    @torch.no_grad()
    def _generate_batch(self, prompts, seeds, temperature, max_tokens, stop):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        uniforms = torch.stack([torch.rand(max_tokens, generator=g, dtype=torch.float64) for g in gens]).to(self.device)
        cache, logits, pos = self._prefill(prompts, max_tokens)
        B, max_stop = len(prompts), max((len(s) for s in stop), default=0)
        alive = list(range(B))  # original row index of each batch row
        gen_ids, logp_sum, finish = [[] for _ in range(B)], [0.0] * B, ["length"] * B
        eos = self.tokenizer.eos_token_id  # a plain int: the tokenizer's attribute lookup is slow in this loop
        for t in range(max_tokens):
            nxt, chosen = self._next_tokens(logits, uniforms[alive, t], temperature)
            keep = []
            for b, (r, tk, lp) in enumerate(zip(alive, nxt.tolist(), chosen)):
                logp_sum[r] += lp
                if tk == eos:
                    finish[r] = "eos"
                    continue
                gen_ids[r].append(tk)
                if stop and self._stopped(gen_ids[r], tk, stop, max_stop):
                    finish[r] = "stop"
                    continue
                keep.append(b)
            if not keep or t == max_tokens - 1:
                break
            if len(keep) < len(alive):
                idx = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(idx)
                nxt, pos = nxt[idx], pos[idx]
                alive = [alive[b] for b in keep]
            pos = pos + 1
            logits = self.model(input_ids=nxt[:, None], position_ids=pos, past_key_values=cache, use_cache=True,
                                shared_prefix=cache).logits[:, -1].float()
        return [self._result(gen_ids[r], finish[r], logp_sum[r], stop) for r in range(B)]

    def _result(self, gen, finish, logp_sum, stop):
        """One row's {"text", "tokens", "logp" (mean token log-prob), "finish"}."""
        text = self.tokenizer.decode(gen, skip_special_tokens=True)
        ntok = len(gen) + (finish == "eos")
        if finish == "stop":  # cut at the first stop string; the delimiter is not part of the step
            text = text[:min(text.find(s) for s in stop if s in text)]
        return {"text": text, "tokens": ntok, "logp": logp_sum / max(ntok, 1), "finish": finish}


# ----------------------------------------------------------------------------- the shared-prompt KV cache


class SharedPrefixLayer:
    """A layer of SharedPrefixCache (on transformers' DynamicLayer: shared_prefix_cache_class).

    Prefill: keys/values as usual. Then (`SharedPrefixCache.share`) new tokens are written in
    place into a buffer with room for all of them (DynamicLayer concatenates, copying the whole
    cache per token), and the prompts' keys/values either stay apart in `prefix`, one row per
    distinct prompt, or (few rows) are copied to the head of each row's buffer."""
    prefix = buf = None

    def update(self, k, v, *args, **kwargs):
        if self.buf is None:
            return super().update(k, v, *args, **kwargs)
        n = self.keys.shape[-2]
        self.buf[0][:, :, n:n + 1], self.buf[1][:, :, n:n + 1] = k, v
        self.keys, self.values = self.buf[0][:, :, :n + 1], self.buf[1][:, :, :n + 1]
        return self.keys, self.values

    def get_seq_length(self):
        return (self.prefix[0].shape[-2] if self.prefix is not None else 0) + super().get_seq_length()

    def batch_select_indices(self, idx):  # rows only ever leave: compact the filled part in place
        n, m = self.keys.shape[-2], len(idx)
        self.buf = (self.buf[0][:m], self.buf[1][:m])
        self.buf[0][:, :, :n], self.buf[1][:, :, :n] = self.keys[idx], self.values[idx]
        self.keys, self.values = self.buf[0][:, :, :n], self.buf[1][:, :, :n]


class SharedPrefixCache:
    """KV cache for many samples of few prompts (on transformers' DynamicCache: shared_prefix_cache_class).

    The children of one MCTS leaf, the N samples of best-of-N: each prompt's keys/values are computed
    and stored once, not once per sample, and decode steps attend to them with
    `shared_prefix_attention`. With the tiny model at 256 rows on CPU, a per-sample copy of the prompt
    made attention memory-bound; sharing reads it n times less. A batch of at most `few` rows copies
    the prompts instead: fewer, larger ops."""
    few = 16

    def __init__(self, config):
        super().__init__(config=config)
        self.layers = [self.shared_layer_class() for _ in self.layers]

    def share(self, rows, prompt_mask, room):
        """Switch from prefill to decoding: row r samples prompt rows[r]; prompt_mask (P, T) bool."""
        rows = torch.tensor(rows, device=prompt_mask.device)
        self.shared, T = len(rows) > self.few, prompt_mask.shape[1]
        for layer in self.layers:
            k = layer.keys
            layer.buf = tuple(k.new_empty(len(rows), k.shape[1], (0 if self.shared else T) + room, k.shape[-1])
                              for _ in range(2))
            if self.shared:
                layer.prefix, n = (layer.keys, layer.values), 0
            else:
                layer.buf[0][:, :, :T], layer.buf[1][:, :, :T], n = layer.keys[rows], layer.values[rows], T
            layer.keys, layer.values = layer.buf[0][:, :, :n], layer.buf[1][:, :, :n]
        dt = self.layers[0].buf[0].dtype  # the model's dtype (bf16 on a GPU): SDPA wants the mask in it
        self.prompt_bias = torch.zeros(prompt_mask.shape, dtype=dt, device=rows.device).masked_fill_(
            ~prompt_mask, float("-inf"))
        self.bias = torch.zeros(len(rows), 1, 1, T + room, dtype=dt, device=rows.device)  # -inf at left padding
        self.bias[:, 0, 0, :T] = self.prompt_bias[rows]
        self._set_rows(rows)

    def _set_rows(self, rows):
        """Each row's prompt and its slot among that prompt's rows (the grid of the attention)."""
        self.rows = rows
        if not self.shared:  # rows hold their prompt's keys: no grid
            return
        order = torch.argsort(rows, stable=True)
        first = torch.searchsorted(rows[order], rows[order])  # first sorted position of each prompt
        slot = torch.empty_like(rows)
        slot[order] = torch.arange(len(rows), device=rows.device) - first
        self.slot, self.G = slot, int(slot.max()) + 1

    def batch_select_indices(self, idx):
        super().batch_select_indices(idx)
        self.bias, rows = self.bias[idx], self.rows[idx]
        live = torch.unique(rows)  # sorted
        if self.shared and 2 * len(live) <= len(self.prompt_bias):  # half the prompts have no row left: drop them
            for layer in self.layers:
                layer.prefix = (layer.prefix[0][live], layer.prefix[1][live])
            self.prompt_bias, rows = self.prompt_bias[live], torch.searchsorted(live, rows)
        self._set_rows(rows)


def shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                            shared_prefix=None, **kwargs):
    """softmax(q [K_prompt; K_own]^T * scaling + padding bias) [V_prompt; V_own] for one new token
    per row, with K_prompt read once per distinct prompt: queries are scattered into a
    (prompt, slot) grid and attend to their prompt's keys in batched matmuls; the two parts
    are merged by their softmax maxima m and sums l (out = sum_i e^(m_i - m) o_i / sum_i e^(m_i - m) l_i)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    c = shared_prefix
    if c is None:  # prefill, or any other use of the model: plain SDPA
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    if not c.shared:  # each row holds its prompt's keys
        bias = c.bias[..., :key.shape[-2]]
        return sdpa_attention_forward(module, query, key, value, bias, scaling=scaling, **kwargs)
    pk, pv = c.layers[module.layer_idx].prefix  # (P, Hkv, Tp, D)
    R, Hq, L, D = query.shape
    assert L == 1, "shared_prefix attention decodes one token per row"
    P, Hkv, Tp, _ = pk.shape
    g, G = Hq // Hkv, c.G
    scaling = D ** -0.5 if scaling is None else scaling

    def part(s, v):  # unnormalised softmax attention: (output, max, sum) of scores s over values v
        m = s.amax(-1, keepdim=True)
        e = (s - m).exp()
        return e @ v, m, e.sum(-1, keepdim=True)

    grid = query.new_zeros(P, G, Hq, L, D)  # (prompt, slot) -> query; empty slots stay zero
    grid[c.rows, c.slot] = query
    grid = grid.view(P, G, Hkv, g, L, D).transpose(1, 2).reshape(P, Hkv, G * g * L, D)
    s_prompt = grid @ pk.transpose(-1, -2) * scaling + c.prompt_bias[:, None, None, :]  # (P, Hkv, G*g, Tp)
    o, m, l = part(s_prompt, pv)
    o1, m1, l1 = (torch.cat([o, m, l], -1).view(P, Hkv, G, g, L, D + 2).transpose(1, 2)
                  .reshape(P, G, Hq, L, D + 2)[c.rows, c.slot].split([D, 1, 1], -1))  # back to rows
    k_own = key.repeat_interleave(g, 1) if g > 1 else key
    v_own = value.repeat_interleave(g, 1) if g > 1 else value
    o2, m2, l2 = part(query @ k_own.transpose(-1, -2) * scaling, v_own)  # one query: no causal mask
    m = torch.maximum(m1, m2)
    a1, a2 = (m1 - m).exp(), (m2 - m).exp()
    out = (o1 * a1 + o2 * a2) / (l1 * a1 + l2 * a2)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def shared_prefix_cache_class():
    """The cache class (SharedPrefixCache on transformers' DynamicCache, its layers SharedPrefixLayer on
    DynamicLayer), with shared_prefix_attention registered in transformers under the name
    "shared_prefix". Built on first use: transformers' attention modules take seconds to import, and a
    stage that only checks its flags or merges shards should not wait for them."""
    from transformers import AttentionInterface, DynamicCache
    from transformers.cache_utils import DynamicLayer
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    layer = type("SharedPrefixLayer", (SharedPrefixLayer, DynamicLayer), {})
    cache = type("SharedPrefixCache", (SharedPrefixCache, DynamicCache), {"shared_layer_class": layer})
    AttentionInterface.register("shared_prefix", shared_prefix_attention)
    AttentionMaskInterface.register("shared_prefix", sdpa_mask)
    return cache


# ----------------------------------------------------------------------------- vLLM


class VLLMBackend:
    """vLLM for GPU boxes: `LLM.generate` with per-request `SamplingParams` and prefix caching on.

    Where vLLM's semantics differ from HFBackend's, this class bridges them (tests/test_vllm.py checks
    it against tests/fake_vllm, which is written to vLLM's documented behaviour):
      - prompts go in as token ids from `encode`, so both backends see the same tokens (vLLM would
        tokenize text with special tokens added: a chat template that starts with BOS got two);
      - vLLM refuses n > 1 at temperature 0 ("n must be 1 when using greedy sampling"): a greedy
        request is sent once and its output repeated n times, which is what n greedy samples are;
      - max_model_len is capped at the model's max_position_embeddings (vLLM refuses a larger one);
      - `gpu_memory_utilization` is the share of the GPU this engine reserves: engines in one process
        (a policy and a vLLM PPM, or a rollout policy) must share it, their sum at most ~0.9.
    vLLM's n samples of a request are seeded seed + i; each output's EOS (when it ends with one) is in
    its token_ids and cumulative_logprob, as in HFBackend's "tokens" and "logp".
    """

    def __init__(self, path, dtype="auto", tensor_parallel=1, gpu_memory_utilization=0.9, max_model_len=4096, seed=0):
        from transformers import AutoConfig
        from vllm import LLM  # imported only when --backend vllm is chosen
        limit = getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", None)
        self.llm = LLM(model=str(path), dtype=dtype, tensor_parallel_size=tensor_parallel, seed=seed,
                       enable_prefix_caching=True, gpu_memory_utilization=gpu_memory_utilization,
                       max_model_len=min(max_model_len, limit or max_model_len))
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        from vllm import SamplingParams
        seeds = seeds if seeds is not None else list(range(len(prompts)))
        greedy = temperature < 1e-5  # vLLM's _SAMPLING_EPS: below it, sampling is argmax
        temperature = min(temperature, 2.0)  # vLLM refuses more; mcts.py's resamples may ask for it (--resample-heat)
        params = [SamplingParams(n=1 if greedy else n, temperature=temperature, max_tokens=max_tokens,
                                 stop=stop or None, seed=stable_seed(s) % (2 ** 31), logprobs=0) for s in seeds]
        outs = self.llm.generate([{"prompt_token_ids": encode(self.tokenizer, p)} for p in prompts], params,
                                 use_tqdm=progress)
        res = []
        for o in outs:
            row = []
            for c in o.outputs:
                ntok = len(c.token_ids)
                lp = c.cumulative_logprob
                if lp is None and c.logprobs:
                    lp = sum(d[t].logprob for d, t in zip(c.logprobs, c.token_ids))
                finish = "length" if c.finish_reason == "length" else ("stop" if c.stop_reason is not None else "eos")
                row.append({"text": c.text, "tokens": ntok, "logp": (lp or 0.0) / max(ntok, 1), "finish": finish})
            res.append(row * n if greedy else row)
        return res


def make_backend(kind, path, batch_size=64, seed=0, gpu_memory=0.9):
    """gpu_memory: the vLLM engine's gpu_memory_utilization (less when other engines share the GPU)."""
    if kind == "vllm":
        return VLLMBackend(path, seed=seed, gpu_memory_utilization=gpu_memory)
    if kind != "hf":
        raise ValueError(f"unknown backend {kind!r} (hf or vllm)")
    device, dtype = pick_device()
    return HFBackend(path, device, dtype, batch_size=batch_size)


if __name__ == "__main__":
    sys.exit("engine.py is a library; run one of the stage scripts.")
