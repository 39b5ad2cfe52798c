"""mcts.py: selection rules, backup, state merge, adaptive width, code filtering, stop-after-k, Q
convergence (a deterministic mock policy); same seed / shards / SIGKILL resume (a real tiny model)."""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcts  # noqa: E402
import searchtree  # noqa: E402
from common import load_jsonl, save_checkpoint, stable_seed, write_jsonl  # noqa: E402
from train_sft import build_char_tokenizer, build_tiny_model  # noqa: E402
from treecmp import same_trees  # noqa: E402 (tests/, on the path under pytest)

DELIM = "\n\n"


class MockPolicy:
    """engine.HFBackend's generate() over a fixed table: steps so far (tuple, or their count) ->
    [(step, probability)]. Draws from stable_seed(seed, j), so it is deterministic per row."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        self.calls.append(list(prompts))
        out = []
        for p, s in zip(prompts, seeds):
            key = tuple(p.split(DELIM)[1:-1])  # the prompts of these tests end with the delimiter
            opts = self.table.get(key) or self.table.get(len(key)) or [("\\boxed{0}", 1.0)]
            row = []
            for j in range(n):
                u, acc = random.Random(stable_seed(s, j)).random(), 0.0
                for step, pr in opts:
                    acc += pr
                    if u < acc:
                        break
                row.append({"text": step, "tokens": len(step), "logp": math.log(pr), "finish": "stop"})
            out.append(row)
        return out


def cfg(*argv):
    return mcts.get_parser().parse_args(list(argv))


def problem(pid="p", answer="1"):
    return {"id": pid, "question": "q", "answer": answer, "prompt": "Q" + DELIM}


def search(table, *argv, problems=None, scorer=None):
    s = mcts.Search(MockPolicy(table), cfg(*argv), scorer)
    recs = list(s.run(problems or [problem()]))
    return (recs[0] if len(recs) == 1 else recs), s


TWO_LEVEL = {(): [("A", .5), ("B", .5)], ("A",): [("\\boxed{1}", .8), ("\\boxed{0}", .2)],
             ("B",): [("\\boxed{1}", .3), ("\\boxed{0}", .7)]}


def hand_tree(kids):
    """A root (N = sum of kids' N) with children given as (N, Q, prior)."""
    t = searchtree.Tree(problem(), "Q" + DELIM)
    for n, q, p in kids:
        k = searchtree.Node(0, f"s{len(t.nodes)}", 1, p)
        k.N, k.Q = n, q
        t.add(k)
    t.nodes[0].N, t.nodes[0].samples = sum(k[0] for k in kids), len(kids)
    return t


# ----------------------------------------------------------------------------- selection and backup


def test_uct_and_puct_scores_and_choices_by_hand():
    # UCT: Q + c sqrt(ln N_p / (1 + N)); PUCT: Q + c P sqrt(N_p) / (1 + N)
    assert searchtree.uct_score(0.5, 5, 10, 2.0) == pytest.approx(0.5 + 2 * math.sqrt(math.log(10) / 6))
    assert searchtree.puct_score(0.5, 5, 10, 0.9, 1.25) == pytest.approx(0.5 + 1.25 * 0.9 * math.sqrt(10) / 6)
    t = hand_tree([(5, 0.5, 0.9), (1, 0.1, 0.1), (4, 0.2, 0.5)])
    # UCT, c=2: 1.739, 2.246, 1.557 -> child 2;  PUCT, c=1.25: 1.093, 0.298, 0.594 -> child 1
    assert searchtree.select_child(t, t.nodes[0], "uct", 2.0) == 2
    assert searchtree.select_child(t, t.nodes[0], "puct", 1.25) == 1
    assert searchtree.select_child(t, t.nodes[0], "uct", 0.0) == 1  # c = 0: greedy on Q


def test_unvisited_first_terminal_skipped_and_virtual_loss():
    t = hand_tree([(3, 0.9, 0.9), (0, 0.0, 0.2), (0, 0.0, 0.7)])
    assert searchtree.select_child(t, t.nodes[0], "uct") == 2  # the first unvisited
    assert searchtree.select_child(t, t.nodes[0], "puct") == 3  # the unvisited with the highest prior
    t.nodes[2].terminal = True
    assert searchtree.select_child(t, t.nodes[0], "uct") == 3
    t = hand_tree([(2, 0.5, 0.5), (2, 0.4, 0.5)])
    assert searchtree.select_child(t, t.nodes[0], "uct") == 1
    t.nodes[1].vloss = 1  # a pending visit counts as -1: Q_eff = (2 * 0.5 - 1) / 3 = 0
    assert searchtree.select_child(t, t.nodes[0], "uct") == 2


def test_backup_gives_exact_counts_and_running_means():
    t = hand_tree([(0, 0.0, None)])
    t.add(searchtree.Node(1, "x", 2))
    searchtree.backup(t, [0, 1, 2], 1.0)
    searchtree.backup(t, [0, 1], -1.0)
    searchtree.backup(t, [0, 1, 2], 0.5)
    assert [n.N for n in t.nodes] == [3, 3, 2]
    assert [n.Q for n in t.nodes] == pytest.approx([0.5 / 3, 0.5 / 3, 0.75])


def test_virtual_loss_sends_leaves_of_one_tree_to_different_nodes():
    table = {0: [("a", .25), ("b", .25), ("c", .25), ("d", .25)], 1: [("\\boxed{1}", 1.0)]}
    _, s = search(table, "--children", "8", "--rollouts", "4", "--leaves-per-tick", "3")
    tick2 = s.policy.calls[1]  # tick 1 expands the root only; then three rollouts go to three children
    assert len(set(tick2)) == 3 and len(tick2) == 24


# ----------------------------------------------------------------------------- expansion features


def test_same_trees_ignores_order_and_logp_noise_only():
    def rec(i, logp, step="a"):
        return {"id": i, "nodes": [{"step": "", "parent": None}, {"step": step, "parent": 0, "logp": logp}]}
    a = [rec(1, -1.0), rec(2, None)]
    assert searchtree.same_trees(a, [rec(2, None), rec(1, -1.00005)])  # written in another order, logp to 1e-4
    assert not searchtree.same_trees(a, [rec(1, -1.001), rec(2, None)])
    assert not searchtree.same_trees(a, [rec(1, -1.0, "b"), rec(2, None)])
    assert not searchtree.same_trees(a, [rec(1, -1.0), rec(2, -1.0)])  # a logp where the other has none
    assert a[0]["nodes"][1]["logp"] == -1.0  # the records are not changed


def test_state_merge_of_near_duplicates():
    assert searchtree.edit_distance("kitten", "sitting") == 3
    steps = ["x = 3 + 4", "x = 3 + 4 ", "x = 3 + 5", "y = 10 * 2"]
    assert searchtree.merge_duplicates(steps, 0.0) == [0, 0, 2, 3]
    assert searchtree.merge_duplicates(steps, 0.2) == [0, 0, 0, 3]
    assert searchtree.merge_duplicates(steps, 0.2, keys=[1, 1, 2, 3]) == [0, 0, 2, 3]
    table = {0: [("7+3=10 so far", .5), ("7+3=10 so far!", .5)], 1: [("\\boxed{1}", 1.0)]}
    near, _ = search(table, "--children", "6", "--rollouts", "1", "--merge-threshold", "0.1")
    exact, _ = search(table, "--children", "6", "--rollouts", "1")
    kids = lambda r: [n for n in r["nodes"] if n["depth"] == 1]  # noqa: E731
    assert len(kids(near)) == 1 and kids(near)[0]["merged"] == 5
    assert len(kids(exact)) == 2


def test_adaptive_width_from_the_spread_of_values(monkeypatch):
    assert searchtree.adaptive_width([], 2, 8, 4.0) == 2
    assert searchtree.adaptive_width([0.5, 0.5], 2, 8, 4.0) == 2
    assert searchtree.adaptive_width([1.0, -1.0], 2, 8, 4.0) == 5  # I = 1: floor(4) + 1
    assert searchtree.adaptive_width([1.0, -1.0], 2, 4, 4.0) == 4
    # the root's first two samples give a good and a bad step: the spread widens the root
    table = {(): [("A", .5), ("B", .5)], ("A",): [("\\boxed{1}", 1.0)], ("B",): [("\\boxed{0}", 1.0)]}
    monkeypatch.setattr(mcts, "WIDTH_MIN", (2, 2))  # c_min and c_max at the root and deeper
    monkeypatch.setattr(mcts, "WIDTH_MAX", (8, 8))
    args = ["--rollouts", "6", "--seed", "1"]  # draws A, B
    wide, _ = search(table, *args, "--adaptive-width")
    fixed, _ = search(table, *args, "--children", "2")
    drawn = lambda r: sum(1 + n.get("merged", 0) for n in r["nodes"] if n["depth"] == 1)  # noqa: E731
    assert drawn(fixed) == 2 and drawn(wide) == 5  # Q spread I = 1 -> n(root) = floor(4 * 1) + 1


def test_code_steps_run_cumulatively_and_failures_are_dropped():
    table = {0: [("# start\nx = 2", .5), ("# typo\nx = y + 1", .5)],
             1: [("# add\nx = x + 3\nprint(x)\n\\boxed{5}", .5), ("# bad\nx = x / 0\nprint(x)\n\\boxed{9}", .5)]}
    code, _ = search(table, "--children", "6", "--rollouts", "2", "--format", "code", problems=[problem(answer="5")])
    text, _ = search(table, "--children", "6", "--rollouts", "2", problems=[problem(answer="5")])
    steps = [n["step"] for n in code["nodes"][1:]]
    assert steps == ["# start\nx = 2", "# add\nx = x + 3\nprint(x)\n\\boxed{5}"]
    assert code["nodes"][2]["correct"] is True
    assert any("x = y + 1" in n["step"] for n in text["nodes"]) and any("/ 0" in n["step"] for n in text["nodes"])


def test_a_builtin_code_step_must_box_the_printed_value_of_what_is_asked():
    """On a built-in problem (it carries "ops") a boxed answer that the code did not print, or printed under
    another quantity's variable, fails like code that does not run."""
    q = "Ann has 3 more pens than Tom. Tom has 7 pens. How many pens does Ann have?"
    rel = dict(problem(answer="10"), question=q, ops=1)
    right, asserted, renamed = ("ann = 7 + 3\nprint(ann)\n\\boxed{10}", "ann = 7 + 2\nprint(ann)\n\\boxed{10}",
                                "ann = 7 + 3\ntom = ann\nprint(tom)\n\\boxed{10}")
    table = {0: [(right, 1 / 3), (asserted, 1 / 3), (renamed, 1 / 3)]}
    code, _ = search(table, "--children", "6", "--rollouts", "1", "--format", "code", problems=[rel])
    assert [n["step"] for n in code["nodes"][1:]] == [right]
    real, _ = search(table, "--children", "6", "--rollouts", "1", "--format", "code", problems=[problem(answer="10")])
    assert len(real["nodes"]) == 4  # real data (no "ops"): code that runs is kept


def test_a_printing_code_step_gets_its_output_appended():
    table = {0: [("# start\nx = 2 + 3\nprint(x)\n# output: 9", 1.0)], 1: [("The answer is \\boxed{5}.", 1.0)]}
    code, _ = search(table, "--children", "2", "--rollouts", "1", "--format", "code", problems=[problem(answer="5")])
    assert code["nodes"][1]["step"] == "# start\nx = 2 + 3\nprint(x)\n# output: 5"  # the model's guess replaced
    assert code["nodes"][2]["correct"] is True


def test_check_equations_drops_steps_with_false_arithmetic():
    table = {0: [("2+3=5", .5), ("2+3=6", .5)], 1: [("5*2=10. The answer is \\boxed{10}.", .5),
                                                  ("5*2=12. The answer is \\boxed{10}.", .5)]}
    checked, _ = search(table, "--children", "8", "--rollouts", "2", "--check-equations", problems=[problem(answer="10")])
    plain, _ = search(table, "--children", "8", "--rollouts", "2", problems=[problem(answer="10")])
    assert [n["step"] for n in checked["nodes"][1:]] == ["2+3=5", "5*2=10. The answer is \\boxed{10}."]
    assert {"2+3=6", "5*2=12. The answer is \\boxed{10}."} <= {n["step"] for n in plain["nodes"]}


def test_check_equations_reads_real_text_with_stepcheck_and_builtin_steps_exactly():
    """A problem without "ops" (real data) is checked by stepcheck: several terms read whole, a false result
    still dropped; a built-in problem (with "ops") keeps the exact one-equation reading."""
    table = {0: [("110 - 60 - 15 = 35 left", .5), ("110 - 60 - 15 = 36 left", .5)],
             1: [("The answer is \\boxed{35}.", 1.0)]}
    real, _ = search(table, "--children", "8", "--rollouts", "2", "--check-equations", problems=[problem(answer="35")])
    assert [n["step"] for n in real["nodes"][1:3]] == ["110 - 60 - 15 = 35 left", "The answer is \\boxed{35}."]
    assert real["stats"]["correct"] == 1
    builtin, _ = search(table, "--children", "8", "--rollouts", "2", "--check-equations", "--resample", "0",
                        problems=[{**problem(answer="35"), "ops": 2}])
    assert len(builtin["nodes"]) == 1 and builtin["nodes"][0]["dead_end"]  # read as 60 - 15 = 35: both dropped


def test_a_node_whose_samples_all_fail_is_resampled_before_it_dead_ends():
    t = searchtree.Tree(problem(answer="5"), "Q" + DELIM)
    bad = [{"text": "2+3=6", "tokens": 3, "logp": 0.0, "finish": "stop"}] * 2
    c = cfg("--resample", "2")
    for tries in (1, 2):  # tries 1 and 2 fail: the root stays open, nothing is backed up
        assert searchtree.expand(t, 0, bad, c, [False, False], "5") == ([], [])
        assert not t.nodes[0].terminal and searchtree.needs_expansion(t, t.nodes[0])
    assert searchtree.expand(t, 0, bad, c, [False, False], "5") == ([], [0])  # 1 + 2 tries: a dead end
    assert t.nodes[0].terminal and t.nodes[0].dead and t.nodes[0].reward == -1.0 and t.nodes[0].samples == 6
    assert t.nodes[0].to_json()["dead_end"] is True


def test_a_child_records_the_policys_summed_log_prob_of_its_step():
    t = searchtree.Tree(problem(), "Q" + DELIM)
    searchtree.expand(t, 0, [{"text": "2+3=5", "tokens": 4, "logp": -0.25, "finish": "stop"}], cfg())  # mean over 4 tokens
    assert t.nodes[1].logp == -1.0 and t.nodes[1].to_json()["logp"] == -1.0 and "logp" not in t.nodes[0].to_json()


def test_a_new_sample_of_a_dead_end_step_merges_into_it():
    t = searchtree.Tree(problem(), "Q" + DELIM)
    searchtree.expand(t, 0, [{"text": "a", "tokens": 1, "logp": 0.0, "finish": "stop"}], cfg())
    t.nodes[1].terminal = t.nodes[1].dead = True
    t.nodes[1].reward = -1.0
    new, hits = searchtree.expand(t, 0, [{"text": "a", "tokens": 1, "logp": 0.0, "finish": "stop"}], cfg())
    assert (new, hits, len(t.nodes), t.nodes[1].merged) == ([], [1], 2, 1)  # -1 backed up once more


def test_resampling_keeps_a_tree_alive_whose_first_samples_are_all_false():
    table = {0: [("2+3=6", .6), ("2+3=5", .4)], 1: [("\\boxed{5}", 1.0)]}
    runs = {r: search(table, "--children", "1", "--rollouts", "8", "--check-equations", "--resample", r,
                      problems=[problem(str(k), "5") for k in range(20)])[0] for r in ("0", "3")}
    solved = {r: sum(rec["stats"]["correct"] > 0 for rec in recs) for r, recs in runs.items()}
    dead_roots = {r: sum(bool(rec["nodes"][0].get("dead_end")) for rec in recs) for r, recs in runs.items()}
    # one try: a root dead-ends with p = 0.6; four tries: 0.6^4 = 0.13
    assert dead_roots["0"] == 20 - solved["0"] and dead_roots["0"] >= 7 and solved["3"] > solved["0"]
    assert solved["3"] + dead_roots["3"] == 20


class HotPolicy(MockPolicy):
    """Writes the false sum 2+3=6 below temperature 1.2 and the true one above; records each call's temperature."""

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        self.calls.append(temperature)
        step = "2+3=5. The answer is \\boxed{5}." if temperature > 1.2 else "2+3=6. The answer is \\boxed{6}."
        return [[{"text": step, "tokens": 3, "logp": 0.0, "finish": "stop"}] for _ in prompts]


def test_resample_heat_draws_a_failed_node_hotter_until_the_check_passes():
    assert [searchtree.resample_temperature(1.0, k, 0.5) for k in range(3)] == [1.0, 1.5, 2.0]
    assert searchtree.resample_temperature(0.7, 3, 0.0) == 0.7
    runs = {}
    for heat in ("0", "0.5"):
        s = mcts.Search(HotPolicy({}), cfg("--children", "2", "--rollouts", "3", "--check-equations", "--resample", "2",
                                           "--resample-heat", heat), None)
        runs[heat] = (list(s.run([problem(answer="5")]))[0], s.policy.calls)
    cold, hot = runs["0"], runs["0.5"]
    assert cold[1] == [1.0, 1.0, 1.0] and cold[0]["nodes"][0]["dead_end"] and cold[0]["stats"]["correct"] == 0
    assert hot[1][:2] == [1.0, 1.5] and hot[0]["stats"]["correct"] == 1  # the first resample, at 1.5, passes the check


class OperandPolicy(MockPolicy):
    """Below temperature 1.2 the first step is 2+2=4 (true, but the wrong operand; the answer is 5), above
    it 2+3=5; a second step boxes the first one's result."""

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        self.calls.append(temperature)
        out = []
        for p in prompts:
            steps = p.split(DELIM)[1:-1]
            text = ("2+3=5" if temperature > 1.2 else "2+2=4") if not steps else f"\\boxed{{{steps[0][-1]}}}"
            out.append([{"text": text, "tokens": 3, "logp": 0.0, "finish": "stop"}])
        return out


def test_failed_expansion_on_a_hand_built_node():
    t = hand_tree([(1, -1.0, None), (1, -1.0, None)])
    for k, r in ((1, -1.0), (2, -1.0)):
        t.nodes[k].terminal, t.nodes[k].reward = True, r
    root = t.nodes[0]
    assert not searchtree.failed_expansion(t, root, [], backtrack=False)  # children: not rStar's NO_VALID_CHILD
    assert searchtree.failed_expansion(t, root, [], backtrack=True)  # only repeats of wrong terminals
    assert not searchtree.failed_expansion(t, root, [3], backtrack=True)  # something new
    t.nodes[2].reward = 1.0
    assert not searchtree.failed_expansion(t, root, [], backtrack=True)  # a correct terminal child
    t.nodes[2].terminal = False
    assert not searchtree.failed_expansion(t, root, [], backtrack=True)  # an open child
    assert searchtree.failed_expansion(searchtree.Tree(problem(), "Q" + DELIM), searchtree.Node(), [])  # no child at all


def test_backtrack_reads_wrong_terminals_from_the_gold_only():
    """At test time (--no-gold) a terminal's reward is a PPM score, not a verdict: repeats of a low-scored
    terminal are no failed expansion there."""
    for flags, failed in (([], True), (["--no-gold"], False)):
        t = searchtree.Tree(problem(answer="5"), "Q" + DELIM)
        k = searchtree.Node(0, "\\boxed{4}", 1)
        k.terminal, k.reward = True, -0.5
        t.add(k)
        t.nodes[0].samples = 1
        same = [{"text": "\\boxed{4}", "tokens": 2, "logp": 0.0, "finish": "stop"}]
        searchtree.expand(t, 0, same, cfg("--resample", "3", *flags), None, None if flags else "5")
        assert (t.nodes[0].fails == 1) is failed


def test_backtrack_leaves_a_node_that_only_repeats_a_wrong_answer_and_resamples_its_parent():
    runs = {}
    for flag in ("--no-backtrack", "--backtrack"):
        s = mcts.Search(OperandPolicy({}), cfg("--children", "1", "--rollouts", "12", "--resample", "1",
                                               "--resample-heat", "0.5", flag), None)
        runs[flag == "--backtrack"] = list(s.run([problem(answer="5")]))[0]
    plain, back = runs[False], runs[True]
    # without: every rollout samples below 2+2=4 again, its boxed 4 merged 11 times; the root is never resampled
    assert plain["stats"]["correct"] == 0 and [n["step"] for n in plain["nodes"]] == ["", "2+2=4", "\\boxed{4}"]
    # with: 2+2=4 fails twice (1 + --resample) and dead-ends, the root's repeat of it fails once, the hotter
    # resample (1.5) writes 2+3=5
    assert back["stats"]["correct"] == 1 and back["nodes"][1]["dead_end"]
    assert [n["step"] for n in back["nodes"]] == ["", "2+2=4", "\\boxed{4}", "2+3=5", "\\boxed{5}"]


def test_stop_after_k_correct_terminals():
    table = {0: [("a", .5), ("b", .5)], 1: [(f"\\boxed{{{k % 2}}} v{k}", .125) for k in range(8)]}
    stopped, _ = search(table, "--children", "4", "--rollouts", "16", "--stop-after", "2")
    full, _ = search(table, "--children", "4", "--rollouts", "16")
    assert stopped["stats"]["correct"] >= 2 and stopped["stats"]["rollouts"] < 16
    assert full["stats"]["rollouts"] == 16 and full["stats"]["correct"] > stopped["stats"]["correct"]


def test_q_converges_to_success_probabilities():
    rec, _ = search(TWO_LEVEL, "--children", "8", "--rollouts", "300", "--c", "10")
    q = {n["step"]: n["Q"] for n in rec["nodes"] if n["depth"] == 1}
    assert abs((q["A"] + 1) / 2 - 0.8) < 0.05 and abs((q["B"] + 1) / 2 - 0.3) < 0.05
    # terminal-guided Q: N of a step = samples backed up through it, Q their mean
    a = next(i for i, n in enumerate(rec["nodes"]) if n["step"] == "A")
    kids = [n for n in rec["nodes"] if n["parent"] == a]
    assert sum(k["N"] for k in kids) == rec["nodes"][a]["N"]
    assert sum(k["N"] * k["reward"] for k in kids) / rec["nodes"][a]["N"] == pytest.approx(q["A"], abs=1e-5)


# ----------------------------------------------------------------------------- leaf evaluation, test time


def test_leaf_evaluation_modes_and_ppm_prior():
    stub = lambda texts: [0.5 if t.endswith("A") else -0.5 for t in texts]  # noqa: E731
    ppm, _ = search(TWO_LEVEL, "--children", "8", "--rollouts", "1", "--leaf-eval", "ppm", scorer=stub)
    kids = {n["step"]: n for n in ppm["nodes"] if n["depth"] == 1}
    assert kids["A"]["value"] == 0.5 and kids["A"]["N"] == 1 and ppm["nodes"][0]["N"] == 2
    assert ppm["nodes"][0]["Q"] == pytest.approx(0.0) and ppm["stats"]["ticks"] == 1
    prior, _ = search(TWO_LEVEL, "--children", "8", "--rollouts", "1", "--ppm-prior", scorer=stub)
    kids = {n["step"]: n for n in prior["nodes"] if n["depth"] == 1}
    assert kids["B"]["value"] == -0.5 and kids["B"]["Q"] == -0.5 and kids["B"]["N"] == 1
    assert prior["nodes"][0]["N"] == 8  # the seed is not propagated: only the 8 terminal samples under A
    assert sum(n["N"] for n in prior["nodes"] if n["parent"] == list(kids).index("A") + 1) == 8
    fast, _ = search(TWO_LEVEL, "--children", "8", "--rollouts", "1", "--leaf-eval", "rollout", "--fast-rollouts", "128")
    kids = {n["step"]: n for n in fast["nodes"] if n["depth"] == 1}
    assert abs((kids["A"]["value"] + 1) / 2 - 0.8) < 0.1 and abs((kids["B"]["value"] + 1) / 2 - 0.3) < 0.1


def test_no_gold_scores_terminals_with_the_ppm_and_never_reads_the_answer():
    stub = lambda texts: [0.25 if "boxed{1}" in t else -0.75 for t in texts]  # noqa: E731
    p = {"id": "p", "question": "q", "prompt": "Q" + DELIM}  # no gold at all
    rec, _ = search(TWO_LEVEL, "--children", "4", "--rollouts", "8", "--no-gold", "--stop-after", "1",
                    problems=[p], scorer=stub)
    terms = [n for n in rec["nodes"] if n["terminal"]]
    assert terms and all("correct" not in n for n in terms) and rec["stats"]["rollouts"] == 8
    assert {n["reward"] for n in terms} == {0.25, -0.75}
    best = max(terms, key=lambda n: n["reward"])  # what evaluate.py does: rStar's highest-scored terminal
    assert "\\boxed{1}" in best["step"] and "Q" in best and best["tokens"] > 0


def test_records_carry_what_pairs_need_and_window_does_not_change_trees():
    probs = [problem(f"p{i}") for i in range(5)]
    one, s1 = search(TWO_LEVEL, "--rollouts", "6", "--children", "3", "--window", "1", problems=probs)
    many, s5 = search(TWO_LEVEL, "--rollouts", "6", "--children", "3", "--window", "5", problems=probs)
    assert one == many and len(s5.policy.calls) < len(s1.policy.calls) / 3
    r = many[0]
    assert set(r) >= {"id", "question", "answer", "prompt", "nodes", "config", "stats"}
    for n in r["nodes"]:
        assert set(n) >= {"parent", "step", "depth", "N", "Q", "terminal", "tokens"}
        assert not n["terminal"] or ("reward" in n and "correct" in n)
    assert r["nodes"][0]["parent"] is None and all(n["parent"] < i for i, n in enumerate(r["nodes"]) if i)
    assert "leaf_eval" in r["config"] and "window" not in r["config"]


def test_pairs_py_reads_the_trees(tmp_path):
    table = {(): [("3+4=7", .5), ("3+4=8", .5)],
             ("3+4=7",): [("7*2=14. The answer is \\boxed{14}.", .7), ("7*2=15. The answer is \\boxed{15}.", .3)],
             ("3+4=8",): [("8*2=16. The answer is \\boxed{16}.", .8), ("8*2=14. The answer is \\boxed{14}.", .2)]}
    recs, _ = search(table, "--children", "4", "--rollouts", "12", problems=[problem(f"p{i}", "14") for i in range(3)])
    write_jsonl(tmp_path / "trees.jsonl", recs)
    subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--trees", str(tmp_path / "trees.jsonl"), "--out-dir",
                    str(tmp_path / "pairs"), "--ppm-min-edit", "1"], cwd=ROOT, check=True, capture_output=True)
    kinds = {r["kind"] for r in load_jsonl(tmp_path / "pairs" / "pairs.jsonl") + load_jsonl(tmp_path / "pairs" / "ppm_pairs.jsonl")}
    assert {"step", "complete", "depth", "ppm"} <= kinds
    assert all("boxed{14}" in r["completion"] for r in load_jsonl(tmp_path / "pairs" / "sft.jsonl"))


