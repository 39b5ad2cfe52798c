"""The built-in task (README, "The built-in task"), written by `synth.py builtin`: multi-step arithmetic
word problems small enough for a ~1M-parameter char-level model trained from scratch on 2 CPU
cores. A problem is a start value plus k operations (k = `ops` = `difficulty`); each
operation is one sentence of the question and one step of the solution, so a k-op problem
has exactly k steps:

  Q: Ann has 7 pens. She buys 3 more. She gives away 2. She doubles them.
     How many pens does Ann have?
  text: "7+3=10\\n\\n10-2=8\\n\\n8*2=16. The answer is \\\\boxed{16}."
  code: "# buys 3 more\\nx = 7 + 3\\n\\n# gives away 2\\nx = x - 2\\n\\n"
        "# doubles them\\nx = x * 2\\nprint(x)\\n\\\\boxed{16}"

Operation kinds: add ("buys/finds/gets n more"), subtract ("gives away/loses/sells n"),
multiply ("doubles/triples them") and halve ("halves them/gives away half"). At every step
the kind is drawn uniformly among the kinds that keep the value in bounds, then its operand
uniformly among the operands that do. Bounds (measured on this project's tiny model: it copies operands but
gets result digits wrong, and stayed under 7% with operands up to 20): start value and +/-
operands in [1, --max-operand] (start >= 2 so the object reads as a plural), every
intermediate value in [0, --max-value], factors 2 or 3, halving only of even values.

Three splits, as in the papers' setting (a little annotated data, many answer-only
prompts, as in the papers): seed.jsonl (gold solutions, easy: --seed-ops), pool.jsonl
(answer only unless --pool-solutions, harder: --pool-ops) and test.jsonl (gold solutions,
--test-ops). The number of operations cycles through the range, so every difficulty gets
the same share. Splits are disjoint (test is drawn first and wins, then seed, then pool):
no question text and no computation (start value and operations: the same arithmetic in
other words) appears in two splits; within a split question texts are unique.
Everything is deterministic given --seed: each split has its own random.Random seeded
from the string "synth-<seed>-<split>" (a sha512 of it, never Python's salted hash()), so
e.g. changing --n-pool does not change the test set. A split with n = 0 is not written.

Code format (rStar-Math section 3.1): a step is a comment naming the operation
plus one line of Python; the last step adds `print(x)` and the boxed answer on its own
line. Running the code of all steps (comment and boxed lines aside) prints the answer;
every prefix of steps runs too, which is what the MCTS sandbox executes per step.

`build_builtin(args)` draws the splits; `solve_builtin(question)` parses a question back with the
same templates (synth.py's imagine stage uses it to check synthesized questions and their labels);
`builtin_chain(question)` gives the value after each operation (the gold chain, for analysis).
The stage flags (--seed, --n-*, --*-ops, --max-operand, --max-value, --format, --pool-solutions)
are synth.py's.
"""
import random
import re
import sys

# ----------------------------------------------------------------------------- vocabulary
# Short words keep sequences short for the char-level model.
NAMES = {"Ann": "She", "Bob": "He", "Tom": "He", "Sue": "She", "Max": "He", "Eva": "She"}
OBJECTS = ["pens", "eggs", "cards", "coins", "apples"]
# Verb phrases; "{n}" is the operand. The phrase is also the code step's comment.
ADD = ["buys {n} more", "finds {n} more", "gets {n} more"]
SUB = ["gives away {n}", "loses {n}", "sells {n}"]
MUL = {2: ["doubles them"], 3: ["triples them"]}
DIV = ["halves them", "gives away half"]

# ----------------------------------------------------------------------------- drawing problems


def parse_range(text):
    """'2-5' -> (2, 5); '3' -> (3, 3)."""
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not 1 <= lo <= hi:
        raise ValueError(f"bad ops range {text!r}: want 'lo-hi' with 1 <= lo <= hi")
    return lo, hi


def valid_kinds(x, max_value):
    """Operation kinds that can act on value x and keep it in [0, max_value]."""
    kinds = []
    if x < max_value:
        kinds.append("+")
    if x >= 1:
        kinds.append("-")
    if x >= 1 and 2 * x <= max_value:  # doubling 0 would be a step that teaches nothing
        kinds.append("*")
    if x >= 2 and x % 2 == 0:
        kinds.append("/")
    return kinds


def sample_op(rng, x, max_operand, max_value):
    """One operation on value x: (symbol, operand, verb phrase, result), within bounds."""
    sym = rng.choice(valid_kinds(x, max_value))
    if sym == "+":
        b = rng.randint(1, min(max_operand, max_value - x))
        return sym, b, rng.choice(ADD).format(n=b), x + b
    if sym == "-":
        b = rng.randint(1, min(max_operand, x))
        return sym, b, rng.choice(SUB).format(n=b), x - b
    if sym == "*":
        b = rng.choice([f for f in MUL if x * f <= max_value])
        return sym, b, rng.choice(MUL[b]), x * b
    return sym, 2, rng.choice(DIV), x // 2


def make_problem(rng, k, max_operand, max_value):
    """A k-operation problem: {"question", "answer", "chain"}; chain = [(a, sym, b, c, phrase)]."""
    name, obj = rng.choice(sorted(NAMES)), rng.choice(OBJECTS)
    pronoun = NAMES[name]
    x = rng.randint(2, max(2, max_operand))
    sentences, chain = [f"{name} has {x} {obj}."], []
    for _ in range(k):
        sym, b, phrase, y = sample_op(rng, x, max_operand, max_value)
        sentences.append(f"{pronoun} {phrase}.")
        chain.append((x, sym, b, y, phrase))
        x = y
    sentences.append(f"How many {obj} does {name} have?")
    return {"question": " ".join(sentences), "answer": str(x), "chain": chain}


