"""benchmarks/rel_oracle_search.py: the relations oracle as the search's PPM, on hand-built paths."""
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import rel_oracle_search  # noqa: E402
import reltask as R  # noqa: E402


def two_problems():
    rng, out = random.Random(5), []
    while len(out) < 2:
        p = R.make_problem(rng, 2, "one", 1, 6, 24)
        if p:
            out.append(p)
    return out


def test_oracle_scores_each_path_by_its_decisions():
    (p, q), delim = two_problems(), "\n\n"
    prompts = [(f"Q: {R.question_text(x)}\nA: ", R.question_text(x)) for x in (p, q)]
    scorer = rel_oracle_search.OracleScorer(prompts, delim)
    plan, first, second = R.text_solution(p).split(delim)
    pre = prompts[0][0]
    vals = R.values_of(p)
    wrong_first = first.replace(f"={vals[R.gold_order(p)[0]]}", f"={vals[R.gold_order(p)[0]] + 1}")
    assert scorer([pre + plan, pre + plan + delim + first, pre + plan + delim + first + delim + second]) == [1.0] * 3
    assert scorer([pre + plan + delim + wrong_first]) == [-1.0]   # a false value for the right quantity
    assert scorer([pre + "Zed <- Kim"]) == [-1.0]                     # a plan naming the wrong chain
    other_plan = R.text_solution(q).split(delim)[0]
    assert scorer([prompts[1][0] + other_plan]) == [1.0]           # each text judged against its own question
    assert other_plan != plan and scorer([pre + other_plan]) == [-1.0]  # another problem's right plan is wrong here
    with pytest.raises(ValueError, match="no problem's prompt"):
        scorer(["Q: something else"])


def test_oracle_search_needs_the_ppm_slot_free():
    with pytest.raises(SystemExit, match="PPM's place"):
        rel_oracle_search.main(["--policy", "p", "--data", "d", "--out", "o"])
    with pytest.raises(SystemExit, match="PPM's place"):
        rel_oracle_search.main(["--policy", "p", "--data", "d", "--out", "o", "--ppm-prior", "--ppm", "x"])
