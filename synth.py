"""Stage 0: problems. The built-in arithmetic task, and converters for GSM8K / MATH files.

What it does
  `builtin` writes the built-in task of DESIGN.md section 9: multi-step arithmetic word
  problems small enough for a ~1M-parameter char-level model trained from scratch on 2 CPU
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
  uniformly among the operands that do. Bounds (NOTES.md: a tiny model copies operands but
  gets result digits wrong, and stayed under 7% with operands up to 20): start value and +/-
  operands in [1, --max-operand] (start >= 2 so the object reads as a plural), every
  intermediate value in [0, --max-value], factors 2 or 3, halving only of even values.

  Three splits, as in the papers' setting (a little annotated data, many answer-only
  prompts, DESIGN.md section 9): seed.jsonl (gold solutions, easy: --seed-ops), pool.jsonl
  (answer only unless --pool-solutions, harder: --pool-ops) and test.jsonl (gold solutions,
  --test-ops). The number of operations cycles through the range, so every difficulty gets
  the same share. Splits are disjoint (test is drawn first and wins, then seed, then pool):
  no question text and no computation (start value and operations: the same arithmetic in
  other words) appears in two splits; within a split question texts are unique.
  Everything is deterministic given --seed: each split has its own random.Random seeded
  from the string "synth-<seed>-<split>" (a sha512 of it, never Python's salted hash()), so
  e.g. changing --n-pool does not change the test set. A split with n = 0 is not written.

  Code format (rStar-Math, spec_004 section 2.2): a step is a comment naming the operation
  plus one line of Python; the last step adds `print(x)` and the boxed answer on its own
  line. Running the code of all steps (comment and boxed lines aside) prints the answer;
  every prefix of steps runs too, which is what the MCTS sandbox executes per step.

  `convert` turns official files into the problems schema. GSM8K {"question", "answer"
  ending "#### N"}: answer = N without commas; solution = the reasoning lines with the
  "<<...>>" calculator annotations removed, one line per step, joined by "\\n\\n", the last
  step ending "The answer is \\\\boxed{N}.". MATH {"problem", "solution", "answer"?,
  "level"?, "type"?/"subject"?}: answer = the given one, else the content of the last
  \\boxed{} / \\fbox{} of the solution (nested braces handled); the solution's paragraphs
  are its steps, except that paragraphs from the first boxed one on are joined with "\\n"
  into one final step (a boxed step ends a trajectory);
  level/type/subject kept, difficulty = the level's number. ids: an existing "id" /
  "unique_id", else "<kind>-<line index>". Records without a findable answer are skipped
  and counted.

Output fields (problems contract, DESIGN.md section 3)
  builtin: {"id": "<split>-<seed>-<index>", "question", "answer", "solution"? , "source":
  "builtin", "ops": k, "difficulty": k}; gsm8k/math: {"id", "question", "answer",
  "solution", "source", ...}. Beside the builtin files: synth_args.json (args and counts).

Commands (no model, so no GPU or torchrun variant: generation is pure Python on one core)
  CPU:     python synth.py builtin --out-dir runs/data
  code:    python synth.py builtin --out-dir runs/data_code --format code
  convert: python synth.py convert --kind gsm8k --in gsm8k_test.jsonl --out gsm8k.jsonl
"""

import argparse
import json
import os
import random
import re
from collections import Counter

# --------------------------------------------------------------------------------------
# The built-in task: vocabulary. Short words keep sequences short for the char-level model.
# --------------------------------------------------------------------------------------
NAMES = {"Ann": "She", "Bob": "He", "Tom": "He", "Sue": "She", "Max": "He", "Eva": "She"}
OBJECTS = ["pens", "eggs", "cards", "coins", "apples"]
# Verb phrases; "{n}" is the operand. The phrase is also the code step's comment.
ADD = ["buys {n} more", "finds {n} more", "gets {n} more"]
SUB = ["gives away {n}", "loses {n}", "sells {n}"]
MUL = {2: ["doubles them"], 3: ["triples them"]}
DIV = ["halves them", "gives away half"]


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


# --- imagination (issue 6) ---


