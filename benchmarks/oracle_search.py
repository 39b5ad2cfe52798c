"""mcts.py with an oracle in place of the PPM: what a perfect step scorer would add to a search.

On the built-in task every question has a gold chain (task.builtin_chain: the value after each of its
operations). The oracle scores a partial trajectory +1 while the results of the `a op b = c` written
after the question are, in order, the chain's next values, and -1 once one is not (a true equation
with a wrong operand or operation leaves the chain; --check-equations catches the false ones). It
makes no errors, so what it adds to a search through --ppm-prior, --leaf-eval ppm or --ppm-floor
bounds what any PPM could add there (docs/ppm.md, round 2's search). Every mcts.py flag works;
--ppm takes any word (no checkpoint is read):

  python benchmarks/oracle_search.py --policy P --data pool.jsonl --out T --rollouts 32 --children 4 \\
      --check-equations --backtrack --resample 30 --resample-heat 0.05 --ppm oracle --ppm-floor -0.5
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mcts  # noqa: E402
from common import run_main  # noqa: E402
from grader import result_spans  # noqa: E402
from task import QUESTION, builtin_chain  # noqa: E402


def oracle_value(text):
    """+1 if every equation result written after the question is the gold chain's next value, else -1
    (also -1 when the text holds no built-in question)."""
    m = QUESTION.search(text)
    chain = builtin_chain(m[0]) if m else None
    if chain is None:
        return -1.0
    body = text[m.end():]
    results = [int(body[a:b]) for a, b in result_spans(body)]
    return 1.0 if results == chain[:len(results)] else -1.0


def oracle_scorer(texts):
    """The PPM interface mcts.Search calls: texts -> values in [-1, 1]."""
    return [oracle_value(t) for t in texts]


def main(argv=None):
    check = mcts.check_model_dir
    mcts.check_model_dir = lambda path, flag, **kw: None if flag == "--ppm" else check(path, flag, **kw)
    mcts.load_ppm = lambda path: oracle_scorer
    return mcts.main(argv)


if __name__ == "__main__":
    run_main(main, "oracle_search")
