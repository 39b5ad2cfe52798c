"""Tests for synth.py: the built-in task generator and the GSM8K / MATH converters."""

import contextlib
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import synth  # noqa: E402

STEP = re.compile(r"^(\d+)([-+*/])(\d+)=(\d+)")
# question sentence -> operation symbol (and operand, for +/-)
SENTENCE = [(re.compile(r"(?:buys|finds|gets) (\d+) more"), "+"),
            (re.compile(r"(?:gives away|loses|sells) (\d+)$"), "-"),
            (re.compile(r"doubles them"), "*2"), (re.compile(r"triples them"), "*3"),
            (re.compile(r"halves them|gives away half"), "/2")]


def make_args(**overrides):
    argv = ["builtin", "--out-dir", "unused", "--n-seed", "120", "--n-pool", "400",
            "--n-test", "400"]
    args = synth.get_parser().parse_args(argv)
    vars(args).update(overrides)
    return args


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def question_ops(question):
    """(start value, [(symbol, operand)]) read back from the question text."""
    sentences = question.rstrip("?").split(". ")
    start = int(re.search(r"has (\d+) ", sentences[0]).group(1))
    ops = []
    for s in sentences[1:-1]:
        matches = [(pat.search(s), sym) for pat, sym in SENTENCE if pat.search(s)]
        assert len(matches) == 1, s
        m, sym = matches[0]
        ops.append((sym, int(m.group(1))) if sym in "+-" else (sym[0], int(sym[1])))
    return start, ops


