"""runner.py starts each stage as `python script args` would run: its argv, environment, output, exit code and
error line are the script's own; on Linux the process is forked from one that imported torch and transformers
once, so the stage does not import them again."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner import run, run_shards, start  # noqa: E402


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="stages are forked on Linux only")
def test_a_stage_starts_with_torch_and_transformers_imported(tmp_path):
    s = script(tmp_path, "stage.py", "import sys\nprint(sorted({'torch', 'transformers'} & set(sys.modules)))\n")
    p = start([sys.executable, s], subprocess.PIPE, {"A": "1"})
    assert p.stdout.read() == "['torch', 'transformers']\n" and p.wait() == 0


def test_a_stage_sees_its_argv_environment_and_folder_and_its_output_reaches_the_log(tmp_path):
    (tmp_path / "helper.py").write_text("NAME = 'helper'\n")  # the script's folder is first on its path
    s = script(tmp_path, "stage.py", "import os, sys\nimport helper\n"
               "print(sys.argv, os.environ.get('OMP_NUM_THREADS'), helper.NAME, __name__)\n"
               "import torch\nprint('threads', torch.get_num_threads(), file=sys.stderr)\n")
    run_shards([sys.executable, s, "--out", "x"], 2, tmp_path / "log", tmp_path / "done")
    lines = (tmp_path / "log").read_text().splitlines()
    for i in (0, 1):  # each shard: its own argv, one torch thread as its environment says
        assert f"['{s}', '--out', 'x', '--shard', '{i}/2'] 1 helper __main__" in lines
    assert lines.count("threads 1") == 2
    assert any(line.startswith(f"['{s}', '--out', 'x', '--merge', '2', '--force'] ") for line in lines)  # the merge


@pytest.mark.parametrize("body, code, line", [
    ("import sys\nsys.exit('bad input: x.jsonl line 3')\n", 1, "bad input: x.jsonl line 3"),
    ("import sys\nsys.exit(3)\n", 3, None),
    ("print('before')\nraise ValueError('boom')\n", 1, "ValueError: boom"),
])
def test_a_failed_stage_stops_the_run_with_its_exit_code_and_its_error_in_the_log(tmp_path, body, code, line):
    s = script(tmp_path, "stage.py", body)
    with pytest.raises(SystemExit, match=rf"stage failed \({code}\)"):
        run([sys.executable, s], tmp_path / "log", tmp_path / "done")
    log = (tmp_path / "log").read_text()
    assert line is None or line in log.splitlines()


def test_a_stage_that_succeeds_returns_its_time_and_the_parent_keeps_its_own_argv(tmp_path):
    argv = list(sys.argv)
    s = script(tmp_path, "stage.py", "import sys\nsys.argv.append('changed')\nprint('done')\nsys.exit(0)\n")
    assert run([sys.executable, s], tmp_path / "log", tmp_path / "done") > 0
    assert sys.argv == argv and (tmp_path / "log").read_text().startswith("done\n")
