"""grader.py answers: extraction, gold loaders, equivalence tables, and the never-hang guards."""
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import grader  # noqa: E402
from grader import equations_hold, extract_answer, gold_from_gsm8k, gold_from_math, grade, is_equiv  # noqa: E402

T, F = True, False

# (prediction, gold, expected) answer against answer, through is_equiv
EQUIV = [
    # integers, thousands separators
    ("42", "42", T), ("42", "43", F), ("1,234", "1234", T), ("1234", "1,234", T),
    ("1,234,567", "1234567", T), ("1,000,000", "1000000", T), ("1,234", "1243", F),
    ("10{,}000", "10000", T), ("10,\\!000", "10000", T), ("007", "7", T), ("0", "-0", T),
    # decimals
    ("3.5", "3.50", T), (".5", "0.5", T), ("0.1", "0.10000", T), ("2.0", "2", T),
    ("3.14", "3.14159", F), ("0.333", "1/3", F), ("1.5", "\\frac{3}{2}", T),
    ("0.3333333", "\\frac{1}{3}", T),
    # negatives
    ("-5", "-5", T), ("-5", "5", F), ("-2", "2", F), ("−7", "-7", T), ("- 3", "-3", T),
    ("-\\frac{1}{2}", "-0.5", T), ("\\frac{-1}{2}", "-\\frac12", T), ("-\\infty", "\\infty", F),
    # fractions
    ("\\frac{1}{2}", "0.5", T), ("\\dfrac{3}{4}", "\\frac34", T), ("3/4", "\\frac{3}{4}", T),
    ("\\tfrac{2}{4}", "\\frac12", T), ("6/8", "3/4", T), ("1/2", "\\frac12", T),
    ("\\frac{2}{3}", "\\frac{3}{2}", F), ("\\frac{1}{2}", "\\frac{1}{3}", F), ("1/2", "2/1", F),
    ("1\\frac{1}{2}", "\\frac{3}{2}", T),
    # percentages
    ("50\\%", "50", T), ("50%", "50", T), ("12.5\\%", "12.5", T), ("25%", "0.25", T),
    ("12\\%", "0.12", T), ("50%", "5", F), ("40\\%", "50\\%", F),
    # money
    ("\\$5", "5", T), ("$5.00", "5", T), ("\\$1,200", "1200", T), ("18 dollars", "18", T),
    ("\\$19", "18", F), ("-\\$3", "-3", T),
    # units and text after a number
    ("12 apples", "12", T), ("5 \\text{ cm}", "5", T), ("5\\text{cm}", "5", T),
    ("7 \\mbox{ inches}", "7", T), ("3 hours", "3", T), ("12 apples", "13", F),
    ("2x", "2", F), ("2\\pi", "2", F), ("2 pi", "2", F),
    # degrees
    ("30^\\circ", "30", T), ("30^{\\circ}", "30", T), ("45°", "45", T), ("90 degrees", "90", T),
    ("30^\\circ", "60", F),
    # intervals: the bracket type matters
    ("[1,2]", "[1, 2]", T), ("(1,2]", "[1,2]", F), ("[1,2)", "[1,2]", F), ("(1,2]", "(1,2]", T),
    ("(-\\infty, 3)", "(-\\infty,3)", T), ("(-\\infty,3]", "(-\\infty,3)", F),
    ("[2,\\infty)", "[2, \\infty)", T), ("(0, 5)", "(0, 6)", F),
    ("(-\\infty,-1)\\cup(1,\\infty)", "(-\\infty,-1) \\cup (1,\\infty)", T),
    ("(-\\infty,-1)\\cup(1,\\infty)", "(-\\infty,-1] \\cup [1,\\infty)", F),
    ("x \\in [1,2]", "[1,2]", T), ("x > 3", "(3, \\infty)", T), ("x \\ge 3", "[3,\\infty)", T),
    ("x > 3", "[3,\\infty)", F),
    # tuples: ordered
    ("(1,2,3)", "(1, 2, 3)", T), ("(1,2,3)", "(3,2,1)", F), ("(2,-1)", "(-1,2)", F),
    ("(1,2)", "(2,1)", F), ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)", T),
    # several answers: a set
    ("1, 2", "2, 1", T), ("1,2", "2,1", T), ("-2, 3", "3, -2", T), ("\\{1,2\\}", "1,2", T),
    ("\\{1,2\\}", "\\{2,1\\}", T), ("1 \\text{ or } 2", "1, 2", T), ("x=1, x=2", "1, 2", T),
    ("2, 3", "2,4", F), ("1, 2, 3", "1, 2", F),
    # matrices and vectors
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", T),
    ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", T),
    ("\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", F),
    ("\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\-2\\end{pmatrix}", T),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", F),
    ("\\begin{pmatrix} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{pmatrix}",
     "\\begin{pmatrix}0.5&0\\\\0&1\\end{pmatrix}", T),
    # roots and pi
    ("2\\sqrt{2}", "\\sqrt{8}", T), ("\\sqrt{8}", "2\\sqrt2", T), ("3\\sqrt{3}", "\\sqrt{27}", T),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", T), ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt2}{2}", T),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", T), ("\\sqrt[3]{8}", "2", T),
    ("\\sqrt{3}", "\\sqrt{2}", F), ("\\pi", "\\pi", T), ("2\\pi", "\\pi", F), ("4\\pi", "4 \\pi", T),
    ("\\pi/2", "\\frac{\\pi}{2}", T), ("\\pi", "3.14", F),
    # algebraically equal expressions, equations
    ("x^2+2x+1", "(x+1)^2", T), ("2(x+1)", "2x+2", T), ("\\frac{x}{2}", "0.5x", T),
    ("x^2-1", "(x-1)(x+1)", T), ("a+b", "b+a", T), ("\\frac{1}{x+1}", "(x+1)^{-1}", T),
    ("x^2+1", "(x+1)^2", F), ("x=3", "3", T), ("3", "x=3", T), ("x=4", "3", F),
    ("y=2x+3", "2x+3", T), ("2^{10}", "1024", T), ("10^{3}", "1000", T), ("3 \\times 10^{3}", "3000", T),
    ("5!", "120", T), ("\\binom{5}{2}", "10", T), ("\\log_2 8", "3", T),
    ("3+4i", "4i+3", T), ("3-4i", "3+4i", F), ("\\infty", "\\infty", T),
    # words and choices
    ("\\text{Monday}", "\\text{Monday}", T), ("\\text{Tuesday}", "\\text{Monday}", F),
    ("\\text{(C)}", "C", T),
    # degenerate inputs
    ("", "5", F), ("5", "", F), (None, "5", F), (5, "5", T), ("1" * 1001, "1" * 1001, F),
]

