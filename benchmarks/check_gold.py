"""How the step checkers read real gold solutions: stepcheck.check_step against grader.steps_verified.

For each GSM8K file ({"question", "answer" with "<<expr=res>>" calculator annotations and "#### N"})
and MATH file ({"problem", "solution"}), the records are converted with synth.convert_gsm8k /
synth.convert_math, the solution is split into steps on "\\n\\n", and the script prints:
  accepted     share of gold solutions with no False step (new checker), and with
               grader.steps_verified True (old checker);
  all-abstain  share of gold solutions where every step is None (new checker);
  steps        counts of True / False / None steps (new checker).
Corruption (GSM8K only): in each solution with a calculator annotation whose result is written
right after it ("48/2 = <<48/2=24>>24 clips"), one such result (picked by a sha256 of the record's
index) is made wrong in the text, +1 on its integer part (24 -> 25, 0.2 -> 1.2); the share of
corrupted solutions that each checker rejects (some step False), how many of the new checker's
rejections have the corrupted step itself False, and how many of the others have it None
(abstains) or True.
--show N prints N rejected gold steps per file and N missed corruptions.

  python benchmarks/check_gold.py --gsm8k gsm8k_train.jsonl --math math_test.jsonl --show 10
"""
import argparse
import hashlib
import json
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grader import steps_verified  # noqa: E402
from stepcheck import check_step, steps_checked  # noqa: E402
from synth import convert_gsm8k, convert_math  # noqa: E402

_ANNOTATION = re.compile(r"<<([^<>]*)=([^<>=]*)>>(\$?)")


def read_jsonl(path, limit):
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return records[:limit] if limit else records


def steps_of(rec, kind, index):
    """The converted gold solution's steps, or None when the converter skips the record."""
    out = (convert_gsm8k if kind == "gsm8k" else convert_math)(rec, index)
    return None if out is None else out["solution"].split("\n\n")


def corrupt(answer, index):
    """(answer with one written calculator result +1, the index of the step that holds it) or
    None when no result of an annotation is written right after it. The annotation is picked by
    sha256(index); convert_gsm8k makes each non-empty line of the reasoning one step."""
    spots = [m for m in _ANNOTATION.finditer(answer)
             if re.fullmatch(r"-?\d+(\.\d+)?", m.group(2).strip())
             and answer.startswith(m.group(2).strip(), m.end())
             and not re.match(r"[\d.]\d", answer[m.end() + len(m.group(2).strip()):])]
    if not spots:
        return None
    m = spots[int(hashlib.sha256(str(index).encode()).hexdigest(), 16) % len(spots)]
    res = m.group(2).strip()
    step = sum(1 for line in answer[:m.end()].split("\n")[:-1] if line.strip())
    return answer[:m.end()] + str(Decimal(res) + 1) + answer[m.end() + len(res):], step


def gold_report(path, kind, limit, show):
    """Print the gold counts of one file; return its rejected examples."""
    n = accepted = old_accepted = abstained = skipped = 0
    counts, rejected = {True: 0, False: 0, None: 0}, []
    for index, rec in enumerate(read_jsonl(path, limit)):
        steps = steps_of(rec, kind, index)
        if steps is None:
            skipped += 1
            continue
        verdicts = [check_step(s) for s in steps]
        rejected += [s for s, v in zip(steps, verdicts) if v is False][:show - len(rejected)]
        for v, c in zip((True, False, None), steps_checked(steps)):
            counts[v] += c
        n += 1
        accepted += False not in verdicts
        abstained += all(v is None for v in verdicts)
        old_accepted += steps_verified(steps)
    print(f"{kind} gold {path} | {n} solutions ({skipped} skipped) | accepted: new "
          f"{accepted / n:.2%} ({n - accepted} rejected), old {old_accepted / n:.2%} "
          f"({n - old_accepted} rejected) | all steps abstain (new) {abstained / n:.2%} "
          f"({abstained}) | steps True {counts[True]} False {counts[False]} None {counts[None]}")
    return rejected


def corruption_report(path, limit, show):
    """Print how often each checker rejects a GSM8K solution with one wrong calculator result."""
    n = new_rejected = old_rejected = new_none = none_skipped = step_false = 0
    missed = []
    for index, rec in enumerate(read_jsonl(path, limit)):
        bad = corrupt(rec["answer"], index)
        if bad is None:
            none_skipped += 1
            continue
        steps = steps_of({**rec, "answer": bad[0]}, "gsm8k", index)
        if steps is None:
            none_skipped += 1
            continue
        n += 1
        verdicts = [check_step(s) for s in steps]
        new_rejected += False in verdicts
        step_false += verdicts[bad[1]] is False
        old_rejected += not steps_verified(steps)
        if False not in verdicts:
            new_none += verdicts[bad[1]] is None
            if len(missed) < show:
                missed.append(f"[{verdicts[bad[1]]}] {steps[bad[1]]}")
    print(f"gsm8k corrupted {path} | {n} solutions ({none_skipped} without a written result) | "
          f"rejected: new {new_rejected / n:.2%} ({new_rejected}; the corrupted step False: {step_false}), "
          f"old {old_rejected / n:.2%} "
          f"({old_rejected}) | not rejected (new): corrupted step abstains {new_none}, "
          f"judged True {n - new_rejected - new_none}")
    return missed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gsm8k", nargs="*", default=[], help="GSM8K jsonl files (question, answer)")
    p.add_argument("--math", nargs="*", default=[], help="MATH jsonl files (problem, solution)")
    p.add_argument("--limit", type=int, default=0, help="read only the first N records of each "
                   "file (0: all)")
    p.add_argument("--show", type=int, default=0, help="print N rejected gold steps per file and "
                   "N corrupted solutions the new checker misses")
    args = p.parse_args()
    if not args.gsm8k and not args.math:
        p.error("give at least one --gsm8k or --math file")
    start = time.time()
    for kind, paths in (("gsm8k", args.gsm8k), ("math", args.math)):
        for path in paths:
            for s in gold_report(path, kind, args.limit, args.show):
                print("  gold rejected:", s.replace("\n", " | ")[:300])
            if kind == "gsm8k":
                for s in corruption_report(path, args.limit, args.show):
                    print("  corruption missed:", s.replace("\n", " | ")[:300])
    print(f"done in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
