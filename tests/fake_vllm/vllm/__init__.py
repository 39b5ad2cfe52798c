"""A fake `vllm` for CPU tests: the slice of vLLM's offline API that engine.py and scoring.py use, written from
vLLM's documentation and V1 engine code, with a transformers model underneath.

Only tests put it on the path (PYTHONPATH=tests/fake_vllm, see tests/test_vllm.py); it is never
installed, so it cannot shadow a real vLLM. What it reproduces, because the adapter depends on it:
  - SamplingParams validation: unknown fields are a TypeError; temperature in [0, 2]; temperature 0
    (< 1e-5) is greedy and then n must be 1 ("n must be 1 when using greedy sampling"); a single stop
    string becomes a list; empty stop strings are an error.
  - n samples of a request are n child requests; with a seed, child i is seeded `seed + i`
    (vllm/v1/engine/parallel_sampling.py); without one they draw from the engine's generator.
  - stopping, in V1's order: length first (max_tokens, or max_model_len in all), then EOS
    (finish_reason "stop", stop_reason None), then stop_token_ids (stop_reason = the id); stop strings
    are checked on the detokenized text after each token and win over a length stop: finish_reason
    "stop", stop_reason = the matched string, the text cut BEFORE it (unless
    include_stop_str_in_output). token_ids hold every sampled token, EOS and the token that completed
    the stop string included; the text skips special tokens.
  - logprobs: None -> `logprobs` and `cumulative_logprob` are None (V1); k -> one dict per token with
    the sampled token and the top k, `cumulative_logprob` their sum. Values are the model's raw
    log-softmax (V1's default logprobs_mode "raw_logprobs"), before temperature.
  - text prompts are tokenized with special tokens (vLLM's default); {"prompt_token_ids": [...]} is
    taken as is. A prompt longer than max_model_len is a ValueError.
  - LLM(...): unknown engine arguments are a TypeError; a max_model_len above the model's
    max_position_embeddings is a ValueError; every engine reserves its gpu_memory_utilization of
    one GPU until it is garbage-collected or its process ends, and a new engine that does not fit in
    what is left is a ValueError (V1 checks the free memory at start-up). "The GPU" is this process,
    or, with $FAKE_VLLM_GPU set to a folder, all the processes that share it (an engine in
    evaluate.py and one in the mcts.py it starts hold one GPU between them). Prefix caching: with enable_prefix_caching, RequestOutput.num_cached_tokens counts
    the prompt tokens found in full 16-token blocks seen before.
  - pooling: runner "pooling" (or a *ForSequenceClassification checkpoint under runner "auto");
    LLM.classify -> ClassificationRequestOutput with outputs.probs, the head at the last token, after
    sigmoid (one label) / softmax unless PoolingParams(use_activation=False).
Everything runs in fp32 on the CPU, one batch per call. `LLM.made` lists the arguments of every
engine made, for tests to inspect.
"""
import dataclasses
import gc
import math
import os
import weakref

import torch

__version__ = "0.0.0+fake"
FAKE = True

_SAMPLING_EPS = 1e-5  # vllm/sampling_params.py: below this temperature sampling is greedy
_BLOCK = 16  # vLLM's default KV block size: prefix caching hits whole blocks


_held = {}  # this process's engines -> their share, when no $FAKE_VLLM_GPU folder is shared


def _reserve(engine, share):
    """Reserve `share` of the GPU for `engine` while it lives, or raise as vLLM does when it does not fit."""
    ledger = os.environ.get("FAKE_VLLM_GPU")
    if ledger:
        used = 0.0
        for f in os.listdir(ledger):
            pid = int(f.split(".")[0])
            try:
                os.kill(pid, 0)  # an engine of a process that has ended freed its memory
            except ProcessLookupError:
                continue
            used += float(open(os.path.join(ledger, f)).read())
    else:
        used = sum(_held.values())
    if used + share > 1.0 + 1e-9 and gc.collect():  # an unreachable engine in a cycle frees its memory late
        return _reserve(engine, share)
    if used + share > 1.0 + 1e-9:
        raise ValueError(f"Free memory on device ({1 - used:.2f} of the GPU) on startup is less than desired "
                         f"GPU memory utilization ({share}).")
    key = f"{os.getpid()}.{id(engine)}"
    if ledger:
        with open(os.path.join(ledger, key), "w") as f:
            f.write(str(share))
        weakref.finalize(engine, os.remove, os.path.join(ledger, key))
    else:
        _held[key] = share
        weakref.finalize(engine, _held.pop, key)


