"""Stage 0: problems. The built-in arithmetic task, and converters for GSM8K / MATH files.

What it does
  `builtin` writes the built-in task (task.py; README, "The built-in task"): multi-step
  arithmetic word problems small enough for a ~1M-parameter char-level model trained from scratch
  on 2 CPU cores, a k-operation problem having exactly k steps, in three disjoint splits:
  seed.jsonl (gold solutions, easy: --seed-ops), pool.jsonl (answer only unless
  --pool-solutions, harder: --pool-ops) and test.jsonl (gold solutions, --test-ops). `--format
  code` writes rStar-Math's code steps (section 3.1). Deterministic given --seed; a split with
  n = 0 is not written. How problems are drawn, bounded and kept disjoint: task.py.
  `--task relations` writes the task with decisions instead (reltask.py, DESIGN.md section 10):
  entities stated relative to each other in shuffled facts, --distractors unneeded ones; --*-ops
  count the needed quantities and --kinds picks the questions (one entity, sum, difference).

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

  `imagine` is AlphaLLM's imagination (AlphaLLM, Tian et al. 2024, section 4.1: x^1 = g(x^0_i1..x^0_im, pi^0), g =
  the policy itself) with rStar-Math's filter (rStar-Math section 3.3, self-evolution: a synthesized problem is
  kept when >= 3 of 10 sampled solutions agree). 1) Each of --n requests shows --shots seed
  questions drawn at random (seeded per request). Plain models get
  "Question: q1\\nQuestion: q2\\n...Question: " and continue the list; chat models get one user
  turn listing the examples and asking for one new problem in their style, on one line. The
  policy samples up to the first "\\n". 2) Clean: strip, drop a leading "Question:" label,
  drop empty, cut-off (no newline within MAX_QUESTION_TOKENS), shorter than --min-chars or
  longer than --max-chars. Dedupe on lower case + collapsed whitespace, against each other and
  against the seed file and every --exclude file (pass the test set: nothing leaks it). 3) For
  each new question sample --k full solutions (format_prompt, no stop at the step delimiter),
  extract their answers, pool equivalent ones (grader.is_equiv); keep the question when the
  majority answer holds >= --min-agree of the k samples; that answer is its pseudo-label.
  4) Stats: counts per stage, kept share, mean agreement of kept and of all new questions;
  when the seed file is the built-in task, solve_builtin() parses each question with the
  generator's templates, giving the well-formed share and the pseudo-labels' accuracy.
  --questions FILE skips 1) and filters questions written elsewhere (rStar: by GPT-4).
  The tiny built-in policy cannot write questions: its SFT loss masks the prompt, so it never
  learned question text (README, "Prompt synthesis").

Output fields (the problems contract every stage reads)
  builtin: {"id": "<split>-<seed>-<index>", "question", "answer", "solution"? , "source":
  "builtin", "ops": k, "difficulty": k} (relations: "source": "relations", "ops": equations
  in the gold, "difficulty": needed quantities, "distractors", "kind"); gsm8k/math: {"id",
  "question", "answer", "solution", "source", ...}. Beside the builtin files: synth_args.json (args and counts).
  imagine: {"id": "imagine-<seed>-<request index>", "question", "answer" (the majority
  answer, a pseudo-label), "source": "imagine", "agreement": majority share, "votes": k};
  beside it <out>.stats.json (args and stats).

Commands (builtin and convert need no model; imagine has no torchrun variant: on several
GPUs run one process per --seed and concatenate)
  CPU:     python synth.py builtin --out-dir runs/data
  code:    python synth.py builtin --out-dir runs/data_code --format code
  relations: python synth.py builtin --task relations --out-dir runs/rel --seed-ops 1-3
             --test-ops 1-3 --pool-ops 1-3 --distractors 0-1
  convert: python synth.py convert --kind gsm8k --in gsm8k_test.jsonl --out gsm8k.jsonl
  imagine: python synth.py imagine --model runs/sft --seed-file runs/data/seed.jsonl
             --exclude runs/data/test.jsonl --n 300 --out runs/imagine.jsonl
  one GPU: python synth.py imagine --backend vllm --model ckpt --seed-file math_train.jsonl
             --exclude math500_test.jsonl --shots 4 --n 10000 --max-tokens 2048 --out imagine.jsonl
"""

