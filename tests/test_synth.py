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
import task  # noqa: E402

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
    assert Counter(r["ops"] for r in splits["seed"]) == {2: 40, 3: 40, 4: 40}  # default seed ops 2-4
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


# ------------------------------------------------------------------ imagination (synth.py imagine)
SEEDS = ["Ann has 7 pens. She buys 3 more. How many pens does Ann have?",
         "Bob has 4 eggs. He doubles them. He loses 2. How many eggs does Bob have?",
         "Sue has 9 cards. She sells 5. She halves them. How many cards does Sue have?",
         "Tom has 6 coins. He triples them. How many coins does Tom have?"]
TEST_Q = "Eva has 5 apples. She finds 2 more. How many apples does Eva have?"


def boxed(*answers):
    return [f"1+1=2. The answer is \\boxed{{{a}}}." if a is not None else "1+1=2" for a in answers]


class MockPolicy:
    """engine.HFBackend's generate() with canned texts: questions (text or (text, finish)) in
    request order when stop is ["\\n"], else per question the listed solutions."""
    tokenizer = None  # no chat template: plain prompts

    def __init__(self, questions, solutions):
        self.questions, self.solutions, self.calls = questions, solutions, []

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None,
                 progress=False):
        self.calls.append({"prompts": prompts, "n": n, "stop": stop, "seeds": seeds,
                           "temperature": temperature, "max_tokens": max_tokens})
        def row(text, finish="stop"):
            return {"text": text, "tokens": len(text), "logp": -1.0, "finish": finish}
        if stop == ["\n"]:
            return [[row(*q) if isinstance(q, tuple) else row(q)]
                    for q in self.questions[:len(prompts)]]
        out = []
        for p in prompts:
            assert p.startswith("Question: ") and p.endswith("\nAnswer:\n")  # format_prompt
            out.append([row(s, "eos") for s in self.solutions[p[10:-9]][:n]])
        return out


