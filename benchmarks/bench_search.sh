#!/usr/bin/env bash
# Issue 5 acceptance: PPM quality (BT vs MSE) and the test-time methods on the built-in task.
# Every number in docs/ppm.md comes from this script's outputs.
#   flock is taken per heavy command (not for the whole script) so that others' jobs interleave:
#   bash benchmarks/bench_search.sh [OUT]          (default OUT: benchmarks/out/search)
# Steps (each skipped when its output exists, so a rerun resumes):
#   1. data + policy with the project's own commands (synth.py builtin $SYNTH_ARGS; train_sft.py --init
#      tiny $SFT_ARGS), or POLICY=DIR to use a policy trained the same way elsewhere (it is linked)
#   2. MCTS with the gold on the answer-only pool -> trees (PPM training data; rStar round-1 style)
#   3. pairs.py ppm rules -> ppm_pairs.jsonl (--ppm-min-edit 1: built-in steps differ by a digit or
#      two, rStar's 20-character filter would drop nearly every intermediate pair)
#   4. train_ppm.py twice on the same pairs: --loss bt and --loss mse ($PPM_ARGS)
#   5. evaluate.py on the first $N_TEST test problems, 3 seeds: greedy, maj@k, best-of-N with both PPMs,
#      beam search and MCTS with the BT PPM (--search-ppms bt)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/out/search}
SYNTH_ARGS=${SYNTH_ARGS-"--seed 1 --n-pool 2000"}
SFT_ARGS=${SFT_ARGS-"--steps 1500 --lr 0.003 --seed 1"}   # loop.py's round 0 for seed 1
POLICY=${POLICY:-}
POOL_ARGS=${POOL_ARGS-"--rollouts 16 --children 4 --max-depth 8 --max-step-tokens 48"}
PPM_ARGS=${PPM_ARGS-"--eval-frac 0.1 --epochs 1 --lr 3e-4"}
N_TEST=${N_TEST:-1000}
SEEDS=${SEEDS:-0,1,2}
EVAL_METHODS=${EVAL_METHODS-greedy,sample,bon,beam,mcts}   # empty: stop after the PPMs
L="flock /tmp/heavy.lock"
mkdir -p "$OUT"
log() { echo "+ $*" | tee -a "$OUT/commands.log"; }

if [ ! -f "$OUT/data/test.jsonl" ]; then
  log python synth.py builtin --out-dir "$OUT/data" $SYNTH_ARGS
  python synth.py builtin --out-dir "$OUT/data" $SYNTH_ARGS   # seconds of pure Python: no lock
fi
if [ ! -f "$OUT/policy/config.json" ]; then
  if [ -n "$POLICY" ]; then
    log ln -s "$(realpath "$POLICY")" "$OUT/policy"
    ln -s "$(realpath "$POLICY")" "$OUT/policy"
  else
    log python train_sft.py --init tiny --data "$OUT/data/seed.jsonl" --out "$OUT/policy" $SFT_ARGS
    $L python train_sft.py --init tiny --data "$OUT/data/seed.jsonl" --out "$OUT/policy" --log-every 100 $SFT_ARGS
  fi
fi
if [ ! -f "$OUT/pairs/ppm_pairs.jsonl" ]; then
  cmd=(python mcts.py --policy "$OUT/policy" --data "$OUT/data/pool.jsonl" --out "$OUT/trees.jsonl" $POOL_ARGS)
  log "${cmd[@]}"
  $L "${cmd[@]}"
  cmd=(python pairs.py --trees "$OUT/trees.jsonl" --out-dir "$OUT/pairs" --rules ppm --ppm-min-edit 1 --sft-k 0)
  log "${cmd[@]}"
  "${cmd[@]}"
fi
for loss in bt mse; do
  if [ ! -f "$OUT/ppm_$loss/meta.json" ]; then
    cmd=(python train_ppm.py --init "$OUT/policy" --pairs "$OUT/pairs/ppm_pairs.jsonl" --out "$OUT/ppm_$loss"
         --loss "$loss" $PPM_ARGS)
    log "${cmd[@]}"
    $L "${cmd[@]}"
  fi
done
python - "$OUT" <<'EOF' | tee "$OUT/ppm_table.md"
import json, sys
out = sys.argv[1]
print("| loss | train pairs | held-out pairs | pair acc | BT loss | value MSE to Q | steps | train s |")
print("|---|---|---|---|---|---|---|---|")
for loss in ("bt", "mse"):
    m = json.load(open(f"{out}/ppm_{loss}/meta.json"))
    h = m["heldout"]
    print(f"| {loss} | {m['train_pairs']} | {h['pairs']} | {h['pair_acc']:.3f} | {h['bt_loss']:.3f} | {h['value_mse']:.3f} "
          f"| {m['steps']} | {m['train_seconds']:.0f} |")
EOF
[ -n "$EVAL_METHODS" ] || exit 0
cmd=(python evaluate.py --model "$OUT/policy" --data "$OUT/data/test.jsonl" --out-dir "$OUT/eval" --limit "$N_TEST"
     --methods "$EVAL_METHODS" --ppm "bt=$OUT/ppm_bt,mse=$OUT/ppm_mse" --search-ppms bt --n 16 --seed "$SEEDS"
     --beam-width 1,4 --beam-children 4 --mcts-rollouts 4,8 --mcts-children 4 --max-depth 8 --max-step-tokens 48
     --label tiny-sft)
log "${cmd[@]}"
$L "${cmd[@]}"
