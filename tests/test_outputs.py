"""The one rule for existing outputs (records.claim_output), the same in every stage: an output made with the same
flags and input files is made again; one made with other flags, from edited inputs or by an unknown run is refused
in one line naming the flag, every earlier file unchanged; --force replaces it. And a full disk while a checkpoint
is replaced: one line, the old checkpoint still loads. (mcts.py's resume under the same rule: test_bad_input.py.)
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_bad_input import (BUILTIN, DPO, EVAL, PAIRS, PPM, SFT, d, fill, refused, run_stage,  # noqa: F401
                            snapshot, write_lines)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner import run  # noqa: E402

TINY = ["--hidden", "32", "--layers", "1", "--heads", "2"]
GSM = [{"question": f"Ann has {i} pens. How many?", "answer": f"{i}+0={i}\n#### {i}"} for i in range(3)]

# stage, argv writing under {tmp} from inputs copied to {tmp}/in, the output, its record, a changed flag and how the
# record shows it, the input file that gets edited
CASES = [
    ("synth", BUILTIN + ["--n-seed", "4", "--n-pool", "4", "--n-test", "4"], "{tmp}/synth", "synth/synth_args.json",
     ["--n-seed", "3"], ("n_seed", 3), None),
    ("synth", ["convert", "--kind", "gsm8k", "--in", "{tmp}/in/gsm.jsonl", "--out", "{tmp}/c.jsonl"], "{tmp}/c.jsonl",
     "c.stats.json", ["--format", "code"], ("format", "code"), "gsm.jsonl"),
    ("evaluate", fill(EVAL, "{tmp}/in", "{tmp}") + ["--methods", "greedy", "--no-plot", "--max-tokens", "8"],
     "{tmp}/eval", "eval/args.json", ["--max-tokens", "9"], ("max_tokens", 9), "problems.jsonl"),
    ("pairs", fill(PAIRS, "{tmp}/in", "{tmp}"), "{tmp}/pairs", "pairs/pairs_meta.json", ["--tau", "0.4"], ("tau", 0.4),
     "trees.jsonl"),
    ("train_sft", fill(SFT, "{tmp}/in", "{tmp}") + TINY, "{tmp}/sft", "sft/meta.json", ["--lr", "1e-3"], ("lr", 1e-3),
     "sols.jsonl"),
    ("train_dpo", fill(DPO, "{tmp}/in", "{tmp}") + ["--epochs", "1"], "{tmp}/dpo", "dpo/meta.json", ["--beta", "0.2"],
     ("beta", 0.2), "pairs.jsonl"),
    ("train_ppm", fill(PPM, "{tmp}/in", "{tmp}") + ["--kinds", "", "--steps", "1", "--eval-frac", "0"], "{tmp}/ppm",
     "ppm/meta.json", ["--steps", "2"], ("steps", 2), "pairs.jsonl"),
]


def record_args(path):
    rec = json.loads(Path(path).read_text())
    return rec["args"] if isinstance(rec.get("args"), dict) else rec


@pytest.mark.parametrize("stage,argv,out,record,changed,shown,edited", CASES,
                         ids=[f"{c[0]}-{c[1][0]}" if c[0] == "synth" else c[0] for c in CASES])
def test_existing_output_is_redone_refused_or_replaced(d, tmp_path, capsys, stage, argv, out, record, changed,  # noqa: F811
                                                       shown, edited):
    shutil.copytree(d, tmp_path / "in", symlinks=True)
    write_lines(tmp_path / "in" / "gsm.jsonl", GSM)
    argv, out = fill(argv, tmp_path / "in", tmp_path), Path(fill([out], d, tmp_path)[0])
    code, err, _ = run_stage(capsys, stage, argv)
    assert code == 0 and out.exists(), err
    code, err, _ = run_stage(capsys, stage, argv)  # the same flags and inputs: made again
    assert code == 0, err
    flag = "--out-dir" if "--out-dir" in argv else "--out"
    line = refused(capsys, stage, argv + changed, flag, f"{changed[0]} ", "--force", keep=[tmp_path])
    assert line.startswith(f"{stage}: {flag}: ")
    if edited:  # the same flags, an input edited in place: its old results are never reused
        src = tmp_path / "in" / edited
        lines = src.read_text().splitlines()
        src.write_text("\n".join(lines[:-1]) + "\n")
        refused(capsys, stage, argv, flag, "contents changed", keep=[p for p in tmp_path.iterdir() if p.name != "in"])
    code, err, _ = run_stage(capsys, stage, argv + changed + ["--force"])
    assert code == 0, err
    key, value = shown
    assert record_args(tmp_path / record)[key] == value


def test_a_folder_made_by_an_unknown_run_is_refused(d, tmp_path, capsys):  # noqa: F811
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "predictions.jsonl").write_text("{}\n")
    refused(capsys, "evaluate", fill(EVAL, d, tmp_path) + ["--methods", "greedy"], "--out-dir",
            "how it was made is unknown", keep=[tmp_path])
    (tmp_path / "empty").mkdir()  # an empty folder is no output: used
    code, err, _ = run_stage(capsys, "train_sft", fill(SFT[:3], d, tmp_path) + [tmp_path / "empty", "--steps", "1"] + TINY)
    assert code == 0 and (tmp_path / "empty" / "meta.json").exists(), err


def test_the_loop_runner_forces_every_stage_but_the_search(tmp_path):
    """loop.py reruns a stage only when it did not finish, so the stage replaces what it left; mcts.py resumes."""
    fake = tmp_path / "mcts.py"
    fake.write_text("import sys; print('argv', sys.argv[1:])\n")
    run([sys.executable, fake, "--out", "x"], tmp_path / "log", tmp_path / "done")
    run([sys.executable, "-c", "import sys; print('argv', sys.argv[1:])", "--out", "x"], tmp_path / "log",
        tmp_path / "done")
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines[::2] == ["argv ['--out', 'x']", "argv ['--out', 'x', '--force']"]
    assert [re.fullmatch(r"\[\d+\.\d s\] (.*)", line)[1] for line in lines[1::2]] == ["mcts.py", "-c"]  # each stage's time


@pytest.fixture
def small_disk(tmp_path):
    """A 130 KiB tmpfs: room for one tiny checkpoint (84 KB) and not for a second beside it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=130k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_leaves_the_old_checkpoint_whole(d, small_disk, capsys):  # noqa: F811
    from common import load_model
    argv = fill(SFT[:3], d, "") + [small_disk / "sft", "--steps", "1"] + TINY
    code, err, _ = run_stage(capsys, "train_sft", argv)
    assert code == 0, err
    before = snapshot(small_disk)
    line = refused(capsys, "train_sft", argv[:-len(TINY) - 1] + ["2"] + TINY + ["--force"], str(small_disk / "sft"),
                   "no space left on device", "kept whole", keep=[small_disk], started=True)
    assert "Traceback" not in line and snapshot(small_disk) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["sft"]  # nothing half-written beside it
    load_model(small_disk / "sft", "cpu", None)