def write_questions(path, questions, answers=None):
    recs = [{"id": f"q{i}", "question": q, "answer": (answers or ["1"] * len(questions))[i]}
            for i, q in enumerate(questions)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def imagine_args(tmp_path, *extra):
    seed = write_questions(tmp_path / "seed.jsonl", SEEDS)
    test = write_questions(tmp_path / "test.jsonl", [TEST_Q])
    argv = ["imagine", "--model", "unused", "--seed-file", seed, "--exclude", test,
            "--out", str(tmp_path / "out" / "im.jsonl"), *extra]
    return synth.get_parser().parse_args(argv)


def test_dedupe_exact_case_space_seed_and_excluded():
    seen = {synth.normalize_question(q) for q in SEEDS + [TEST_Q]}
    before = set(seen)
    questions = ["Max has 2 pens. He buys 1 more. How many pens does Max have?",
                 "Max has 2 pens. He buys 1 more. How many pens does Max have?",  # exact
                 "max has 2  PENS. he buys 1 more.\tHow many pens does Max have?",  # case/space
                 SEEDS[1], SEEDS[2].upper(), TEST_Q, "  " + TEST_Q.lower(),  # seed / excluded
                 "A new question?"]
    assert synth.dedupe(questions, seen) == [questions[0], "A new question?"]
    assert seen == before  # the caller's set is not modified
    assert synth.dedupe(["b", "a", "B "], set()) == ["b", "a"]  # first of each wins, order kept


def test_clean_question():
    assert synth.clean_question("  Question: Ann has 2 pens. ") == "Ann has 2 pens."
    assert synth.clean_question("**Problem 3:** Bob has 4 eggs now.") == "Bob has 4 eggs now."
    assert synth.clean_question("   ") is None
    assert synth.clean_question("Hi?") is None  # shorter than min_chars
    assert synth.clean_question("x" * 30, max_chars=20) is None
    assert synth.clean_question("x" * 20, max_chars=20) == "x" * 20


@pytest.mark.parametrize("answers,expected", [
    (["4"] * 3 + [str(i) for i in range(10, 17)], ("4", 0.3)),  # rStar's 3 of 10
    (["4"] * 2 + [str(i) for i in range(10, 18)], ("4", 0.2)),
    (["4", "4.0", "\\$4", "7", "7", None, None, None, None, None], ("4", 0.3)),  # pooled
    ([None] * 8 + ["7", "8"], ("7", 0.1)),  # None never agrees with None
    ([None] * 10, (None, 0.0)),
    (["5", "6", "6", "5"], ("5", 0.5)),  # tie: the first seen wins
])
def test_agreement(answers, expected):
    majority, share = synth.agreement(answers)
    assert majority == expected[0] and share == pytest.approx(expected[1])


def test_agreement_threshold_is_inclusive():
    assert synth.agreement(["4"] * 3 + [None] * 7)[1] >= 0.3  # kept at --min-agree 0.3
    assert synth.agreement(["4"] * 2 + [None] * 8)[1] < 0.3  # dropped


def test_solve_builtin_matches_generator_and_rejects_malformed():
    splits = synth.build_builtin(make_args(n_pool=200))
    for rec in splits["test"] + splits["seed"] + splits["pool"]:
        assert synth.solve_builtin(rec["question"]) == rec["answer"]
    assert synth.solve_builtin(SEEDS[2]) == "2"  # 9-5=4, 4/2=2
    assert task.builtin_chain(SEEDS[2]) == [4, 2] and task.builtin_chain(SEEDS[1]) == [8, 6]
    bad = ["Ann has 7 pens. He buys 3 more. How many pens does Ann have?",  # pronoun
           "Ann has 7 pens. She buys 3 more. How many eggs does Ann have?",  # object changes
           "Ann has 7 pens. She buys 3 more. How many pens does Bob have?",  # name changes
           "Zed has 7 pens. He buys 3 more. How many pens does Zed have?",  # unknown name
           "Ann has 7 cars. She buys 3 more. How many cars does Ann have?",  # unknown object
           "Ann has 7 pens. She steals 3. How many pens does Ann have?",  # unknown phrase
           "Ann has 7 pens. She halves them. How many pens does Ann have?",  # odd halved
           "Ann has 2 pens. She loses 3. How many pens does Ann have?",  # negative
           "Ann has 7 pens. How many pens does Ann have?",  # no operation
           "iswe iswed{9+8=18", ""]
    assert [synth.solve_builtin(q) for q in bad] == [task.builtin_chain(q) for q in bad] == [None] * len(bad)


def test_imagine_prompt_plain_and_chat():
    assert synth.imagine_prompt(["Q1?", "Q2?"]) == "Question: Q1?\nQuestion: Q2?\nQuestion: "

    class ChatTok:
        chat_template = "{{ messages }}"

        def apply_chat_template(self, msgs, tokenize, add_generation_prompt):
            assert not tokenize and add_generation_prompt
            return "<user>" + msgs[0]["content"] + "<assistant>"
    chat = synth.imagine_prompt(["Q1?", "Q2?"], ChatTok())
    assert "Problem 1: Q1?\nProblem 2: Q2?" in chat and "one new problem" in chat
    assert chat.endswith("<assistant>")


def test_run_imagine_with_mock_policy(tmp_path):
    new_a = "Max has 2 pens. He buys 1 more. How many pens does Max have?"  # true answer 3
    new_b = "Eva has 8 eggs. She halves them. How many eggs does Eva have?"  # 4
    new_c = "Tom has 5 apples. He loses 1. How many apples does Tom have?"  # 4
    nonsense = "iswe iswed{9+8=18 and more text"
    questions = [new_a, "Question: " + new_b, "  MAX has 2 pens.  He buys 1 more. How many pens "
                 "does Max have?", SEEDS[0], TEST_Q, "", ("Ann has 3 pens. She buys", "length"),
                 "Hi", new_c, nonsense]
    wrong = [str(i) for i in range(20, 30)]
    solutions = {new_a: boxed("3", "3", "3.0", *wrong[:7]),  # 3/10 with "3.0" pooled: kept
                 new_b: boxed("4", "4", *wrong[:8]),  # 2/10: dropped
                 new_c: boxed("7", "7", "7", "7", "4", "4", "4", None, None, None),  # wrong label
                 nonsense: boxed(*["5"] * 10)}  # self-consistent nonsense still passes
    policy = MockPolicy(questions, solutions)
    args = imagine_args(tmp_path, "--n", str(len(questions)), "--k", "10", "--shots", "2")
    records, stats = synth.run_imagine(args, backend=policy)
    assert records == [
        {"id": "imagine-0-0", "question": new_a, "answer": "3", "source": "imagine",
         "agreement": 0.3, "votes": 10},
        {"id": "imagine-0-8", "question": new_c, "answer": "7", "source": "imagine",
         "agreement": 0.4, "votes": 10},
        {"id": "imagine-0-9", "question": nonsense, "answer": "5", "source": "imagine",
         "agreement": 1.0, "votes": 10}]
    assert read(tmp_path / "out" / "im.jsonl") == records
    saved = json.loads((tmp_path / "out" / "im.stats.json").read_text())
    assert saved["args"]["exclude"] == args.exclude and saved["stats"] == stats
    assert {k: stats[k] for k in ("generated", "cleaned", "unique", "new", "kept")} == {
        "generated": 10, "cleaned": 7, "unique": 6, "new": 4, "kept": 3}
    assert stats["kept_share"] == pytest.approx(3 / 4)
    assert stats["agreement_kept"] == pytest.approx((0.3 + 0.4 + 1.0) / 3)
    assert stats["agreement_all"] == pytest.approx((0.3 + 0.2 + 0.4 + 1.0) / 4)
    assert stats["well_formed"] == pytest.approx(3 / 4)
    assert stats["well_formed_kept"] == pytest.approx(2 / 3)
    assert stats["label_acc_kept"] == pytest.approx(1 / 2)  # new_a right, new_c wrong
    assert stats["label_acc_all"] == pytest.approx(2 / 3)  # + new_b: its dropped "4" is right
    ask, solve = policy.calls
    assert ask["stop"] == ["\n"] and ask["n"] == 1 and len(ask["prompts"]) == 10
    for p in ask["prompts"]:  # two seed questions, one per line, then an open "Question: "
        lines = p.split("\n")
        assert len(lines) == 3 and lines[-1] == "Question: "
        assert all(line[10:] in SEEDS for line in lines[:2])
    assert len(set(ask["prompts"])) > 1 and len(set(ask["seeds"])) == 10  # shots vary
    assert solve["n"] == 10 and solve["stop"] is None and solve["temperature"] == 1.0
    assert solve["prompts"] == [f"Question: {q}\nAnswer:\n"
                                for q in (new_a, new_b, new_c, nonsense)]
    # request i shows the same shots whatever --n is
    again = MockPolicy(questions[:3], solutions)
    synth.run_imagine(imagine_args(tmp_path, "--n", "3", "--shots", "2"), backend=again)
    assert again.calls[0]["prompts"] == ask["prompts"][:3]


def test_run_imagine_given_questions_and_bad_flags(tmp_path):
    new = "Max has 2 pens. He buys 1 more. How many pens does Max have?"
    given = write_questions(tmp_path / "given.jsonl", [new, TEST_Q])
    policy = MockPolicy([], {new: boxed("3", "3", "3", "3", "3")})
    args = imagine_args(tmp_path, "--questions", given, "--k", "5", "--min-agree", "1.0")
    records, stats = synth.run_imagine(args, backend=policy)
    assert [(r["question"], r["answer"], r["agreement"]) for r in records] == [(new, "3", 1.0)]
    assert len(policy.calls) == 1 and stats["generated"] == 2 and stats["new"] == 1
    with pytest.raises(SystemExit):
        synth.run_imagine(imagine_args(tmp_path, "--min-agree", "0"), backend=policy)