@dataclasses.dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    seed: int | None = None
    stop: str | list | None = None
    stop_token_ids: list | None = None
    ignore_eos: bool = False
    max_tokens: int | None = 16
    min_tokens: int = 0
    logprobs: int | None = None
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    detokenize: bool = True

    def __post_init__(self):
        self.stop = [] if self.stop is None else [self.stop] if isinstance(self.stop, str) else list(self.stop)
        self.stop_token_ids = list(self.stop_token_ids or [])
        if self.seed == -1:
            self.seed = None
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.logprobs is not None and self.logprobs != -1 and self.logprobs < 0:
            raise ValueError(f"logprobs must be non-negative or -1, got {self.logprobs}.")
        if any(not s for s in self.stop):
            raise ValueError("stop cannot contain an empty string.")
        if self.temperature < _SAMPLING_EPS:  # greedy
            self.top_p, self.top_k, self.min_p = 1.0, 0, 0.0
            if self.n > 1:
                raise ValueError(f"n must be 1 when using greedy sampling, got {self.n}.")


@dataclasses.dataclass
class PoolingParams:
    use_activation: bool | None = None
    task: str | None = None
    dimensions: int | None = None
    truncate_prompt_tokens: int | None = None


@dataclasses.dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclasses.dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list
    cumulative_logprob: float | None
    logprobs: list | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None

    def finished(self):
        return self.finish_reason is not None


@dataclasses.dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list
    prompt_logprobs: list | None
    outputs: list
    finished: bool
    num_cached_tokens: int = 0


@dataclasses.dataclass
class ClassificationOutput:
    probs: list

    @property
    def num_classes(self):
        return len(self.probs)


@dataclasses.dataclass
class ClassificationRequestOutput:
    request_id: str
    outputs: ClassificationOutput
    prompt_token_ids: list
    finished: bool = True


