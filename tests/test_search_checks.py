"""mcts.py's checks on a relations problem: --check-equations drops a step that reads a value its names do
not hold (reltask.bookkeeping_ok, per step, given the path so far); --verified-terminals grades a right answer
on a path that fails the training filter (grader.steps_verified) as wrong, so --stop-after counts only
verified terminals. Hand-built trees and a table-driven mock policy."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcts  # noqa: E402
import searchtree  # noqa: E402
from test_mcts import DELIM, MockPolicy, cfg  # noqa: E402 (tests/, on the path under pytest)

Q = ("Ben has twice as many books as Zoe. Sue has 4 fewer books than Zoe. Zoe has 11 books. Tom has 5 fewer "
     "books than Ben. How many more books does Tom have than Sue?")
PLAN, BEN, TOM, SUE = "Tom <- Ben <- Zoe, Sue <- Zoe", "Ben = Zoe*2: 11*2=22", "Tom = Ben-5: 22-5=17", "Sue = Zoe-4: 11-4=7"
ANSWER = "Difference = Tom-Sue: 17-7=10. The answer is \\boxed{10}."
# Ben computed on a wrong relation (a decision, not a checker's business), then the gold's last step: Tom is 16
# on this path, so the last step reads a value Tom does not hold, and lands on the right answer
WRONG_BEN, WRONG_TOM = "Ben = Zoe-3: 11-3=8", "Tom = Ben*2: 8*2=16"


def relations_problem(ops=4):
    return {"id": "r", "question": Q, "answer": "10", "ops": ops, "prompt": "Q" + DELIM}


def step(text):
    return {"text": text, "tokens": len(text), "logp": -0.1, "finish": "stop"}


def job_path(tree, steps):
    """Add `steps` as a chain of children below the root; the node path [0, ...] to the last one."""
    path = [0]
    for s in steps:
        child = searchtree.Node(path[-1], s, len(path), None, len(s))
        path.append(tree.add(child))
    return path


def test_check_equations_drops_a_step_that_reads_a_value_its_name_does_not_hold():
    s = mcts.Search(MockPolicy({}), cfg("--check-equations"))
    t = searchtree.Tree(relations_problem(), "Q" + DELIM)
    path = job_path(t, [PLAN, WRONG_BEN, WRONG_TOM, SUE])
    oks = s.check([(t, path)], [[step(ANSWER), step("Difference = Tom-Sue: 16-7=9. The answer is \\boxed{9}."),
                                 step("Difference = Tom-Sue: 16-7=8. The answer is \\boxed{8}.")]])
    assert oks == [[False, True, False]]  # reads Tom as 17 / true and consistent / a false equation
    gold_path = job_path(t, [PLAN, BEN, TOM, SUE])
    assert s.check([(t, gold_path)], [[step(ANSWER)]]) == [[True]]
    chain = {"id": "c", "question": "Start with 3.", "answer": "5", "ops": 1, "prompt": "Q" + DELIM}
    tc = searchtree.Tree(chain, "Q" + DELIM)  # not a relations question: only the arithmetic is read
    assert s.check([(tc, [0])], [[step("3+2=5"), step("3+2=6")]]) == [[True, False]]
    assert mcts.Search(MockPolicy({}), cfg()).check([(t, path)], [[step(ANSWER)]]) == [None]  # no check


def test_verified_terminals_grade_a_lucky_right_answer_as_wrong():
    """Without the flag the lucky path scores +1 and counts; with it -1, not correct, not counted. A path that
    skips an operation (3 equations where the problem has 4) is not verified either; the gold path is."""
    for flags, reward in (((), 1.0), (("--verified-terminals",), -1.0)):
        t = searchtree.Tree(relations_problem(), "Q" + DELIM)
        path = job_path(t, [PLAN, WRONG_BEN, WRONG_TOM, SUE])
        new, hits = searchtree.expand(t, path[-1], [step(ANSWER)], cfg(*flags), None, "10")
        assert hits == new and t.nodes[new[0]].reward == reward and t.n_correct == (reward > 0)
    t = searchtree.Tree(relations_problem(), "Q" + DELIM)
    new, _ = searchtree.expand(t, job_path(t, [PLAN, BEN, TOM, SUE])[-1], [step(ANSWER)], cfg("--verified-terminals"), None, "10")
    assert t.nodes[new[0]].reward == 1.0 and t.nodes[new[0]].correct and t.n_correct == 1
    t = searchtree.Tree(relations_problem(ops=5), "Q" + DELIM)
    new, _ = searchtree.expand(t, job_path(t, [PLAN, BEN, TOM, SUE])[-1], [step(ANSWER)], cfg("--verified-terminals"), None, "10")
    assert t.nodes[new[0]].reward == -1.0 and t.n_correct == 0


def correct_paths(rec):
    """The step texts of every terminal a record marks correct."""
    nodes = rec["nodes"]
    return [[nodes[j]["step"] for j in searchtree.record_path(nodes, i)] for i, n in enumerate(nodes) if n.get("correct")]


def test_stop_after_counts_verified_terminals_only():
    """Every path reaches the right answer, most of them luckily: --stop-after 1 stops the plain search at a
    lucky terminal; with --verified-terminals the lucky terminals score -1 and the tree goes on to a verified one."""
    table = {(): [(PLAN, 1.0)], (PLAN,): [(WRONG_BEN, .8), (BEN, .2)], (PLAN, WRONG_BEN): [(WRONG_TOM, 1.0)],
             (PLAN, BEN): [(TOM, 1.0)], 3: [(SUE, 1.0)], 4: [(ANSWER, 1.0)]}
    argv = ["--children", "2", "--rollouts", "16", "--stop-after", "1", "--max-depth", "8", "--seed", "2"]
    plain = list(mcts.Search(MockPolicy(table), cfg(*argv)).run([relations_problem()]))[0]
    strict = list(mcts.Search(MockPolicy(table), cfg(*argv, "--verified-terminals")).run([relations_problem()]))[0]
    assert correct_paths(plain) == [[PLAN, WRONG_BEN, WRONG_TOM, SUE, ANSWER]] and plain["stats"]["correct"] == 1
    assert correct_paths(strict) == [[PLAN, BEN, TOM, SUE, ANSWER]] and strict["stats"]["correct"] == 1
    lucky = [n for n in strict["nodes"] if n["terminal"] and n.get("reward") == -1.0]
    assert lucky and strict["stats"]["rollouts"] > plain["stats"]["rollouts"]