import argparse
import json
import math
import os
import random
import re
import time
from collections import Counter
from functools import partial
from pathlib import Path

from common import (check_model_dir, check_not_input, check_output, claim_output, float_in, format_prompt, load_jsonl,
                    mean, nonneg_float, nonneg_int, positive_int, read_problems, run_main, UsageError, write_json,
                    write_jsonl)
from codesteps import gsm8k_code_steps
from grader import extract_answer, gold_from_math, is_equiv
from reltask import build_relations, parse_kinds, parse_span
from task import build_builtin, parse_range, solve_builtin

# --------------------------------------------------------------------------------------
# Imagination: the policy writes new problems; a self-consistency vote labels and filters them.
# --------------------------------------------------------------------------------------
# AlphaLLM section 4.1: new prompts x^1 = g(x^0_i1, ..., x^0_im, pi^0), written by the
# policy itself from m seed examples; AlphaLLM gives no template, dedup or labels (its A12-A13).
# Labels and the filter follow rStar-Math (section 3.3): a GPT-4 problem was kept when
# >= 3 of 10 sampled solutions agreed. Here the policy samples them and the majority answer is
# the problem's pseudo-label.
MAX_QUESTION_TOKENS = 200  # a question that has not ended its line by then is cut off
IMAGINE_LINE = "Question: {question}\n"  # as in the plain template (common.PLAIN_TEMPLATE)
IMAGINE_CHAT = ("Here are some example math problems:\n\n{examples}\n\nWrite one new problem in "
                "the same style and of similar difficulty. Reply with the problem only, on one "
                "line, without a solution.")
LABEL = re.compile(r"^(?:\*\*)?(?:new )?(?:question|problem)\s*\d*\s*:\s*(?:\*\*)?\s*", re.I)


def fmt_pct(x):
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def imagine_prompt(examples, tokenizer=None):
    """A prompt that makes the policy write one new question, ended by a newline.

    Plain (no chat template): "Question: q1\\nQuestion: q2\\n...Question: " -- the model
    continues the list. Chat template: one user turn listing the examples and asking for one
    new problem in their style on a single line (IMAGINE_CHAT), then the generation prompt.
    """
    if getattr(tokenizer, "chat_template", None):
        listed = "\n".join(f"Problem {i + 1}: {q}" for i, q in enumerate(examples))
        msgs = [{"role": "user", "content": IMAGINE_CHAT.format(examples=listed)}]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return "".join(IMAGINE_LINE.format(question=q) for q in examples) + "Question: "


def clean_question(text, min_chars=10, max_chars=1000):
    """The text stripped, a leading "Question:"/"Problem 3:" label removed (chat models add one);
    None when it is shorter than min_chars or longer than max_chars characters."""
    question = LABEL.sub("", text.strip()).strip()
    return question if min_chars <= len(question) <= max_chars else None


def normalize_question(question):
    """The dedup key: lower case, whitespace runs collapsed to one space."""
    return " ".join(question.lower().split())


def dedupe(questions, seen):
    """The questions whose normalized form (normalize_question) is neither in `seen` (a set of
    normalized questions: seed and excluded files; not modified) nor an earlier question's;
    order kept, the first of each duplicate wins."""
    seen, kept = set(seen), []
    for q in questions:
        key = normalize_question(q)
        if key not in seen:
            seen.add(key)
            kept.append(q)
    return kept