def check_text_solution(rec, max_operand, max_value):
    steps = rec["solution"].split("\n\n")
    assert len(steps) == rec["ops"] == rec["difficulty"]
    start, ops = question_ops(rec["question"])
    assert 2 <= start <= max_operand
    value = start
    for i, (step, (sym, b)) in enumerate(zip(steps, ops)):
        a, op, b2, c = STEP.match(step).groups()
        a, b2, c = int(a), int(b2), int(c)
        assert (a, op, b2) == (value, sym, b)  # the step does what the sentence says
        assert c == {"+": a + b2, "-": a - b2, "*": a * b2, "/": a // b2}[op]
        assert op != "/" or a % 2 == 0
        assert op not in "+-" or 1 <= b2 <= max_operand
        assert 0 <= c <= max_value
        assert ("\\boxed" in step) == (i == len(steps) - 1)
        value = c
    assert steps[-1].endswith(f". The answer is \\boxed{{{value}}}.")
    assert rec["answer"] == str(value)


def test_parse_range():
    assert synth.parse_range("2-5") == (2, 5)
    assert synth.parse_range("3") == (3, 3)
    with pytest.raises(ValueError):
        synth.parse_range("4-2")


def test_same_seed_same_files_other_seed_differs(tmp_path):
    def run(seed, out):
        cmd = [sys.executable, str(ROOT / "synth.py"), "builtin", "--out-dir", str(out),
               "--seed", str(seed), "--n-seed", "50", "--n-pool", "100", "--n-test", "100"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        return {name: (out / name).read_bytes() for name in
                ("seed.jsonl", "pool.jsonl", "test.jsonl")}

    a, b, c = run(0, tmp_path / "a"), run(0, tmp_path / "b"), run(1, tmp_path / "c")
    assert a == b
    assert all(a[name] != c[name] for name in a)
    saved = json.loads((tmp_path / "a" / "synth_args.json").read_text())
    assert saved["args"]["seed"] == 0 and saved["counts"]["test"]["n"] == 100


def test_splits_disjoint_and_ids_unique():
    splits = synth.build_builtin(make_args())
    questions = [r["question"] for recs in splits.values() for r in recs]
    assert len(questions) == len(set(questions)) == 920
    ids = [r["id"] for recs in splits.values() for r in recs]
    assert len(set(ids)) == len(ids)
    assert splits["test"][7]["id"] == "test-0-7"
    # the same computation in other words never crosses splits either
    chains = {name: {str(question_ops(r["question"])) for r in recs}
              for name, recs in splits.items()}
    assert not chains["test"] & chains["seed"] and not chains["test"] & chains["pool"]
    assert not chains["seed"] & chains["pool"]


def test_dedupe_in_a_tiny_space():
    # start 2, one operation, values <= 2: 6 names * 5 objects * 8 phrases = 240 questions,
    # 3 computations (2-1, 2-2, 2/2)
    tiny = dict(max_operand=2, max_value=2, test_ops="1", seed_ops="1", n_pool=0)
    test = synth.build_builtin(make_args(n_test=200, n_seed=0, **tiny))["test"]
    assert len({r["question"] for r in test}) == 200
    with pytest.raises(RuntimeError):  # more questions than exist
        synth.build_builtin(make_args(n_test=300, n_seed=0, **tiny))
    with pytest.raises(RuntimeError):  # the test set used up every computation
        synth.build_builtin(make_args(n_test=200, n_seed=1, **tiny))


def test_test_set_independent_of_other_split_sizes():
    small = synth.build_builtin(make_args(n_seed=10, n_pool=10))
    assert small["test"] == synth.build_builtin(make_args())["test"]


@pytest.mark.parametrize("max_operand,max_value", [(10, 50), (5, 20)])
def test_text_solutions_correct_and_in_bounds(max_operand, max_value):
    splits = synth.build_builtin(make_args(max_operand=max_operand, max_value=max_value,
                                           pool_solutions=True))
    kinds = Counter()
    for recs in splits.values():
        for rec in recs:
            check_text_solution(rec, max_operand, max_value)
            kinds.update(op for _, op, _, _ in (STEP.match(s).groups()
                                                 for s in rec["solution"].split("\n\n")))
    assert set(kinds) == set("+-*/")  # every operation kind occurs


def test_pool_answer_only_by_default():
    splits = synth.build_builtin(make_args())
    assert all("solution" not in r for r in splits["pool"])
    assert all("solution" in r for r in splits["seed"] + splits["test"])
    assert {r["source"] for recs in splits.values() for r in recs} == {"builtin"}


def test_difficulty_distribution():
    splits = synth.build_builtin(make_args(n_test=1000))
    assert Counter(r["ops"] for r in splits["test"]) == {2: 250, 3: 250, 4: 250, 5: 250}
    assert Counter(r["ops"] for r in splits["seed"]) == {2: 60, 3: 60}
    assert Counter(r["ops"] for r in splits["pool"]) == {2: 100, 3: 100, 4: 100, 5: 100}
    for recs in splits.values():
        for r in recs:  # one sentence per operation, plus "has" and the question
            assert r["question"].count(". ") + 1 == r["ops"] + 2


def run_code(code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})
    return out.getvalue().strip()


def test_code_solutions_execute_to_answer():
    splits = synth.build_builtin(make_args(format="code", n_pool=0))
    for rec in splits["seed"] + splits["test"]:
        steps = rec["solution"].split("\n\n")
        assert len(steps) == rec["ops"]
        code_so_far = ""
        for i, step in enumerate(steps):
            lines = step.split("\n")
            assert lines[0].startswith("# ") and lines[1].startswith("x = ")
            assert ("\\boxed" in step) == (i == len(steps) - 1)
            code_so_far += "".join(line + "\n" for line in lines
                                   if not line.startswith(("#", "\\boxed")))
            run_code(code_so_far)  # every prefix runs, as the MCTS sandbox executes it
        assert run_code(code_so_far) == rec["answer"]
        assert steps[-1].endswith(f"print(x)\n\\boxed{{{rec['answer']}}}")


def test_code_and_text_solutions_match():
    text = synth.build_builtin(make_args(n_pool=0))["test"][:50]
    code = synth.build_builtin(make_args(n_pool=0, format="code"))["test"][:50]
    for t, c in zip(text, code):
        assert t["question"] == c["question"]
        for ts, cs in zip(t["solution"].split("\n\n"), c["solution"].split("\n\n")):
            a, op, b, _ = STEP.match(ts).groups()
            expr = cs.split("\n")[1]
            assert expr.endswith(f" {'//' if op == '/' else op} {b}")


def test_last_boxed_nested_braces():
    assert synth.last_boxed(r"so $\boxed{\frac{1}{2}}$.") == r"\frac{1}{2}"
    assert synth.last_boxed(r"\boxed{1} then \boxed{\left( 3, \frac{\pi}{2} \right)}") == \
        r"\left( 3, \frac{\pi}{2} \right)"
    assert synth.last_boxed(r"\fbox{7}") == "7"
    assert synth.last_boxed("no box") is None
    assert synth.last_boxed(r"\boxed{\frac{1}{2}") is None


def test_convert_gsm8k():
    rec = {"question": "Q?", "answer": "He has 3*4=<<3*4=12>>12 pens\n"
                                       "So 12+1,000=<<12+1000=1012>>1,012.\n#### 1,012"}
    out = synth.convert_gsm8k(rec, 5)
    assert out == {"id": "gsm8k-5", "question": "Q?", "answer": "1012", "source": "gsm8k",
                   "solution": "He has 3*4=12 pens\n\n"
                               "So 12+1,000=1,012. The answer is \\boxed{1012}."}
    assert synth.convert_gsm8k({"question": "Q", "answer": "x", "id": "a"}, 0) is None
    assert synth.convert_gsm8k({"question": "Q", "answer": "#### 4", "id": "a"}, 0) == {
        "id": "a", "question": "Q", "answer": "4", "source": "gsm8k",
        "solution": "The answer is \\boxed{4}."}


def test_convert_math():
    rec = {"problem": "P", "solution": r"Half. So $\boxed{\frac{1}{\sqrt{2}}}$.",
           "level": "Level 4", "type": "Algebra"}
    out = synth.convert_math(rec, 3)
    assert out["id"] == "math-3" and out["answer"] == r"\frac{1}{\sqrt{2}}"
    assert out["question"] == "P" and out["solution"] == rec["solution"]
    assert (out["level"], out["type"], out["difficulty"]) == ("Level 4", "Algebra", 4)
    given = dict(rec, answer="7", unique_id="test/x.json", level=2)
    out = synth.convert_math(given, 0)
    assert (out["id"], out["answer"], out["difficulty"]) == ("test/x.json", "7", 2)
    assert synth.convert_math({"problem": "P", "solution": "none"}, 0) is None
    # a box before the last paragraph: the boxed paragraph and the rest become one final step
    early = {"problem": "P", "solution": "A.\n\nSo $\\boxed{2}$.\n\nCheck: ok."}
    assert synth.convert_math(early, 0)["solution"] == "A.\n\nSo $\\boxed{2}$.\nCheck: ok."


def test_convert_cli(tmp_path):
    src = tmp_path / "math.jsonl"
    recs = [{"problem": "P1", "solution": r"$\boxed{\{1,2\}}$"},
            {"problem": "P2", "solution": "no answer"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    cmd = [sys.executable, str(ROOT / "synth.py"), "convert", "--kind", "math",
           "--in", str(src), "--out", str(tmp_path / "out.jsonl")]
    log = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    assert "1 records" in log and "1 skipped" in log
    assert read(tmp_path / "out.jsonl") == [
        {"id": "math-0", "question": "P1", "answer": r"\{1,2\}",
         "solution": recs[0]["solution"], "source": "math"}]
