"""What the relations task's semantic oracle says about a model's solutions or a training set.

On the relations task (reltask.py) a step can be arithmetically true and still a wrong decision, so
answer accuracy and the project's checker (grader.steps_verified: every written equation true, one
per needed quantity) flatter a policy. This report reads one trajectory per problem and prints, for
all problems, by difficulty and by question kind:

- predictions (evaluate.py's predictions.jsonl, one method's text, e.g. greedy): answer accuracy;
  verified accuracy (answer right and steps_verified with the problem's ops); oracle accuracy
  (reloracle.oracle_right: every step a right decision, every needed quantity computed, the boxed
  answer true); the wrong answers split into arithmetic errors (some written equation false) and
  semantic ones (every equation true, yet wrong); lucky: answer right, oracle wrong; of those, how many
  write every needed value right under swapped names (reloracle.values_right).
- sft data (pairs.py's sft.jsonl {"problem", "completion"}, or any such file): the same shares per
  trajectory, and coincidences: the share of verified trajectories the oracle calls wrong, and the share
  that the oracle calls wrong for their names alone (every value right).

The oracle is for analysis only (it knows the hidden graph); nothing here feeds training or search.
Pure Python, no model:

  python benchmarks/oracle_report.py --problems runs/rel/test.jsonl --predictions runs/eval/predictions.jsonl
  python benchmarks/oracle_report.py --problems runs/rel/pool.jsonl --sft runs/pairs/sft.jsonl --json o.json
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import DataError, load_jsonl, mean, read_problems, run_main, write_json  # noqa: E402
from grader import equations_hold, grade, steps_verified  # noqa: E402
from reloracle import oracle_right, values_right  # noqa: E402
from reltask import parse_relations  # noqa: E402



def fmt_pct(x):
    return "nan" if x is None or x != x else f"{100 * x:.1f}"  # x != x: NaN

def judge(problem, text, delim="\n\n"):
    """One trajectory's flags: answer right, every equation true, verified, right by the oracle."""
    steps = text.strip().split(delim)
    answer = grade(text, problem["answer"])
    return {"answer": answer, "arith": all(equations_hold(s) for s in steps),
            "verified": answer and steps_verified(steps, problem.get("ops"), problem["question"]),
            "oracle": oracle_right(problem["question"], text, delim),
            "values": values_right(problem["question"], text, delim)}


def summarize(flags):
    """Shares over a group of judged trajectories (see the module docstring)."""
    wrong = [f for f in flags if not f["answer"]]
    verified = [f for f in flags if f["verified"]]
    return {"n": len(flags),
            "answer": mean(f["answer"] for f in flags),
            "verified": mean(f["verified"] for f in flags),
            "oracle": mean(f["oracle"] for f in flags),
            "wrong": len(wrong),
            "wrong_arithmetic": sum(not f["arith"] for f in wrong),
            "wrong_semantic": sum(f["arith"] for f in wrong),
            "lucky": sum(f["answer"] and not f["oracle"] for f in flags),
            "lucky_values_right": sum(f["answer"] and not f["oracle"] and f["values"] for f in flags),
            "verified_oracle_wrong": mean(not f["oracle"] for f in verified) if verified else None,
            "verified_names_wrong": mean(not f["oracle"] and f["values"] for f in verified) if verified else None}


def groups(problems, judged):
    """{group name: [flags]}: all, each difficulty, each question kind."""
    out = defaultdict(list)
    for pid, f in judged:
        p = problems[pid]
        for name in ("all", f"difficulty {p.get('difficulty')}", f"kind {p.get('kind')}"):
            out[name].append(f)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "all", kv[0])))


def table(summary, sft):
    """Markdown rows, one per group."""
    if sft:
        head = ("| group | trajectories | answer % | verified % | oracle % | verified, oracle wrong % "
                "| verified, oracle wrong, every value right % |")
        rows = [f"| {g} | {s['n']} | {fmt_pct(s['answer'])} | {fmt_pct(s['verified'])} | {fmt_pct(s['oracle'])} "
                f"| {fmt_pct(s['verified_oracle_wrong'])} | {fmt_pct(s['verified_names_wrong'])} |" for g, s in summary.items()]
    else:
        head = ("| group | n | answer % | verified % | oracle % | wrong answers | arithmetic | semantic "
                "| lucky (answer right, oracle wrong) | lucky, every value right |")
        rows = [f"| {g} | {s['n']} | {fmt_pct(s['answer'])} | {fmt_pct(s['verified'])} | "
                f"{fmt_pct(s['oracle'])} | {s['wrong']} | {s['wrong_arithmetic']} | {s['wrong_semantic']} "
                f"| {s['lucky']} | {s['lucky_values_right']} |" for g, s in summary.items()]
    return "\n".join([head, "|" + "---|" * (head.count("|") - 1)] + rows)


def trajectories(args, problems):
    """(problem id, text) of every trajectory in --predictions (the --method's text) or --sft."""
    if args.sft:
        recs = load_jsonl(args.sft, {"problem": (str, int), "completion": str})
        pairs = [(str(r["problem"]), r["completion"]) for r in recs]
        where = args.sft
    else:
        recs = load_jsonl(args.predictions, {"id": (str, int), args.method: dict})
        pairs = [(str(r["id"]), r[args.method].get("text")) for r in recs]
        where = args.predictions
        if any(not isinstance(t, str) for _, t in pairs):
            raise DataError(f"{where}: method {args.method!r} has no 'text' (one trajectory) per record")
    missing = sorted({pid for pid, _ in pairs} - set(problems))
    if missing:
        raise DataError(f"{where}: problem {missing[0]} is not in --problems {args.problems}")
    return pairs


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", required=True,
                    help="problems JSONL of the relations task (synth.py builtin --task relations)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--predictions", help="evaluate.py's predictions.jsonl")
    src.add_argument("--sft", help="sft JSONL with 'problem' (an id of --problems) and 'completion'")
    ap.add_argument("--method", default="greedy",
                    help="the predictions' method whose 'text' is read (one trajectory per problem)")
    ap.add_argument("--step-delim", default="\n\n", help="step delimiter of the trajectories")
    ap.add_argument("--json", default="", help="also write the numbers to this JSON file")
    return ap


def main(argv=None):
    args = get_parser().parse_args(argv)
    problems = {p["id"]: p for p in read_problems(args.problems)}
    bad = [pid for pid, p in problems.items() if parse_relations(p["question"]) is None]
    if bad:
        raise DataError(f"{args.problems}: problem {bad[0]} is not a relations question")
    judged = [(pid, judge(problems[pid], text, args.step_delim)) for pid, text in trajectories(args, problems)]
    summary = {g: summarize(fs) for g, fs in groups(problems, judged).items()}
    what = f"sft {args.sft}" if args.sft else f"{args.method} in {args.predictions}"
    print(f"oracle report | {what} | problems {args.problems}")
    print(table(summary, bool(args.sft)))
    if args.json:
        write_json(args.json, {"args": vars(args), "summary": summary})
    return summary


if __name__ == "__main__":
    run_main(main, "oracle_report")