def agreement(answers):
    """(majority answer, its share of ALL len(answers) samples), the rStar filter's statistic.

    Answers are grouped with grader.is_equiv ("4" and "4.0" pool); None (no extractable answer)
    never votes but counts in the denominator, so 3 answers of 10 samples is 0.3 whatever the
    other 7 did. Ties go to the answer seen first; (None, 0.0) when nothing was extracted.
    """
    groups = []  # [representative answer, votes]
    for a in answers:
        if a is None:
            continue
        for g in groups:
            if g[0] == a or is_equiv(a, g[0]):
                g[1] += 1
                break
        else:
            groups.append([a, 1])
    if not groups:
        return None, 0.0
    best = max(groups, key=lambda g: g[1])  # max keeps the first of equal counts
    return best[0], best[1] / len(answers)


# --------------------------------------------------------------------------------------
# Converters for the official GSM8K / MATH files.
# --------------------------------------------------------------------------------------
def convert_gsm8k(rec, index, fmt="text"):
    """GSM8K {"question", "answer": "reasoning\\n#### N"} -> problems record; None when there is no
    answer, or (fmt "code": codesteps.gsm8k_code_steps) no calculation that gives it."""
    reasoning, sep, final = rec["answer"].rpartition("####")
    if not sep:
        return None
    answer = final.strip().replace(",", "")
    rid = rec.get("id", rec.get("unique_id", f"gsm8k-{index}"))
    if fmt == "code":
        steps = gsm8k_code_steps(reasoning, answer)
        return steps and {"id": str(rid), "question": rec["question"], "answer": answer,
                          "solution": "\n\n".join(steps), "source": "gsm8k", "format": "code"}
    reasoning = re.sub(r"<<[^>]*>>", "", reasoning)  # calculator annotations
    steps = [line.strip() for line in reasoning.split("\n") if line.strip()]
    if steps and steps[-1][-1] not in ".!?":
        steps[-1] += "."
    steps.append(f"The answer is \\boxed{{{answer}}}.")
    if len(steps) > 1:  # the boxed sentence finishes the last reasoning step
        steps[-2:] = [steps[-2] + " " + steps[-1]]
    return {"id": str(rid), "question": rec["question"], "answer": answer,
            "solution": "\n\n".join(steps), "source": "gsm8k"}


def convert_math(rec, index):
    """MATH {"problem", "solution", "answer"?, "level"?, "type"?} -> problems record."""
    answer = rec.get("answer") or gold_from_math(rec["solution"])
    if answer is None:
        return None
    rid = rec.get("id", rec.get("unique_id", f"math-{index}"))
    # A step with \boxed ends a trajectory (mcts.py), but ~4% of MATH solutions box
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
def run_convert(args, record=None):
    convert = partial(convert_gsm8k, fmt=args.format) if args.kind == "gsm8k" else convert_math
    records, skipped = [], 0
    with open(args.inp, "rb") as f:
        for index, line in enumerate(f):
            if not line.strip():
                continue
            try:  # bad UTF-8 and bad JSON are ValueErrors; a non-object or wrong field type a Type/AttributeError
                rec = convert(json.loads(line.decode("utf-8")), index)
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise SystemExit(f"{args.inp}:{index + 1}: not a {args.kind} record ({err!r:.200})")
            skipped += rec is None
            if rec is not None:
                records.append(rec)
    write_jsonl(args.out, records)
    write_json(os.path.splitext(args.out)[0] + ".stats.json", {"args": record or vars(args),
                                                               "stats": {"records": len(records), "skipped": skipped}})
    print(f"convert {args.kind} | {len(records)} records -> {args.out} | {skipped} skipped (no answer found"
          + (", or no calculation gives it)" if args.format == "code" else ")"))


def run_builtin(args, record=None):
    try:
        splits = (build_relations if args.task == "relations" else build_builtin)(args)
    except (ValueError, RuntimeError) as e:  # bounds that cannot work, or fewer distinct problems than asked
        raise SystemExit(str(e)) from None
    os.makedirs(args.out_dir, exist_ok=True)
    counts = {}
    for split, records in splits.items():
        write_jsonl(os.path.join(args.out_dir, f"{split}.jsonl"), records)
        per_ops = Counter(rec["ops"] for rec in records)
        counts[split] = {"n": len(records), "ops": {str(k): per_ops[k] for k in sorted(per_ops)}}
        print(f"{split:<4} | {len(records)} problems | ops " +
              ", ".join(f"{k}: {v}" for k, v in counts[split]["ops"].items()))
    write_json(os.path.join(args.out_dir, "synth_args.json"), {"args": record or vars(args), "counts": counts})


