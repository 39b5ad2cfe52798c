"""benchmarks/verifier_probe.py: the clean Monte Carlo values, the checker pairs and the sibling statistic
on hand-built samples."""
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
import verifier_probe as vp  # noqa: E402

RIGHT = "2+3=5\n\n5*2=10. The answer is \\boxed{10}."
SLIP = "2+3=6\n\n6*2=12. The answer is \\boxed{12}."
LUCKY = "2+3=6\n\n5*2=10. The answer is \\boxed{10}."  # the gold through a false step
WRONG_READ = "2+3=5\n\n5*3=15. The answer is \\boxed{15}."  # true arithmetic, wrong operation


def test_clean_values_hand_computed():
    texts = [RIGHT, RIGHT, WRONG_READ, SLIP, LUCKY]
    preds = ["10", "10", "15", "12", "10"]
    out = dict(vp.clean_values(texts, preds, "10"))
    assert list(out) == [tuple(t.split("\n\n")) for t in (RIGHT, WRONG_READ, SLIP, LUCKY)]  # distinct, in order
    # "2+3=5" is on RIGHT, RIGHT (+1 each) and WRONG_READ (-1): Q = 1/3; the full RIGHT path: +1
    assert out[tuple(RIGHT.split("\n\n"))] == pytest.approx([1 / 3, 1.0])
    assert out[tuple(WRONG_READ.split("\n\n"))] == pytest.approx([1 / 3, -1.0])
    # a false first step is -1 from there on, and LUCKY's right answer is no positive
    assert out[tuple(SLIP.split("\n\n"))] == [-1.0, -1.0]
    assert out[tuple(LUCKY.split("\n\n"))] == [-1.0, -1.0]


class Fixed:
    """A stand-in rng: choice() gives `d`, random() gives `u`."""
    def __init__(self, d, u):
        self.d, self.u = d, u

    def choice(self, xs):
        return self.d

    def random(self):
        return self.u


def test_perturb_moves_the_last_result_and_its_box():
    assert vp.perturb("5*2=10. The answer is \\boxed{10}.", Fixed(3, 0.1)) == "5*2=13. The answer is \\boxed{13}."
    assert vp.perturb("5*2=10", Fixed(3, 0.9)) == "5*2=7"  # down
    assert vp.perturb("5-4=1", Fixed(2, 0.9)) == "5-4=3"  # never below 0: up instead
    assert vp.perturb("no equation here", Fixed(1, 0.1)) is None


def test_checker_pairs_fix_the_first_false_step_and_perturb_the_true_ones_before_it():
    seen = set()
    out = vp.checker_pairs("p", "Q\n", [SLIP, SLIP, WRONG_READ], random.Random(0), seen)
    kinds = [(p["prompt"], p["kind"]) for p in out]
    # SLIP: its first step is false -> one false_fix pair at the root, nothing after it
    assert out[0]["chosen"] == "2+3=5" and out[0]["rejected"] == "2+3=6" and kinds[0] == ("Q\n", "false_fix")
    # WRONG_READ: both steps true -> two perturbed pairs; the duplicate SLIP gives nothing
    assert kinds[1:] == [("Q\n", "perturb"), ("Q\n2+3=5\n\n", "perturb")]
    assert [p["chosen"] for p in out[1:]] == ["2+3=5", "5*3=15. The answer is \\boxed{15}."]
    assert all(p["rejected"] != p["chosen"] for p in out)
    # a second call with the same samples adds nothing
    assert vp.checker_pairs("p", "Q\n", [SLIP, WRONG_READ], random.Random(0), seen) == []
    # share 0: only the checker's fixes
    assert [p["kind"] for p in vp.checker_pairs("p", "Q\n", [SLIP, WRONG_READ], random.Random(0), set(), 0.0)] == ["false_fix"]


def test_sibling_stats_reads_only_same_prefix_pairs():
    r, s = RIGHT.split("\n\n"), SLIP.split("\n\n")
    # the true first step valued 0.2, its false sibling 0.5: a wrong sibling pair; over all steps
    # the true ones (0.2, 0.9) beat the false one (0.5) half the time
    auc, n, acc = vp.sibling_stats([("p", r, [0.2, 0.9]), ("p", s, [0.5, -1.0])])
    assert (n, acc) == (1, 0.0)
    assert auc == pytest.approx(0.5)
    auc, n, acc = vp.sibling_stats([("p", r, [0.6, 0.9]), ("p", s, [0.5, -1.0]), ("q", r, [0.1, 0.1])])
    assert (n, acc) == (1, 1.0)  # problem q's true steps have no false sibling...
    assert auc == pytest.approx(2 / 4)  # ...but count in the AUC: 0.6, 0.9 above 0.5; 0.1, 0.1 below


class Pick(Fixed):
    """Fixed, with randrange(n) giving `j`."""
    def __init__(self, d, u, j):
        super().__init__(d, u)
        self.j = j

    def randrange(self, n):
        assert self.j < n
        return self.j


def test_checker_values_label_by_the_checker_with_a_fixed_and_a_perturbed_copy():
    split = lambda t: t.split("\n\n")  # noqa: E731
    out = vp.checker_values([LUCKY, LUCKY, WRONG_READ], Pick(3, 0.1, 1))
    # LUCKY (once): its false first step is -1 and so is all after it, right answer or not; its fixed copy
    # stops at the corrected step (+1); no true step before it, so no perturbed copy
    assert out[0] == (split(LUCKY), [-1.0, -1.0])
    assert out[1] == (["2+3=5"], [1.0])
    # WRONG_READ: every equation holds (+1 throughout; the checker does not read the question); the
    # perturbed copy ends at step 2 (randrange -> 1) with its result moved by 3 (-1 there)
    assert out[2] == (split(WRONG_READ), [1.0, 1.0])
    assert out[3] == (["2+3=5", "5*3=18. The answer is \\boxed{18}."], [1.0, -1.0])
    assert len(out) == 4
