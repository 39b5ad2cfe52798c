"""The relations task (DESIGN.md section 10), written by `synth.py builtin --task relations`: word
problems with decisions, GSM8K-like, built from a dependency graph as in iGSM (Ye et al. 2024) and
small enough for the ~1M-parameter char-level model. One entity has a stated value, every other is
stated relative to exactly one other, facts come shuffled, distractor entities hang off the needed
ones, and the question asks one entity, the sum of two or the difference of two. A step can be
arithmetically true and still wrong (a wrong entity, relation, operand, a distractor): only the final
answer, Q-values or a learned critic tell. reloracle.py tells exactly; it is for analysis and upper
bounds only, never a training signal or a search reward.

  Q: Leo has 4 fewer pens than Ann. Tom has 7 pens. Kim has twice as many pens as Ann.
     Ann has 3 more pens than Tom. How many pens does Kim have?
  text: "Kim <- Ann <- Tom\\n\\nAnn = Tom+3: 7+3=10\\n\\nKim = Ann*2: 10*2=20. The answer is \\\\boxed{20}."
  code: "# Ann has 3 more pens than Tom\\nann = 7 + 3\\n\\n"
        "# Kim has twice as many pens as Ann\\nkim = ann * 2\\nprint(kim)\\n\\\\boxed{20}"

Relations: "n more" (+n), "n fewer" (-n), "twice" (*2), "three times" (*3), "half" (/2, of even values). A text solution
opens with a plan step: each asked entity's chain back to the stated one ("Kim <- Ann <- Tom"; a combining question
lists two, "Kim <- Ann <- Tom, Tom"), so the lookups that find which fact to use are written one hop at a time; then one
step per needed quantity that names its base ("Kim = Ann*2: 10*2=20"; difficulty = their number; ops = the equations,
one more when the question combines: "Total = Kim+Tom: 20+7=27" or "Difference = ..."), in the order "the path from the
stated entity to the question's first entity, then to its second"; every order that computes a quantity after its base
is as right, and the oracle accepts each (and the plan's two chains in either order). In code the stated value is a
literal where used, so a step is the same decision in both formats and every prefix of steps runs.

Knobs (make_problem; synth.py exposes the first four; docs/relations.md has the table): difficulty d (needed
quantities: "one" is a chain of d relations from the stated entity, "sum"/"diff" two chains sharing a prefix,
so several orders are right; "diff" needs d >= 2), distractors (entities stated relative to the stated or a
needed one), kinds, max_operand / max_value (+/- operands in [2, max_operand], values in [1, max_value]);
always on: shuffled facts, additive and multiplicative relations alternating along a path where the values
allow (neighbours do not commute), and the rejection of problems where a wrong decision still reaches the true
answer (`lucky`: two entities with one value, an answer that is a number of the question or another entity's
value, one wrong step, two neighbours' or the two asked entities' relations swapped).
Splits, ids, disjointness, determinism as in task.py, from random.Random("relations-<seed>-<split>");
a computation (the kind and the gold's equations without names) never crosses splits.
"""
import random
import re
import sys

# ----------------------------------------------------------------------------- vocabulary
# Three letters keep sequences short for the char-level model; no name is a Python builtin.
NAMES = ["Ann", "Bob", "Tom", "Sue", "Eva", "Kim", "Leo", "Amy",
         "Ben", "Zoe", "Ian", "Joe", "Liz", "Dan", "Meg", "Ray"]
OBJECTS = ["pens", "eggs", "cards", "coins", "apples", "books", "cups", "nuts"]
KINDS = ("one", "sum", "diff")
STATED = "{a} has {n} {obj}."
# (op, fixed factor or None when the sentence carries n) -> sentence; a = the entity, b = its base
RELATION = {("+", None): "{a} has {n} more {obj} than {b}.",
            ("-", None): "{a} has {n} fewer {obj} than {b}.",
            ("*", 2): "{a} has twice as many {obj} as {b}.",
            ("*", 3): "{a} has three times as many {obj} as {b}.",
            ("/", 2): "{a} has half as many {obj} as {b}."}
