#!/usr/bin/env bash
# The GPU path in one go: the tiny model's SFT, DPO, SVPO and PPM under torchrun (bf16 and nccl on CUDA,
# one process, and two when two GPUs exist), MCTS and evaluate with the HF backend (the shared-prefix
# attention in the model's dtype), and the same two with vLLM where it imports; then loop.py on a random
# Qwen2 checkpoint with a BPE tokenizer (benchmarks/random_model.py) on GSM8K-format problems, text on the
# HF backend and code steps on vLLM. Prints one table
# (stage, seconds, tokens/s, peak GPU memory, pass/fail) and exits non-zero if any stage failed.
#
#   bash benchmarks/gpu_check.sh                # on a GPU box: pip install -r requirements.txt (+ vllm)
#   bash benchmarks/gpu_check.sh --cpu          # CI: the same stages at smoke sizes on the CPU (fp32,
#                                               # gloo); what needs CUDA is skipped with a message
#   bash benchmarks/gpu_check.sh --dry-run      # print the GPU commands (2 GPUs, vLLM) and run nothing
#   bash benchmarks/gpu_check.sh --only sft,dpo # run these stages only (a later stage reads $W from before)
#
# Sizes are picked to finish in well under 8 minutes on one GPU; that is an estimate until a GPU run
# replaces it (README, "GPU recipe"). Without CUDA the script switches to --cpu by itself.
# Work files go to $W (default runs/gpu_check, wiped first unless --only); each stage's log is
# $W/<stage>.log. $GPU_CHECK_SFT_STEPS overrides the SFT steps (CI's start-up check trains 10).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=auto DRY=0 ONLY=""
W=${W:-runs/gpu_check}
while (($#)); do
  case $1 in
    --cpu) MODE=cpu ;;
    --dry-run) DRY=1 ;;
    --only) ONLY=",$2,"; shift ;;
    *) echo "usage: $0 [--cpu] [--dry-run] [--only stage,stage]" >&2; exit 2 ;;
  esac
  shift
done

PY=${PYTHON:-python}
if ((DRY)); then
  GPUS=2 VLLM=1 MODE=gpu
else
  GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
  if [[ $MODE == auto ]]; then MODE=$( ((GPUS > 0)) && echo gpu || echo cpu); fi
  [[ $MODE == cpu ]] && GPUS=0
  VLLM=$( ((GPUS > 0)) && $PY -c "import vllm" 2>/dev/null && echo 1 || echo 0)
fi

# sizes: the GPU runs are the same commands with more steps and problems (the CPU ones only prove they start)
# GPU: wider than the e2e test's model (hidden 64, 4 heads: learns the 2-op task in ~200 steps) so that a
# head is 64 wide, a size every vLLM attention backend takes (some list 32, 64, ... only)
# REAL: a random Qwen2 with a BPE tokenizer (benchmarks/random_model.py) that loop.py's round 0 fits to the problems
if [[ $MODE == gpu ]]; then
  N_POOL=64 N_TEST=32 SFT_STEPS=400 DPO_EPOCHS=2 PPM_STEPS=100 EVAL_N=8 TINY="--hidden 128 --layers 2 --heads 2"
  REAL="--problems 64 --hidden 256 --layers 4" REAL_N=64 REAL_STEPS=400
else  # the e2e model: at 150 steps its trees hold correct and wrong answers, so every later stage has pairs
  N_POOL=8 N_TEST=4 SFT_STEPS=150 DPO_EPOCHS=1 PPM_STEPS=5 EVAL_N=2 TINY="--hidden 64 --layers 2 --heads 4"
  REAL="--problems 8" REAL_N=8 REAL_STEPS=200
fi
SFT_STEPS=${GPU_CHECK_SFT_STEPS:-$SFT_STEPS}  # CI's start-up check trains a few steps only
TR1="torchrun --standalone --nproc_per_node 1"
TR2="torchrun --standalone --nproc_per_node 2"
SEARCH="--rollouts 4 --children 2 --max-depth 3 --max-step-tokens 48"
LOOP_REAL="--seed-file \$W/real/FMT.jsonl --pool-file \$W/real/FMT.jsonl --test-file \$W/real/FMT.jsonl --rounds 1 \
--n-pool $REAL_N --rollouts 4 --base-steps $REAL_STEPS --base-lr 3e-3 --refresh-steps 20 --mcts-args '--children 3 --max-depth 4'"
EVAL="--methods greedy,sample,bon,beam,mcts --ppm \$W/ppm --n $EVAL_N --max-tokens 96 --max-step-tokens 48 \
--max-depth 3 --beam-width 2 --beam-children 2 --mcts-rollouts $EVAL_N --mcts-children 2 --no-plot"