# --------------------------------------------------------------------------------------
# Converters for the official GSM8K / MATH files.
# --------------------------------------------------------------------------------------
def last_boxed(text):
    """Content of the last \\boxed{...} or \\fbox{...} in text, braces balanced; None if none."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    depth, i = 1, starts[-1]
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None  # unbalanced: no answer rather than a wrong one


def convert_gsm8k(rec, index):
    """GSM8K {"question", "answer": "reasoning\\n#### N"} -> problems record."""
    reasoning, sep, final = rec["answer"].rpartition("####")
    if not sep:
        return None
    answer = final.strip().replace(",", "")
    reasoning = re.sub(r"<<[^>]*>>", "", reasoning)  # calculator annotations
    steps = [line.strip() for line in reasoning.split("\n") if line.strip()]
    if steps and steps[-1][-1] not in ".!?":
        steps[-1] += "."
    steps.append(f"The answer is \\boxed{{{answer}}}.")
    if len(steps) > 1:  # the boxed sentence finishes the last reasoning step
        steps[-2:] = [steps[-2] + " " + steps[-1]]
    rid = rec.get("id", rec.get("unique_id", f"gsm8k-{index}"))
    return {"id": str(rid), "question": rec["question"], "answer": answer,
            "solution": "\n\n".join(steps), "source": "gsm8k"}


def convert_math(rec, index):
    """MATH {"problem", "solution", "answer"?, "level"?, "type"?} -> problems record."""
    answer = rec.get("answer") or last_boxed(rec["solution"])
    if answer is None:
        return None
    rid = rec.get("id", rec.get("unique_id", f"math-{index}"))
    # A step with \boxed ends a trajectory (DESIGN.md 4), but ~4% of MATH solutions box
    # before their last paragraph: fold everything from the first boxed paragraph into one step.
    steps = rec["solution"].split("\n\n")
    boxed = [i for i, p in enumerate(steps) if re.search(r"\\(?:boxed|fbox)", p)]
    if boxed:
        steps[boxed[0]:] = [re.sub(r"\n{2,}", "\n", "\n\n".join(steps[boxed[0]:]))]
    out = {"id": str(rid), "question": rec["problem"], "answer": answer.strip(),
           "solution": "\n\n".join(steps), "source": "math"}
    for key in ("level", "type", "subject"):
        if key in rec:
            out[key] = rec[key]
    level = re.search(r"\d+", str(rec.get("level", "")))
    if level:
        out["difficulty"] = int(level.group())
    return out


# --------------------------------------------------------------------------------------
# Plumbing: JSONL out, CLI.
# --------------------------------------------------------------------------------------
def write_records(path, records):
    """Write JSONL via a temporary file, so a crash never leaves a complete-looking file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)


def run_convert(args):
    convert = convert_gsm8k if args.kind == "gsm8k" else convert_math
    records, skipped = [], 0
    with open(args.inp, encoding="utf-8") as f:
        for index, line in enumerate(f):
            if not line.strip():
                continue
            try:
                rec = convert(json.loads(line), index)
            except (json.JSONDecodeError, KeyError) as err:
                raise SystemExit(f"{args.inp}:{index + 1}: not a {args.kind} record ({err!r})")
            skipped += rec is None
            if rec is not None:
                records.append(rec)
    write_records(args.out, records)
    print(f"convert {args.kind} | {len(records)} records -> {args.out} | "
          f"{skipped} skipped (no answer found)")


def run_builtin(args):
    splits = build_builtin(args)
    os.makedirs(args.out_dir, exist_ok=True)
    counts = {}
    for split, records in splits.items():
        write_records(os.path.join(args.out_dir, f"{split}.jsonl"), records)
        per_ops = Counter(rec["ops"] for rec in records)
        counts[split] = {"n": len(records), "ops": {str(k): per_ops[k] for k in sorted(per_ops)}}
        print(f"{split:<4} | {len(records)} problems | ops " +
              ", ".join(f"{k}: {v}" for k, v in counts[split]["ops"].items()))
    with open(os.path.join(args.out_dir, "synth_args.json"), "w", encoding="utf-8") as f:
        json.dump({"args": vars(args), "counts": counts}, f, indent=2)


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("builtin", help="generate the built-in arithmetic task")
    b.add_argument("--out-dir", required=True, help="writes seed/pool/test.jsonl + synth_args.json")
    b.add_argument("--seed", type=int, default=0, help="random seed; ids embed it")
    b.add_argument("--n-seed", type=int, default=300,
                   help="seed problems with gold solutions (DESIGN.md 9: a few hundred)")
    b.add_argument("--seed-ops", default="2-3", help="operation-count range of the seed set")
    b.add_argument("--n-pool", type=int, default=2000, help="answer-only problems for search")
    b.add_argument("--pool-ops", default="2-5", help="operation-count range of the pool")
    b.add_argument("--n-test", type=int, default=1000,
                   help="test problems (NOTES.md: 200 give +-3.4 points of noise; use >= 1000)")
    b.add_argument("--test-ops", default="2-5", help="operation-count range of the test set")
    b.add_argument("--max-operand", type=int, default=10,
                   help="largest start value and +/- operand (NOTES.md: ~10 is learnable)")
    b.add_argument("--max-value", type=int, default=50,
                   help="largest intermediate value (NOTES.md: cap around 50)")
    b.add_argument("--format", choices=["text", "code"], default="text",
                   help="solution format: 'a+b=c' steps or rStar comment + Python steps")
    b.add_argument("--pool-solutions", action="store_true",
                   help="also write gold solutions into pool.jsonl (for SFT controls)")
    c = sub.add_parser("convert", help="convert an official GSM8K / MATH JSONL file")
    c.add_argument("--kind", choices=["gsm8k", "math"], required=True, help="input format")
    c.add_argument("--in", dest="inp", required=True, help="official JSONL file")
    c.add_argument("--out", required=True, help="problems JSONL to write")
    return parser


if __name__ == "__main__":
    args = get_parser().parse_args()
    print("args: " + json.dumps(vars(args)))
    if args.command == "builtin":
        run_builtin(args)
    else:
        run_convert(args)