def imagined_texts(args, backend, seeds):
    """The raw questions: --questions' texts, else one generation per request from --shots seed questions
    (the shots of request i do not depend on --n); None for a question cut off by the token limit."""
    if args.questions:  # written elsewhere (rStar: by GPT-4): only clean, dedupe and filter
        return [r["question"] for r in load_jsonl(args.questions, {"question": str})]
    m, tok = min(args.shots, len(seeds)), getattr(backend, "tokenizer", None)
    shots = [random.Random(f"imagine-{args.seed}-{i}").sample(seeds, m) for i in range(args.n)]
    outs = backend.generate([imagine_prompt(s, tok) for s in shots], n=1, temperature=args.temperature,
                            max_tokens=MAX_QUESTION_TOKENS, stop=["\n"], progress=True,
                            seeds=[f"imagine-{args.seed}-{i}" for i in range(args.n)])
    # "length": the question never reached its newline, i.e. it is cut off
    return [None if out["finish"] == "length" else out["text"] for (out,) in outs]


def run_imagine(args, backend=None, record=None):
    """Imagine, clean, dedupe, self-consistency filter; write the kept problems and the stats.
    `backend`: anything with engine.HFBackend's generate() (tests pass a mock); else made from the flags."""
    if not 0 < args.min_agree <= 1 or args.k < 1 or args.shots < 1:
        raise SystemExit("need 0 < --min-agree <= 1, --k >= 1 and --shots >= 1")
    seeds = [r["question"] for r in read_problems(args.seed_file)]
    seen = {normalize_question(q) for q in seeds}
    for path in args.exclude:  # e.g. the test set: a synthesized problem never leaks it
        seen |= {normalize_question(r["question"]) for r in read_problems(path)}
    if backend is None:
        from engine import make_backend  # imported here: it brings torch, which builtin and convert do not need
        backend = make_backend(args.backend, args.model, 128, args.seed)
    tok, t0 = getattr(backend, "tokenizer", None), time.time()
    texts = imagined_texts(args, backend, seeds)
    cleaned = [(i, q) for i, q in ((i, clean_question(t, args.min_chars, args.max_chars)) for i, t in enumerate(texts) if t) if q]
    first = {}  # question -> the first request that wrote it: the id's <i>
    for i, q in cleaned:
        first.setdefault(q, i)
    unique = dedupe([q for _, q in cleaned], set())
    new = dedupe(unique, seen)
    print(f"imagine | {len(texts)} generated | {len(cleaned)} cleaned | {len(unique)} unique | "
          f"{len(unique) - len(new)} in seed/exclude | {len(new)} new | {time.time() - t0:.0f}s")
    rows = backend.generate([format_prompt(tok, q) for q in new], n=args.k,
                            temperature=args.temperature, max_tokens=args.max_tokens, stop=None,
                            seeds=[f"imagine-{args.seed}-solve-{first[q]}" for q in new],
                            progress=True) if new else []
    votes = [agreement([extract_answer(s["text"], free_text=False) for s in row]) for row in rows]
    kept = [(q, a, share) for q, (a, share) in zip(new, votes) if share >= args.min_agree]
    records = [{"id": f"imagine-{args.seed}-{first[q]}", "question": q, "answer": a,
                "source": "imagine", "agreement": share, "votes": args.k} for q, a, share in kept]
    stats = {"generated": len(texts), "cleaned": len(cleaned), "unique": len(unique),
             "new": len(new), "kept": len(kept), "kept_share": len(kept) / max(len(new), 1),
             "agreement_kept": mean(s for _, _, s in kept),
             "agreement_all": mean(s for _, s in votes)}
    print(f"filter | {len(new)} x {args.k} solutions | kept {len(kept)} "
          f"({fmt_pct(stats['kept_share'])}% of new) | agreement kept {stats['agreement_kept']:.3f}, "
          f"all {stats['agreement_all']:.3f} | {time.time() - t0:.0f}s")
    if seeds and all(solve_builtin(q) for q in seeds):  # the built-in task: true answers exist
        truth = {q: solve_builtin(q) for q in new}
        parsed = [(q, a) for q, (a, _) in zip(new, votes) if truth[q]]
        stats.update(well_formed=mean(t is not None for t in truth.values()),
                     well_formed_kept=mean(truth[q] is not None for q, _, _ in kept),
                     label_acc_kept=mean(is_equiv(a, truth[q]) for q, a, _ in kept if truth[q]),
                     label_acc_all=mean(a is not None and is_equiv(a, truth[q]) for q, a in parsed))
        print("builtin check | " + ", ".join(f"{k} {fmt_pct(stats[k])}%" for k in (
            "well_formed", "well_formed_kept", "label_acc_kept", "label_acc_all")))
    write_jsonl(args.out, records)
    write_json(os.path.splitext(args.out)[0] + ".stats.json", {"args": record or vars(args), "stats": stats})
    return records, stats


