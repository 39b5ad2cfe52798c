"""benchmarks/gpu_check.sh: it parses, its --dry-run lists exactly the commands of docs/gpu.md's GPU
recipe, its CPU mode starts the stages and skips the CUDA-only rows with a message, and a failing stage
fails it."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_dry_run_commands_are_the_docs_gpu_recipe():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    lines = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, check=True,
                           cwd=ROOT).stdout.splitlines()
    assert lines[0] == "W=runs/gpu_check"
    doc = (ROOT / "docs" / "gpu.md").read_text()
    section = doc[doc.index("## GPU recipe"):]
    first_block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).splitlines()
    assert first_block == lines[1:]
    # the table of a real GPU run, each stage that ran marked pass
    assert "ran on one GPU" in section and re.search(r"^\| sft .*\| pass \|$", section, re.M)


def test_cpu_mode_starts_and_skips_cuda(tmp_path):
    """CI mode: the first two stages for real (synth, then SFT under torchrun with gloo); the whole CPU
    run (`--cpu`, every stage at smoke sizes) takes minutes on a 2-core machine, too long for the suite."""
    env = {**os.environ, "W": str(tmp_path / "w"), "OMP_NUM_THREADS": "1", "GPU_CHECK_SFT_STEPS": "10"}
    r = subprocess.run(["bash", str(SCRIPT), "--cpu", "--only", "data,sft"], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in r.stdout.splitlines() if line.startswith("| ")}
    assert "| pass |" in rows["data"] and "| pass |" in rows["sft"]
    assert (tmp_path / "w" / "sft" / "config.json").exists()
    for stage in ["sft-2gpu", "dpo-2gpu", "svpo-2gpu", "ppm-2gpu"]:
        assert "skip (needs 2 CUDA GPUs" in rows[stage]
    for stage in ["mcts-vllm", "eval-vllm"]:
        assert "skip (needs CUDA and vllm)" in rows[stage]
    for stage in ["mcts-hf", "pairs", "dpo", "svpo", "ppm", "eval-hf"]:
        assert "skip (not in --only)" in rows[stage]
    assert "[skip] mcts-vllm: needs CUDA and vllm" in r.stdout and "mode cpu" in r.stdout


def test_a_failing_stage_fails_the_script(tmp_path):
    env = {**os.environ, "W": str(tmp_path / "w")}
    r = subprocess.run(["bash", str(SCRIPT), "--cpu", "--only", "pairs"], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=300)  # no trees to read
    assert r.returncode == 1 and "| pairs |" in r.stdout and "FAIL (see" in r.stdout