# (completion, gold, expected) through grade
GRADE = [
    ("So the total is $\\boxed{42}$.", "42", T), ("So the total is $\\boxed{41}$.", "42", F),
    ("The answer is 42.", "42", T), ("The answer is $\\frac{1}{2}$.", "0.5", T),
    ("The final answer is: 7", "7", T), ("The answer is \\$18.", "18", T),
    ("She pays 3 * 24 = 72 dollars.\n#### 72", "72", T), ("#### 1,234", "1234", T),
    ("#### 71", "72", F), ("\\boxed{\\frac{3}{4}}", "0.75", T), ("\\boxed 5$", "5", T),
    ("\\fbox{7}", "7", T), ("$\\boxed{\\$18}$", "18", T), ("\\boxed{12} apples", "12", T),
    ("first \\boxed{1} then \\boxed{2}", "2", T), ("first \\boxed{1} then \\boxed{2}", "1", F),
    ("\\boxed{(1,2]}", "(1,2]", T), ("\\boxed{(1,2]}", "[1,2]", F),
    ("\\boxed{x^2+2x+1}", "(x+1)^2", T), ("\\boxed{1, 2}", "2, 1", T),
    ("\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", T),
    ("\\boxed{1} and later \\boxed{12", "1", F),  # the last box is cut off: no answer
    ("no final answer here", "5", F), ("\\boxed{}", "5", F), ("", "5", F),
]

