"""The relations task's semantic oracle (reltask.py): whether each step of a solution is a right decision.

It knows the hidden graph, which no search or critic may: it is for analysis and upper bounds only
(benchmarks/oracle_report.py), never a training signal or a search reward.
  oracle_steps(question, steps) -> per step, right or not; oracle_right(question, text) -> the whole solution;
  values_right(question, text) -> every written result a needed value, whatever the names (a wrong solution
  that reaches every value under swapped names, which no answer can tell from a right one)
A step is right when it computes a needed, not yet known quantity from its relation (or the question's
combination) and inputs already known, with the true values (+ and * in either operand order), or, for the
plan step, names exactly the asked entities' chains back to the stated one.
"""
import re
import sys

from grader import grade, result_spans
from reltask import (COMBINE, answer_of, apply, default_order, gold_order, parse_relations, plan_text, solve_relations,
                     values_of)

TEXT_STEP = re.compile(r"\s*([A-Z][a-z]+)\s*(?:=\s*[A-Z][a-z]+\s*[-+*/x×]\s*\w+\s*)?:\s*(-?\d+)\s*([-+*/x×])\s*(-?\d+)\s*=\s*(-?\d+)")
CODE_LINE = re.compile(r"([a-z]+)\s*=\s*(\w+)\s*(//|[-+*/])\s*(\w+)")
PLAN = re.compile(r"\s*[A-Z][a-z]+(?:\s*<-\s*[A-Z][a-z]+)*(?:\s*,\s*[A-Z][a-z]+(?:\s*<-\s*[A-Z][a-z]+)*)*\s*")


def plan_right(prob, step):
    """Whether a plan step names exactly the targets' chains (in either order)."""
    norm = lambda t: sorted(c.replace(" ", "") for c in t.split(","))  # noqa: E731
    return norm(step) == norm(plan_text(prob))


def read_step(step, env):
    """(label, a, op, b, c) of a step: text "Name: a op b=c" (its one equation), or a code step's one
    assignment, variables read from `env` (updated with what the code computes); else None."""
    m = TEXT_STEP.match(step)
    if m:
        op = {"x": "*", "×": "*"}.get(m[3], m[3])
        return (m[1], int(m[2]), op, int(m[4]), int(m[5])) if len(result_spans(step)) == 1 else None
    lines = [s.strip() for s in step.split("\n")
             if s.strip() and not s.strip().startswith(("#", "print(", "\\boxed"))]
    m = CODE_LINE.fullmatch(lines[0]) if len(lines) == 1 else None
    if not m:
        return None
    a, b = (int(t) if t.isdigit() else env.get(t) for t in (m[2], m[4]))
    op = "/" if m[3] == "//" else m[3]
    c = env[m[1]] = apply(op, b, a)
    return None if a is None or b is None else (m[1].capitalize(), a, op, b, c)


def step_right(prob, vals, known, parsed):
    """Whether a read step computes a needed, not yet known quantity from its relation (or the
    question's combination) and inputs already known; + and * in either operand order."""
    (label, a, op, b, c), kind = parsed, prob["kind"]
    if label in known:
        return False
    if label in gold_order(prob):
        base, want_op, n = prob["rels"][label]
        inputs, want, value = [base], (vals[base], n), vals[label]
    elif kind != "one" and label == COMBINE[kind][0]:
        inputs, want_op = prob["targets"], COMBINE[kind][1]
        want, value = tuple(vals[t] for t in inputs), answer_of(prob, vals)
    else:
        return False
    operands = (a, b) == want or (op in "+*" and (b, a) == want)
    return all(x in known for x in inputs) and op == want_op and operands and c == value


def oracle_steps(question, steps):
    """Per step, whether it is right (step_right); ValueError when the question is not well formed."""
    prob = parse_relations(question)
    if prob is None:
        raise ValueError(f"not a relations question: {question[:80]!r}")
    vals, known, env, out = values_of(prob), {prob["root"]}, {}, []
    for step in steps:
        if PLAN.fullmatch(step):
            out.append(plan_right(prob, step))
            continue
        parsed = read_step(step, env)
        out.append(parsed is not None and step_right(prob, vals, known, parsed))
        if out[-1]:
            known.add(parsed[0])
    return out


def oracle_right(question, text, delim="\n\n"):
    """Every step right, every needed quantity computed, and the boxed answer the true one."""
    flags = oracle_steps(question, text.strip().split(delim))
    need = len(default_order(parse_relations(question))) + bool(flags and PLAN.fullmatch(text.strip().split(delim)[0]))
    return all(flags) and len(flags) == need and grade(text, solve_relations(question), False)


def values_right(question, text, delim="\n\n"):
    """Whether the results written after the plan are exactly the true values of the needed quantities (and of
    the question's combination), in any order and under any names: "Joe = Sue+5: 11+5=16" then "Meg = Joe/2:
    16/2=8" where Meg has 5 more than Sue and Joe half of Meg reaches every value with the two names swapped."""
    prob = parse_relations(question)
    vals = values_of(prob)
    want = [vals[e] for e in gold_order(prob)] + ([answer_of(prob, vals)] if prob["kind"] != "one" else [])
    env, got = {}, []
    for step in text.strip().split(delim):
        if not PLAN.fullmatch(step):
            parsed = read_step(step, env)
            if parsed is None:
                return False
            got.append(parsed[4])
    return sorted(got) == sorted(want)


if __name__ == "__main__":
    sys.exit("reloracle.py is a library; run benchmarks/oracle_report.py.")
