"""train_dpo.py: DPO and SVPO losses against hand-computed values, log-probs against a naive loop,
the CPL order on a hand case, an end-to-end SVPO run, and 2-process torchrun == 1 process."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pairdata import collate, tokenize_side  # noqa: E402
from train_dpo import PolicyWithValue, cpl_order, dpo_loss, epoch_order, minmax, seq_logps, svpo_loss  # noqa: E402
from train_sft import build_char_tokenizer, build_tiny_model  # noqa: E402

T = torch.tensor


def test_dpo_loss_matches_reference_values():
    # h = (pc - rc) - (pr - rr) = [(-10+11) - (-12+11), (-5+5.5) - (-4+4.5), (-20+19) - (-20+21)] = [2, 0, -2];
    # loss = -log sigmoid(0.1 h) = log(1 + exp(-0.1 h)) = [log(1 + e^-0.2), log 2, log(1 + e^0.2)]
    #      = [0.59813887, 0.69314718, 0.79813886] (the values TRL's DPOTrainer gives for these log-probs)
    losses, rc, rr = dpo_loss(T([-10., -5., -20.]), T([-12., -4., -20.]), T([-11., -5.5, -19.]), T([-11., -4.5, -21.]), 0.1)
    expect = [math.log1p(math.exp(-0.2)), math.log(2), math.log1p(math.exp(0.2))]
    assert expect == pytest.approx([0.59813887, 0.69314718, 0.79813886], abs=1e-8)
    assert torch.allclose(losses, T(expect), atol=1e-6)
    assert torch.allclose(rc, T([0.1, 0.05, -0.1]), atol=1e-6)
    assert torch.allclose(rr, T([-0.1, 0.05, 0.1]), atol=1e-6)
    # cDPO: -(1-e) log s(beta h) - e log s(-beta h), h = 2, beta = 0.1, e = 0.1
    ls, _, _ = dpo_loss(T([-10.]), T([-12.]), T([-11.]), T([-11.]), 0.1, label_smoothing=0.1)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert abs(ls.item() - (-0.9 * math.log(sig(0.2)) - 0.1 * math.log(sig(-0.2)))) < 1e-6


def test_svpo_loss_terms_hand_computed():
    pc, pr = T([-10., -5.], requires_grad=True), T([-12., -4.])
    rc, rr = T([-11., -5.5]), T([-11., -4.5])
    v_c, v_r = T([0.6, 0.1], requires_grad=True), T([-0.2, 0.3])
    v_steps = T([[0.6, -0.2, 0., 0.], [0.5, 0.1, 0.3, 9.]])
    q_steps = T([[1.0, -1.0, 0., 0.], [0., 0., 1., 0.]])
    mask = T([[1., 1., 0., 0.], [1., 1., 1., 0.]])
    w = {"dpo": 1.0, "margin": 0.25, "reg": 0.001, "sft": 5.0, "mse": 0.25}
    total, t = svpo_loss(pc, pr, rc, rr, v_c, v_r, T([4., 5.]), v_steps, q_steps, mask, 0.1, 0.5, w)
    # h_pi = [0.2, 0.0], h_V = [0.8, -0.2]
    expect = {"dpo": [0.59813887, 0.69314718], "margin": [0.0, 0.7], "reg": [0.36, 0.04], "sft": [2.5, 1.0],
              "mse": [(0.16 + 0.64) / 2, (0.25 + 0.01 + 0.49) / 3]}
    for k, v in expect.items():
        assert torch.allclose(t[k], T(v), atol=1e-6), k
    assert torch.allclose(total, T([0.59813887 + 0.001 * 0.36 + 12.5 + 0.25 * 0.4,
                                    0.69314718 + 0.25 * 0.7 + 0.001 * 0.04 + 5.0 + 0.25 * 0.25]), atol=1e-5)
    # the regulariser's value side is detached: its gradient reaches the policy, not the value
    gv, gp = torch.autograd.grad(t["reg"].sum(), [v_c, pc], allow_unused=True)
    assert gv is None and torch.allclose(gp, T([2 * (0.2 - 0.8) * 0.1, 2 * (0.0 + 0.2) * 0.1]))


def test_svpo_loss_applies_label_smoothing_to_its_dpo_term():
    """--label-smoothing under --loss svpo: the DPO term is cDPO's, -(1-e) log s(h) - e log s(-h)."""
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    w = {"dpo": 1.0, "margin": 0.0, "reg": 0.0, "sft": 0.0, "mse": 0.0}
    z = T([[0.]])
    _, t = svpo_loss(T([-10.]), T([-12.]), T([-11.]), T([-11.]), T([0.]), T([0.]), T([1.]), z, z, z, 0.1, 0.5, w,
                     label_smoothing=0.1)  # h_pi = 0.1 * ((-10 + 11) - (-12 + 11)) = 0.2
    assert abs(t["dpo"].item() - (-0.9 * math.log(sig(0.2)) - 0.1 * math.log(sig(-0.2)))) < 1e-6


