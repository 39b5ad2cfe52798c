"""A GPU user's first run, at toy size on the CPU: a Qwen2-architecture checkpoint with random weights and a
byte-level BPE tokenizer with a chat template (both built here), GSM8K-format problems converted by
synth.py convert, and loop.py through every stage (SFT, MCTS, pairs, CPL DPO, the BT PPM, evaluation) in text format on the HF
backend and in code format on the fake vLLM.

The base SFT memorizes the seed problems (the pool holds the same questions), so the random model's
trees hold correct and wrong answers and every later stage has data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_VLLM = ROOT / "tests" / "fake_vllm"
CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def gsm8k_records(n):
    """GSM8K-format problems: a question and a calculator-annotated answer ending in '#### N'."""
    out = []
    for i in range(n):
        a, b, k = 3 + i, 2 + i % 5, 2 + i % 2
        c, d = a + b, (a + b) * k
        out.append({"question": f"Ann has {a} pens. She buys {b} more, then gets {k} times as many. How many pens?",
                    "answer": f"Ann has {a}+{b} = <<{a}+{b}={c}>>{c} pens.\nThen {c}*{k} = <<{c}*{k}={d}>>{d} pens.\n"
                              f"#### {d}"})
    return out


def build_checkpoint(d, texts):
    """A random-weight Qwen2 model and a byte-level BPE tokenizer trained on `texts`, with a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHAT
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """GSM8K-format files converted to text and code problems, and the random Qwen2 checkpoint."""
    d = tmp_path_factory.mktemp("real")
    raw = d / "gsm8k.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in gsm8k_records(8)))
    for fmt in ("text", "code"):
        subprocess.run([sys.executable, str(ROOT / "synth.py"), "convert", "--kind", "gsm8k", "--in", str(raw),
                        "--out", str(d / f"{fmt}.jsonl"), "--format", fmt], check=True, capture_output=True)
    texts = [json.loads(line)[k] for fmt in ("text", "code") for line in (d / f"{fmt}.jsonl").read_text().splitlines()
             for k in ("question", "solution")]
    build_checkpoint(d / "qwen", texts + [CHAT, "Let's think step by step and solve the problem with code"] * 3)
    return d


# text on the HF backend with every optional stage (CPL DPO, the BT PPM); code on the fake vLLM, whose base
# memorizes the longer code solutions in more steps
@pytest.mark.parametrize("fmt,backend,extra", [
    ("text", "hf", ["--base-steps", "120", "--update", "sft+cpl", "--ppm", "bt", "--ppm-steps", "2",
                    "--dpo-args", "--epochs 1 --batch-size 4"]),
    ("code", "vllm", ["--base-steps", "200", "--update", "sft"])])
def test_loop_runs_every_stage_on_a_real_architecture(real, tmp_path, fmt, backend, extra):
    data, out = real / f"{fmt}.jsonl", tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if backend == "vllm":
        env["PYTHONPATH"] = os.pathsep.join([str(FAKE_VLLM), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(ROOT / "loop.py"), "--out", str(out), "--init", str(real / "qwen"), "--format", fmt,
           "--seed-file", str(data), "--pool-file", str(data), "--test-file", str(data), "--backend", backend,
           "--rounds", "1", "--n-pool", "8", "--rollouts", "4", "--base-lr", "3e-3", "--refresh-steps", "2",
           "--mcts-args", "--children 3 --max-depth 4 --max-step-tokens 40", "--sft-args", "--batch-size 8", *extra]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stages = ["train_sft.py", "evaluate.py", "mcts.py", "pairs.py"] + ["train_dpo.py", "train_ppm.py"] * (fmt == "text")
    assert all(f"/{s} " in run.stdout for s in stages)
    # MODEL_SETTINGS of an HF model reach every round: the SFT's max length, evaluation's max new tokens
    assert run.stdout.count("--max-len 2048") >= 2 and run.stdout.count("--max-tokens 1024") == 2
    trees = [json.loads(line) for line in (out / "round1" / "trees_fresh.jsonl").read_text().splitlines()]
    assert len(trees) == 8 and all(t["config"]["format"] == fmt for t in trees)
    assert any(t["stats"]["correct"] > 0 for t in trees)
    assert all(t["prompt"].startswith("<|im_start|>user\n") for t in trees)  # the chat template
    assert ("solve the problem with code" in trees[0]["prompt"]) == (fmt == "code")
    steps = [n["step"] for t in trees for n in t["nodes"][1:]]
    if fmt == "code":  # a printing step carries the sandbox's output
        assert any("print(" in s and "\n# output: " in s for s in steps)
    else:
        ppm = json.loads((out / "round1" / "ppm" / "config.json").read_text())
        assert ppm["architectures"] == ["Qwen2ForSequenceClassification"]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["round"] for r in rows] == [0, 1] and all(r["greedy"] is not None for r in rows)
