"""Tests for train_ppm.py: the losses, the score position under padding, the split, a short run."""

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
import train_ppm  # noqa: E402
from common import check_model_dir, encode, format_prompt, join_steps, load_tokenizer, write_jsonl  # noqa: E402
from scoring import PPMScorer, ResultVerifier, load_ppm, result_value, write_result_verifier  # noqa: E402


def test_bt_loss_hand_computed():
    # -log sigmoid(2 - 1) = 0.313262, -log sigmoid(0 - 1) = 1.313262; mean 0.813262
    loss = train_ppm.bt_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert loss.item() == pytest.approx(0.8132617, abs=1e-6)
    # -log sigmoid(0.5) = 0.474077: only the difference matters (shift invariance)
    assert train_ppm.bt_loss(torch.tensor([10.5]), torch.tensor([10.0])).item() == pytest.approx(0.4740770, abs=1e-6)


def test_mse_loss_hand_computed():
    # tanh(0) = 0 vs Q = 1 -> 1; tanh(atanh 0.5) = 0.5 vs Q = 0 -> 0.25; mean 0.625
    r = torch.tensor([0.0, math.atanh(0.5)])
    assert train_ppm.mse_loss(r, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.625, abs=1e-6)


def test_pair_accuracy_ties_are_wrong():
    acc = train_ppm.pair_accuracy(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 2.0, 4.0]))
    assert acc.item() == pytest.approx(1 / 3)


def test_split_keeps_problems_whole():
    pairs = [{"id": f"p{i}/{j}"} for i in range(200) for j in range(3)]
    pairs += [{"id": f"p{i}-ppm-{j}", "problem": f"p{i}"} for i in range(200) for j in range(2)]  # pairs.py ids
    train, held = train_ppm.split_pairs(pairs, 0.2, seed=0)
    assert len(train) + len(held) == 1000 and 100 < len(held) < 300
    assert not {train_ppm.problem_key(p) for p in train} & {train_ppm.problem_key(p) for p in held}


def test_value_examples_dedupe_and_average():
    # a non-terminal side ends with the delimiter (pairs.py); the scored text drops it, as mcts.py does
    pairs = [{"prompt": "Q\n", "chosen": "a\n\n", "rejected": "b", "q_chosen": 1.0, "q_rejected": -1.0},
             {"prompt": "Q\n", "chosen": "a", "rejected": "c\n\n", "q_chosen": 0.5, "q_rejected": -0.5}]
    ex = dict(train_ppm.value_examples(pairs, "\n\n"))
    assert ex == {"Q\na": 0.75, "Q\nb": -1.0, "Q\nc": -0.5}


# ----------------------------------------------------------------------------- a tiny model on disk


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    import train_sft
    d = tmp_path_factory.mktemp("policy")
    torch.manual_seed(0)
    tok = train_sft.build_char_tokenizer()
    model = train_sft.build_tiny_model(tok, hidden=32, layers=2, heads=2)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_score_at_last_non_pad_token_left_and_right_padding(policy_dir, tmp_path):
    model, tok = train_ppm.build_model(str(policy_dir), from_scratch=False)
    assert model.config.pad_token_id == tok.pad_token_id and model.config.num_labels == 1
    with torch.no_grad():  # a head that is not zero, so scores differ by text
        model.score.weight.normal_(0, 0.5)
    model.eval()
    texts = ["Question: a\nAnswer:\n1+1=2\n\n", "Q\n", "Question: a longer one\nAnswer:\n3*3=9\n\n9-1=8\n\n"]
    alone = torch.stack([train_ppm.raw_scores(model, tok, [t], 512, "cpu")[0] for t in texts])
    assert len(set(alone.tolist())) == 3
    right = train_ppm.raw_scores(model, tok, texts, 512, "cpu")  # right padding (training)
    assert torch.allclose(right, alone, atol=1e-5)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    left = PPMScorer(str(tmp_path), device=torch.device("cpu"), dtype=torch.float32, batch_size=8)(texts)  # left padding
    assert torch.allclose(torch.tensor(left), torch.tanh(alone), atol=1e-5)
    # the pad token really is the one the seq-cls pooling skips: an explicit padded row agrees too
    ids = tok(texts[1])["input_ids"]
    x = torch.tensor([ids + [tok.pad_token_id] * 5])
    with torch.no_grad():
        assert model(input_ids=x, attention_mask=(x != tok.pad_token_id).long()).logits[0, 0].item() == \
            pytest.approx(alone[1].item(), abs=1e-5)