def ops_range(text):
    """An argparse type: an operation-count range 'lo-hi' or 'k' (checked by parse_range)."""
    try:
        parse_range(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1] if "want" in str(e) else f"{text!r} is not 'lo-hi'")
    return text


def parsed_by(parse):
    """An argparse type: the text itself when `parse` (a reltask parser) accepts it."""
    def check(text):
        try:
            parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))
        return text
    return check


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b, c, i = builtin_parser(sub), convert_parser(sub), imagine_parser(sub)
    for sp in (b, c, i):
        sp.add_argument("--force", action="store_true", help="replace outputs made with other flags or inputs "
                        "(without it: refuse; the same flags and inputs: made again)")
    return parser


def builtin_parser(sub):
    b = sub.add_parser("builtin", help="generate the built-in arithmetic task")
    b.add_argument("--out-dir", required=True, help="writes seed/pool/test.jsonl + synth_args.json")
    b.add_argument("--seed", type=int, default=0, help="random seed; ids embed it")
    b.add_argument("--n-seed", type=nonneg_int, default=1000, help="seed problems with gold solutions (the papers use "
                   "a few hundred to thousands)")
    b.add_argument("--seed-ops", type=ops_range, default="2-4", help="operation-count range of the seed set (2-4: no 5-op problems, which the loop must learn from the pool)")
    b.add_argument("--n-pool", type=nonneg_int, default=2000, help="answer-only problems for search")
    b.add_argument("--pool-ops", type=ops_range, default="2-5", help="operation-count range of the pool")
    b.add_argument("--n-test", type=nonneg_int, default=1000,
                   help="test problems (use >= 1000: 200 give about +-3.4 points of sampling noise)")
    b.add_argument("--test-ops", type=ops_range, default="2-5", help="operation-count range of the test set")
    b.add_argument("--max-operand", type=positive_int, default=10,
                   help="largest start value and +/- operand (the tiny model learns the digits of small numbers)")
    b.add_argument("--max-value", type=positive_int, default=50, help="largest intermediate value")
    b.add_argument("--format", choices=["text", "code"], default="text",
                   help="solution format: 'a+b=c' steps or rStar comment + Python steps")
    b.add_argument("--pool-solutions", action="store_true",
                   help="also write gold solutions into pool.jsonl (for SFT controls)")
    b.add_argument("--task", choices=["chain", "relations"], default="chain",
                   help="chain: a start value and k operations (task.py); relations: entities stated "
                        "relative to each other, with decisions (reltask.py; --*-ops count needed quantities)")
    b.add_argument("--distractors", type=parsed_by(parse_span), default="0-1",
                   help="relations: unneeded entities per problem, 'lo-hi' (drawn uniformly)")
    b.add_argument("--kinds", type=parsed_by(parse_kinds), default="one,sum,diff",
                   help="relations: question kinds, a comma list of one (an entity), sum, diff")
    return b


