"""mcts.py --whole-after D: one step per node down to depth D, below it each child is the whole rest of the
solution (a terminal). 1 branches at the plan step and samples whole solutions under each plan; 0 is rejection
sampling inside the tree. Hand-built trees and the table-driven mock policy of test_mcts."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcts  # noqa: E402
import pairs  # noqa: E402
import searchtree  # noqa: E402
from test_mcts import DELIM, MockPolicy, cfg  # noqa: E402 (tests/, on the path under pytest)
from test_search_checks import (ANSWER, BEN, PLAN, SUE, TOM, WRONG_BEN, WRONG_TOM, correct_paths,  # noqa: E402
                                relations_problem, step)

GOLD_REST = DELIM.join([BEN, TOM, SUE, ANSWER])
LUCKY_REST = DELIM.join([WRONG_BEN, WRONG_TOM, SUE, ANSWER])  # reads Tom as 17 where the path computed 16
WRONG_PLAN = "Tom <- Ben <- Zoe"


class RecordingPolicy(MockPolicy):
    """The mock policy, remembering each call's stop and max_tokens."""

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        self.kwargs = getattr(self, "kwargs", []) + [(tuple(stop or ()), max_tokens)]
        return super().generate(prompts, n, temperature, max_tokens, stop, seeds, progress)


def test_split_steps_and_tree_steps_read_a_whole_child_as_its_steps():
    assert searchtree.split_steps(GOLD_REST, DELIM) == [BEN, TOM, SUE, ANSWER]
    assert searchtree.split_steps("A", DELIM) == ["A"] and searchtree.split_steps("A" + DELIM, DELIM) == ["A"]
    t = searchtree.Tree(relations_problem(), "Q" + DELIM)
    plan = t.add(searchtree.Node(0, PLAN, 1))
    leaf = t.add(searchtree.Node(plan, GOLD_REST, 2))
    assert t.steps(leaf) == [PLAN, BEN, TOM, SUE, ANSWER]
    assert t.context(leaf) == "Q" + DELIM + PLAN + DELIM + GOLD_REST + DELIM  # the same text as one step per node
    assert searchtree.path_verified(t, leaf)


def test_a_whole_child_is_a_terminal_checked_step_by_step():
    """Below the depth every candidate is a terminal (no answer: reward -1); --check-equations reads each of its
    steps given the path (the lucky rest fails bookkeeping at its last step)."""
    c = cfg("--whole-after", "1", "--max-depth", "16", "--check-equations")
    s = mcts.Search(MockPolicy({}), c)
    t = searchtree.Tree(relations_problem(), "Q" + DELIM)
    plan = t.add(searchtree.Node(0, PLAN, 1))
    cut = DELIM.join([BEN, TOM])  # ran out of tokens: no answer
    assert s.check([(t, [0, plan])], [[step(GOLD_REST), step(LUCKY_REST), step(cut)]]) == [[True, False, True]]
    new, hits = searchtree.expand(t, plan, [step(GOLD_REST), step(cut)], c, None, "10")
    assert [t.nodes[j].terminal for j in new] == [True, True] and hits == new
    assert [t.nodes[j].reward for j in new] == [1.0, -1.0] and t.n_correct == 1
    assert not searchtree.samples_whole(c, t.nodes[0]) and searchtree.samples_whole(c, t.nodes[plan])
    assert not searchtree.samples_whole(cfg(), t.nodes[plan])


def test_whole_after_one_branches_at_the_plan_and_samples_whole_solutions_under_it():
    """Root: --children plans, one step each (stop at the delimiter); under a plan: one whole solution per visit
    (no stop, the step limit times --max-depth). A plan whose children are all terminals is sampled again, so the
    search keeps drawing whole solutions under the plan UCT picks; the verified ones are all under the right plan."""
    table = {(): [(PLAN, .5), (WRONG_PLAN, .5)], (PLAN,): [(GOLD_REST, .6), (LUCKY_REST, .4)],
             (WRONG_PLAN,): [(DELIM.join([BEN, TOM, "The answer is \\boxed{17}."]), 1.0)]}
    policy = RecordingPolicy(table)
    argv = ["--whole-after", "1", "--children", "2", "--rollouts", "16", "--stop-after", "2", "--max-depth", "8",
            "--max-step-tokens", "20", "--check-equations", "--verified-terminals", "--seed", "1"]
    rec = list(mcts.Search(policy, cfg(*argv)).run([relations_problem()]))[0]
    nodes = rec["nodes"]
    assert {(n["depth"], n["terminal"]) for n in nodes[1:]} == {(1, False), (2, True)}
    assert sorted(n["step"] for n in nodes if n["depth"] == 1) == sorted([PLAN, WRONG_PLAN])
    assert correct_paths(rec) == [[PLAN, GOLD_REST]] and rec["stats"]["correct"] >= 1
    assert set(policy.kwargs) == {(("\n\n",), 20), ((), 160)}
    under_plan = [n for n in nodes if n["parent"] is not None and nodes[n["parent"]]["step"] == PLAN]
    assert len(under_plan) >= 1 and all(n["terminal"] for n in under_plan)
    kept = pairs.sft_records(pairs.TreeView(rec), "Q" + DELIM, 2, DELIM)  # the filter reads the whole child's steps
    assert [r["completion"] for r in kept] == [DELIM.join([PLAN, GOLD_REST])]


