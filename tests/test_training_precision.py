"""The trainers keep fp32 master weights when the device computes in bf16 (a GPU), for every stage.

AdamW on bf16 weights rounds small updates away. The device is faked: pick_device returns (cpu, bf16),
so autocast runs in bf16 on the CPU exactly as it would on a GPU, and the saved weights must be fp32.
"""
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import train_ppm  # noqa: E402
import train_sft  # noqa: E402


@pytest.fixture(scope="module")
def bf16_policy(tmp_path_factory):
    """A tiny policy stored in bf16, as a GPU run of train_sft.py before the fix would have left it."""
    d = tmp_path_factory.mktemp("bf16_policy")
    tok = train_sft.build_char_tokenizer()
    model = train_sft.build_tiny_model(tok, hidden=32, layers=1, heads=2).to(torch.bfloat16)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    (d / "data.jsonl").write_text("".join(json.dumps({"id": str(i), "question": f"{i}+1?", "answer": str(i + 1),
                                                      "solution": f"{i}+1={i + 1}. \\boxed{{{i + 1}}}"}) + "\n"
                                          for i in range(8)))
    pairs = [{"id": str(i), "prompt": f"{i}+1?\n", "chosen": f"{i + 1}", "rejected": f"{i + 2}", "kind": "ppm",
              "q_chosen": 1.0, "q_rejected": -1.0} for i in range(8)]
    (d / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return d


def saved_dtypes(d):
    with safe_open(str(Path(d) / "model.safetensors"), "pt") as f:
        return {f.get_tensor(k).dtype for k in f.keys()}


@pytest.mark.parametrize("stage", ["sft", "ppm"])
def test_trainer_keeps_fp32_master_weights_under_bf16(stage, bf16_policy, tmp_path, monkeypatch):
    mod = {"sft": train_sft, "ppm": train_ppm}[stage]
    monkeypatch.setattr(mod, "pick_device", lambda *a, **k: (torch.device("cpu"), torch.bfloat16))
    out = tmp_path / "out"
    argv = {"sft": ["--init", str(bf16_policy), "--data", str(bf16_policy / "data.jsonl"), "--steps", "2",
                    "--batch-size", "4"],
            "ppm": ["--init", str(bf16_policy), "--pairs", str(bf16_policy / "pairs.jsonl"), "--steps", "2",
                    "--batch-size", "4", "--eval-frac", "0"]}[stage]
    monkeypatch.setattr(sys, "argv", [f"train_{stage}.py", *argv, "--out", str(out)])
    mod.main()
    assert saved_dtypes(out) == {torch.float32}
