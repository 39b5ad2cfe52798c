"""End to end: loop.py runs every stage in sequence (synth -> SFT -> MCTS -> pairs -> SFT + CPL DPO
-> PPM -> evaluate with best-of-N and PPM-guided MCTS), two rounds, on a very small setting: a
two-operation task with numbers up to 4 that a 2-layer model learns in 200 steps, so the search
finds correct and wrong terminals and every later stage gets real data."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_loop_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "loop"
    cmd = [sys.executable, str(ROOT / "loop.py"), "--out", str(out), "--rounds", "2", "--n-seed", "60",
           "--seed-ops", "2-2", "--n-pool", "12", "--n-test", "12",
           "--synth-args", "--max-operand 4 --max-value 8 --pool-ops 2-2 --test-ops 2-2",
           "--sft-args", "--hidden 64 --layers 2 --batch-size 32", "--sft-steps", "200",
           "--refresh-steps", "5", "--ppm-steps", "5", "--rollouts", "4", "--children", "2",
           "--mcts-args", "--max-depth 3 --max-step-tokens 48", "--eval-limit", "6", "--n", "2",
           "--update", "sft+cpl", "--dpo-args", "--epochs 1 --lr 1e-4", "--no-baseline"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]

    res = json.loads((out / "results.json").read_text())
    assert [row["round"] for row in res["rows"]] == [0, 1, 2]
    for row in res["rows"]:
        assert 0.0 <= row["greedy"] <= 1.0 and "maj@2" in row
    # the search found both correct and wrong terminals, so every kind of data exists
    trees = [json.loads(line) for line in (out / "round1" / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 12 and any(t["stats"]["correct"] for t in trees)
    counts = json.loads((out / "round1" / "pairs" / "pairs_meta.json").read_text())["counts"]
    assert counts["sft"] > 0 and counts["step"] > 0 and counts["ppm_final"] + counts.get("ppm_step", 0) > 0
    for d in ["round1/policy_sft", "round1/policy", "round1/ppm", "round2/policy", "round2/ppm"]:
        assert (out / d / "config.json").exists(), d
    # round 2 searched with the round-1 PPM as a prior, and evaluated best-of-N and MCTS with its own PPM
    assert json.loads((out / "round2" / "trees.jsonl.args.json").read_text())["ppm_prior"] is True
    assert {"bon-last:ppm@2", "mcts:ppm@2"} <= set(res["rows"][2])

    # a rerun on the same folder resumes: every stage is skipped, the table is the same
    r2 = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0 and "$ " not in r2.stdout and r2.stdout.count("[skip]") >= 15
    assert json.loads((out / "results.json").read_text())["rows"][2]["greedy"] == res["rows"][2]["greedy"]
