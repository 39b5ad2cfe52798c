"""Fixed-step pairs from a policy's own greedy solutions: its likely errors, corrected by the checker.

pairs.py --rules fix pairs the false steps that a search sampled at temperature 1 (the policy's
unlikely slips, docs/ppm.md) with their corrections. The errors the policy makes greedily are
another set: 85% of its greedy test errors have a false equation (docs/preference.md). This probe
pairs those: evaluate.py --methods greedy on answer-carrying problems (the pool, never the test
set) writes predictions.jsonl; in each greedy solution the first step whose written arithmetic is
false (grader.equations_hold) gives one pair, built by pairs.fix_pair as pairs.py --rules fix does:
  prompt   = the question's prompt and the steps before it (common.format_prompt, join_steps)
  chosen   = that step with the checker's results (grader.correct_equations)
  rejected = the step as the policy wrote it
Each side ends with the step delimiter, or, when it writes \\boxed, with nothing (the trainer adds
EOS), as in pairs.py.

  python evaluate.py --model P --data pool.jsonl --out-dir E --methods greedy --no-plot
  python benchmarks/greedy_fix_pairs.py --predictions E/predictions.jsonl --problems pool.jsonl \\
      --model P --out greedy_fix.jsonl
  python train_dpo.py --model P --pairs greedy_fix.jsonl --kinds fixed_step --order shuffle ...
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import STEP_DELIM, format_prompt, load_jsonl, load_tokenizer, write_jsonl  # noqa: E402
from grader import equations_hold  # noqa: E402
from pairs import fix_pair  # noqa: E402


def greedy_fix_pair(problem_id, prompt, text, delim=STEP_DELIM):
    """The pair at the first false step of one solution `text` after `prompt`, or None when every
    step holds or the checker cannot correct it (a division with no integer result)."""
    steps = text.split(delim)
    k = next((k for k, step in enumerate(steps) if not equations_hold(step)), None)
    pair = None if k is None else fix_pair(problem_id, prompt, steps[:k], steps[k], 0.0, k + 1, delim)
    return pair and {**pair, "id": f"{problem_id}-greedy_fix-0"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predictions", required=True, help="evaluate.py predictions.jsonl (method greedy)")
    ap.add_argument("--problems", required=True, help="the problems it ran on (for the questions)")
    ap.add_argument("--model", required=True, help="the policy (its tokenizer gives the prompt format)")
    ap.add_argument("--out", required=True, help="pairs JSONL to write")
    args = ap.parse_args()
    tok = load_tokenizer(args.model)
    questions = {p["id"]: p["question"] for p in load_jsonl(args.problems)}
    preds = load_jsonl(args.predictions)
    pairs = [greedy_fix_pair(r["id"], format_prompt(tok, questions[r["id"]]), r["greedy"]["text"]) for r in preds]
    pairs = [p for p in pairs if p]
    write_jsonl(args.out, pairs)
    wrong = sum(not r["greedy"]["correct"] for r in preds)
    print(f"{len(preds)} greedy solutions | {wrong} wrong | {len(pairs)} fixed-step pairs -> {args.out}")


if __name__ == "__main__":
    main()
