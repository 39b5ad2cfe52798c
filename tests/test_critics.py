"""AlphaLLM's critics at a leaf (mcts.py --leaf-eval mix): the value function (--ppm), the PRM (--prm) and the
mean ORM (--orm) score of fast rollouts, weighted (searchtree.critic_score). Hand-computed values, stub critics
and the table-driven mock policy of test_mcts."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcts  # noqa: E402
import searchtree  # noqa: E402
from test_mcts import TWO_LEVEL, MockPolicy, cfg, problem  # noqa: E402 (tests/, on the path under pytest)


def test_critic_score_is_the_weighted_sum_of_the_critics_given():
    assert searchtree.critic_score(0.5, -0.2, 0.1) == pytest.approx(0.4)  # the paper's betas: 1, 1, 1
    assert searchtree.critic_score(0.5, -0.2, 0.1, (2.0, 0.0, 1.0)) == pytest.approx(1.1)
    assert searchtree.critic_score(0.5, None, 0.1) == pytest.approx(0.6)  # no PRM: left out
    assert searchtree.critic_score(None, -0.2, None, (1.0, 0.5, 1.0)) == pytest.approx(-0.1)


def value(texts):
    return [0.5 if t.endswith("A") else -0.5 for t in texts]


def prm(texts):
    return [0.25 for _ in texts]


def orm(texts):  # a perfect ORM for the gold "1"
    return [1.0 if "boxed{1}" in t else -1.0 for t in texts]


def children(*argv, **critics):
    s = mcts.Search(MockPolicy(TWO_LEVEL), cfg("--children", "8", "--rollouts", "1", *argv), critics.pop("value", None),
                    None, **critics)
    rec = list(s.run([problem()]))[0]
    return {n["step"]: n for n in rec["nodes"] if n["depth"] == 1}, rec


def test_mix_backs_up_value_plus_prm_plus_mean_orm_of_fast_rollouts():
    """A: value 0.5, PRM 0.25, the ORM's mean over 128 rollouts ~ 2 * 0.8 - 1; B: -0.5, 0.25, ~ 2 * 0.3 - 1. The
    rollouts are the seeded ones of --leaf-eval rollout (whose values a perfect ORM reproduces, below)."""
    kids, rec = children("--leaf-eval", "mix", "--fast-rollouts", "128", value=value, prm=prm, orm=orm)
    plain, _ = children("--leaf-eval", "rollout", "--fast-rollouts", "128")
    assert plain["A"]["value"] == pytest.approx(0.6, abs=0.15) and plain["B"]["value"] == pytest.approx(-0.4, abs=0.25)
    assert kids["A"]["value"] == pytest.approx(0.5 + 0.25 + plain["A"]["value"])
    assert kids["B"]["value"] == pytest.approx(-0.5 + 0.25 + plain["B"]["value"])
    assert kids["A"]["N"] == 1 and kids["A"]["Q"] == pytest.approx(kids["A"]["value"]) and rec["stats"]["ticks"] == 1
    only_value, _ = children("--leaf-eval", "mix", "--critic-weights", "2", "0", "0", value=value, prm=prm)
    assert only_value["A"]["value"] == 1.0 and only_value["B"]["value"] == -1.0


def test_the_orm_alone_equals_fast_rollouts_graded_by_a_perfect_orm():
    """The same completions (seeds) judged by an ORM that agrees with the gold: the values of --leaf-eval rollout."""
    mix, _ = children("--leaf-eval", "mix", "--fast-rollouts", "16", orm=orm)
    plain, _ = children("--leaf-eval", "rollout", "--fast-rollouts", "16")
    assert {k: n["value"] for k, n in mix.items()} == {k: n["value"] for k, n in plain.items()}
    half, _ = children("--leaf-eval", "mix", "--fast-rollouts", "16", "--critic-weights", "1", "1", "0.5", orm=orm)
    assert half["A"]["value"] == pytest.approx(plain["A"]["value"] / 2)


def test_mix_without_a_critic_is_refused():
    with pytest.raises(SystemExit, match="--leaf-eval mix needs a critic"):
        mcts.Search(MockPolicy(TWO_LEVEL), cfg("--leaf-eval", "mix"))