def convert_parser(sub):
    c = sub.add_parser("convert", help="convert an official GSM8K / MATH JSONL file")
    c.add_argument("--kind", choices=["gsm8k", "math"], required=True, help="input format")
    c.add_argument("--in", dest="inp", required=True, help="official JSONL file")
    c.add_argument("--out", required=True, help="problems JSONL to write (+ <out>.stats.json)")
    c.add_argument("--format", choices=["text", "code"], default="text", help="code (GSM8K only): each calculator-"
                   "annotated line a comment plus Python, the answer printed with its output, then an answer step")
    return c


def imagine_parser(sub):
    i = sub.add_parser("imagine", help="synthesize problems with the policy (AlphaLLM imagination)")
    i.add_argument("--model", required=True, help="policy HF directory: writes and solves the problems")
    i.add_argument("--seed-file", required=True, help="problems JSONL whose questions are the few-shot examples")
    i.add_argument("--exclude", nargs="+", default=[],
                   help="problems JSONL files (e.g. the test set) whose questions never come out")
    i.add_argument("--out", required=True, help="problems JSONL to write (+ <out>.stats.json)")
    i.add_argument("--questions", default="",
                   help="JSONL with 'question' fields written elsewhere (rStar: by GPT-4): "
                        "filter these instead of imagining")
    i.add_argument("--n", type=positive_int, default=300, help="generation requests (candidate questions)")
    i.add_argument("--shots", type=positive_int, default=3,
                   help="seed questions per prompt (guessed; 3 fit the tiny model's 512 positions)")
    i.add_argument("--k", type=positive_int, default=10, help="solutions sampled per question (rStar: 10)")
    i.add_argument("--min-agree", type=float_in(0, 1, lo_open=True), default=0.3,
                   help="keep when the majority answer has this share of the k samples (rStar: 3 of 10)")
    i.add_argument("--temperature", type=nonneg_float, default=1.0, help="sampling temperature of questions and solutions")
    i.add_argument("--max-tokens", type=positive_int, default=256, help="max new tokens per solution")
    i.add_argument("--min-chars", type=nonneg_int, default=10, help="drop shorter questions")
    i.add_argument("--max-chars", type=positive_int, default=1000, help="drop longer questions")
    i.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation backend")
    i.add_argument("--seed", type=int, default=0, help="seed of shots and samples; ids embed it")
    return i


def main():
    args = get_parser().parse_args()
    print("args: " + json.dumps(vars(args)))
    if args.command == "builtin":
        check_output(args.out_dir, "--out-dir", is_dir=True)
    else:
        check_not_input(args.out, "--out", {"--in": getattr(args, "inp", None), "--seed-file": getattr(args, "seed_file", None)})
        check_output(args.out, "--out")
    if args.command == "imagine":
        check_model_dir(args.model, "--model")
    if args.command == "convert" and args.format == "code" and args.kind != "gsm8k":
        raise UsageError("--format code: GSM8K only (its calculator annotations give the code)")
    record = claim(args)
    {"builtin": run_builtin, "convert": run_convert, "imagine": run_imagine}[args.command](args, record=record)


def claim(args):
    """The rule for existing outputs (records.claim_output): replaced only when made with the same flags and
    input files, or with --force; returns the record written beside them."""
    if args.command == "builtin":
        made = Path(args.out_dir) / "synth_args.json"
        outs, flag, inputs = [made.with_name(f"{s}.jsonl") for s in ("seed", "pool", "test")] + [made], "--out-dir", {}
    else:
        made = Path(os.path.splitext(args.out)[0] + ".stats.json")
        outs, flag = [Path(args.out), made], "--out"
        inputs = {"--in": args.inp} if args.command == "convert" else {
            "--model": args.model, "--seed-file": args.seed_file, "--questions": args.questions, "--exclude": args.exclude}
    return claim_output(flag, outs, made, args, args.force, inputs, ignore={"force", "out", "out_dir"})[0]


if __name__ == "__main__":
    run_main(main, "synth")