ASK = {"one": "How many {obj} does {a} have?",
       "sum": "How many {obj} do {a} and {b} have together?",
       "diff": "How many more {obj} does {a} have than {b}?"}
COMBINE = {"sum": ("Total", "+"), "diff": ("Difference", "-")}  # kind -> (step label, op)
INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def apply(op, n, x):
    """x op n, or None when undefined (a None input, a division that is not exact)."""
    if x is None or n is None or (op == "/" and (not n or x % n)):
        return None
    return {"+": x + n, "-": x - n, "*": x * n, "/": x // (n or 1)}[op]


# ----------------------------------------------------------------------------- drawing problems


def parse_span(text, least=0):
    """'0-2' -> (0, 2); '1' -> (1, 1); ValueError unless least <= lo <= hi."""
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not least <= lo <= hi:
        raise ValueError(f"bad range {text!r}: want 'lo-hi' with {least} <= lo <= hi")
    return lo, hi


def parse_kinds(text):
    """'one,sum' -> ('one', 'sum'); ValueError on an unknown or empty list."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"bad question kinds {text!r}: want a comma list of {', '.join(KINDS)}")
    return kinds


def draw_shape(rng, d, kind):
    """Parent node of each computed node 1..d (node 0 is the stated entity) and the target nodes.
    "one": the chain 0 -> 1 -> ... -> d. Combining kinds: a shared chain 0..s, the first target's
    own branch s+1..s+a, and the second's s+a+1..d hanging off s (empty: the second target is s);
    a difference of an entity and its base is n or the base itself: nothing to compute."""
    if kind == "one":
        return list(range(d)), [d]
    # (shared s, first branch a) uniformly; a "diff" target is not the other's base (unless d = 1)
    shapes = [(s, a) for s in range(d) for a in range(1, d - s + 1)
              if not (kind == "diff" and d > 1 and a == 1 and s + a == d)]
    s, a = rng.choice(shapes)
    parents = list(range(s + a))
    if d > s + a:
        parents += [s] + list(range(s + a + 1, d))
    return parents, [s + a, d if d > s + a else s]


def draw_relation(rng, x, prefer, max_operand, max_value):
    """(op, n) on base value x keeping the value in [1, max_value]; the kind is drawn uniformly
    among valid kinds of the preferred class ('add' or 'mul', None: any), then its operand."""
    options = {"+": [("+", n) for n in range(2, min(max_operand, max_value - x) + 1)],
               "-": [("-", n) for n in range(2, min(max_operand, x - 1) + 1)],
               "*": [("*", k) for k in (2, 3) if x * k <= max_value],
               "/": [("/", 2)] if x % 2 == 0 else []}
    valid = [op for op in "+-*/" if options[op]]
    wanted = [op for op in valid if prefer is None or (op in "+-") == (prefer == "add")]
    return rng.choice(options[rng.choice(wanted or valid)])


def make_problem(rng, d, kind, distractors, max_operand, max_value, shuffle=True, alternate=True,
                 reject=True):
    """One problem as a dict (question_text renders it), or None when it is `lucky` (reject)."""
    parents, targets = draw_shape(rng, d, kind)
    parents += [rng.randint(0, d) for _ in range(distractors)]
    names, obj = rng.sample(NAMES, len(parents) + 1), rng.choice(OBJECTS)
    values, classes, rels = [rng.randint(2, max(2, max_value // 2))], [None], {}
    for i, p in enumerate(parents, 1):
        prefer = {"add": "mul", "mul": "add"}[classes[p]] if alternate and classes[p] else None
        op, n = draw_relation(rng, values[p], prefer, max_operand, max_value)
        values.append(apply(op, n, values[p]))
        classes.append("add" if op in "+-" else "mul")
        rels[names[i]] = (names[p], op, n)
    if kind == "diff" and values[targets[0]] < values[targets[1]]:
        targets.reverse()  # "how many more does A have than B" asks A > B
    facts = rng.sample(names, len(names)) if shuffle else list(names)
    prob = {"object": obj, "root": names[0], "value": values[0], "rels": rels, "kind": kind,
            "targets": [names[t] for t in targets], "facts": facts}
    return None if reject and lucky(prob) else prob


def values_of(prob, overrides=None):
    """name -> value, each computed from its base in dependency order; `overrides` force values
    (a wrong decision) and their dependents follow. None when a base is missing or cyclic."""
    overrides = overrides or {}
    vals = {prob["root"]: overrides.get(prob["root"], prob["value"])}
    pending = dict(prob["rels"])
    while pending:
        ready = [a for a, (b, _, _) in pending.items() if b in vals]
        if not ready:
            return None
        for a in ready:
            b, op, n = pending.pop(a)
            vals[a] = overrides[a] if a in overrides else apply(op, n, vals[b])
    return vals


def answer_of(prob, vals, targets=None):
    """The question's answer from the values (None if undefined); `targets` replaces its entities."""
    targets = targets or prob["targets"]
    if vals is None or any(vals.get(t) is None for t in targets):
        return None
    if prob["kind"] == "one":
        return vals[targets[0]]
    return apply(COMBINE[prob["kind"]][1], vals[targets[1]], vals[targets[0]])


def gold_order(prob):
    """The needed computed entities: the path to the first target, then the rest of the second's."""
    order = []
    for t in prob["targets"]:
        path = []
        while t != prob["root"]:
            path, t = [t] + path, prob["rels"][t][0]
        order += [e for e in path if e not in order]
    return order


def wrong_decisions(prob, vals):
    """Overrides {entity: wrong value} for one wrong decision each (see the module docstring)."""
    ops = {rel[1:] for rel in prob["rels"].values()}
    yield {prob["root"]: prob["value"] + 1}
    for e in gold_order(prob):
        b, op, n = prob["rels"][e]
        for x in vals:  # the right relation on a wrong base
            if x not in (e, b):
                yield {e: apply(op, n, vals[x])}
        for op2, n2 in ops | {(INVERSE[op], n)}:  # a wrong relation on the right base
            if (op2, n2) != (op, n):
                yield {e: apply(op2, n2, vals[b])}
        yield {e: n - vals[b] if op == "-" else None}  # "n - x" for "x - n"
        if b in prob["rels"]:  # b's and e's relations swapped
            b2, op_b, n_b = prob["rels"][b]
            first = apply(op, n, vals[b2])
            yield {b: first, e: apply(op_b, n_b, first)}
    a, b = prob["targets"] if prob["kind"] != "one" else (None, None)
    if a in prob["rels"] and b in prob["rels"]:  # the two asked entities' relations swapped
        (base_a, op_a, n_a), (base_b, op_b, n_b) = prob["rels"][a], prob["rels"][b]
        yield {a: apply(op_b, n_b, vals[base_a]), b: apply(op_a, n_a, vals[base_b])}


def lucky(prob):
    """True when a wrong decision could still reach the true answer (see the module docstring)."""
    vals = values_of(prob)
    answer = answer_of(prob, vals)
    if answer is None or len(set(vals.values())) < len(vals):
        return True
    numbers = {prob["value"]} | {n for _, _, n in prob["rels"].values()}
    others = [v for x, v in vals.items() if prob["kind"] != "one" or x not in prob["targets"]]
    if answer in numbers or answer in others:
        return True
    if any(answer_of(prob, values_of(prob, o)) == answer for o in wrong_decisions(prob, vals)):
        return True
    a, b = (prob["targets"] * 2)[:2]
    swaps = [[a, x] for x in vals if x != b] + [[x, b] for x in vals if x != a]
    return prob["kind"] != "one" and any(answer_of(prob, vals, t) == answer for t in swaps)


def fact_sentence(prob, name):
    """The sentence that states `name`: its value, or its relation to its base."""
    if name == prob["root"]:
        return STATED.format(a=name, n=prob["value"], obj=prob["object"])
    b, op, n = prob["rels"][name]
    return RELATION[(op, n if op in "*/" else None)].format(a=name, b=b, n=n, obj=prob["object"])


def question_text(prob):
    """The facts in statement order, then the question."""
    a, b = (prob["targets"] * 2)[:2]
    ask = ASK[prob["kind"]].format(a=a, b=b, obj=prob["object"])
    return " ".join([fact_sentence(prob, f) for f in prob["facts"]] + [ask])


def default_order(prob):
    """The gold order, with the combining step's label last when the question combines."""
    return gold_order(prob) + ([COMBINE[prob["kind"]][0]] if prob["kind"] != "one" else [])


def plan_text(prob):
    """The plan step: each target's chain back to the stated entity, "Kim <- Ann <- Tom" (two joined by ", ")."""
    chains = []
    for t in dict.fromkeys(prob["targets"]):
        chain = [t]
        while chain[-1] != prob["root"]:
            chain.append(prob["rels"][chain[-1]][0])
        chains.append(" <- ".join(chain))
    return ", ".join(chains)


def text_solution(prob, order=None):
    """One "Name: a op b=c" step per entry of `order` (default: the gold order), "\\n\\n"-joined;
    the last step boxes the answer. `order` may be any order; the steps stay true equations."""
    vals, steps = values_of(prob), []
    for e in order or default_order(prob):
        if e in prob["rels"]:
            b, op, n = prob["rels"][e]
            steps.append(f"{e} = {b}{op}{n}: {vals[b]}{op}{n}={vals[e]}")
        else:
            (a, b), op = prob["targets"], COMBINE[prob["kind"]][1]
            steps.append(f"{e} = {a}{op}{b}: {vals[a]}{op}{vals[b]}={answer_of(prob, vals)}")
    steps[-1] += f". The answer is \\boxed{{{answer_of(prob, vals)}}}."
    return "\n\n".join([plan_text(prob)] + steps)


def code_solution(prob):
    """rStar-style steps: '# <fact>' + one line of Python; the last prints and boxes the answer."""
    steps, order = [], default_order(prob)
    var = {prob["root"]: str(prob["value"]), **{x: x.lower() for x in prob["rels"]}}  # a literal
    for e in order:
        if e in prob["rels"]:
            b, op, n = prob["rels"][e]
            line = f"{var[e]} = {var[b]} {'//' if op == '/' else op} {n}"
            steps.append(f"# {fact_sentence(prob, e)[:-1]}\n{line}")
        else:
            a, b = prob["targets"]
            comment = f"{a} and {b} together" if prob["kind"] == "sum" else f"{a} minus {b}"
            steps.append(f"# {comment}\n{e.lower()} = {var[a]} {COMBINE[prob['kind']][1]} {var[b]}")
    steps[-1] += f"\nprint({order[-1].lower()})\n\\boxed{{{answer_of(prob, values_of(prob))}}}"
    return "\n\n".join(steps)


# ----------------------------------------------------------------------------- splits


def computation(prob):
    """What two splits never share: the question kind and the gold's equations without names."""
    steps = [s for s in text_solution(prob).split("\n\n") if ": " in s]
    return prob["kind"] + "|" + "|".join(sorted(s.split(": ", 1)[1].split(".")[0] for s in steps))


def generate_split(split, n, d_range, args, seen, used, with_solution):
    """n problems: questions unique and not in `seen` (updated), computations not in `used` (one
    may repeat inside a split with other names). "diff" skips d = 1: there the two entities differ
    by the relation's n or by the stated value, nothing to compute."""
    rng = random.Random(f"relations-{args.seed}-{split}")
    (lo, hi), (dlo, dhi) = d_range, parse_span(args.distractors)
    kinds, records, tries = parse_kinds(args.kinds), [], 0
    while len(records) < n:
        i = len(records)
        d = lo + i % (hi - lo + 1)
        valid = [k for k in kinds if k != "diff" or d > 1]
        if not valid:
            raise ValueError("question kind 'diff' needs at least 2 needed quantities")
        kind = valid[i // (hi - lo + 1) % len(valid)]
        if (tries := tries + 1) > 200 * n + 1000:
            raise RuntimeError(f"{split}: only {i}/{n} new problems; "
                               "ask for fewer problems or widen the bounds")
        m = rng.randint(dlo, dhi)
        prob = make_problem(rng, d, kind, m, args.max_operand, args.max_value)
        if prob is None or question_text(prob) in seen or computation(prob) in used:
            continue
        seen.add(question_text(prob))
        rec = {"id": f"{split}-{args.seed}-{i}", "question": question_text(prob),
               "answer": str(answer_of(prob, values_of(prob)))}
        if with_solution:
            rec["solution"] = code_solution(prob) if args.format == "code" else text_solution(prob)
        rec.update(source="relations", ops=d + (kind != "one"), difficulty=d, distractors=m, kind=kind)
        records.append((rec, computation(prob)))
    used.update(key for _, key in records)
    return [rec for rec, _ in records]


def build_relations(args):
    """{split: records} for test, seed and pool, in that priority order for disjointness."""
    if args.max_operand < 2 or args.max_value < max(4, args.max_operand):
        raise ValueError("need 2 <= --max-operand <= --max-value and --max-value >= 4")
    parse_span(args.distractors), parse_kinds(args.kinds)  # fail before drawing anything
    seen, used, splits = set(), set(), {}
    plan = [("test", args.n_test, args.test_ops, True), ("seed", args.n_seed, args.seed_ops, True),
            ("pool", args.n_pool, args.pool_ops, args.pool_solutions)]
    for split, n, ops, with_solution in plan:
        if n > 0:
            splits[split] = generate_split(split, n, parse_span(ops, 1), args, seen, used,
                                           with_solution)
    return splits


# ----------------------------------------------------------------------------- parsing a question back


def _template_regex(template):
    pattern = re.escape(template)
    for key, group in (("a", r"(?P<a>[A-Z][a-z]+)"), ("b", r"(?P<b>[A-Z][a-z]+)"),
                       ("n", r"(?P<n>\d+)"), ("obj", r"(?P<obj>[a-z]+)")):
        pattern = pattern.replace(re.escape("{" + key + "}"), group)
    return re.compile(pattern)


FACTS = [(_template_regex(STATED), None)] + [(_template_regex(t), k) for k, t in RELATION.items()]
ASKS = {kind: _template_regex(t) for kind, t in ASK.items()}


def parse_fact(sentence):
    """(name, base or None, op, n, object) of one fact sentence, or None outside the templates."""
    for pat, key in FACTS:
        m = pat.fullmatch(sentence)
        if m and key is None:
            return m["a"], None, None, int(m["n"]), m["obj"]
        if m:
            return m["a"], m["b"], key[0], key[1] or int(m["n"]), m["obj"]
    return None


def parse_relations(question):
    """make_problem's dict of a question in this task's wording, or None when not well formed (a
    sentence, name or object outside the templates, not one stated entity, an entity stated twice,
    a base never stated, a cycle, an odd value halved, a negative value or answer; no bounds)."""
    *facts, ask = re.split(r"(?<=\.) ", question.strip())
    parsed = [parse_fact(s) for s in facts]
    asked = [(k, m) for k, pat in ASKS.items() for m in [pat.fullmatch(ask)] if m]
    if not facts or None in parsed or len(asked) != 1:
        return None
    kind, m = asked[0]
    targets = [m["a"]] if kind == "one" else [m["a"], m["b"]]
    names, stated = [p[0] for p in parsed], [p for p in parsed if p[1] is None]
    objects = {p[4] for p in parsed} | {m["obj"]}
    if (len(stated) != 1 or len(set(names)) != len(names) or set(names) - set(NAMES)
            or len(objects) != 1 or objects - set(OBJECTS) or set(targets) - set(names)
            or len(set(targets)) != len(targets)):
        return None
    prob = {"object": m["obj"], "root": stated[0][0], "value": stated[0][3],
            "rels": {a: (b, op, n) for a, b, op, n, _ in parsed if b is not None},
            "kind": kind, "targets": targets, "facts": names}
    vals = values_of(prob)
    if vals is None or any(v is None or v < 0 for v in vals.values()) or answer_of(prob, vals) < 0:
        return None
    return prob


# a text step that names its base: "Kim = Ann*2: 10*2=20", "Total = Kim+Tom: 20+7=27"
NAMED_STEP = re.compile(r"\s*([A-Z][a-z]+)\s*=\s*([A-Z][a-z]+)\s*([-+*/])\s*([A-Z][a-z]+|\d+)\s*:"
                        r"\s*(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")


def bookkeeping_ok(question, steps):
    """Whether every named step reads the values it names, as a code interpreter would for variables: in
    "Kim = Ann*2: 10*2=20" 10 is the value the question states for Ann or an earlier step computed for it, the
    operation and constant are the ones written before the colon (a sum or difference: both named values; + and *
    in either order), and Kim gets 20. A name that already holds a value (stated, or computed by an earlier step)
    is not computed again: "Ben = Ben*3" where Ben is stated, the right number under a wrong name, fails. It reads
    only the stated value of the question, not its relations: whether Kim's relation is Ann*2 is a decision it does
    not judge. Once a step boxes the answer, the last named step must compute what the question asks
    (answers_the_question). Steps of another form (a plan) are not read; True for a question outside the task."""
    prob = parse_relations(question)
    if prob is None:
        return True
    known, last = {prob["root"]: prob["value"]}, None
    for m in filter(None, (NAMED_STEP.match(step) for step in steps)):
        name, base, op, operand, a, op2, b, c = last = m.groups()
        if name in known:
            return False
        want = (known.get(base), known.get(operand) if operand[0].isupper() else int(operand))
        if op != op2 or (int(a), int(b)) != want and not (op in "+*" and (int(b), int(a)) == want):
            return False
        known[name] = int(c)
    boxed = any("\\boxed" in step for step in steps)
    return not boxed or last is None or answers_the_question(prob, *last[:4])


def answers_the_question(prob, name, base, op, operand):
    """Whether a step "name = base op operand" computes the quantity the question asks: the asked entity
    ("How many pens does Kim have?": Kim = ...), "Total = Kim+Tom" for a sum of the two (either order), or
    "Difference = Kim-Tom" for how many more Kim has than Tom. It reads the question's wording only: the right
    value under another entity's name ("Meg = Joe/2: 16/2=8" boxed for Joe) answers another question."""
    if prob["kind"] == "one":
        return name == prob["targets"][0]
    label, combine = COMBINE[prob["kind"]]
    pair = [base, operand]
    return name == label and op == combine and prob["targets"] in (pair, pair[::-1] if combine == "+" else pair)


PRINTED = re.compile(r"^\s*print\((\w+)\)", re.M)


def prints_what_is_asked(question, step):
    """The code format's counterpart of answers_the_question: a step that boxes the answer prints the variable of
    the asked quantity (`print(kim)`, `print(total)`, `print(difference)`: code_solution's names), not another
    entity's that holds the same value. True for a step without a boxed answer, or a question outside the task."""
    prob = parse_relations(question)
    if prob is None or "\\boxed" not in step:
        return True
    printed = PRINTED.findall(step)
    asked = prob["targets"][0] if prob["kind"] == "one" else COMBINE[prob["kind"]][0]
    return bool(printed) and printed[-1] == asked.lower()


def solve_relations(question):
    """The true answer (str) of a question in this task's wording, or None when not well formed."""
    prob = parse_relations(question)
    return None if prob is None else str(answer_of(prob, values_of(prob)))


if __name__ == "__main__":
    sys.exit("reltask.py is a library; run synth.py builtin --task relations.")