def test_head_starts_at_zero_and_from_scratch_differs(policy_dir):
    m1, tok = train_ppm.build_model(str(policy_dir), False)
    m2, _ = train_ppm.build_model(str(policy_dir), True)
    assert train_ppm.raw_scores(m1.eval(), tok, ["Q\n"], 64, "cpu").abs().max().item() == 0.0
    body1, body2 = m1.model.embed_tokens.weight, m2.model.embed_tokens.weight
    assert not torch.allclose(body1, body2)


def make_pairs(path, n_problems, seed):
    """Pairs a small model can learn fast: the chosen step ends in 'ok', the rejected in 'no'."""
    g = torch.Generator().manual_seed(seed)
    recs = []
    for i in range(n_problems):
        a, b = torch.randint(1, 9, (2,), generator=g).tolist()
        prompt = join_steps(format_prompt(None, f"{a} and {b}?"), [f"{a}+{b}"])
        for j in range(2):
            recs.append({"id": f"t{seed}-{i}/{j}", "prompt": prompt, "chosen": f"{a + j} ok", "rejected": f"{b + j} no",
                         "kind": "ppm", "q_chosen": 0.8, "q_rejected": -0.6})
    write_jsonl(path, recs)


@pytest.mark.parametrize("loss", ["bt", "mse"])
def test_train_ppm_end_to_end(policy_dir, tmp_path, loss):
    make_pairs(tmp_path / "pairs.jsonl", 60, seed=0)
    out = tmp_path / "ppm"
    r = subprocess.run([sys.executable, str(ROOT / "train_ppm.py"), "--init", str(policy_dir), "--pairs",
                        str(tmp_path / "pairs.jsonl"), "--out", str(out), "--loss", loss, "--steps", "40",
                        "--batch-size", "8", "--lr", "3e-3", "--eval-frac", "0.2"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["heldout"]["pairs"] > 0 and meta["heldout"]["pair_acc"] >= 0.9, meta["heldout"]
    if loss == "mse":  # regression pulls the values towards Q (0.8 / -0.6): well below the start MSE of 0.5
        assert meta["heldout"]["value_mse"] < 0.3
    # the shipped checkpoint loads with the stock class and PPMScorer scores like the training code: tanh(r)
    from transformers import AutoModelForSequenceClassification
    loaded = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert loaded.config.num_labels == 1
    texts = ["Question: 1 and 2?\nAnswer:\n1+2\n\n3 ok\n\n", "Question: 1 and 2?\nAnswer:\n1+2\n\n2 no\n\n"]
    with torch.no_grad():
        raw = train_ppm.raw_scores(loaded, load_tokenizer(str(out)), texts, 512, "cpu")
    v = PPMScorer(str(out), device=torch.device("cpu"), dtype=torch.float32)(texts)
    assert v == pytest.approx(torch.tanh(raw).tolist(), abs=1e-5) and v[0] > v[1]


def test_result_value_hand_computed():
    assert result_value([0.9, 0.25, 0.5]) == pytest.approx(-0.5)  # 2 * 0.25 - 1: the weakest result
    assert result_value([]) == 1.0  # no result written yet


def test_result_verifier_scores_each_written_result(policy_dir, tmp_path):
    """The shipped directory is a plain causal LM (AutoModelForCausalLM loads it) plus the marker file;
    its value is 2 * min over the results after the prompt of p(result tokens), computed here by hand."""
    from transformers import AutoModelForCausalLM
    for f in policy_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    write_result_verifier(tmp_path)
    check_model_dir(str(tmp_path), "--ppm", kind="ppm")  # accepted as a PPM by its file
    scorer = load_ppm(str(tmp_path), device=torch.device("cpu"), dtype=torch.float32, batch_size=2)
    assert isinstance(scorer, ResultVerifier)
    with pytest.raises(ValueError, match="hf backend"):
        load_ppm(str(tmp_path), backend="vllm")
    model, tok = AutoModelForCausalLM.from_pretrained(tmp_path).eval(), load_tokenizer(str(tmp_path))
    prompt = format_prompt(tok, "Is 2+2=5? Ann has 1 pen.")  # an equation in the question is not scored
    text = prompt + "1+2=3\n\n3*2=16. The answer is \\boxed{16}."
    ids = encode(tok, text)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)

    def p(result_start, result_end):  # prod over the result's tokens k of p(x_k | x_<k)
        a, b = len(encode(tok, text[:result_start])), len(encode(tok, text[:result_end]))
        return math.exp(sum(logp[k - 1, ids[k]].item() for k in range(a, b)))
    i3 = len(prompt) + len("1+2=")
    i16 = len(prompt) + len("1+2=3\n\n3*2=")
    p3, p16 = p(i3, i3 + 1), p(i16, i16 + 2)
    assert 0 < p16 < 1 and p3 != p16
    assert scorer([text, prompt + "no equation yet"]) == pytest.approx([2 * min(p3, p16) - 1, 1.0], abs=1e-5)
    # every prefix from one pass over the whole solution equals the prefix scored alone
    prefixes = [[prompt + "1+2=3", text], [prompt, prompt + "4-1=3"]]
    vals = scorer.prefix_values(prefixes)
    assert vals == [pytest.approx(scorer(ps), abs=1e-6) for ps in prefixes]
    assert vals[0][0] == pytest.approx(2 * p3 - 1, abs=1e-5) and vals[1][0] == 1.0
    (tmp_path / "result_verifier.json").unlink()  # without its file the directory is a plain policy again
    with pytest.raises(ValueError, match="sequence-classification"):
        check_model_dir(str(tmp_path), "--ppm", kind="ppm")


def test_train_sft_verifier_flag_ships_a_result_verifier(policy_dir, tmp_path):
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps({"id": str(i), "prompt": f"Question: {i}+1?\nAnswer:\n",
                                                            "completion": f"{i}+1={i + 1}"}) + "\n" for i in range(4)))
    r = subprocess.run([sys.executable, str(ROOT / "train_sft.py"), "--init", str(policy_dir), "--data",
                        str(tmp_path / "sft.jsonl"), "--out", str(tmp_path / "v"), "--steps", "2", "--batch-size", "2",
                        "--verifier"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert isinstance(load_ppm(str(tmp_path / "v"), device=torch.device("cpu"), dtype=torch.float32), ResultVerifier)


@pytest.mark.skipif(os.environ.get("SKIP_TORCHRUN") == "1", reason="SKIP_TORCHRUN=1")
def test_torchrun_two_processes_matches_one(policy_dir, tmp_path):
    make_pairs(tmp_path / "pairs.jsonl", 20, seed=1)

    def train(launcher, out, micro):  # the same global batch of 8: 1 x 4 x 2 or 2 x 4 x 1
        r = subprocess.run(launcher + [str(ROOT / "train_ppm.py"), "--init", str(policy_dir), "--pairs",
                                       str(tmp_path / "pairs.jsonl"), "--out", str(tmp_path / out), "--steps", "3",
                                       "--batch-size", "4", "--grad-accum", str(micro), "--lr", "3e-3"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads((tmp_path / out / "meta.json").read_text())
    one = train([sys.executable], "one", 2)
    two = train([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"], "two", 1)
    assert two["world"] == 2 and len(two["losses"]) == 3
    assert two["losses"] == pytest.approx(one["losses"], abs=1e-4) and two["losses"][0] != two["losses"][-1]
