"""stepcheck.py: hand-computed verdicts on GSM8K- and MATH-style lines, exact evaluation, and
agreement with grader.equations_hold on the built-in task's steps."""
import argparse
import itertools
import json
import os
import random
import re
import subprocess
import sys
from fractions import Fraction

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from grader import equations_hold  # noqa: E402
from stepcheck import check_step, evaluate, steps_checked, tokenize  # noqa: E402
from task import NAMES, build_builtin  # noqa: E402

T, F, N = True, False, None

# (step text, expected verdict); every expectation computed by hand
ROWS = [
    # several terms, precedence, parentheses (the old regex read 60 - 15 = 35 and 2 +2 = 10)
    ("He sold 110 - 60 - 15 = 35 pens on Friday.", T),
    ("He sold 110 - 60 - 15 = 45 pens on Friday.", F),
    ("She runs 4*2 +2 = 10 miles a week.", T),
    ("She runs 4*2 +2 = 12 miles a week.", F),
    ("The box holds (3+4)*2=14 crayons.", T),
    ("The box holds (3+4)*2=15 crayons.", F),
    ("So 2 + 3 * 4 = 14 in all.", T),
    ("Then 18 / 3 / 2 = 3 cups are left for each jar.", T),
    # prose around the expression: the maximal expression next to "="
    ("Maya sold 36/4 = 9 bracelets on Monday.", T),
    ("Together they picked 27+45 = 72 apples.", T),
    ("Together they picked 27+45 = 71 apples.", F),
    ("Ann: 7+3=10", T),
    ("10*2=20. The answer is \\boxed{20}.", T),
    ("She has some apples left over.", N),
    # chains and run-on chains
    ("So 6 * 5 = 30 = 15 * 2 pencils.", T),
    ("So 6 * 5 = 30 = 15 * 3 pencils.", F),
    ("It takes 7 minutes x 60 seconds per minute = 420 seconds + 25 seconds = 445 seconds.", T),
    ("Let x = 48/2 = 24 be the clips sold in May.", T),
    ("Week 1 + Week 2 = 35 + 35 = 70 hours.", T),
    # decimals, money, thousands
    ("Four tickets cost 4 * $2.75 = $11.", T),
    ("Four tickets cost 4 * $2.75 = $12.", F),
    ("The store made 1,250 + 3,750 = 5,000 dollars.", T),
    ("The store made 1,250 + 3,750 = 5,100 dollars.", F),
    ("He gets 0.25*36=9 points.", T),
    ("In all 0.1 + 0.2 = 0.3 liters.", T),  # exact, not floats
    # percent
    ("The discount is 25% of 80 = 20 dollars.", T),
    ("The discount is 25% of 80 = 25 dollars.", F),
    ("She saves 60 * 15% = 9 dollars.", T),
    ("She saves 0.15*60=9 dollars.", T),
    ("After the sale 100 - 20 = 80% of the price is left.", T),
    ("So 2/5 x 100 = 40% of the class walked.", T),
    ("So 3/5 x 100 = 60", T),
    ("So 3/5 x 100 = 50", F),
    ("So 4 / 5 x 100 = 80 percent of the seats are full.", T),
    ("So 4 / 5 x 100 = 75 percent of the seats are full.", F),
    # multiplication and division signs
    ("The garden has 12 x 8 = 96 square feet of soil.", T),
    ("The pack costs 6 × $1.25 = $7.50.", T),
    ("Each friend gets 45 ÷ 5 = 9 stickers.", T),
    ("Each friend gets 45 ÷ 5 = 8 stickers.", F),
    # units between operands (GSM8K writes them; dropped), numbers glued to words
    ("He drives 3 hours x 55 miles per hour = 165 miles.", T),
    ("He drives 3 hours x 55 miles per hour = 175 miles.", F),
    ("She bakes 4 trays * 12 cookies per tray = 48 cookies.", T),
    ("The rent is $850/month x 3 months = $2550.", T),
    ("She picks 3 apples x 2 = 6 apples.", T),
    ("She picks 3 apples x 2 = 7 apples.", F),
    ("She adds 20 + 5 = 26ml of oil.", F),
    ("Then 3apples + 2 = 5 apples.", N),
    ("He is 12 years old = 144 months.", N),
    ("1 hour = 60 minutes", N),
    ("Half of 50 = 25 marbles.", N),
    ("He spends $1 / 2 = 50 cents.", N),
    ("Each robot costs $8.75, so 7 robots * $8.75 per robot = $61.25 in total.", T),
    ("Each robot costs $8.75, so 7 robots * $8.75 per robot = $62.25 in total.", F),
    ("She needs 30 ml / 2 grams = 15 ml/g of water.", T),
    ("Altogether 200ml + 100ml + 100ml = 400ml of milk.", T),
    ("Then 2g + 80 - 4g = 70 grams.", N),  # g is a variable here
    ("He invites 25 classmates + his 1 teacher + 1 himself = 27 people.", N),
    ("An 8-person cake needs 2 x 2 = 4 eggs.", T),
    ("She has 55 – 27 = €28 left.", T),
    ("He averaged 30 points because 150 divided by 5 equals 30.", T),
    ("The dough is 12 times 12 equals 145 square inches.", F),
    ("Since 4/7 is equal to $24, then 1/7 is $24/4 = $6.", T),
    ("The budget is 16 + 12 = $28 million.", T),
    ("Multiply the carrots by 2: 12 * 2 = 24 onions.", T),
    ("The green car can travel at 8*80=640 mph.", T),
    ("They have 36 books belonging to Al + 9 books belonging to Stu = 45 books.", T),
    ("They have 36 books belonging to Al + 9 books belonging to Stu = 46 books.", F),
    ("It takes 768 / 50 = 15.36 minutes, which rounds down to 15.", T),
    ("It takes 768 / 50 = 16.36 minutes, which rounds down to 16.", F),
    ("Eric has 4 + Chad has 6 = 10 stars.", N),
    # rounding: a written decimal may round or cut the exact value; an integer must be exact
    ("Each glass gets 10/3 = 3.33 liters.", T),
    ("Each slice costs 2/3 = 0.67 dollars.", T),
    ("Each slice costs 2/3 = 0.66 dollars.", T),
    ("Each glass gets 10/3 = 3.4 liters.", F),
    ("Each glass gets 10/3 = 4.33 liters.", F),
    ("Each friend gets 10/3 = 3 cookies.", F),
    ("Each friend gets 100/3 = 33 stickers, with 1 remaining.", N),
    ("She has 17/3 = 5 and 2/3 loads.", N),
    ("The clock read 0900-0130 = 0730 hours.", N),
    # MATH: LaTeX
    ("We have $3 \\cdot 4 + 2 = 14$.", T),
    ("Thus $\\frac{3}{4} \\times 12 = 9$.", T),
    ("Thus $\\frac{3}{4} \\times 12 = 8$.", F),
    ("Adding, $\\dfrac{5}{2} + \\tfrac{1}{2} = 3$.", T),
    ("Half of it is $\\frac12 \\cdot 10 = 5$.", T),
    ("So $2^{10} = 1024$ and $(-3)^2 = 9$.", T),
    ("So $2^{10} = 1000$.", F),
    ("Note $-2^2 = -4$.", T),
    ("The area is $\\frac{1}{2}(6)(8) = 24$.", T),
    ("The sum is $3+4=\\boxed{7}$.", T),
    ("The sum is $3+4=\\boxed{8}$.", F),
    ("There are $12{,}000 \\div 4 = 3{,}000$ of them.", T),
    ("She pays $\\$1.50 \\times 4 = \\$6$.", T),
    ("We get \\[\\frac{2}{3} + \\frac{1}{6} = \\frac{5}{6}.\\]", T),
    ("We get \\[\\frac{2}{3} + \\frac{1}{6} = \\frac{4}{6}.\\]", F),
    # MATH: not purely numeric, or not surely one expression
    ("Solve $5x-1=3x+2$.", N),
    ("Solving, $2x = 6$, so $x = 3$.", N),
    ("We find $f(2) = 7$.", N),
    ("Then $\\sqrt{16} = 4$.", N),
    ("The area is $\\pi r^2 = 25\\pi$.", N),
    ("So $22/7 \\approx 3.14$.", N),
    ("Clearly $3 < 5$.", N),
    ("There are $5! = 120$ orders.", N),
    ("There are $\\binom{5}{2} = 10$ pairs.", N),
    ("In base 4, $123_4 = 27$.", N),
    ("By definition $2 * 3 = 2^3 + 3^2 = 17$.", T),  # "*" is an operation: only 8 + 9 = 17 judged
    ("By definition $2 * 3 = 2^3 + 3^2$.", N),
    ("As a mixed number, $1\\frac{1}{2} = 1.5$.", N),
    ("So $\\angle A = 180^\\circ - 70^\\circ = 110^\\circ$.", N),
    ("Since $(28,365) = 1$, they are coprime.", N),
    ("The ratio $3:4 = 6:8$.", N),
    ("Indeed $7 \\equiv 2 \\pmod 5$.", N),
    ("It repeats: $\\frac{1}{3} = 0.\\overline{3}$.", N),
]


