"""Are the policy's written steps the computation it answers from? A diagnostic (Issues 5 and 6).

On the built-in task every step is an equation "a op b = c". For each terminal node of MCTS trees
(mcts.py output with the gold known) this counts whether the final answer is correct and whether
every equation on its path holds (grader.equations_hold). A correct answer reached through a false
equation means the steps are not what the answer was computed from; step-level labels built from
final answers (Q values, PPM pairs) then disagree with what the steps say.

  python benchmarks/faithfulness.py --trees T.jsonl [T2.jsonl ...]
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import load_jsonl  # noqa: E402
from grader import equations_hold  # noqa: E402
from pairs import Tree  # noqa: E402


def count(trees):
    """Counter of (correct, every equation on the path holds) over the distinct terminal nodes."""
    c = Counter()
    for rec in trees:
        t = Tree(rec, min_visits=0)  # pairs.py's view of a tree record: its path() walks up to the root
        for i in t.terminals:
            if "correct" in t.nodes[i]:
                c[(t.nodes[i]["correct"], all(equations_hold(t.nodes[j]["step"]) for j in t.path(i)))] += 1
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", nargs="+", required=True, help="trees JSONL files (mcts.py, gold known)")
    args = ap.parse_args()
    for path in args.trees:
        c = count(load_jsonl(path))
        right, wrong = c[(True, True)] + c[(True, False)], c[(False, True)] + c[(False, False)]
        print(f"{path}: {right + wrong} terminals | correct: {right}, of which {c[(True, False)]} "
              f"({100 * c[(True, False)] / max(right, 1):.1f}%) have a false equation on the path | wrong: {wrong}, "
              f"of which {c[(False, True)]} ({100 * c[(False, True)] / max(wrong, 1):.1f}%) have only true equations")


if __name__ == "__main__":
    main()
