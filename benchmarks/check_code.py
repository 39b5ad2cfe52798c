"""How GSM8K gold solutions fare as code steps: synth.py convert --format code, then the sandbox.

For each GSM8K file ({"question", "answer" with "<<expr=res>>" calculator annotations and "#### N"}),
every record is converted with synth.convert_gsm8k(fmt="code") (codesteps.gsm8k_code_steps), the code
of all its steps is joined as mcts.py joins a path's (searchtree.step_code) and run in the sandbox
(sandbox.run_code), and the script prints per file:
  converted    records that became code steps (the rest read their answer off prose or algebra)
  run+answer   converted solutions whose code runs and whose last printed line is the answer's number,
               also as a share of all records
  output line  converted solutions whose "# output:" line equals what the sandbox printed
--show N prints N records that did not convert and N that failed in the sandbox.

  python benchmarks/check_code.py --gsm8k gsm8k_train.jsonl gsm8k_test.jsonl --show 5
"""
import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from codesteps import OUTPUT, same_number  # noqa: E402
from sandbox import run_code  # noqa: E402
from searchtree import step_code  # noqa: E402
from synth import convert_gsm8k  # noqa: E402


def prints_answer(ok, out, answer):
    """The code ran and its last printed line is the answer's number."""
    lines = out.strip().splitlines()
    try:
        return ok and bool(lines) and same_number(float(lines[-1]), answer)
    except ValueError:
        return False


def report(path, limit, show, workers):
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()][:limit or None]
    converted = [(rec, convert_gsm8k(rec, i, fmt="code")) for i, rec in enumerate(records)]
    missed = [rec for rec, out in converted if out is None]
    done = [out for _, out in converted if out is not None]
    codes = ["\n".join(step_code(s) for s in out["solution"].split("\n\n")) for out in done]
    t0 = time.time()
    with ThreadPoolExecutor(workers) as pool:
        runs = list(pool.map(run_code, codes))
    good = [prints_answer(ok, out, rec["answer"]) for (ok, out), rec in zip(runs, done)]
    written = [next(line[len(OUTPUT):] for line in rec["solution"].splitlines() if line.startswith(OUTPUT))
               for rec in done]
    same_output = sum(out.strip() == w for (_, out), w in zip(runs, written))
    n, c, g = len(records), len(done), sum(good)
    print(f"{Path(path).name}: {n} records | converted {c} ({100 * c / n:.2f}%) | run+answer {g} "
          f"({100 * g / max(c, 1):.2f}% of converted, {100 * g / n:.2f}% of all) | output line = sandbox "
          f"{same_output}/{c} | sandbox {time.time() - t0:.0f} s")
    for rec in missed[:show]:
        print("  not converted:", rec["answer"][-200:].replace("\n", " / "))
    for rec, (_, out), _ in [x for x in zip(done, runs, good) if not x[2]][:show]:
        print("  failed:", rec["solution"][-200:].replace("\n", " / "), "| sandbox:", out[-100:])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gsm8k", nargs="+", required=True, help="GSM8K jsonl files (question, answer)")
    p.add_argument("--limit", type=int, default=0, help="read only the first N records of each file (0: all)")
    p.add_argument("--show", type=int, default=0, help="print N unconverted and N failing records per file")
    p.add_argument("--workers", type=int, default=2, help="sandbox runs in parallel")
    args = p.parse_args()
    for path in args.gsm8k:
        report(path, args.limit, args.show, args.workers)


if __name__ == "__main__":
    main()