@pytest.mark.parametrize("text,expected", ROWS)
def test_check_step_rows(text, expected):
    assert check_step(text) is expected


def test_rows_cover_each_verdict():
    counts = {v: sum(e is v for _, e in ROWS) for v in (T, F, N)}
    assert len(ROWS) >= 60 and min(counts.values()) >= 15, counts


def test_evaluate_is_exact():
    assert evaluate(tokenize("1/3 + 1/6")) == Fraction(1, 2)
    assert evaluate(tokenize("0.1 + 0.2")) == Fraction(3, 10)
    assert evaluate(tokenize("$\\frac{\\frac{1}{2}}{3}$")) == Fraction(1, 6)
    assert evaluate(tokenize("2^-2")) == Fraction(1, 4)
    assert evaluate(tokenize("20% * 50")) == 10
    assert evaluate(tokenize("5 / 0")) is None
    assert evaluate(tokenize("2 3")) is None  # two numbers side by side


def test_never_raises():
    """Deep nesting and random math-like text give a verdict, never an exception."""
    assert check_step("(" * 3000 + "1" + ")" * 3000 + " = 1") is None
    assert check_step("\\frac{" * 1500 + "1" + "}{2}" * 1500 + " = 1") is None
    assert check_step("2^2^2^2^2^2 = 4") is None  # a huge power is not judged
    rng = random.Random(0)
    pieces = list("0123456789+-*/^=()%$.,: xX{}[]!_|<>&~") + ["\\frac", "\\cdot", "\\boxed", "\\[",
                                                            "\\]", "\\text{ cm}", "of ", "per ", "apples "]
    for _ in range(3000):
        check_step("".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))))


