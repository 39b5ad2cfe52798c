"""common.py and engine.py: readers and their one-line errors, resume, seeds, prompts, the HF sampler."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import (DataError, ResumableWriter, UsageError, check_resume, drop_equal_sides, format_prompt, join_steps, load_jsonl, lr_at,  # noqa: E402
                    merge_shards, read_problems, save_checkpoint, shard_path, stable_seed, write_jsonl)
from engine import HFBackend  # noqa: E402
from train_sft import build_char_tokenizer, build_tiny_model, sft_loss  # noqa: E402


def write(path, text, mode="w"):
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


# ----------------------------------------------------------------------------- readers


def test_read_problems_accepts_three_schemas(tmp_path):
    p = write(tmp_path / "mix.jsonl", "\n".join(json.dumps(r) for r in [
        {"id": "a", "question": "1+1?", "answer": "2"},
        {"question": "Tom has 3,000 eggs...", "answer": "He has 3000+5 = <<3000+5=3005>>3005.\n#### 3,005"},
        {"problem": "Find x.", "solution": "So $x=\\boxed{\\frac{1}{2}}$.", "level": "Level 2"},
        {"problem": "Find y.", "solution": "y = \\boxed{3}", "answer": "3", "unique_id": "test/algebra/1.json"},
        {"id": 7, "question": "q", "answer": 12},
    ]) + "\n")
    ps = read_problems(p)
    assert [x["id"] for x in ps] == ["a", "mix-2", "mix-3", "test/algebra/1.json", "7"]
    assert [x["answer"] for x in ps] == ["2", "3005", "\\frac{1}{2}", "3", "12"]
    assert ps[1]["solution"].startswith("He has") and ps[2]["question"] == "Find x." and ps[2]["level"] == "Level 2"


@pytest.mark.parametrize("content,expect", [
    ('{"id": "a", "question": "q", "answer": "1"}\n{"id": "b", "question": "q", \n', ":2: malformed JSON"),
    ('{"id": "a", "answer": "1"}\n', ":1: missing field 'question'"),
    ('{"id": "a", "question": 5, "answer": "1"}\n', ":1: field 'question' must be str, got int"),
    ('{"id": "a", "question": "q", "answer": [1]}\n', ":1: field 'answer' must be str or int or float, got list"),
    ('{"id": "a", "question": "q", "answer": "1"}\n[1, 2]\n', ":2: expected a JSON object, got list"),
    ("", ": empty file, no records"),
    ("\n\n", ": empty file, no records"),
    (b'{"id": "a", "question": "q", "answer": "1"}\n{"question": "\xff\xfe"}\n', ":2: not valid UTF-8"),
    ('{"problem": "p", "solution": "no box here"}\n', ":1: no \\boxed{} answer"),
    ('{"id": "a", "question": "q", "answer": "1"}\n{"id": "a", "question": "q", "answer": "1"}\n', ":2: duplicate id 'a'"),
    ('{"id": "a", "question": "q", "answer": "  "}\n', ":1: field 'answer' is empty"),
    ('{"id": "a", "question": " ", "answer": "5"}\n', ":1: field 'question' is empty"),
    ('{"id": "a", "question": "q", "answer": "The answer is 5"}\n', ":1: field 'answer' 'The answer is 5' reads as a sentence"),
    ('{"id": "a", "question": "q", "answer": 1e20}\n', ":1: field 'answer' '1e+20' is a number in exponent form"),
    ('{"id": "a", "question": "q", "answer": "2.5E-3"}\n', "exponent form"),
])
def test_bad_input_is_one_line_error_with_file_and_line(tmp_path, content, expect):
    """Records that can never grade are refused too: an empty question, a sentence or an exponent as the gold."""
    p = write(tmp_path / "bad.jsonl", content)
    with pytest.raises(DataError) as e:
        read_problems(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and expect in msg and "\n" not in msg


def test_bad_input_from_the_command_line_is_one_line(tmp_path):
    p = write(tmp_path / "bad.jsonl", '{"id": "a", "question": 3, "answer": "1"}\n')
    r = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import common; "
                        f"common.read_problems({str(p)!r})"], capture_output=True, text=True)
    assert r.returncode != 0 and f"{p}:1: field 'question' must be str, got int" in r.stderr


def test_pairs_with_equal_sides_are_dropped_with_a_count(capsys):
    pairs = [{"chosen": "a", "rejected": "b"}, {"chosen": "a", "rejected": "a"}, {"chosen": "", "rejected": ""}]
    assert drop_equal_sides(pairs, "p.jsonl") == pairs[:1]
    assert "p.jsonl: dropped 2 of 3 pairs whose chosen equals rejected" in capsys.readouterr().out
    assert drop_equal_sides(pairs[:1], "p.jsonl") == pairs[:1] and capsys.readouterr().out == ""


def test_load_jsonl_checks_fields(tmp_path):
    p = write(tmp_path / "x.jsonl", '{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:2: missing field 'completion'"):
        load_jsonl(p, {"prompt": str, "completion": str})
    assert load_jsonl(p)[1] == {"prompt": "a"}


def test_resumable_writer_drops_torn_tail_and_resumes(tmp_path):
    out = tmp_path / "o.jsonl"
    w = ResumableWriter(out)
    w.write({"id": "a", "v": 1})
    w.write({"id": "b", "v": 2})
    w.close()
    with open(out, "a") as f:
        f.write('{"id": "c", "v"')  # a SIGKILL mid-write
    w = ResumableWriter(out)
    assert w.done == {"a", "b"}
    w.write({"id": "c", "v": 3})
    w.close()
    assert [r["id"] for r in load_jsonl(out)] == ["a", "b", "c"]


def test_resume_counts_a_flag_added_since_as_its_default(tmp_path):
    """An output made before a flag existed resumes when the flag is at its default, not otherwise."""
    import argparse
    out = write(tmp_path / "o.jsonl", "")
    write(tmp_path / "o.args.json", json.dumps({"rollouts": 2}))  # made before --new-flag existed
    args = argparse.Namespace(rollouts=2, new_flag=None)
    check_resume(out, tmp_path / "o.args.json", args, defaults={"rollouts": 16, "new_flag": None})
    with pytest.raises(UsageError, match="--new-flag None -> 'x'"):
        check_resume(out, tmp_path / "o.args.json", argparse.Namespace(rollouts=2, new_flag="x"), defaults={"new_flag": None})
    with pytest.raises(UsageError, match="--rollouts 2 -> 3"):  # a recorded flag is compared as before
        check_resume(out, tmp_path / "o.args.json", argparse.Namespace(rollouts=3, new_flag=None), defaults={"rollouts": 3})
    with pytest.raises(UsageError, match="'<unset>' -> None"):  # without defaults: any new flag blocks
        check_resume(out, tmp_path / "o.args.json", args)


def test_write_jsonl_atomic_and_merge_shards_by_id(tmp_path):
    out = tmp_path / "t.jsonl"
    write_jsonl(shard_path(out, 0, 2), [{"id": "c"}, {"id": "a"}])
    write_jsonl(shard_path(out, 1, 2), [{"id": "b"}])
    assert shard_path(out, 1, 2).name == "t.shard1of2.jsonl" and shard_path(out, 0, 1) == out
    assert merge_shards(out, 2) == 3
    assert [r["id"] for r in load_jsonl(out)] == ["a", "b", "c"]
    assert not list(tmp_path.glob("*.tmp"))


# ----------------------------------------------------------------------------- seeds, prompts


def test_stable_seed_is_stable_and_distinct():
    code = "import sys; sys.path.insert(0, %r); from common import stable_seed; print(stable_seed(0, 'p1', 3))" % str(ROOT)
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert runs == {f"{stable_seed(0, 'p1', 3)}\n"}
    assert len({stable_seed(0, "p1", i) for i in range(100)}) == 100 and stable_seed(1, "p1", 3) != stable_seed(0, "p1", 3)


def test_prompt_plain_and_chat_template():
    tok = build_char_tokenizer()
    assert format_prompt(tok, "1+1?") == "Question: 1+1?\nAnswer:\n"
    assert join_steps("P\n", ["a", "b"]) == "P\na\n\nb\n\n"
    tok.chat_template = "{% for m in messages %}<u>{{ m['content'] }}</u>{% endfor %}{% if add_generation_prompt %}<a>{% endif %}"
    out = format_prompt(tok, "1+1?")
    assert out.startswith("<u>1+1?\nPlease reason step by step") and out.endswith("</u><a>")


def test_char_tokenizer_round_trips():
    tok = build_char_tokenizer()
    s = "Question: Ann has 7 pens.\nAnswer:\n7+3=10\n\n10-2=8. The answer is \\boxed{8}."
    ids = tok(s)["input_ids"]
    assert len(ids) == len(s) and tok.decode(ids) == s


# ----------------------------------------------------------------------------- training pieces


def test_sft_loss_is_mean_nll_over_completion_tokens():
    logps = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    assert sft_loss(logps, mask).item() == pytest.approx((2 + 3 + 6) / 3)


def test_lr_schedule_warmup_then_cosine_to_floor():
    assert lr_at(0, 100, 1.0, 10, 0.05) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10, 0.05) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10, 0.05) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10, 0.05) == pytest.approx(0.05 + 0.95 * 0.5)
    assert lr_at(100, 100, 1.0, 10, 0.05) == pytest.approx(0.05)


# ----------------------------------------------------------------------------- the HF sampler


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    tok = build_char_tokenizer()
    torch.manual_seed(0)
    save_checkpoint(build_tiny_model(tok), tok, d, {})
    return d


def sha256s(folder):
    import hashlib
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_a_checkpoint_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """save_checkpoint writes beside the target and renames: a failure midway (a full disk while the
    tokenizer is written) leaves the old checkpoint byte for byte and loadable; a success keeps checkpoints/."""
    from transformers import AutoModelForCausalLM
    tok, out = build_char_tokenizer(), tmp_path / "policy"
    torch.manual_seed(0)
    save_checkpoint(build_tiny_model(tok, hidden=32, layers=1, heads=2), tok, out, {"v": 1})
    (out / "checkpoints" / "step1").mkdir(parents=True)
    before = sha256s(out)
    torch.manual_seed(1)
    other = build_tiny_model(tok, hidden=32, layers=1, heads=2)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(type(tok), "save_pretrained", full_disk)
        with pytest.raises(OSError):
            save_checkpoint(other, tok, out, {"v": 2})
    assert sha256s(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["policy"]
    AutoModelForCausalLM.from_pretrained(out)  # still loads
    save_checkpoint(other, tok, out, {"v": 2})
    assert json.loads((out / "meta.json").read_text()) == {"v": 2} and (out / "checkpoints" / "step1").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy"]


def test_sampler_rows_do_not_depend_on_batch(tiny_dir):
    be = HFBackend(tiny_dir, torch.device("cpu"), torch.float32, batch_size=4)
    prompts = ["Question: a\nAnswer:\n", "Question: a much longer one\nAnswer:\n"]
    both = be.generate(prompts, n=3, temperature=1.0, max_tokens=24, stop=["\n\n", "7"], seeds=[11, 22])
    alone = be.generate(prompts[1:], n=3, temperature=1.0, max_tokens=24, stop=["\n\n", "7"], seeds=[22])
    assert [r["text"] for r in both[1]] == [r["text"] for r in alone[0]]
    assert len({r["text"] for r in both[1]}) == 3  # the n samples differ
    for r in both[0] + both[1]:
        assert "\n\n" not in r["text"] and "7" not in r["text"] and r["logp"] < 0
        assert r["finish"] in ("stop", "eos", "length") and 1 <= r["tokens"] <= 24
        if r["finish"] == "length":
            assert r["tokens"] == 24
    other = be.generate(prompts[1:], n=3, temperature=1.0, max_tokens=24, stop=["\n\n", "7"], seeds=[23])
    assert [r["text"] for r in other[0]] != [r["text"] for r in alone[0]]


@pytest.mark.parametrize("n", [4, 8])  # 12 rows: prompts copied per row; 24 rows: prompts shared
def test_shared_prefix_sampling_scores_like_a_plain_forward(tmp_path, n):
    """The samples of a prompt attend to its keys stored once (SharedPrefixCache): each sample's
    log-prob must equal a cache-free forward over prompt + sample, with grouped-query heads, prompts of
    different lengths (left padding) and rows leaving the batch at different times."""
    from transformers import LlamaConfig, LlamaForCausalLM
    tok = build_char_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(1)
    save_checkpoint(LlamaForCausalLM(cfg), tok, tmp_path, {})
    be = HFBackend(tmp_path, torch.device("cpu"), torch.float32)
    prompts = ["Question: 1\nAnswer:\n", "Question: a longer prompt here\nAnswer:\n", "Q: mid size\n"]
    outs = be.generate(prompts, n=n, temperature=1.0, max_tokens=12, stop=["7", "a"], seeds=[1, 2, 3])
    assert len({r["tokens"] for row in outs for r in row}) > 1  # rows left at different steps
    checked = 0
    for p, row in zip(prompts, outs):
        for r in row:
            p_ids = tok(p)["input_ids"]
            s_ids = tok(r["text"])["input_ids"]
            if r["finish"] == "eos":
                s_ids = s_ids + [tok.eos_token_id]
            if r["finish"] == "stop" or len(s_ids) != r["tokens"]:  # a stop string or special token was cut
                continue
            with torch.no_grad():
                logp = torch.log_softmax(be.model(input_ids=torch.tensor([p_ids + s_ids])).logits[0], -1)
            want = sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(s_ids)) / len(s_ids)
            assert r["logp"] == pytest.approx(want, abs=1e-4)
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("n", [2, 8])  # 8 rows: prompts copied per row; 32 rows: shared
def test_sampler_runs_in_bf16(tiny_dir, n):
    """The attention masks must be in the model's dtype (bf16 on a GPU), or SDPA and the shared
    attention refuse them."""
    be = HFBackend(tiny_dir, torch.device("cpu"), torch.bfloat16)
    outs = be.generate(["Question: 1\nAnswer:\n", "Q: a longer prompt\n", "Q: 2\n", "Q: three\n"], n=n,
                       temperature=1.0, max_tokens=8)
    assert all(r["logp"] < 0 and r["tokens"] >= 1 for row in outs for r in row)


def test_greedy_matches_argmax_and_logp_is_the_models(tiny_dir):
    be = HFBackend(tiny_dir, torch.device("cpu"), torch.float32)
    prompt = "Question: 2+2\nAnswer:\n"
    r = be.generate([prompt], n=1, temperature=0.0, max_tokens=6)[0][0]
    tok, model = be.tokenizer, be.model
    ids = tok(prompt)["input_ids"]
    lp = 0.0
    for _ in range(6):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        nxt = int(logits.argmax())
        lp += float(torch.log_softmax(logits, -1)[nxt])
        if nxt == tok.eos_token_id:
            break
        ids.append(nxt)
    assert r["text"] == tok.decode(ids[len(tok(prompt)["input_ids"]):])
    assert r["logp"] == pytest.approx(lp / r["tokens"], abs=1e-4)


# ----------------------------------------------------------------------------- train_sft end to end


def run_sft(tmp_path, data, out, nproc, extra):
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
           if nproc > 1 else [sys.executable])
    r = subprocess.run(cmd + [str(ROOT / "train_sft.py"), "--init", "tiny", "--data", str(data), "--out", str(out),
                              "--hidden", "32", "--layers", "1", "--heads", "2"] + extra,
                       capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "meta.json").read_text())


def make_seed_file(tmp_path):
    recs = [{"id": f"s{i}", "question": f"Ann has {i} pens. She buys 2 more. How many?", "answer": str(i + 2),
             "solution": f"{i}+2={i + 2}. The answer is \\boxed{{{i + 2}}}."} for i in range(16)]
    write_jsonl(tmp_path / "seed.jsonl", recs)
    return tmp_path / "seed.jsonl"


def test_train_sft_learns_and_saves_hf_dir(tmp_path):
    data = make_seed_file(tmp_path)
    meta = run_sft(tmp_path, data, tmp_path / "m1", 1, ["--steps", "30", "--batch-size", "8", "--lr", "1e-2"])
    assert meta["losses"][-1] < 0.6 * meta["losses"][0]
    from transformers import AutoModelForCausalLM, AutoTokenizer
    AutoModelForCausalLM.from_pretrained(tmp_path / "m1")
    assert AutoTokenizer.from_pretrained(tmp_path / "m1").padding_side == "left"


def test_torchrun_two_processes_matches_one(tmp_path):
    data = make_seed_file(tmp_path)
    one = run_sft(tmp_path, data, tmp_path / "one", 1, ["--steps", "4", "--batch-size", "8"])
    two = run_sft(tmp_path, data, tmp_path / "two", 2, ["--steps", "4", "--batch-size", "4"])
    assert two["world"] == 2 and len(two["losses"]) == 4
    # the loss is normalised by the global batch's tokens, so the trajectories agree step by step
    assert two["losses"] == pytest.approx(one["losses"], abs=1e-4)
    assert two["losses"][-1] < two["losses"][0]