def test_cpl_order_hand_case():
    groups = ["a", "a", "b", "b", "b", "c"]
    r_gap, p_gap = [0, 2, 1, 3, 2, 4], [10, 0, 5, -5, 0, 0]
    assert minmax(r_gap) == [0, 0.5, 0.25, 0.75, 0.5, 1.0] and minmax([3, 3]) == [0.0, 0.0]
    # w = r~ + 0.5 p~ = [.5, .667, .583, .75, .667, 1.167]: a -> 1, 0; b -> 3, 4, 2; c -> 5; round-robin
    assert cpl_order(groups, r_gap, p_gap, alpha=0.5) == [1, 3, 5, 0, 4, 2]
    # a larger alpha lets the policy gap win: w = r~ + 2 p~ = [2, 1.17, 1.58, .75, 1.17, 1.67]
    assert cpl_order(groups, r_gap, p_gap, alpha=2.0) == [0, 2, 5, 1, 4, 3]
    assert epoch_order("file", 0, 0, groups, r_gap, p_gap, 0.5) == list(range(6))
    s0, s1 = (epoch_order("shuffle", e, 0, groups, r_gap, p_gap, 0.5) for e in (0, 1))
    assert sorted(s0) == list(range(6)) and s0 != s1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 2-layer char-level Llama saved as an HF directory."""
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    model = build_tiny_model(tok, hidden=32, layers=2, heads=2, max_len=256)
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return tok, model.eval(), path


def test_tokenize_side_eos_and_step_ends(tiny):
    tok = tiny[0]
    ids, start, vpos = tokenize_side(tok, "Q:\n", "1+1=2\n\n2*2=4. \\boxed{4}", "\n\n", 512)
    assert ids[-1] == tok.eos_token_id and start == 3
    assert tok.decode(ids[:vpos[0] + 1]) == "Q:\n1+1=2\n\n" and vpos[1] == len(ids) - 1
    ids, start, vpos = tokenize_side(tok, "Q:\n", "1+1=2\n\n", "\n\n", 512)  # partial: no EOS
    assert ids[-1] != tok.eos_token_id and tok.decode(ids) == "Q:\n1+1=2\n\n" and vpos == [len(ids) - 1]
    ids, start, vpos = tokenize_side(tok, "Q:\n", "1+1=2\n\n", "\n\n", 6)  # truncation keeps the right end
    assert tok.decode(ids) == "+1=2\n\n" and start == 1 and vpos == [5]


def test_logps_equal_naive_loop_with_padding_on_both_sides(tiny):
    tok, model, _ = tiny
    policy = PolicyWithValue(model).eval()
    texts = [("Q: 1+1?\n", "2\n\n"), ("Q: a long question here?\n", "7+3=10. \\boxed{10}"), ("Q?\n", "x")]
    sides = [tokenize_side(tok, p, c, "\n\n", 512) for p, c in texts]
    naive = []
    with torch.no_grad():
        for ids, start, _ in sides:
            s = 0.0
            for t in range(start, len(ids)):  # one forward per completion token, no padding at all
                logits = model(input_ids=T([ids[:t]])).logits[0, -1]
                s += torch.log_softmax(logits, -1)[ids[t]].item()
            naive.append(s)
        ids, attn, lmask, _, _ = collate(sides, tok.pad_token_id, torch.device("cpu"))  # right padding
        right = seq_logps(policy(ids, attn)[0], lmask)
        shift = (attn == 0).sum(-1)  # the same rows, left padded
        lids, lattn, lmask2 = (torch.stack([torch.roll(r, int(k)) for r, k in zip(x, shift)]) for x in (ids, attn, lmask))
        leftp = seq_logps(policy(lids, lattn)[0], lmask2)
    assert torch.allclose(right, T(naive), atol=1e-4) and torch.allclose(leftp, T(naive), atol=1e-4)
    assert (lattn[:, 0] == 0).any() and (attn[:, -1] == 0).any()  # both paddings were exercised


def write_pairs(path, n):
    """n pairs over 3 problems, with per-step rewards; some partial, some finished."""
    recs = []
    for i in range(n):
        a, b = i % 7 + 1, i % 5 + 2
        recs.append({"id": f"p{i}", "problem": f"q{i % 3}", "kind": ["step", "complete"][i % 2],
                     "prompt": f"Question: {a}+{b}?\nAnswer:\n",
                     "chosen": f"{a}+{b}={a + b}\n\n" if i % 2 == 0 else f"{a}+{b}={a + b}\n\nThe answer is \\boxed{{{a + b}}}.",
                     "rejected": f"{a}+{b}={a + b + 1}\n\n" if i % 2 == 0 else f"{a}+{b}={a}\n\nThe answer is \\boxed{{{a}}}.",
                     "r_chosen": [0.5] if i % 2 == 0 else [0.5, 1.0], "r_rejected": [-0.5] if i % 2 == 0 else [-0.2, -1.0],
                     "q_chosen": 0.5, "q_rejected": -0.5, "depth": 1})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def run(cmd, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def test_svpo_end_to_end_saves_value_head(tiny, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 6)
    run([sys.executable, str(ROOT / "train_dpo.py"), "--model", str(tiny[2]), "--pairs", str(pairs), "--out",
         str(tmp_path / "o"), "--loss", "svpo", "--batch-size", "3", "--grad-accum", "1", "--epochs", "2",
         "--lr", "1e-2", "--save-epochs"], ROOT)
    meta = json.loads((tmp_path / "o" / "meta.json").read_text())
    first = json.loads((tmp_path / "o-epoch1" / "meta.json").read_text())  # CPL reports each epoch
    assert first["epochs_done"] == 1 and first["log"] == meta["log"][:2]
    assert (tmp_path / "o-epoch1" / "value_head.pt").exists()
    log = meta["log"]
    assert len(log) == 4 and all(k in log[0] for k in ("margin", "reg", "mse", "sft", "dpo", "rewards/accuracies"))
    assert log[-1]["rewards/margins"] > 0 and log[-1]["mse"] < log[0]["mse"]  # it learns from the pairs
    head = torch.load(tmp_path / "o" / "value_head.pt")
    assert head["weight"].shape == (1, 32)
    assert (tmp_path / "o" / "model.safetensors").exists() and (tmp_path / "o" / "tokenizer.json").exists()


def test_torchrun_ddp_and_fsdp_match_one_process(tiny, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", 11)  # 11 = 2 full global batches of 4 + a partial one of 3
    common = ["--model", str(tiny[2]), "--pairs", str(pairs), "--order", "cpl", "--epochs", "2", "--lr", "5e-3",
              "--sft-weight", "0.5"]
    run([sys.executable, str(ROOT / "train_dpo.py"), *common, "--out", str(tmp_path / "one"),
         "--batch-size", "2", "--grad-accum", "2"], ROOT)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "train_dpo.py"), *common, "--out", str(tmp_path / "two"), "--batch-size", "2", "--grad-accum", "1"], ROOT)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "train_dpo.py"), *common, "--out", str(tmp_path / "fsdp"), "--batch-size", "2", "--grad-accum", "1",
         "--fsdp"], ROOT)
    one, two, fsdp = (json.loads((tmp_path / d / "meta.json").read_text()) for d in ("one", "two", "fsdp"))
    assert two["world"] == fsdp["world"] == 2 and len(one["log"]) == len(two["log"]) == len(fsdp["log"]) == 6
    l1, l2, l3 = ([r["loss"] for r in m["log"]] for m in (one, two, fsdp))
    assert max(abs(a - b) for a, b in zip(l1, l2)) < 1e-4, (l1, l2)
    assert max(abs(a - b) for a, b in zip(l1, l3)) < 1e-4, (l1, l3)
    assert abs(l1[-1] - l1[0]) > 1e-3  # the loss moved, so the comparison means something
    from safetensors.torch import load_file
    w1, w3 = (load_file(tmp_path / d / "model.safetensors") for d in ("one", "fsdp"))
    assert max((w1[k] - w3[k]).abs().max().item() for k in w1) < 1e-5  # FSDP gathers the full weights
