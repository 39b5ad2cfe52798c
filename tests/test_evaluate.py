"""Tests for evaluate.py: the aggregation rules, beam selection and search, PPM step values, a run."""

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import evaluate as ev  # noqa: E402
import report  # noqa: E402
from common import write_jsonl  # noqa: E402
from scoring import PPMScorer  # noqa: E402


def test_pass_at_k_and_weighted_vote():
    assert ev.pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert ev.majority_vote(["3", "4", "4", None]) == "4"
    assert ev.majority_vote(["3", "4", "4"], [0.9, 0.4, 0.4]) == "3"  # 0.9 > 0.8
    assert ev.majority_vote(["3.0", "4", "3"], [0.3, 0.5, 0.3]) == "3.0"  # equivalent answers pool: 0.6 > 0.5


def test_bon_aggregations_hand_case():
    preds = ["A", "B", "C", "B"]
    values = [[0.9, 0.1, 0.8],   # best last step, but a bad middle step
              [0.6, 0.5, 0.7],   # best minimum
              [0.2, 0.3],
              [0.7, 0.6, 0.4]]
    assert ev.bon_select(preds, values, "last") == "A"
    assert ev.bon_select(preds, values, "min") == "B"
    # vote weights (1 + v_last) / 2: A 0.9, B 0.85 + 0.7 = 1.55, C 0.65
    assert ev.bon_select(preds, values, "vote") == "B"
    assert ev.bon_select(["A", "B"], [[0.5], [0.5]], "last") == "A"  # ties: the earlier sample
    assert ev.vote_weight(-1.0) == 0.0 and ev.vote_weight(1.0) == 1.0


def test_tree_terminals_and_the_path_weighted_vote_hand_case():
    """Root -> A (log p -0.1) -> "= 5" (log p 0); root -> B (-1) -> two terminals "= 7" (-2 each)."""
    node = lambda parent, step, logp, reward=None, terminal=False: {  # noqa: E731
        "parent": parent, "step": step, "terminal": terminal, "logp": logp, **({"reward": reward} if terminal else {})}
    nodes = [{"parent": None, "step": "", "terminal": False}, node(0, "A", -0.1), node(1, "\\boxed{5}", 0.0, 0.8, True),
             node(0, "B", -1.0), node(3, "\\boxed{7}", -2.0, 0.8, True), node(3, "so \\boxed{7}", -2.0, 0.8, True)]
    terms = ev.tree_terminals(nodes)
    assert [(a, v) for a, v, _ in terms] == [("5", 0.8), ("7", 0.8), ("7", 0.8)]
    assert [lp for _, _, lp in terms] == pytest.approx([-0.1, -3.0, -3.0])
    assert ev.majority_vote([a for a, _, _ in terms], [ev.vote_weight(v) for _, v, _ in terms]) == "7"  # two terminals
    # 0.9 e^-0.1 = 0.814 for 5 against 2 * 0.9 e^-3 = 0.090 for 7: the likely path wins
    assert ev.path_weighted_vote(terms) == "5"
    assert ev.path_weighted_vote([("5", -1.0, -0.1), ("7", 0.8, -3.0)]) == "7"  # a zero-valued path has no vote
    assert ev.path_weighted_vote([("5", 0.8, -2000.0), ("7", 0.8, -2001.0)]) == "5" and ev.path_weighted_vote([]) is None


def test_split_steps():
    assert ev.split_steps("1+1=2\n\n2*3=6. \\boxed{6}") == ["1+1=2", "2*3=6. \\boxed{6}"]
    assert ev.split_steps("a\n\n\n\nb\n\n") == ["a", "b"]
    assert ev.split_steps("") == [""]


def test_select_beams_top_width_distinct():
    values = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7, "e": 0.7}
    cands = [{"text": t, "value": v} for t, v in values.items()] + [{"text": "b", "value": 0.9}]
    assert [c["text"] for c in ev.select_beams(cands, 2)] == ["b", "d"]
    assert [c["text"] for c in ev.select_beams(cands, 3)] == ["b", "d", "e"]  # tie 0.7: d came first
    assert len(ev.select_beams(cands, 10)) == 5  # the duplicate 'b' counts once


