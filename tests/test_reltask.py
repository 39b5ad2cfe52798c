"""Tests for reltask.py (the relations task) and `synth.py builtin --task relations`; pure Python."""

import itertools
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import reloracle as O  # noqa: E402
import reltask as R  # noqa: E402
import synth  # noqa: E402
from grader import equations_hold, grade, steps_verified  # noqa: E402
from sandbox import run_code  # noqa: E402


def make_args(*extra, **overrides):
    argv = ["builtin", "--task", "relations", "--out-dir", "unused", "--n-seed", "150",
            "--n-pool", "150", "--n-test", "300", "--seed-ops", "1-3", "--test-ops", "1-3",
            "--pool-ops", "1-3", *extra]
    args = synth.get_parser().parse_args(argv)
    vars(args).update(overrides)
    return args


def problems(n, d=(1, 3), kinds=R.KINDS, distractors=(0, 2), seed=0, **knobs):
    """n generated problem dicts (lucky ones redrawn), difficulty and kind cycled."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        i = len(out)
        dd, kind = d[0] + i % (d[1] - d[0] + 1), kinds[i // (d[1] - d[0] + 1) % len(kinds)]
        if kind == "diff" and dd == 1:
            kind = "sum"
        p = R.make_problem(rng, dd, kind, rng.randint(*distractors), 10, 50, **knobs)
        out += [p] if p else []
    return out


def consistent(p, order):
    """Whether every entry of `order` comes after its inputs (its base; the combined targets)."""
    done = {p["root"]}
    for e in order:
        inputs = [p["rels"][e][0]] if e in p["rels"] else p["targets"]
        if not set(inputs) <= done:
            return False
        done.add(e)
    return True


def test_imports_no_torch():
    code = ("import sys; sys.path[:0] = ['.', 'benchmarks']; import reltask, synth, oracle_report; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_gold_solutions_verify_and_the_oracle_accepts_them():
    splits = synth.build_relations(make_args(pool_solutions=True))
    assert {r["source"] for recs in splits.values() for r in recs} == {"relations"}
    for rec in (r for recs in splits.values() for r in recs):
        steps = rec["solution"].split("\n\n")
        assert len(steps) - 1 == rec["ops"] == rec["difficulty"] + (rec["kind"] != "one")  # a plan, then the equations
        assert O.PLAN.fullmatch(steps[0]) and all(" = " in s and ": " in s for s in steps[1:])
        assert steps_verified(steps, rec["ops"], rec["question"]) and grade(rec["solution"], rec["answer"])
        assert all(O.oracle_steps(rec["question"], steps))
        assert O.oracle_right(rec["question"], rec["solution"])
        assert R.solve_relations(rec["question"]) == rec["answer"]
        assert rec["question"].count(". ") == rec["difficulty"] + rec["distractors"] + 1


def test_every_dependency_consistent_order_is_right_and_no_other():
    several = fooled = 0
    for p in problems(120, d=(2, 3), kinds=("sum", "diff"), distractors=(0, 1)):
        q, rights = R.question_text(p), 0
        for order in itertools.permutations(R.default_order(p)):
            text = R.text_solution(p, list(order))
            ok = consistent(p, order)
            assert all(O.oracle_steps(q, text.split("\n\n"))) == ok == O.oracle_right(q, text)
            verified = steps_verified(text.split("\n\n"), len(order))
            assert verified or not ok
            assert steps_verified(text.split("\n\n"), len(order), q) == ok  # a name read before it is computed
            fooled += verified and not ok
            rights += ok
        several += rights > 1
    assert several >= 20  # many combining questions have several right orders
    assert fooled >= 20  # without the question (names unread) the checker passes wrong orders ending on the answer


def wrong_step(p, e, op, a, b):
    """A true equation written for entity e: 'E: a op b=c'."""
    return f"{e}: {a}{op}{b}={R.apply(op, b, a)}"


def test_wrong_decisions_pass_the_checker_but_not_the_oracle():
    seen = Counter()
    for p in problems(300, distractors=(1, 2)):
        q, vals = R.question_text(p), R.values_of(p)
        gold = R.text_solution(p).split("\n\n")
        e = R.gold_order(p)[0]  # the first step: its base is the stated entity
        base, op, n = p["rels"][e]
        distractor = next((x for x in p["rels"] if x not in R.gold_order(p) and p["rels"][x][0] == base), None)
        other = next(x for x in vals if x not in (e, base))
        wrongs = {"wrong base": wrong_step(p, e, op, vals[other], n)}
        if distractor:
            d_base, d_op, d_n = p["rels"][distractor]
            wrongs["distractor"] = wrong_step(p, distractor, d_op, vals[d_base], d_n)
            wrongs["distractor's relation"] = wrong_step(p, e, d_op, vals[base], d_n)
        if op == "-":
            wrongs["+ for -"] = wrong_step(p, e, "+", vals[base], n)
            wrongs["swapped -"] = wrong_step(p, e, "-", n, vals[base])
        for name, step in wrongs.items():
            assert equations_hold(step), (name, step)
            assert O.oracle_steps(q, [step] + gold[1:])[0] is False, (name, step)
            assert not O.oracle_right(q, "\n\n".join([step] + gold[1:])), (name, step)
            seen[name] += 1
    assert set(seen) == {"wrong base", "distractor", "distractor's relation", "+ for -", "swapped -"}


def test_single_wrong_decisions_never_reach_the_answer():
    """`lucky` rejects every problem where one wrong decision (or a swap) keeps the answer."""
    for p in problems(300):
        answer = R.answer_of(p, R.values_of(p))
        for overrides in R.wrong_decisions(p, R.values_of(p)):
            assert R.answer_of(p, R.values_of(p, overrides)) != answer, overrides
    rng, lucky = random.Random(1), 0
    for i in range(300):  # without rejection such problems occur
        p = R.make_problem(rng, 1 + i % 3, R.KINDS[i % 3], 1, 10, 50, reject=False)
        lucky += R.lucky(p)
    assert lucky > 30


def test_splits_disjoint_ids_unique_and_kinds_cycled():
    splits = synth.build_relations(make_args())
    recs = [r for rs in splits.values() for r in rs]
    assert len({r["question"] for r in recs}) == len(recs) == 600
    assert len({r["id"] for r in recs}) == 600 and splits["test"][7]["id"] == "test-0-7"
    keys = {s: {R.computation(R.parse_relations(r["question"])) for r in rs} for s, rs in splits.items()}
    assert not keys["test"] & keys["seed"] and not keys["test"] & keys["pool"]
    assert not keys["seed"] & keys["pool"]
    assert Counter(r["difficulty"] for r in splits["test"]) == {1: 100, 2: 100, 3: 100}
    kinds = Counter((r["difficulty"], r["kind"]) for r in splits["test"])
    assert kinds[(1, "one")] == kinds[(1, "sum")] == 50 and kinds[(1, "diff")] == 0
    assert all(33 <= kinds[(d, k)] <= 34 for d in (2, 3) for k in R.KINDS)
    assert all("solution" not in r for r in splits["pool"])


def test_deterministic_and_test_split_independent_of_the_others():
    a = synth.build_relations(make_args())
    assert a == synth.build_relations(make_args())
    assert a["test"] == synth.build_relations(make_args(n_seed=10, n_pool=0))["test"]
    assert a["test"] != synth.build_relations(make_args(seed=1))["test"]


def test_knobs_move_what_they_should():
    base = synth.build_relations(make_args(n_seed=0, n_pool=0))["test"]
    hard = synth.build_relations(make_args("--test-ops", "4-5", "--distractors", "2-3",
                                           "--kinds", "diff", n_seed=0, n_pool=0))["test"]
    assert {r["difficulty"] for r in hard} == {4, 5} and {r["distractors"] for r in hard} == {2, 3}
    assert {r["kind"] for r in hard} == {"diff"} and all("How many more" in r["question"] for r in hard)
    assert {r["distractors"] for r in base} == {0, 1} and {r["kind"] for r in base} == set(R.KINDS)
    big = synth.build_relations(make_args(n_seed=0, n_pool=0, max_value=99, max_operand=20))["test"]
    for recs, top, operand in ((base, 50, 10), (big, 99, 20)):
        probs = [R.parse_relations(r["question"]) for r in recs]
        values = [v for p in probs for v in R.values_of(p).values()]
        adds = [n for p in probs for _, op, n in p["rels"].values() if op in "+-"]
        assert 1 <= min(values) and max(values) <= top and max(values) > top - 10
        assert 2 <= min(adds) and max(adds) == operand
    for knob in ("shuffle", "alternate"):
        on, off = problems(300), problems(300, **{knob: False})
        measure = in_order if knob == "shuffle" else same_class_neighbours
        assert sum(map(measure, off)) > 1.5 * sum(map(measure, on)), knob
    assert all(in_order(p) for p in problems(100, shuffle=False))


def in_order(p):
    """Whether every fact comes after the fact of its base."""
    return all(p["facts"].index(p["rels"][e][0]) < p["facts"].index(e) for e in p["rels"])


def same_class_neighbours(p):
    """Pairs (base, entity) of computed entities whose relations are both additive or both not."""
    rels = p["rels"]
    return sum((rels[e][1] in "+-") == (rels[b][1] in "+-") for e, (b, _, _) in rels.items() if b in rels)


def test_code_format_runs_every_prefix_and_the_oracle_reads_it():
    recs = synth.build_relations(make_args("--format", "code", n_seed=0, n_pool=0))["test"]
    for rec in recs:
        assert all(O.oracle_steps(rec["question"], rec["solution"].split("\n\n")))
        assert O.oracle_right(rec["question"], rec["solution"]) and grade(rec["solution"], rec["answer"])
    for rec in [r for r in recs if r["difficulty"] == 3][:4] + recs[:2]:
        steps = ["\n".join(s for s in step.split("\n") if "\\boxed" not in s)
                 for step in rec["solution"].split("\n\n")]
        for k in range(1, len(steps) + 1):
            ok, out = run_code("\n\n".join(steps[:k]))
            assert ok, out
        assert out.strip() == rec["answer"]


def test_code_oracle_rejects_a_wrong_variable():
    p = next(p for p in problems(50, d=(2, 2), kinds=("one",)))
    steps = R.code_solution(p).split("\n\n")
    wrong = steps[1].replace(f"= {R.gold_order(p)[0].lower()} ", f"= {p['value']} ")
    assert O.oracle_steps(R.question_text(p), [steps[0], wrong]) == [True, False]


def test_the_boxing_code_step_must_print_what_the_question_asks():
    for p in problems(60, d=(1, 3)):
        q, last = R.question_text(p), R.code_solution(p).split("\n\n")[-1]
        assert R.prints_what_is_asked(q, last)
        printed = R.PRINTED.findall(last)[-1]
        other = next(e.lower() for e in R.gold_order(p) + [p["root"]] if e.lower() != printed)
        assert not R.prints_what_is_asked(q, last.replace(f"print({printed})", f"print({other})"))
        assert R.prints_what_is_asked(q, last.split("\nprint(")[0])  # no answer yet


def test_parse_round_trips_the_generator():
    for p in problems(300, distractors=(0, 3)):
        assert R.parse_relations(R.question_text(p)) == p
        assert R.solve_relations(R.question_text(p)) == str(R.answer_of(p, R.values_of(p)))


@pytest.mark.parametrize("question", [
    "",
    "Tom has 7 pens. How many pens does Tom have",  # no question mark
    "Tom has 7 pens. Ann has 3 more pens than Tom. How many pens does Kim have?",  # unknown target
    "Tom has 7 pens. Ann has 3 more pens than Tom. Ann has 2 fewer pens than Tom. How many pens does Ann have?",
    "Tom has 7 pens. Ann has 3 more pens. How many pens does Ann have?",  # outside the templates
    "Tom has 7 pens. Sue has 2 pens. How many pens does Sue have?",  # two stated entities
    "Ann has 3 more pens than Tom. Tom has 2 more pens than Ann. How many pens does Ann have?",
    "Tom has 7 pens. Ann has 3 more pens than Kim. How many pens does Ann have?",  # base never stated
    "Tom has 7 pens. Ann has half as many pens as Tom. How many pens does Ann have?",  # odd halved
    "Tom has 7 pens. Ann has 9 fewer pens than Tom. How many pens does Ann have?",  # negative
    "Tom has 7 pens. Ann has 3 more eggs than Tom. How many pens does Ann have?",  # two objects
    "Tom has 7 pens. Bud has 3 more pens than Tom. How many pens does Bud have?",  # name not in vocabulary
    "Tom has 7 pens. Ann has 3 more pens than Tom. How many more pens does Tom have than Ann?",
    "Tom has 7 pens. Ann has 3 more pens than Tom. How many pens do Ann and Ann have together?",
])
def test_malformed_questions_give_none(question):
    assert R.parse_relations(question) is None and R.solve_relations(question) is None
    if question:
        with pytest.raises(ValueError):
            O.oracle_steps(question, ["Ann: 7+3=10"])


def test_oracle_on_hand_written_steps():
    q = ("Leo has 4 fewer pens than Ann. Tom has 7 pens. Kim has twice as many pens as Ann. "
         "Ann has 3 more pens than Tom. How many pens do Kim and Tom have together?")
    assert R.solve_relations(q) == "27"
    right = "Ann: 3+7=10\n\nKim: 2*10=20\n\nTotal: 7+20=27. The answer is \\boxed{27}."
    assert O.oracle_right(q, right)  # + and * in either operand order
    assert O.oracle_steps(q, ["Kim: 10*2=20", "Ann: 7+3=10"]) == [False, True]  # base not yet known
    assert O.oracle_steps(q, ["Ann: 7+3=10", "Ann: 7+3=10"]) == [True, False]  # computed twice
    assert O.oracle_steps(q, ["Ann: 7+3=10", "Leo: 10-4=6"]) == [True, False]  # a distractor
    assert O.oracle_steps(q, ["Ann: 7+3=11"]) == [False]  # a false sum
    assert O.oracle_steps(q, ["Ann: 7+3=10, Kim: 10*2=20"]) == [False]  # two equations in one step
    assert O.oracle_steps(q, ["Ann: 7+3=10", "Total: 10+7=17"]) == [True, False]  # inputs not known
    assert not O.oracle_right(q, "Ann: 7+3=10\n\nKim: 10*2=20. The answer is \\boxed{20}.")
    # the plan step: each target's chain back to the stated entity, in either order; a wrong one is a wrong step
    assert R.plan_text(R.parse_relations(q)) == "Kim <- Ann <- Tom, Tom"
    planned = "Tom, Kim <- Ann <- Tom\n\nAnn = Tom+3: 7+3=10\n\nKim = Ann*2: 10*2=20\n\nTotal = Kim+Tom: 20+7=27. \\boxed{27}"
    assert O.oracle_right(q, planned) and O.oracle_steps(q, planned.split("\n\n")) == [True] * 4
    assert O.oracle_steps(q, ["Kim <- Leo <- Ann <- Tom, Tom", "Ann = Tom+3: 7+3=10"]) == [False, True]
    assert not O.oracle_right(q, planned.replace("Kim <- Ann", "Kim <- Leo <- Ann"))


def test_synth_cli_writes_relations(tmp_path):
    cmd = [sys.executable, "synth.py", "builtin", "--task", "relations", "--out-dir", str(tmp_path / "a"),
           "--n-seed", "30", "--n-pool", "30", "--n-test", "30", "--seed-ops", "1-2", "--test-ops", "1-2",
           "--pool-ops", "2", "--distractors", "1"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    recs = [json.loads(line) for line in (tmp_path / "a" / "pool.jsonl").read_text().splitlines()]
    assert len(recs) == 30 and {r["difficulty"] for r in recs} == {2} and {r["distractors"] for r in recs} == {1}
    bad = subprocess.run(cmd[:-1] + ["2-1"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "--distractors" in bad.stderr
    bad = subprocess.run(cmd + ["--kinds", "one,many"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "--kinds" in bad.stderr


def hand_problem(rels, kind, targets, value=10):
    return {"object": "pens", "root": "Tom", "value": value, "rels": rels, "kind": kind,
            "targets": targets, "facts": ["Tom", *rels]}


def test_lucky_on_hand_built_problems():
    # the answer does not depend on the stated value: Kim - Ann = 8 - 3 whatever Tom has
    assert R.lucky(hand_problem({"Ann": ("Tom", "+", 3), "Kim": ("Tom", "+", 8)}, "diff", ["Kim", "Ann"]))
    # x3 then x2 and x2 then x3 both reach 24 from 4
    assert R.lucky(hand_problem({"Ann": ("Tom", "*", 3), "Kim": ("Ann", "*", 2)}, "one", ["Kim"], 4))
    # the distractor Leo = Tom * 2 has the value the question asks
    assert R.lucky(hand_problem({"Ann": ("Tom", "+", 10), "Leo": ("Tom", "*", 2)}, "one", ["Ann"]))
    assert not R.lucky(hand_problem({"Ann": ("Tom", "+", 3), "Kim": ("Ann", "*", 2)}, "one", ["Kim"]))


def test_lucky_rejects_a_sum_whose_asked_entities_swap_relations():
    # Kim = Tom*2 = 8, Ann = Tom+3 = 7: "Kim = Tom+3: 4+3=7 | Ann = Tom*2: 4*2=8" is verified and wrong, total 15
    assert R.lucky(hand_problem({"Kim": ("Tom", "*", 2), "Ann": ("Tom", "+", 3)}, "sum", ["Kim", "Ann"], 4))
    # additive relations on different bases: Ann = Tom+3 = 7, Kim = Leo+5 = 13 (Leo = Tom*2), total 20;
    # swapped, Kim = Leo+3 = 11 and Ann = Tom+5 = 9 still total 20
    assert R.lucky(hand_problem({"Ann": ("Tom", "+", 3), "Kim": ("Leo", "+", 5), "Leo": ("Tom", "*", 2)}, "sum",
                                ["Kim", "Ann"], 4))
    assert not R.lucky(hand_problem({"Kim": ("Tom", "*", 2), "Ann": ("Tom", "+", 3)}, "diff", ["Kim", "Ann"], 4))


def test_values_right_tells_swapped_names_from_wrong_values():
    q = ("Meg has 5 more coins than Sue. Joe has half as many coins as Meg. Sue has 11 coins. "
         "Bob has 5 more coins than Joe. How many coins does Bob have?")
    right = "Bob <- Joe <- Meg <- Sue\n\nMeg = Sue+5: 11+5=16\n\nJoe = Meg/2: 16/2=8\n\nBob = Joe+5: 8+5=13. \\boxed{13}"
    swapped = "Bob <- Meg <- Joe <- Sue\n\nJoe = Sue+5: 11+5=16\n\nMeg = Joe/2: 16/2=8\n\nBob = Meg+5: 8+5=13. \\boxed{13}"
    assert O.oracle_right(q, right) and O.values_right(q, right)
    assert not O.oracle_right(q, swapped) and O.values_right(q, swapped)  # the answer cannot tell them apart
    assert steps_verified(swapped.split("\n\n"), 3, q)  # nor the checker: each step reads what its names hold
    wrong = right.replace("16/2=8", "16-2=14").replace("8+5=13", "14+5=19").replace("{13}", "{19}")
    assert not O.values_right(q, wrong)
    assert not O.values_right(q, right.replace("\n\nBob = Joe+5: 8+5=13.", "."))  # a needed value missing


def test_oracle_report_counts(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import oracle_report
    recs = synth.build_relations(make_args(n_seed=0, n_pool=0, n_test=30))["test"]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    preds, sft = [], []
    for i, r in enumerate(recs):
        p = R.parse_relations(r["question"])
        text = r["solution"]
        if (i // 3) % 3 == 1:  # a false last result (and answer): an arithmetic error
            a = int(r["answer"])
            text = text.replace(f"={a}. The answer is \\boxed{{{a}}}", f"={a + 1}. The answer is \\boxed{{{a + 1}}}")
        if (i // 3) % 3 == 2:  # a true equation that is no decision of the problem: a semantic error
            v = p["value"]
            text = f"{R.gold_order(p)[0]}: {v}+{v + 50}={2 * v + 50}. The answer is \\boxed{{{2 * v + 50}}}."
        preds.append({"id": r["id"], "greedy": {"text": text}})
        sft.append({"problem": r["id"], "completion": text})
    for r in recs[:5]:  # every result true, through "1 + (c - 1)": no named step reads the values it names
        text = re.sub(r"(\w+): \d+[-+*/]\d+=(\d+)", lambda m: f"{m[1]}: 1+{int(m[2]) - 1}={m[2]}", r["solution"])
        sft.append({"problem": r["id"], "completion": text})
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps(r) + "\n" for r in preds))
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sft))
    s = oracle_report.main(["--problems", str(tmp_path / "p.jsonl"), "--predictions", str(tmp_path / "pred.jsonl")])
    assert s["all"]["n"] == 30 and s["all"]["answer"] == s["all"]["oracle"] == pytest.approx(0.4)
    assert s["all"]["wrong_arithmetic"] == 9 and s["all"]["wrong_semantic"] == 9
    assert s["all"]["lucky"] == s["all"]["lucky_values_right"] == 0
    assert s["difficulty 1"]["n"] == 10 and set(s) >= {"kind one", "kind sum", "kind diff"}
    s = oracle_report.main(["--problems", str(tmp_path / "p.jsonl"), "--sft", str(tmp_path / "sft.jsonl")])
    assert s["all"]["n"] == 35 and s["all"]["verified"] == pytest.approx(12 / 35)
    assert s["all"]["verified_oracle_wrong"] == 0


def test_bookkeeping_reads_the_values_a_step_names_not_its_decision():
    """reltask.bookkeeping_ok: a step must use the value the question states or an earlier step computed for the
    name it writes (what running code does for variables); a wrong relation written consistently passes (a
    decision: the oracle's business, not the checker's); + in either operand order passes."""
    q = ("Ben has twice as many books as Zoe. Sue has 4 fewer books than Zoe. Zoe has 11 books. Tom has 5 fewer "
         "books than Ben. How many more books does Tom have than Sue?")
    gold = ["Tom <- Ben <- Zoe, Sue <- Zoe", "Ben = Zoe*2: 11*2=22", "Tom = Ben-5: 22-5=17", "Sue = Zoe-4: 11-4=7",
            "Difference = Tom-Sue: 17-7=10. The answer is \\boxed{10}."]
    assert R.bookkeeping_ok(q, gold) and O.oracle_right(q, "\n\n".join(gold))
    wrong_decision = ["Tom <- Ben <- Zoe, Sue <- Zoe", "Ben = Zoe-3: 11-3=8", "Tom = Ben*2: 8*2=16",
                      "Sue = Zoe-4: 11-4=7", "Difference = Tom-Sue: 16-7=9. The answer is \\boxed{9}."]
    assert R.bookkeeping_ok(q, wrong_decision) and not O.oracle_right(q, "\n\n".join(wrong_decision))
    lucky = wrong_decision[:4] + ["Difference = Tom-Sue: 17-7=10. The answer is \\boxed{10}."]  # Tom is 16 here
    assert not R.bookkeeping_ok(q, lucky)
    assert steps_verified(lucky, 4) and not steps_verified(lucky, 4, q)  # the filter with the question drops it
    assert not R.bookkeeping_ok(q, gold[:1] + ["Ben = Zoe*2: 12*2=24"])  # Zoe is stated as 11
    assert not R.bookkeeping_ok(q, gold[:1] + ["Ben = Zoe*2: 11*3=33"])  # the constant written before the colon
    assert R.bookkeeping_ok(q, gold[:1] + ["Ben = Zoe*2: 2*11=22", "Tom = Ben-5: 22-5=17"])
    assert R.bookkeeping_ok("Ann has 3 pens. How many?", ["Bob = Ann+1: 9+1=10"])  # not a relations question


def test_bookkeeping_computes_each_name_once():
    """A step that writes a name already holding a value fails: the right numbers under a wrong name (the
    data-limited base's "Ben = Ben*3: 3*3=9" for Ray), a stated value computed again, a name computed twice."""
    q = "Ray has three times as many coins as Ben. Kim has 2 more coins than Ray. Ben has 3 coins. How many coins does Kim have?"
    gold = ["Kim <- Ray <- Ben", "Ray = Ben*3: 3*3=9", "Kim = Ray+2: 9+2=11. The answer is \\boxed{11}."]
    assert R.bookkeeping_ok(q, gold) and O.oracle_right(q, "\n\n".join(gold))
    misnamed = ["Kim <- Ben <- Ben", "Ben = Ben*3: 3*3=9", "Kim = Ben+2: 9+2=11. The answer is \\boxed{11}."]
    assert not R.bookkeeping_ok(q, misnamed)
    assert not steps_verified(misnamed, 2, q) and steps_verified(misnamed, 2)  # the filter with the question drops it
    assert not R.bookkeeping_ok(q, gold[:2] + ["Ray = Ben*3: 3*3=9"])


def test_the_boxed_step_must_compute_what_the_question_asks():
    """bookkeeping_ok: the right values under swapped names reach the true answer ("Joe = Sue+5" then "Meg = Joe/2"
    where Meg = Sue+5 and Joe = Meg/2); the boxed step then computes Meg, not the asked Joe, and fails. A swap that
    leaves the asked name last still passes (a decision: the oracle's business), as does a sum in either order."""
    q = "Meg has 5 more coins than Sue. Joe has half as many coins as Meg. Sue has 11 coins. How many coins does Joe have?"
    gold = ["Joe <- Meg <- Sue", "Meg = Sue+5: 11+5=16", "Joe = Meg/2: 16/2=8. The answer is \\boxed{8}."]
    swapped = ["Joe <- Meg <- Sue", "Joe = Sue+5: 11+5=16", "Meg = Joe/2: 16/2=8. The answer is \\boxed{8}."]
    assert R.bookkeeping_ok(q, gold) and steps_verified(gold, 2, q)
    assert O.values_right(q, "\n\n".join(swapped)) and not O.oracle_right(q, "\n\n".join(swapped))
    assert not R.bookkeeping_ok(q, swapped) and not steps_verified(swapped, 2, q)
    assert R.bookkeeping_ok(q, swapped[:2])  # no answer boxed yet: a path may go on to compute Joe
    q3 = ("Meg has 5 more coins than Sue. Ann has twice as many coins as Meg. Joe has 3 fewer coins than Ann. "
          "Sue has 11 coins. How many coins does Joe have?")
    inner = ["Joe <- Ann <- Meg <- Sue", "Ann = Sue+5: 11+5=16", "Meg = Ann*2: 16*2=32",
             "Joe = Meg-3: 32-3=29. The answer is \\boxed{29}."]
    assert R.bookkeeping_ok(q3, inner) and not O.oracle_right(q3, "\n\n".join(inner))
    qs = "Ben has twice as many pens as Zoe. Zoe has 7 pens. How many pens do Ben and Zoe have together?"
    base = ["Ben <- Zoe, Zoe", "Ben = Zoe*2: 7*2=14"]
    assert R.bookkeeping_ok(qs, base + ["Total = Zoe+Ben: 7+14=21. The answer is \\boxed{21}."])
    assert not R.bookkeeping_ok(qs, base + ["Difference = Zoe+Ben: 7+14=21. The answer is \\boxed{21}."])
    qd = "Ben has twice as many pens as Zoe. Zoe has 7 pens. How many more pens does Ben have than Zoe?"
    assert R.bookkeeping_ok(qd, base + ["Difference = Ben-Zoe: 14-7=7. The answer is \\boxed{7}."])
    assert not R.bookkeeping_ok(qd, base + ["Difference = Zoe-Ben: 7-14=7. The answer is \\boxed{7}."])
