"""An upper bound for a PPM in the search: mcts.py on relations problems with the task's semantic oracle in
the PPM's place.

The oracle scores a path +1 when every step on it is a right decision (reloracle.oracle_steps) and -1
otherwise: the PPM a search could at best have. With `--ppm-prior` it seeds each new child's Q (rStar Eq. 3),
with `--leaf-eval ppm` it is the leaf value. Every other flag is mcts.py's, and the output is mcts.py's trees
file, so benchmarks/tree_oracle.py reads it like any other. Analysis only: the oracle knows the hidden graph,
so nothing it scores may feed training.

  python benchmarks/rel_oracle_search.py --policy P --data pool.jsonl --out trees_oracle.jsonl --ppm-prior \
      --whole-after 1 --children 8 --no-backtrack   # and the search's other flags
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mcts  # noqa: E402
from common import (ResumableWriter, fit_context, format_prompt, pick_device, read_problems, run_main,  # noqa: E402
                    write_jsonl)
from engine import HFBackend  # noqa: E402
from reloracle import oracle_steps  # noqa: E402


class OracleScorer:
    """texts -> values, mcts.Search's scorer: +1 when the text is a problem's prompt followed by steps that are
    all right decisions by the oracle, else -1."""

    def __init__(self, prompts, delim):
        self.questions = dict(prompts)  # prompt -> question
        self.lengths = sorted({len(p) for p in self.questions}, reverse=True)
        self.delim = delim

    def score(self, text):
        prompt = next((text[:n] for n in self.lengths if text[:n] in self.questions), None)
        if prompt is None:
            raise ValueError(f"a text that starts with no problem's prompt: {text[:80]!r}")
        steps = [s for s in text[len(prompt):].split(self.delim) if s.strip()]
        return 1.0 if all(oracle_steps(self.questions[prompt], steps)) else -1.0

    def __call__(self, texts):
        return [self.score(t) for t in texts]


def main(argv=None):
    args = mcts.get_parser().parse_args(argv)
    if args.ppm or not (args.ppm_prior or args.leaf_eval == "ppm"):
        raise SystemExit("the oracle takes the PPM's place: give --ppm-prior or --leaf-eval ppm, and no --ppm")
    if not (args.data and args.policy and args.out) or args.format == "code":
        raise SystemExit("--policy, --data and --out are required; the oracle reads text steps (--format text)")
    policy = HFBackend(args.policy, *pick_device(0), batch_size=args.window * args.children * args.leaves_per_tick)
    problems = fit_context(read_problems(args.data)[:args.limit or None], policy.tokenizer, args.policy,
                           args.max_step_tokens)
    prompts = [(p.get("prompt") or format_prompt(policy.tokenizer, p["question"], False), p["question"])
               for p in problems]
    search, writer = mcts.Search(policy, args, OracleScorer(prompts, args.step_delim)), ResumableWriter(args.out)
    dt = mcts.search_all(search, [p for p in problems if str(p["id"]) not in writer.done], writer, show=True)
    recs = sorted(writer.records, key=lambda r: str(r["id"]))
    write_jsonl(args.out, recs)  # a killed run goes on from the trees it wrote
    print(f"done | {len(recs)} trees | {sum(r['stats']['correct'] > 0 for r in recs)} with a correct terminal | "
          f"{search.tokens} tokens this run | {dt:.0f}s")


if __name__ == "__main__":
    run_main(main, "rel_oracle_search")
