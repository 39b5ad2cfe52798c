"""A GPU user's first run, at toy size on the CPU: a Qwen2-architecture checkpoint with random weights and a
byte-level BPE tokenizer with a chat template, GSM8K-format problems converted by synth.py convert (all built
by benchmarks/random_model.py), and loop.py through every stage (SFT, MCTS, pairs, CPL DPO, the BT PPM, evaluation) in text format on the HF
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


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """GSM8K-format files converted to text and code problems, and the random Qwen2 checkpoint
    (benchmarks/random_model.py, 8 problems, hidden 64, 2 layers)."""
    d = tmp_path_factory.mktemp("real")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "random_model.py"), "--out", str(d)], check=True,
                   capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
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