def test_steps_checked_counts():
    steps = ["48/2 = 24 clips", "48+24 = 73 clips", "so she is happy", "$x = 4$"]
    assert steps_checked(steps) == (1, 1, 2)


# ----------------------------------------------------------------------------- built-in task


def builtin_records(seed):
    args = argparse.Namespace(seed=seed, n_seed=200, n_pool=200, n_test=200, seed_ops="1-4",
                              pool_ops="2-5", test_ops="1-6", max_operand=20, max_value=100,
                              format="text", pool_solutions=True)
    return [r for split in build_builtin(args).values() for r in split]


def wrong_result(step):
    """The step with the result of its equation made one larger (and its box, if any)."""
    m = re.match(r"(\d+[-+*/]\d+=)(\d+)", step)
    wrong = str(int(m.group(2)) + 1)
    return m.group(1) + wrong + step[m.end():].replace(f"\\boxed{{{m.group(2)}}}", f"\\boxed{{{wrong}}}")


@pytest.mark.parametrize("seed", [0, 1])
def test_builtin_gold_true_and_wrong_result_false(seed):
    """Every gold step of the built-in task, bare and as a relational-task line "Ann: 7+3=10", is
    True for both checkers; with its result +1 it is False for both."""
    steps = [s for r in builtin_records(seed) for s in r["solution"].split("\n\n")]
    assert len(steps) > 1000
    names = sorted(NAMES)
    for k, step in enumerate(steps):
        for prefix in ("", f"{names[k % len(names)]}: "):
            text, bad = prefix + step, prefix + wrong_result(step)
            assert check_step(text) is True and equations_hold(text), text
            assert check_step(bad) is False and not equations_hold(bad), bad