# ----------------------------------------------------------------------------- beam search on mocks

P = "Q: x?\nA:\n"
CHILDREN = {"": ["a", "b", "c", "d"], "b": ["b1", "b2 \\boxed{2}"], "d": ["d1", "d2"],
            "d1": ["d1x \\boxed{5}", "d1y \\boxed{7}"]}
VALUES = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7, "b1": 0.2, "b2 \\boxed{2}": 0.95, "d1": 0.8, "d2": 0.3,
          "d1x \\boxed{5}": 0.6, "d1y \\boxed{7}": 0.99}


class MockBackend:
    """Children are fixed by the last step of the prompt; records what it was asked to expand."""

    def __init__(self):
        self.calls = []

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=16, stop=None, seeds=None, progress=False):
        self.calls.append(list(prompts))
        out = []
        for p in prompts:
            last = p[len(P):].rstrip("\n").split("\n\n")[-1]
            kids = CHILDREN[last]
            assert len(kids) == n
            out.append([{"text": k, "tokens": 3, "logp": -1.0, "finish": "stop"} for k in kids])
        return out


def mock_scorer(texts):
    return [VALUES[t[len(P):].split("\n\n")[-1]] for t in texts]


def test_beam_search_keeps_top_width_by_value():
    backend = MockBackend()
    args = Namespace(step_delim="\n\n", max_depth=8, beam_children=2, temperature=1.0, max_step_tokens=16)
    rows = ev.run_beam(backend, mock_scorer, [{"id": "p", "answer": "7"}], [P], args, seed=0, width=2)
    # depth 0: the root gets C x width = 4 samples; a(0.1) b(0.9) c(0.5) d(0.7) -> keep b, d
    assert backend.calls[0] == [P]
    assert backend.calls[1] == [P + "b\n\n", P + "d\n\n"]
    # depth 1: b1 .2, b2 .95 (finished), d1 .8, d2 .3 -> keep b2 (finished, keeps its slot) and d1
    assert backend.calls[2] == [P + "d\n\nd1\n\n"]
    # depth 2: b2 .95, d1x .6, d1y .99 -> keep d1y and b2: all finished, the search stops
    assert len(backend.calls) == 3
    assert rows[0]["pred"] == "7" and rows[0]["correct"] and rows[0]["value"] == 0.99
    assert rows[0]["tokens"] == 3 * (4 + 4 + 2)  # every sampled step counts


# ----------------------------------------------------------------------------- PPM values on a real tiny model


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """A tiny random policy and a PPM made from it (random head), both HF directories."""
    import train_ppm
    import train_sft
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    tok = train_sft.build_char_tokenizer()
    train_sft.build_tiny_model(tok, hidden=32, layers=2, heads=2).save_pretrained(d / "policy")
    tok.save_pretrained(d / "policy")
    for name in ("ppm", "ppm2"):  # two PPMs with different heads
        ppm, _ = train_ppm.build_model(str(d / "policy"), False)
        with torch.no_grad():
            ppm.score.weight.normal_(0, 0.5)
        ppm.save_pretrained(d / name)
        tok.save_pretrained(d / name)
    return d / "policy", d / "ppm"


def test_step_values_one_pass_equals_prefix_scores(tiny_dirs):
    scorer = PPMScorer(str(tiny_dirs[1]), device=torch.device("cpu"), dtype=torch.float32, batch_size=2)
    texts = ["1+2=3\n\n3*2=6. The answer is \\boxed{6}.", "1+2=4\n\n4*2=8\n\n8-1=7 \\boxed{7}", "\\boxed{1}",
             "1+2=3\n\n3*2=6. The answer is \\boxed{6}."]
    got = ev.step_values(scorer, [(P, t) for t in texts])
    for t, vals in zip(texts, got):
        steps = ev.split_steps(t)
        want = scorer([ev.trajectory_text(P, steps[:i + 1]) for i in range(len(steps))])
        assert len(vals) == len(steps) and vals == pytest.approx(want, abs=1e-5)
    assert ev.trajectory_text(P, ev.split_steps(texts[1])) == P + texts[1]  # the last prefix is the whole solution


