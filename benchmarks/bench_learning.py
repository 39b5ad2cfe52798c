"""Learning benchmark of the preference stage on the built-in task (Issue 4, acceptance 5).

Per seed, with the project's own commands (every artifact is kept; a rerun skips what exists):
  python synth.py builtin --seed S --out-dir OUT/sS/data                   problems (defaults)
  python train_sft.py --init tiny --data .../seed.jsonl --seed S --out .../sft   the SFT policy
  python mcts.py --policy .../sft --data .../pool.jsonl --seed S ...      trees on the answer-only pool
  python pairs.py --trees .../trees.jsonl --out-dir .../pairs ...          pairs + top-k SFT trajectories
then one train_dpo.py run per method (2 epochs, --save-epochs) from the SFT policy, and
`evaluate.py --methods greedy` (greedy pass@1) on the seed's test split for the SFT policy and
every checkpoint. Methods (CPL Table 1 rows; SVPO; a control):
  co       DPO on complete-trajectory pairs only (AlphaLLM-CO), shuffled
  depth    DPO on best-vs-worst-per-depth pairs (AlphaLLM-Q), shuffled
  shuffle  DPO on step + complete pairs, shuffled (AlphaLLM-PL-Shuffle)
  cpl      DPO on step + complete pairs in the CPL order (AlphaLLM-CPL)
  svpo     the SVPO loss on SVPO's sibling / cousin / other-depth pairs, shuffled
  false    DPO on false-step pairs only (mcts.py --keep-false, pairs.py rule false): a true step that
           reaches the gold against a sibling whose written arithmetic is false
  allcpl   DPO on step + complete + false-step pairs in the CPL order
  rft      control: plain SFT on the trees' top-k correct trajectories (rejection sampling / rStar's
           policy SFT), the same number of optimizer steps as a 2-epoch DPO run on step + complete
All DPO methods share --dpo-args (lr, beta, NLL weight, batch); the table says which.
Writes OUT/results.json and OUT/table.md; --update-docs puts the table under
"## Results: preference learning (CPL)" in docs/preference.md.

--reuse-loop 'runs/loop_s{seed}' takes the data and the SFT policy from loop.py runs instead (round 0
of the loop is exactly the first two commands); --loop-trees takes their round-1 trees as well.
--loop-round R (with --reuse-loop) starts every method from the loop's round-R policy (the round's
SFT update: the "SFT policy" row is then the SFT-only update of that round) and trains on that
round's pairs (OUT/roundR/pairs/pairs.jsonl, made by loop.py; run the loop with --keep-false in
--mcts-args for false-step pairs).
--search-tag names a variant of the search (e.g. --check-equations in --mcts-args) so that its
trees, pairs, runs and table sit beside the plain ones.

Tuning is done on a seed that is not reported (e.g. --seeds 100 --out-dir .../dev); the reported
seeds' test splits are never used to pick settings.
  python benchmarks/bench_learning.py --seeds 0,1,2 --update-docs
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from docs_section import put_section  # noqa: E402  (beside this script)
METHODS = {  # name: (train_dpo.py flags, label)
    "co": ("--kinds complete --order shuffle", "DPO, complete pairs only (AlphaLLM-CO)"),
    "depth": ("--kinds depth --order shuffle", "DPO, best vs worst per depth (AlphaLLM-Q)"),
    "shuffle": ("--kinds step,complete --order shuffle", "DPO, step + complete, shuffled (PL-Shuffle)"),
    "cpl": ("--kinds step,complete --order cpl", "DPO, step + complete, CPL order (AlphaLLM-CPL)"),
    "svpo": ("--kinds sibling,cousin,other_depth --order shuffle --loss svpo", "SVPO loss, sibling/cousin/other-depth pairs"),
    "false": ("--kinds false_step --order shuffle", "DPO, false-step pairs only (true step vs false arithmetic)"),
    "allcpl": ("--kinds step,complete,false_step --order cpl", "DPO, step + complete + false-step, CPL order"),
}


def sh(cmd, log=None):
    print("+", cmd, flush=True)
    t0 = time.time()
    out = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True)
    if log:
        Path(log).write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"failed ({out.returncode}): {cmd}\n{(out.stdout + out.stderr)[-3000:]}")
    print(f"  done in {time.time() - t0:.0f}s", flush=True)
    return out.stdout


def greedy(model, test, out, args):
    """Greedy pass@1 of a checkpoint on the test split (cached in out/summary.json)."""
    summ = Path(out) / "summary.json"
    if not summ.exists():
        sh(f"{sys.executable} evaluate.py --model {model} --data {test} --out-dir {out} --methods greedy --no-plot "
           f"--limit {args.eval_limit}", Path(out).with_suffix(".log"))
    s = json.loads(summ.read_text())["methods"]["greedy"]
    return {"acc": s["acc"], "by_difficulty": s.get("by_difficulty", {})}


def count_steps(meta_path):
    return json.loads(Path(meta_path).read_text())["steps"]


def loop_artifacts(template, seed, with_trees, round_=0):
    """(data dir, start policy, round-1 trees or None, pairs dir or None) of a finished loop.py run of this
    seed: round 0's policy, or with round_ > 0 that round's policy and pairs."""
    run = Path(template.format(seed=seed))
    data, sft, trees = run / "data", run / f"round{round_}" / "policy", run / "round1" / "trees_fresh.jsonl"
    pairs = run / f"round{round_}" / "pairs" if round_ else None
    needs = [data / "test.jsonl", sft / "config.json"] + ([run / "round1" / "mcts_fresh_time.json"] if with_trees else []) \
        + ([pairs / "pairs_meta.json"] if pairs else [])
    for need in needs:
        if not need.exists():
            raise SystemExit(f"--reuse-loop: {need} missing; run `python loop.py --out {run} --seed {seed}` first")
    return data, sft, trees if with_trees and not round_ else None, pairs


def run_seed(seed, args):
    d = Path(args.out_dir) / f"s{seed}"
    d.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    data, sft, trees, pairs = d / "data", d / "sft", None, None
    if args.reuse_loop:
        data, sft, trees, pairs = loop_artifacts(args.reuse_loop, seed, args.loop_trees, args.loop_round)
    if not (data / "test.jsonl").exists():
        sh(f"{py} synth.py builtin --seed {seed} --out-dir {data} {args.synth_args}")
    if not (sft / "config.json").exists():
        steps = f"--steps {args.sft_steps}" if args.sft_steps else ""
        sh(f"{py} train_sft.py --init tiny --data {data / 'seed.jsonl'} --seed {seed} --out {sft} {steps}",
           d / "sft.log")
    st = args.search_tag
    if trees is None and pairs is None:
        trees = d / f"trees{st}.jsonl"
        if not (d / f"trees{st}.done").exists():
            limit = f"--limit {args.n_pool}" if args.n_pool else ""
            sh(f"{py} mcts.py --policy {sft} --data {data / 'pool.jsonl'} --out {trees} --seed {seed} {limit} "
               f"{args.mcts_args}", d / f"mcts{st}.log")
            (d / f"trees{st}.done").write_text("")
    pairs = pairs or d / f"pairs{st}"
    if not (pairs / "pairs_meta.json").exists():
        sh(f"{py} pairs.py --trees {trees} --out-dir {pairs} --seed {seed} {args.pairs_args}", d / f"pairs{st}.log")
    res = {"seed": seed, "pair_counts": json.loads((pairs / "pairs_meta.json").read_text())["counts"],
           "sft": greedy(sft, data / "test.jsonl", d / "eval" / "sft", args)}
    print(f"seed {seed} | SFT greedy {100 * res['sft']['acc']:.1f} | pairs {res['pair_counts']}", flush=True)
    for m in filter(None, args.methods.split(",")):
        if m == "rft":
            continue
        out, ev = d / "runs" / f"{m}{st}{args.tag}", f"{m}{st}{args.tag}"
        if not (out / "meta.json").exists():
            flags = METHODS[m][0]
            sh(f"{py} train_dpo.py --model {sft} --pairs {pairs / 'pairs.jsonl'} --out {out} --epochs 2 --save-epochs "
               f"--seed {seed} {flags} {args.dpo_args} {args.svpo_args if m == 'svpo' else ''}", d / "runs" / f"{ev}.log")
        res[m] = {"epoch1": greedy(out / "epoch1", data / "test.jsonl", d / "eval" / f"{ev}_ep1", args),
                  "epoch2": greedy(out, data / "test.jsonl", d / "eval" / f"{ev}_ep2", args),
                  "train_seconds": json.loads((out / "meta.json").read_text())["train_seconds"],
                  "pairs": json.loads((out / "meta.json").read_text())["pairs"]}
        print(f"seed {seed} | {m} greedy ep1 {100 * res[m]['epoch1']['acc']:.1f} ep2 {100 * res[m]['epoch2']['acc']:.1f}",
              flush=True)
    if "rft" in args.methods.split(","):
        out = d / "runs" / f"rft{st}{args.tag}"
        if not (out / "config.json").exists():
            ref = d / "runs" / f"cpl{st}{args.tag}" / "meta.json"
            steps = count_steps(ref) if ref.exists() else 200
            sh(f"{py} train_sft.py --init {sft} --data {pairs / 'sft.jsonl'} --out {out} --steps {steps} --seed {seed} "
               f"{args.rft_args}", d / "runs" / f"rft{st}{args.tag}.log")
        res["rft"] = {"epoch2": greedy(out, data / "test.jsonl", d / "eval" / f"rft{st}{args.tag}", args)}
        print(f"seed {seed} | rft greedy {100 * res['rft']['epoch2']['acc']:.1f}", flush=True)
    return res


def fmt(xs):
    if not xs:
        return "-"
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * m:.1f} ± {100 * sd:.1f}"


def table(results, args):
    seeds = [r["seed"] for r in results]
    sft = [r["sft"]["acc"] for r in results]
    lines = ["| method | greedy pass@1, epoch 1 | greedy pass@1, epoch 2 | epoch 2 minus SFT | per seed (epoch 2) |",
             "|---|---|---|---|---|",
             f"| SFT policy (start of every row) | {fmt(sft)} | | | {', '.join(f'{100 * x:.1f}' for x in sft)} |"]
    labels = dict((k, v[1]) for k, v in METHODS.items())
    labels["rft"] = "control: SFT on top-k correct MCTS trajectories (RFT), same steps"
    for m in filter(None, args.methods.split(",")):
        e1 = [r[m]["epoch1"]["acc"] for r in results if m in r and "epoch1" in r[m]]
        e2 = [r[m]["epoch2"]["acc"] for r in results if m in r]
        gain = [r[m]["epoch2"]["acc"] - r["sft"]["acc"] for r in results if m in r]
        lines.append(f"| {labels[m]} | {fmt(e1)} | {fmt(e2)} | {fmt(gain)} | {', '.join(f'{100 * x:.1f}' for x in e2)} |")
    return "\n".join(lines), seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2", help="pipeline seeds (synth, SFT, MCTS, DPO), comma-separated")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "out" / "learning"), help="builds, runs, results")
    ap.add_argument("--methods", default="co,depth,shuffle,cpl,svpo,rft", help="comma list of: " + ", ".join(METHODS) + ", rft")
    ap.add_argument("--synth-args", default="", help="extra synth.py builtin flags (default: its defaults)")
    ap.add_argument("--sft-steps", type=int, default=0, help="train_sft.py --steps (0: its default)")
    ap.add_argument("--n-pool", type=int, default=0, help="pool problems searched (0: all)")
    ap.add_argument("--mcts-args", default="--rollouts 16 --children 4 --max-depth 8 --max-step-tokens 48",
                    help="mcts.py flags")
    ap.add_argument("--pairs-args", default="--tau 0.5", help="pairs.py flags")
    ap.add_argument("--dpo-args", default="--lr 2e-4 --beta 0.1 --sft-weight 1 --batch-size 32 --grad-accum 1 --max-len 512",
                    help="train_dpo.py flags shared by every DPO method")
    ap.add_argument("--svpo-args", default="", help="extra train_dpo.py flags for svpo")
    ap.add_argument("--rft-args", default="--lr 3e-4", help="extra train_sft.py flags for the rft control")
    ap.add_argument("--reuse-loop", default="",
                    help="take each seed's data and SFT policy (round0/policy) from a finished loop.py run, "
                         "e.g. 'runs/loop_s{seed}' (the same stages with loop.py's settings)")
    ap.add_argument("--loop-trees", action="store_true",
                    help="with --reuse-loop: take the loop's round-1 trees too instead of searching here")
    ap.add_argument("--loop-round", type=int, default=0,
                    help="with --reuse-loop: start from round R's policy (its SFT update) and train on round R's pairs")
    ap.add_argument("--search-tag", default="",
                    help="suffix of the trees, pairs, run and eval names (e.g. '_eq' with --check-equations in --mcts-args)")
    ap.add_argument("--tag", default="", help="suffix of the run and eval directories (settings sweeps)")
    ap.add_argument("--eval-limit", type=int, default=0, help="test problems evaluated (0: all)")
    ap.add_argument("--threads", type=int, default=1,
                    help="OMP_NUM_THREADS of every stage (1: on a shared 2-core machine a 2-thread torch stalls ~10x "
                         "whenever another process holds the other core; 0: leave as is)")
    ap.add_argument("--update-docs", action="store_true", help="write the table into docs/preference.md")
    args = ap.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(json.dumps(vars(args)), flush=True)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    results = [run_seed(int(s), args) for s in args.seeds.split(",")]
    tab, seeds = table(results, args)
    cmd = "python benchmarks/bench_learning.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    n_test = json.loads((Path(args.out_dir) / f"s{seeds[0]}" / "eval" / "sft" / "summary.json").read_text())["problems"]
    r = args.loop_round
    source = (f"data, round-{r} policy (its SFT update: the first row) and round-{r} trees and pairs of "
              f"`loop.py --out {args.reuse_loop} --seed S`, then its own " if r else
              f"data and SFT policy of `loop.py --out {args.reuse_loop} --seed S`, then its own "
              + ("" if args.loop_trees else "trees, ") if args.reuse_loop else "synth data, SFT policy, trees, ")
    title = f"Results: preference learning after the round-{r} SFT update" if r else "Results: preference learning (CPL)"
    search = f"loop.py round {r or 1}" if r or args.loop_trees else args.mcts_args
    section = (f"## {title}\n\n`{cmd}`\n\nSeeds {', '.join(map(str, seeds))} (each: its own "
               f"{source}{'' if r else 'pairs and '}runs); greedy pass@1 on each seed's test split "
               f"({n_test} problems), mean ± standard deviation over seeds. DPO flags: `{args.dpo_args}`; "
               f"MCTS: `{search}`; pairs: `{'loop.py' if r else args.pairs_args}`.\n\n{tab}\n")
    Path(args.out_dir, f"results{args.search_tag}{args.tag}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    Path(args.out_dir, f"table{args.search_tag}{args.tag}.md").write_text(section)
    print(section)
    if args.update_docs:
        put_section("preference.md", title, section)


if __name__ == "__main__":
    main()