def test_whole_after_zero_is_rejection_sampling_in_a_tree():
    """Every child of the root is a whole solution, one per rollout (the root is sampled again while all its
    children are terminals), until --stop-after distinct correct ones or the rollouts run out."""
    table = {(): [(DELIM.join([PLAN, GOLD_REST]), .3), (DELIM.join([PLAN, BEN, TOM, "The answer is \\boxed{3}."]), .4),
                  (DELIM.join([PLAN, BEN, TOM, SUE, "Difference = Tom-Sue: 17-7=10. The answer is \\boxed{10}!"]), .3)]}
    argv = ["--whole-after", "0", "--children", "2", "--rollouts", "16", "--stop-after", "2", "--max-depth", "8",
            "--seed", "3"]
    rec = list(mcts.Search(MockPolicy(table), cfg(*argv)).run([relations_problem()]))[0]
    kids = rec["nodes"][1:]
    assert kids and all(n["parent"] == 0 and n["terminal"] for n in kids)
    assert rec["stats"]["correct"] == 2 and 1 < rec["stats"]["rollouts"] < 16
    assert rec["nodes"][0]["N"] == rec["stats"]["rollouts"]  # a rollout: one whole solution, backed up


def test_pairs_filter_reads_each_step_of_a_whole_child():
    """A lucky whole rest (right answer, a step reading Tom as 17 where its path computed 16) that a search
    without --verified-terminals marked correct is not SFT data; the gold rest is."""
    node = {"N": 1, "Q": 1.0, "terminal": True, "reward": 1.0, "correct": True}
    rec = {"id": "r", "question": relations_problem()["question"], "answer": "10", "ops": 4, "config": {"step_delim": DELIM},
           "nodes": [{"parent": None, "step": "", "N": 2, "Q": 1.0, "terminal": False},
                     {"parent": 0, "step": PLAN, "N": 2, "Q": 1.0, "terminal": False},
                     {**node, "parent": 1, "step": LUCKY_REST}, {**node, "parent": 1, "step": GOLD_REST}]}
    view = pairs.TreeView(rec)
    assert view.steps(2) == [PLAN, WRONG_BEN, WRONG_TOM, SUE, ANSWER]
    assert [r["completion"] for r in pairs.sft_records(view, "Q" + DELIM, 2, DELIM)] == [DELIM.join([PLAN, GOLD_REST])]


def test_a_whole_rest_that_fails_the_checks_is_a_wrong_terminal():
    """Under --whole-after the plan keeps a failed sample as a -1 terminal (its Q falls, it stays open): no
    failed expansion, no dead end; a one-step search drops such a step instead."""
    c = cfg("--whole-after", "1", "--check-equations")
    t = searchtree.Tree(relations_problem(), "Q" + DELIM)
    plan = t.add(searchtree.Node(0, PLAN, 1))
    new, hits = searchtree.expand(t, plan, [step(LUCKY_REST)], c, [False], "10")
    assert hits == new and t.nodes[new[0]].terminal and t.nodes[new[0]].reward == -1.0
    assert t.nodes[plan].fails == 0 and not t.nodes[plan].dead and t.n_correct == 0
    t2 = searchtree.Tree(relations_problem(), "Q" + DELIM)
    plan2 = t2.add(searchtree.Node(0, PLAN, 1))
    assert searchtree.expand(t2, plan2, [step(WRONG_BEN)], cfg("--check-equations"), [False], "10") == ([], [])
    assert t2.nodes[plan2].fails == 1