class LLM:
    made = []  # the arguments of every engine made in this process (not the engines: they must be freed)

    def __init__(self, model, tokenizer=None, *, runner="auto", convert="auto", task=None, dtype="auto", seed=0,
                 tensor_parallel_size=1, gpu_memory_utilization=0.9, max_model_len=None, enable_prefix_caching=None,
                 enforce_eager=False, trust_remote_code=False, max_num_seqs=None, swap_space=None):
        self.args = {k: v for k, v in locals().items() if k != "self"}
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
        cfg = AutoConfig.from_pretrained(model)
        derived = getattr(cfg, "max_position_embeddings", None)
        if max_model_len is not None and derived is not None and max_model_len > derived:
            raise ValueError(f"User-specified max_model_len ({max_model_len}) is greater than the derived "
                             f"max_model_len (max_position_embeddings={derived} in model's config.json).")
        self.max_model_len = max_model_len or derived or 1 << 30
        _reserve(self, gpu_memory_utilization)
        pooling_ckpt = any(a.endswith("ForSequenceClassification") for a in cfg.architectures or [])
        self.runner = runner if runner != "auto" else ("pooling" if pooling_ckpt else "generate")
        cls = AutoModelForSequenceClassification if self.runner == "pooling" else AutoModelForCausalLM
        self.model = cls.from_pretrained(model, dtype=torch.float32).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model)
        self.prefix_caching = enable_prefix_caching if enable_prefix_caching is not None else self.runner == "generate"
        self._blocks = set()  # token-id prefixes of full blocks already computed (prefix caching)
        self._rng = torch.Generator().manual_seed(seed or 0)  # requests without a seed draw from here
        self._next_id = 0
        LLM.made.append(self.args)

    def get_tokenizer(self):
        return self.tokenizer

    # ------------------------------------------------------------------ prompts

    def _prompt_ids(self, prompts):
        """[(text or None, token ids)] for a str / TextPrompt / TokensPrompt or a list of them."""
        if isinstance(prompts, (str, dict)):
            prompts = [prompts]
        out = []
        for p in prompts:
            if isinstance(p, dict) and "prompt_token_ids" in p:
                text, ids = p.get("prompt"), list(p["prompt_token_ids"])
            else:
                text = p["prompt"] if isinstance(p, dict) else p
                ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]  # vLLM's default for text
            if len(ids) > self.max_model_len:
                raise ValueError(f"The decoder prompt (length {len(ids)}) is longer than the maximum model "
                                 f"length of {self.max_model_len}.")
            out.append((text, ids))
        return out

    def _cached_tokens(self, ids):
        """Prompt tokens served from the prefix cache (whole blocks seen before), then remember these blocks."""
        if not self.prefix_caching:
            return 0
        full = [tuple(ids[:k]) for k in range(_BLOCK, len(ids), _BLOCK)]  # the last token is always computed
        hit = 0
        for k, block in enumerate(full):
            if block not in self._blocks:
                break
            hit = (k + 1) * _BLOCK
        self._blocks.update(full)
        return hit

    # ------------------------------------------------------------------ generation

    def generate(self, prompts, sampling_params=None, use_tqdm=True, lora_request=None):
        if self.runner != "generate":
            raise ValueError("LLM.generate() is only supported for generative models (runner 'generate').")
        reqs = self._prompt_ids(prompts)
        params = sampling_params if sampling_params is not None else SamplingParams()
        if isinstance(params, (list, tuple)):
            if len(params) != len(reqs):
                raise ValueError("The lengths of prompts and sampling_params must be the same.")
        else:
            params = [params] * len(reqs)
        rows = []  # one child request per sample: (request index, sample index, params, generator)
        for r, sp in enumerate(params):
            if not isinstance(sp, SamplingParams):
                raise TypeError(f"sampling_params must be SamplingParams, got {type(sp).__name__}")
            for i in range(sp.n):
                g = torch.Generator().manual_seed(sp.seed + i) if sp.seed is not None else self._rng
                rows.append((r, i, sp, g))
        cached = [self._cached_tokens(ids) for _, ids in reqs]
        done = self._decode([reqs[r][1] for r, *_ in rows], [sp for _, _, sp, _ in rows], [g for *_, g in rows])
        outs = []
        for r, (text, ids) in enumerate(reqs):
            comps = [c for (rr, i, _, _), c in zip(rows, done) if rr == r]
            for i, c in enumerate(comps):
                c.index = i
            outs.append(RequestOutput(str(self._next_id), text, ids, None, comps, True, cached[r]))
            self._next_id += 1
        return outs

    @torch.no_grad()
    def _decode(self, prompts, params, gens):
        """All rows in one left-padded batch with a KV cache; finished rows ride along, ignored."""
        from transformers import DynamicCache
        tok, model = self.tokenizer, self.model
        B, T = len(prompts), max(len(p) for p in prompts)
        x = torch.full((B, T), tok.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.long)
        for b, p in enumerate(prompts):
            x[b, T - len(p):], mask[b, T - len(p):] = torch.tensor(p), 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config)
        logits = model(input_ids=x, attention_mask=mask, position_ids=pos, past_key_values=cache).logits[:, -1]
        rows = [{"ids": [], "lps": [], "text": "", "finish": None, "stop": None} for _ in range(B)]
        limit = [min(sp.max_tokens or 1 << 30, self.max_model_len - len(p)) for sp, p in zip(params, prompts)]
        while True:
            logp = torch.log_softmax(logits.float(), -1)  # raw logprobs: before temperature
            nxt = []
            for b, (row, sp, g) in enumerate(zip(rows, params, gens)):
                if row["finish"] is not None:
                    nxt.append(tok.pad_token_id or 0)
                    continue
                t = self._sample(logits[b].float().clone(), sp, g, len(row["ids"]))
                row["ids"].append(t)
                if sp.logprobs is not None:
                    k = logp.shape[-1] if sp.logprobs == -1 else sp.logprobs
                    top = torch.topk(logp[b], k).indices.tolist() if k else []
                    rank = int((logp[b] > logp[b, t]).sum()) + 1
                    row["lps"].append({**{j: Logprob(logp[b, j].item(), n + 1, tok.decode([j])) for n, j in enumerate(top)},
                                       t: Logprob(logp[b, t].item(), rank, tok.decode([t]))})
                self._check_stop(row, sp, t, limit[b])
                nxt.append(t)
            if all(row["finish"] is not None for row in rows):
                break
            mask = torch.cat([mask, torch.ones(B, 1, dtype=torch.long)], -1)
            pos = pos[:, -1:] + 1
            logits = model(input_ids=torch.tensor(nxt)[:, None], attention_mask=mask, position_ids=pos,
                           past_key_values=cache).logits[:, -1]
        return [CompletionOutput(0, row["text"], row["ids"],
                                 sum(d[t].logprob for d, t in zip(row["lps"], row["ids"])) if sp.logprobs is not None else None,
                                 row["lps"] if sp.logprobs is not None else None, row["finish"], row["stop"])
                for row, sp in zip(rows, params)]

    def _sample(self, logits, sp, g, n_out):
        if n_out < sp.min_tokens:  # EOS and stop tokens are masked until min_tokens
            for t in [self.tokenizer.eos_token_id, *sp.stop_token_ids]:
                if t is not None:
                    logits[t] = -math.inf
        if sp.temperature < _SAMPLING_EPS:
            return int(logits.argmax())
        logits = logits / sp.temperature
        if sp.top_k > 0:
            logits[logits < torch.topk(logits, min(sp.top_k, len(logits))).values[-1]] = -math.inf
        probs = torch.softmax(logits, -1)
        if sp.top_p < 1.0:
            srt, idx = probs.sort(descending=True)
            drop = srt.cumsum(-1) - srt > sp.top_p  # keep the smallest head whose mass reaches top_p
            probs[idx[drop]] = 0
        if sp.min_p > 0:
            probs[probs < sp.min_p * probs.max()] = 0
        return int(torch.multinomial(probs / probs.sum(), 1, generator=g))

    def _check_stop(self, row, sp, t, limit):
        """vllm/v1/core/sched/utils.py check_stop, then the detokenizer's stop strings."""
        if len(row["ids"]) >= limit:
            row["finish"] = "length"
        elif t == self.tokenizer.eos_token_id and not sp.ignore_eos:
            row["finish"] = "stop"
        elif t in sp.stop_token_ids:
            row["finish"], row["stop"] = "stop", t
        ids = row["ids"][:-1] if row["finish"] == "stop" and not sp.include_stop_str_in_output else row["ids"]
        text = self.tokenizer.decode(ids, skip_special_tokens=sp.skip_special_tokens)
        new, row["text"] = len(text) - len(row["text"]), text
        if not sp.stop or new <= 0 or len(row["ids"]) <= sp.min_tokens:
            return
        for s in sp.stop:  # vllm/v1/engine/detokenizer.py check_stop_strings: the first listed that matches
            i = text.find(s, max(0, len(text) + 1 - new - len(s)))
            if i != -1:
                row["finish"], row["stop"] = "stop", s
                row["text"] = text[:i + len(s) if sp.include_stop_str_in_output else i]
                return

    # ------------------------------------------------------------------ pooling

    @torch.no_grad()
    def classify(self, prompts, *, use_tqdm=True, pooling_params=None, lora_request=None):
        if self.runner != "pooling":
            raise ValueError("LLM.classify() is only supported for pooling models (runner 'pooling').")
        pp = pooling_params or PoolingParams()
        out = []
        for text, ids in self._prompt_ids(prompts):
            logits = self.model(input_ids=torch.tensor([ids])).logits[0].float()  # the head at the last token
            if pp.use_activation is not False:
                logits = torch.sigmoid(logits) if logits.numel() == 1 else torch.softmax(logits, -1)
            out.append(ClassificationRequestOutput(str(self._next_id), ClassificationOutput(logits.tolist()), ids))
            self._next_id += 1
        return out