# ----------------------------------------------------------------------------- a real tiny model end to end


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared 2-core machine: extra threads only wait on each other
    d = tmp_path_factory.mktemp("mcts")
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    save_checkpoint(build_tiny_model(tok, hidden=32, layers=1, heads=2), tok, d / "policy", {})
    with open(d / "problems.jsonl", "w") as f:
        for i in range(14):
            f.write(json.dumps({"id": f"p{i:02d}", "question": f"Ann has {i} pens. How many?", "answer": str(i)}) + "\n")
    yield d
    torch.set_num_threads(threads)


def run_args(tiny, out, *extra):
    return ["--policy", str(tiny / "policy"), "--data", str(tiny / "problems.jsonl"), "--out", str(out),
            "--rollouts", "3", "--children", "3", "--max-depth", "3", "--max-step-tokens", "10", "--window", "3", *extra]


def test_same_seed_same_trees_and_two_shards_equal_one(tiny, tmp_path):
    mcts.main(run_args(tiny, tmp_path / "a.jsonl"))
    mcts.main(run_args(tiny, tmp_path / "b.jsonl", "--window", "5"))
    mcts.main(run_args(tiny, tmp_path / "c.jsonl", "--seed", "1"))
    a = (tmp_path / "a.jsonl").read_text()
    assert same_trees(a, (tmp_path / "b.jsonl").read_text()) and not same_trees(a, (tmp_path / "c.jsonl").read_text())
    assert [r["id"] for r in load_jsonl(tmp_path / "a.jsonl")] == [f"p{i:02d}" for i in range(14)]
    for i in range(2):
        mcts.main(run_args(tiny, tmp_path / "s.jsonl", "--shard", f"{i}/2"))
    mcts.main(["--out", str(tmp_path / "s.jsonl"), "--merge", "2"])
    assert same_trees((tmp_path / "s.jsonl").read_text(), a)
    searchtree.main([str(tmp_path / "a.jsonl"), str(tmp_path / "t.dot"), "--id", "p03"])
    dot = (tmp_path / "t.dot").read_text()
    assert dot.startswith("digraph") and dot.count("->") == len(load_jsonl(tmp_path / "a.jsonl")[3]["nodes"]) - 1


def test_resume_after_sigkill_equals_uninterrupted(tiny, tmp_path):
    mcts.main(run_args(tiny, tmp_path / "ref.jsonl", "--window", "2"))
    out = tmp_path / "killed.jsonl"
    cmd = [sys.executable, str(ROOT / "mcts.py"), *run_args(tiny, out, "--window", "2")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180  # a loaded machine may take long to import torch
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= out.read_text().count("\n") < 14, "the run must be killed part-way"
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    assert same_trees(out.read_text(), (tmp_path / "ref.jsonl").read_text())


def test_torchrun_two_ranks_equal_one_process(tiny, tmp_path):
    mcts.main(run_args(tiny, tmp_path / "one.jsonl"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(ROOT / "mcts.py"), *run_args(tiny, tmp_path / "two.jsonl")], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    assert same_trees((tmp_path / "two.jsonl").read_text(), (tmp_path / "one.jsonl").read_text())
