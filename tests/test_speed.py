"""The speed paths give the numbers of the plain ones: the prompt keys/values kept across calls
(kvstore.PrefixStore in engine.HFBackend) and packed SFT batches (scoring.pack_completions)."""
import argparse
import functools
import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import engine  # noqa: E402
import mcts  # noqa: E402
from common import save_checkpoint  # noqa: E402
from kvstore import BLOCK, PrefixStore  # noqa: E402
from scoring import pack_completions, token_logps, use_packed_attention  # noqa: E402
from train_sft import build_char_tokenizer, build_tiny_model, encode_batch, sft_loss  # noqa: E402
from test_mcts import run_args  # noqa: E402 (tests/, on the path under pytest)
from treecmp import same_trees  # noqa: E402


def kv(n, fill=0.0):  # one layer's (keys, values) for n tokens: 1 head, dim 2, 4 bytes a number
    return [(torch.full((1, n, 2), fill), torch.full((1, n, 2), fill))]


def test_prefix_store_finds_the_longest_block_prefix_and_evicts_the_least_recent():
    entry = 40 * 2 * 2 * 4  # bytes of a 40-token entry
    store = PrefixStore(2 * entry)
    a, b = list(range(40)), list(range(100, 140))
    store.add(a, kv(40, 1.0))
    assert store.lookup(a + [7, 8]) == (32, store.entries[tuple(a)])  # 2 whole blocks of a
    assert store.lookup(a[:20] + [999] * 20)[0] == BLOCK  # differs inside the second block
    assert store.lookup(a[:33])[0] == 32 and store.lookup(a[:32])[0] == BLOCK  # one token always left to run
    assert store.lookup([5] + a)[0] == 0 and store.lookup(a[:10]) == (0, None)
    store.add(b, kv(40, 2.0))
    store.lookup(a + [1])  # a is now the most recently used
    store.add(list(range(200, 240)), kv(40, 3.0))  # over budget: b leaves, a stays
    assert tuple(b) not in store.entries and tuple(a) in store.entries and store.bytes == 2 * entry
    assert store.lookup(b + [1])[0] == 0 and store.lookup(a + [1])[0] == 32
    assert store.asked == sum([42, 40, 33, 32, 41, 10, 41, 41, 41]) and store.reused == 32 + 16 + 32 + 16 + 32 + 32


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    tok = build_char_tokenizer()
    torch.manual_seed(0)
    save_checkpoint(build_tiny_model(tok, hidden=32, layers=2, heads=2), tok, d, {})
    return d


def test_prompts_that_extend_stored_ones_sample_and_score_as_without_the_store(small_dir):
    """A prompt's stored prefix is not run again: the next-token logits and the samples (texts, log-probs)
    must be those of a backend that prefills every prompt whole, with rows reusing prefixes of different
    lengths and one row reusing nothing."""
    cpu, f32 = torch.device("cpu"), torch.float32
    plain, kept = engine.HFBackend(small_dir, cpu, f32, prefix_cache_mb=0), engine.HFBackend(small_dir, cpu, f32)
    first = ["Question: Tom has 5 apples and buys 3 more. How many?\nAnswer:\n", "Question: short\nAnswer:\n"]
    steps = kept.generate(first, n=2, temperature=1.0, max_tokens=20, stop=["\n\n"], seeds=[1, 2])
    prompts = [p + r[0]["text"] + "\n\n" for p, r in zip(first, steps)] + [first[0] + "x" * 30, "New: 1\n"]
    outs = [be.generate(prompts, n=3, temperature=1.0, max_tokens=20, stop=["\n\n"], seeds=[5, 6, 7, 8])
            for be in (plain, kept)]
    assert [[r["text"] for r in row] for row in outs[0]] == [[r["text"] for r in row] for row in outs[1]]
    assert [r["logp"] for row in outs[0] for r in row] == pytest.approx([r["logp"] for row in outs[1] for r in row],
                                                                         abs=1e-5)
    with torch.no_grad():
        logits = [be._prefill(prompts + [first[1]], 4)[1] for be in (plain, kept)]
    assert torch.allclose(logits[0], logits[1], atol=1e-5)
    assert kept.store.reused >= 3 * 32 and plain.store.reused == 0 and not plain.store.entries


def test_mcts_trees_are_the_same_with_and_without_the_prefix_store(small_dir, tmp_path, monkeypatch):
    (tmp_path / "problems.jsonl").write_text("".join(
        json.dumps({"id": f"p{i}", "question": f"Ann has {i} pens and buys {i + 2} more. How many?", "answer": str(i)})
        + "\n" for i in range(6)))
    (tmp_path / "policy").symlink_to(small_dir)
    stores = []

    def backend(*a, **k):
        be = engine.HFBackend(*a, **k)
        stores.append(be.store)
        return be
    monkeypatch.setattr(mcts, "HFBackend", backend)
    mcts.main(run_args(tmp_path, tmp_path / "kept.jsonl"))
    monkeypatch.setattr(mcts, "HFBackend", functools.partial(backend, prefix_cache_mb=0))
    mcts.main(run_args(tmp_path, tmp_path / "plain.jsonl"))
    assert stores[0].reused > stores[0].asked / 4 and stores[1].reused == 0
    assert same_trees((tmp_path / "kept.jsonl").read_text(), (tmp_path / "plain.jsonl").read_text())


def test_pack_completions_lays_sequences_end_to_end():
    tok = build_char_tokenizer()
    b = pack_completions(tok, ["ab", "c"], ["d", "ef"], max_len=3)  # cut from the left: "bd<eos>", "ef<eos>"
    ids = {c: tok.convert_tokens_to_ids(c) for c in "bdef"}
    assert b["input_ids"].tolist() == [[ids["b"], ids["d"], tok.eos_token_id, ids["e"], ids["f"], tok.eos_token_id]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2]]
    assert b["loss_mask"].tolist() == [[0, 1, 1, 0, 1, 1]]  # no sequence's first token is a target
    seq, pos, n, longest = b["packed"]
    assert seq.tolist() == [0, 0, 0, 1, 1, 1] and pos.tolist() == b["position_ids"][0].tolist()
    assert (n, longest, b["tokens"]) == (2, 3, 6)


def test_a_packed_batch_gives_the_padded_batch_loss_and_gradients():
    """Sequences of different lengths (one cut from the left by max_len) and grouped-query heads."""
    from transformers import LlamaConfig, LlamaForCausalLM
    tok = build_char_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    use_packed_attention(model)
    pairs = [("Q: 1+2\nA:\n", "1+2=3"), ("Q: a much longer question here\nA:\n", "7"), ("Q:\n", "x" * 40)]
    results = []
    for pack in (False, True):
        b = encode_batch(tok, pairs, argparse.Namespace(pack=pack, max_len=30), torch.device("cpu"))
        logps = token_logps(model, b["input_ids"], b.get("attention_mask"), b.get("position_ids"),
                            **({"packed": b["packed"]} if pack else {}))
        mask = b["loss_mask"][:, 1:].float()
        loss = sft_loss(logps, mask)
        model.zero_grad()
        loss.backward()
        results.append((loss.item(), mask.sum().item(), b["tokens"], [p.grad.clone() for p in model.parameters()]))
    (l0, n0, t0, g0), (l1, n1, t1, g1) = results
    assert (n0, t0) == (n1, t1) == (6 + 2 + 29, 16 + 30 + 30)  # the cut ones: 30 tokens, a first token no target
    assert l1 == pytest.approx(l0, abs=1e-5) and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g0, g1))