# garbled built-in steps, as a small model writes them: (text, old verdict, new verdict)
GARBLED = [
    ("*87+15=12", F, F), ("69-5=24*", F, F), ("12-5=8.The answer is \\boxed{7}.", F, F),
    ("14*3=4. The answer is \\b7oxe{42}.", F, F), ("14+18=3.. The answer is \\boxed{32}.", F, F),
    ("9+16=25.1 The answer is \\boxed{25}.", F, F), (".6*2=76", T, F),  # the old regex skips a decimal
    ("3+9=12.0 The answer is \\boxed{12}.", F, T),  # the old regex reads 1 out of 12.0
    ("5*3=3*5", F, T), ("5-1/1=4", F, T),  # several terms
    ("31 5*3=93", F, N), ("21x-18=3", F, N), ("7/0=36", F, N),  # side by side, a variable, a zero divisor
]


@pytest.mark.parametrize("text,old,new", GARBLED)
def test_garbled_steps_against_old_checker(text, old, new):
    assert equations_hold(text) is old and check_step(text) is new


def test_agrees_with_old_checker_on_integer_equations():
    """Where equations_hold says False, False; where it says True on an equation, True."""
    names = list(NAMES)
    for a, b, op, delta in itertools.product(range(0, 25), range(1, 9), "+-*/x×", (-1, 0, 2)):
        true = {"+": a + b, "-": a - b, "/": Fraction(a, b)}.get(op, a * b)
        if true.denominator != 1:
            continue
        for form in ("{a}{op}{b}={c}", "{a} {op} {b} = {c}", "{n}: {a}{op}{b}={c}. The answer is \\boxed{{{c}}}."):
            text = form.format(a=a, op=op, b=b, c=int(true) + delta, n=names[a % len(names)])
            assert check_step(text) is equations_hold(text), text


# ----------------------------------------------------------------------------- benchmarks/check_gold.py


def test_check_gold_end_to_end(tmp_path):
    """The measurement script on tiny hand-written files: one GSM8K gold with a false equation,
    and the corruption of each calculator result written right after its annotation caught."""
    gsm = [{"question": "q1", "answer": "She buys 3 x 4 = <<3*4=12>>12 pens.\nThen 12 + 5 = <<12+5=17>>17.\n#### 17"},
           {"question": "q2", "answer": "He has 10 / 4 = <<10/4=2.5>>2.5 cups.\n#### 2.5"},
           {"question": "q3", "answer": "It is 6 * 7 = <<6*7=42>>40 days.\n#### 40"}]
    math = [{"problem": "p", "solution": "We have $2^3 = 8$, so $x = \\boxed{8}$."}]
    for name, recs in (("g.jsonl", gsm), ("m.jsonl", math)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "check_gold.py")
    out = subprocess.run([sys.executable, script, "--gsm8k", str(tmp_path / "g.jsonl"), "--math",
                          str(tmp_path / "m.jsonl"), "--show", "5"], capture_output=True, text=True, check=True).stdout
    assert "accepted: new 66.67% (1 rejected)" in out and "gold rejected: It is 6 * 7 = 40 days." in out
    assert "2 solutions (1 without a written result) | rejected: new 100.00% (2;" in out  # q3 writes 40, not 42
    assert "math gold" in out and "accepted: new 100.00% (0 rejected)" in out