def text_solution(chain):
    """One `a+b=c` step per operation, "\\n\\n"-joined; the last step boxes the answer."""
    steps = [f"{a}{sym}{b}={c}" for a, sym, b, c, _ in chain]
    steps[-1] += f". The answer is \\boxed{{{chain[-1][3]}}}."
    return "\n\n".join(steps)


def code_solution(chain):
    """rStar-style steps: '# <phrase>' + one line of Python; the last prints and boxes x."""
    steps = []
    for i, (a, sym, b, _, phrase) in enumerate(chain):
        lhs = "x" if i else str(a)  # the first step starts from the literal start value
        steps.append(f"# {phrase}\nx = {lhs} {'//' if sym == '/' else sym} {b}")
    steps[-1] += f"\nprint(x)\n\\boxed{{{chain[-1][3]}}}"
    return "\n\n".join(steps)


def generate_split(split, n, ops_range, args, seen, used_chains, with_solution):
    """n problems: questions unique and not in `seen` (updated), computations not in used_chains.

    A computation (start value and operations, i.e. the text solution) may repeat inside a
    split with other wording, but never across splits: no test computation is trained on.
    """
    rng = random.Random(f"synth-{args.seed}-{split}")
    lo, hi = ops_range
    records, tries = [], 0
    while len(records) < n:
        k = lo + len(records) % (hi - lo + 1)  # cycle through difficulties: equal shares
        prob = make_problem(rng, k, args.max_operand, args.max_value)
        tries += 1
        if tries > 100 * n + 1000:
            raise RuntimeError(f"{split}: only {len(records)}/{n} new questions; "
                               "ask for fewer problems or widen the bounds")
        if prob["question"] in seen or text_solution(prob["chain"]) in used_chains:
            continue
        seen.add(prob["question"])
        rec = {"id": f"{split}-{args.seed}-{len(records)}", "question": prob["question"],
               "answer": prob["answer"]}
        if with_solution:
            fmt = code_solution if args.format == "code" else text_solution
            rec["solution"] = fmt(prob["chain"])
        rec.update(source="builtin", ops=k, difficulty=k)
        records.append((rec, text_solution(prob["chain"])))
    used_chains.update(chain for _, chain in records)
    return [rec for rec, _ in records]


def build_builtin(args):
    """{split: records} for test, seed and pool, in that priority order for disjointness."""
    if args.max_operand < 2 or args.max_value < args.max_operand:
        raise ValueError("need 2 <= --max-operand <= --max-value")
    seen, used_chains, splits = set(), set(), {}
    plan = [("test", args.n_test, args.test_ops, True),
            ("seed", args.n_seed, args.seed_ops, True),
            ("pool", args.n_pool, args.pool_ops, args.pool_solutions)]
    for split, n, ops, with_solution in plan:
        if n > 0:
            splits[split] = generate_split(split, n, parse_range(ops), args, seen, used_chains,
                                           with_solution)
    return splits


# ----------------------------------------------------------------------------- parsing a question back


def _phrase_regex(phrase):
    return re.compile(r"(\d+)".join(re.escape(part) for part in phrase.split("{n}")))


# (regex of a verb phrase, symbol, fixed operand or None when the phrase carries it)
PHRASES = ([(_phrase_regex(p), "+", None) for p in ADD]
           + [(_phrase_regex(p), "-", None) for p in SUB]
           + [(_phrase_regex(p), "*", f) for f, ps in MUL.items() for p in ps]
           + [(_phrase_regex(p), "/", 2) for p in DIV])
QUESTION = re.compile(r"(\w+) has (\d+) (\w+)\. (.+)\. How many (\w+) does (\w+) have\?")


def builtin_chain(question):
    """The values after each operation of a question in the built-in task's wording (its gold chain),
    or None when it is not a well-formed built-in problem: a sentence outside the templates, a
    name/pronoun/object that does not match, at least one operation, a value that goes negative or an
    odd value halved. The generator's numeric bounds (--max-operand, --max-value) are not checked."""
    m = QUESTION.fullmatch(question.strip())
    if not m or m[1] not in NAMES or m[3] not in OBJECTS or (m[6], m[5]) != (m[1], m[3]):
        return None
    x, pronoun, chain = int(m[2]), NAMES[m[1]] + " ", []
    for sentence in m[4].split(". "):
        hits = [(hit, sym, b) for pat, sym, b in PHRASES
                for hit in [pat.fullmatch(sentence[len(pronoun):])] if hit]
        if not sentence.startswith(pronoun) or not hits:
            return None
        hit, sym, b = hits[0]
        b = int(hit[1]) if b is None else b
        if sym == "/" and x % 2:
            return None
        x = {"+": x + b, "-": x - b, "*": x * b, "/": x // 2}[sym]
        if x < 0:
            return None
        chain.append(x)
    return chain


def solve_builtin(question):
    """The true answer (str) of a question in the built-in task's wording (the last value of its
    builtin_chain), or None when it is not a well-formed built-in problem."""
    chain = builtin_chain(question)
    return None if chain is None else str(chain[-1])


if __name__ == "__main__":
    sys.exit("task.py is a library; run synth.py builtin.")