# (text, expected) through extract_answer
EXTRACT = [
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"), ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
    ("\\boxed{a} and \\boxed{b}", "b"), ("\\boxed{ {1} + {2} }", "{1} + {2}"),
    ("\\boxed 5", "5"), ("$\\boxed 5$.", "5"), ("\\fbox{3}", "3"), ("The answer is 12.", "12"),
    ("The answer is $3.5$.", "3.5"), ("The answer is 3. Wait. The answer is 4.", "4"),
    ("the answer is 5\n\nmore text", "5"), ("The answer is \\boxed{4}, not 5", "4"),
    ("#### 1,000", "1,000"), ("#### 5\nextra", "5"), ("nothing", None), ("\\boxed{unclosed", None),
    ("\\boxed{}", None), (None, None),
]


@pytest.mark.parametrize("pred,gold,expected", EQUIV)
def test_is_equiv(pred, gold, expected):
    assert is_equiv(pred, gold) is expected


@pytest.mark.parametrize("completion,gold,expected", GRADE)
def test_grade(completion, gold, expected):
    assert grade(completion, gold) is expected


@pytest.mark.parametrize("text,expected", EXTRACT)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_gold_loaders():
    assert gold_from_gsm8k("18 - 2 = <<18-2=16>>16\n#### 1,216") == "1216"
    assert gold_from_gsm8k("a #### 3 then #### 4") == "4"
    assert gold_from_math("So $x = \\boxed{\\frac{1}{2}}$. Also \\boxed{\\{1, 2\\}}.") == "\\{1, 2\\}"
    assert gold_from_math("no box here") is None


def test_table_size():
    assert len(EQUIV) + len(GRADE) + len(EXTRACT) >= 130


@pytest.mark.parametrize("pred,gold,expected", [
    ("10^{10^{10^{10}}}", "1", F),
    ("\\boxed{" + "9" * 100_000 + "}", "9", F),
    ("x" * 100_000, "1", F),
    ("\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}", "1", None),  # refused by the guards
    ("(" * 19 + "1" + ")" * 19, "1", None),  # within the depth cap: the deadline bounds it
])
def test_pathological_inputs_return_fast(pred, gold, expected):
    for check in (grade, is_equiv):
        start = time.monotonic()
        result = check(pred, gold)
        assert time.monotonic() - start < 5
        assert isinstance(result, bool) and (expected is None or result is expected)


def test_deadline_stops_slow_work():
    start = time.monotonic()
    assert grader._with_deadline(lambda: time.sleep(30), 0.2) is False
    assert grader._with_deadline(lambda: [0 for _ in iter(int, 1)], 0.2) is False  # busy loop
    assert time.monotonic() - start < 2
    assert grader._with_deadline(lambda: True, 0.2) is True
    time.sleep(0.3)  # the timer is disarmed: no stray alarm afterwards


def test_is_equiv_from_a_thread():
    out = []
    t = threading.Thread(target=lambda: out.append((is_equiv("2\\sqrt2", "\\sqrt{8}"),
                                                    is_equiv("\\frac{1}{3}", "0.25"))))
    t.start()
    t.join(timeout=30)
    assert out == [(True, False)]


@pytest.mark.parametrize("text,expected", [
    ("7+2=9", True), ("9+6=18. The answer is \\boxed{18}.", False), ("3-5=-2", True), ("8/2=4", True),
    ("15/2=7", False), ("4 x 5 = 20", True), ("10-2=8\n\n8*3=25", False), ("no equation", True),
    ("2.5*4=10", True), ("1,000+5=1005", True), ("x = x * 2", True)])
def test_equations_hold(text, expected):
    assert equations_hold(text) is expected