# stage name | what it needs (- , 2gpu, vllm) | command ($W expands when it runs)
STAGES=(
  "data|-|$PY synth.py builtin --out-dir \$W/data --n-seed 200 --seed-ops 2-2 --n-pool $N_POOL --n-test $N_TEST \
--max-operand 4 --max-value 8 --pool-ops 2-2 --test-ops 2-2"
  "sft|-|$TR1 train_sft.py --init tiny $TINY --data \$W/data/seed.jsonl --out \$W/sft --steps $SFT_STEPS --batch-size 32"
  "mcts-hf|-|$PY mcts.py --policy \$W/sft --data \$W/data/pool.jsonl --out \$W/trees.jsonl $SEARCH"
  "pairs|-|$PY pairs.py --trees \$W/trees.jsonl --out-dir \$W/pairs --model \$W/sft --sft-k 2 --ppm-min-edit 3"
  "dpo|-|$TR1 train_dpo.py --model \$W/sft --pairs \$W/pairs/pairs.jsonl --kinds step,complete --order cpl \
--out \$W/dpo --epochs $DPO_EPOCHS --lr 1e-4 --batch-size 8 --grad-accum 1"
  "svpo|-|$TR1 train_dpo.py --model \$W/sft --pairs \$W/pairs/pairs.jsonl --loss svpo --out \$W/svpo \
--epochs $DPO_EPOCHS --lr 1e-4 --batch-size 8 --grad-accum 1"
  "ppm|-|$TR1 train_ppm.py --init \$W/sft --pairs \$W/pairs/ppm_pairs.jsonl --out \$W/ppm --steps $PPM_STEPS --lr 1e-3"
  "sft-2gpu|2gpu|$TR2 train_sft.py --init tiny $TINY --data \$W/data/seed.jsonl --out \$W/sft2 --steps $SFT_STEPS --batch-size 16"
  "dpo-2gpu|2gpu|$TR2 train_dpo.py --model \$W/sft --pairs \$W/pairs/pairs.jsonl --kinds step,complete --order cpl \
--out \$W/dpo2 --epochs $DPO_EPOCHS --lr 1e-4 --batch-size 4 --grad-accum 1"
  "svpo-2gpu|2gpu|$TR2 train_dpo.py --model \$W/sft --pairs \$W/pairs/pairs.jsonl --loss svpo --out \$W/svpo2 \
--epochs $DPO_EPOCHS --lr 1e-4 --batch-size 4 --grad-accum 1"
  "ppm-2gpu|2gpu|$TR2 train_ppm.py --init \$W/sft --pairs \$W/pairs/ppm_pairs.jsonl --out \$W/ppm2 --steps $PPM_STEPS --lr 1e-3"
  "eval-hf|-|$PY evaluate.py --model \$W/sft --data \$W/data/test.jsonl --out-dir \$W/eval-hf $EVAL"
  "mcts-vllm|vllm|$PY mcts.py --policy \$W/sft --data \$W/data/pool.jsonl --out \$W/trees-vllm.jsonl $SEARCH --backend vllm"
  "eval-vllm|vllm|$PY evaluate.py --model \$W/sft --data \$W/data/test.jsonl --out-dir \$W/eval-vllm $EVAL \
--backend vllm --ppm-backend vllm"
  "real-model|-|$PY benchmarks/random_model.py --out \$W/real $REAL"
  "loop-real-text|-|$PY loop.py --out \$W/loop-text --init \$W/real/qwen ${LOOP_REAL//FMT/text} --update sft+cpl --ppm bt"
  "loop-real-code|vllm|$PY loop.py --out \$W/loop-code --init \$W/real/qwen --format code ${LOOP_REAL//FMT/code} \
--backend vllm"
)

if ((DRY)); then
  echo "W=$W"
  for s in "${STAGES[@]}"; do IFS='|' read -r _ _ cmd <<<"$s"; echo "$cmd"; done
  exit 0
fi

[[ -z $ONLY ]] && rm -rf "$W"
mkdir -p "$W"
export W OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "gpu_check | mode $MODE | GPUs $GPUS | vllm $( ((VLLM)) && echo yes || echo no) | work $W | $(date -u +%F)"

peak_mib() {  # the largest memory.used (MiB, summed over GPUs) nvidia-smi saw while $1 was alive
  local pid=$1 peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | awk '{s+=$1} END {print s+0}')
    ((now > peak)) && peak=$now
    sleep 0.2
  done
  echo "$peak"
}

ROWS=() FAILED=0
for s in "${STAGES[@]}"; do
  IFS='|' read -r name needs cmd <<<"$s"
  why=""
  [[ $needs == 2gpu ]] && ((GPUS < 2)) && why="needs 2 CUDA GPUs ($GPUS here)"
  [[ $needs == vllm ]] && ((!VLLM)) && why=$( ((GPUS > 0)) && echo "vllm does not import" || echo "needs CUDA and vllm")
  [[ -z $why && -n $ONLY && $ONLY != *",$name,"* ]] && why="not in --only"
  if [[ -n $why ]]; then
    echo "[skip] $name: $why"
    ROWS+=("$name|-|-|-|skip ($why)")
    continue
  fi
  echo "\$ $cmd"
  t0=$(date +%s%N)
  eval "$cmd" >"$W/$name.log" 2>&1 &
  pid=$!
  mem="-"
  ((GPUS > 0)) && command -v nvidia-smi >/dev/null && mem="$(peak_mib $pid) MiB"
  if wait $pid; then status=pass; else status="FAIL (see $W/$name.log)"; FAILED=1; tail -5 "$W/$name.log"; fi
  ms=$((($(date +%s%N) - t0) / 1000000))
  toks=$(grep -oE '[0-9]+ tok/s' "$W/$name.log" | tail -1 | cut -d' ' -f1 || true)
  ROWS+=("$name|$((ms / 1000)).$((ms % 1000 / 100))|${toks:--}|$mem|$status")
done

echo
echo "| stage | seconds | tokens/s | peak GPU memory | result |"
echo "|---|---|---|---|---|"
for r in "${ROWS[@]}"; do IFS='|' read -r a b c d e <<<"$r"; echo "| $a | $b | $c | $d | $e |"; done
echo
echo "mode $MODE, $GPUS GPU(s), $(date -u '+%F %H:%M UTC')$( ((GPUS > 0)) && echo ", $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)")"
exit $FAILED