def test_summary_markdown_and_plot(tmp_path):
    problems = [{"id": "a", "answer": "1", "difficulty": 2}, {"id": "b", "answer": "2", "difficulty": 3}]
    res = {"greedy": [{"correct": True, "tokens": 5}, {"correct": False, "tokens": 7}],
           "sample": [{"preds": ["1", "3"], "correct": [True, False], "tokens": [4, 6]},
                      {"preds": ["5", "2"], "correct": [False, True], "tokens": [5, 5]}],
           "bon": {"bt": [[[0.1], [0.5]], [[-0.2], [0.9]]]}}
    sc = ev.score_rows(problems, res, 2)
    assert [s for _, s, _ in sc["bon-last:bt@2"]] == [0.0, 1.0]  # picks '3' (0.5) then '2' (0.9)
    assert [s for _, s, _ in sc["maj@1"]] == [1.0, 0.0] and [t for _, _, t in sc["maj@2"]] == [10, 10]
    summary = report.summarize([sc, sc], {"sample": {0: 2.0, 1: 4.0}, "bon:bt": {0: 1.0, 1: 1.0}})
    assert summary["bon-vote:bt@2"]["seconds"] == pytest.approx(4.0) and summary["maj@2"]["seconds"] == 3.0
    assert summary["greedy"]["acc"] == 0.5 and summary["greedy"]["acc_std"] == 0.0
    assert "| m | bon-min:bt@2 |" in report.markdown(summary, "m")
    pytest.importorskip("matplotlib")
    report.plot(summary, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").stat().st_size > 5000


def test_evaluate_end_to_end_all_methods(tiny_dirs, tmp_path):
    policy, ppm = tiny_dirs
    write_jsonl(tmp_path / "test.jsonl", [{"id": f"t{i}", "question": f"Ann has {i} pens. How many?", "answer": str(i),
                                           "difficulty": 2 + i % 2, "ops": 1} for i in range(3)])
    cmd = [sys.executable, str(ROOT / "evaluate.py"), "--model", str(policy), "--data", str(tmp_path / "test.jsonl"),
           "--out-dir", str(tmp_path / "ev"), "--methods", "greedy,sample,bon,beam,mcts", "--ppm", f"bt={ppm},b2={ppm.parent / 'ppm2'}",
           "--n", "2", "--max-tokens", "12", "--max-step-tokens", "6", "--max-depth", "2", "--beam-width", "1,2",
           "--beam-children", "2", "--mcts-rollouts", "2", "--mcts-children", "2", "--seed", "0,1", "--no-plot"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())["methods"]
    for name in ["greedy", "maj@2", "pass@2", "bon-last:bt@2", "bon-min:bt@1", "bon-vote:bt@2", "beam:bt@1", "beam:bt@2",
                 "mcts:bt@2", "mcts-vote:bt@2", "mcts-pvote:bt@2"]:
        assert name in summary and summary[name]["seeds"] == 2 and summary[name]["tokens"] > 0, name
    # every method runs with every PPM, each with its own scores
    records = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert "bon-last:b2@2" in summary and all(set(r["bon"]) == {"bt", "b2"} for r in records)
    assert all(r["bon"]["bt"] != r["bon"]["b2"] for r in records)  # two PPMs, two sets of step values
    assert {"beam:b2@1", "mcts:b2@2", "mcts-vote:b2@2"} <= set(summary)
    # the PPM-guided MCTS never saw the gold: its problems file carries a placeholder
    blind = [json.loads(x) for x in (tmp_path / "ev" / "mcts" / "problems.jsonl").read_text().splitlines()]
    assert {b["answer"] for b in blind} == {"?"} and {b["ops"] for b in blind} == {1}  # ops: read exactly
    preds = (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 6  # 3 problems x 2 seeds
