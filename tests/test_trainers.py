"""Every trainer, run in-process for two steps on a tiny policy:
- keeps fp32 master weights when the device computes in bf16 (a GPU): AdamW on bf16 weights rounds small
  updates away. The device is faked: pick_device returns (cpu, bf16), so autocast runs in bf16 on the CPU
  exactly as it would on a GPU, and the saved weights must be fp32;
- changes every trainable tensor (TRL's test convention): a parameter left out of the optimizer, a
  detached head or a zero gradient path shows up as an unchanged tensor.
"""
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import common  # noqa: E402
import train_dpo  # noqa: E402
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
    for p in pairs:  # DPO / SVPO pairs need per-step Q's
        p.update(kind="step", r_chosen=[1.0], r_rejected=[-1.0], depth=1)
    (d / "dpo_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return d


def saved(d):
    with safe_open(str(Path(d) / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def saved_dtypes(d):
    return {t.dtype for t in saved(d).values()}


def run_stage(mod, argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [f"{mod.__name__}.py", *argv])
    mod.main()


@pytest.fixture(scope="module")
def fp32_policy(bf16_policy, tmp_path_factory):
    """The same tiny policy in fp32 (its bf16 copy's values): the start of the 'every tensor changed' runs."""
    from transformers import AutoModelForCausalLM
    d = tmp_path_factory.mktemp("fp32_policy")
    AutoModelForCausalLM.from_pretrained(bf16_policy, dtype=torch.float32).save_pretrained(d)
    train_sft.load_tokenizer(str(bf16_policy)).save_pretrained(d)
    return d


@pytest.mark.parametrize("stage", ["sft", "dpo", "svpo", "ppm"])
def test_every_trainable_tensor_changes(stage, fp32_policy, bf16_policy, tmp_path, monkeypatch):
    out, data = tmp_path / "out", bf16_policy
    mod, argv = {
        "sft": (train_sft, ["--init", str(fp32_policy), "--data", str(data / "data.jsonl"), "--lr", "1e-2"]),
        "dpo": (train_dpo, ["--model", str(fp32_policy), "--pairs", str(data / "dpo_pairs.jsonl"), "--lr", "1e-2",
                            "--sft-weight", "1"]),
        "svpo": (train_dpo, ["--model", str(fp32_policy), "--pairs", str(data / "dpo_pairs.jsonl"), "--lr", "1e-2",
                             "--loss", "svpo"]),
        "ppm": (train_ppm, ["--init", str(fp32_policy), "--pairs", str(data / "pairs.jsonl"), "--lr", "1e-2",
                            "--eval-frac", "0"]),
    }[stage]
    steps = ["--epochs", "1"] if mod is train_dpo else ["--steps", "2"]
    run_stage(mod, argv + steps + ["--batch-size", "4", "--grad-accum", "1", "--out", str(out)], monkeypatch)
    before, after = saved(fp32_policy), saved(out)
    body = {k: v for k, v in after.items() if k in before}
    assert len(body) >= len(before) - 1  # the PPM drops the LM head, nothing else goes missing
    unchanged = [k for k, v in body.items() if torch.equal(v, before[k])]
    assert unchanged == [], unchanged
    new = {k: v for k, v in after.items() if k not in before}  # the PPM's score head starts at zero
    assert all(v.abs().sum() > 0 for v in new.values()) and (stage != "ppm" or new)
    if stage == "svpo":  # SVPO's value head is saved beside the LM, and it trained too
        head = torch.load(out / "value_head.pt")
        assert head["bias"].abs().sum() > 0  # initialised at zero (SVPO's repo), so it moved


@pytest.mark.parametrize("stage", ["sft", "ppm"])
def test_trainer_keeps_fp32_master_weights_under_bf16(stage, bf16_policy, tmp_path, monkeypatch):
    mod = {"sft": train_sft, "ppm": train_ppm}[stage]
    monkeypatch.setattr(common, "pick_device", lambda *a, **k: (torch.device("cpu"), torch.bfloat16))  # setup_training's
    out = tmp_path / "out"
    argv = {"sft": ["--init", str(bf16_policy), "--data", str(bf16_policy / "data.jsonl"), "--steps", "2",
                    "--batch-size", "4"],
            "ppm": ["--init", str(bf16_policy), "--pairs", str(bf16_policy / "pairs.jsonl"), "--steps", "2",
                    "--batch-size", "4", "--eval-frac", "0"]}[stage]
    monkeypatch.setattr(sys, "argv", [f"train_{stage}.py", *argv, "--out", str(out)])
    mod.main()
    assert saved_dtypes(out) == {torch.float32}
