"""runner.py starts each stage as `python script args` would run: its argv, environment, output, exit code and
error line are the script's own. On Linux, from a process that had not imported torch (loop.py), the stage is
forked after torch and transformers are imported once, so it does not import them again; from a process where
torch may have started OpenMP's threads (here, pytest's), it is a new interpreter, since a forked child's first
parallel op would wait for those threads forever. The forked cases run in a driver, a fresh interpreter."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner import start  # noqa: E402

STAGES = {
    "modules.py": "import sys\nprint(sorted({'torch', 'transformers'} & set(sys.modules)))\n",
    "argv.py": "import os, sys\nimport helper\nprint(sys.argv, os.environ.get('OMP_NUM_THREADS'), helper.NAME, __name__)\n"
               "import torch\nprint('threads', torch.get_num_threads(), sys.argv[-1], file=sys.stderr)\n",
    "message.py": "import sys\nsys.exit('bad input: x.jsonl line 3')\n",
    "code.py": "import sys\nsys.exit(3)\n",
    "raises.py": "print('before')\nraise ValueError('boom')\n",
    "syntax.py": "x = (1,\n",
    "fresh.py": "import helper\nprint(helper.NAME)\n",
    "ok.py": "import sys\nsys.argv.append('changed')\nprint('done')\nsys.exit(0)\n",
    "parallel.py": "import torch\nx = torch.ones(1000, 1000)\nprint('sum', int((x @ x).sum() > 0) + int(x.exp().sum() > 0))\n",
}

DRIVER = """
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
import runner
runner.PRELOAD += ("transformers.no_such_module",)  # left out
py, out = sys.executable, {}
p = runner.start([py, "modules.py"], subprocess.PIPE)
out["modules"] = [type(p).__name__, p.stdout.read(), p.wait()]
runner.run_shards([py, "argv.py", "--out", "x"], 2, "shards.log", "none")
for name in ["message", "code", "raises", "syntax"]:
    try:
        runner.run([py, name + ".py"], name + ".log", "none")
    except SystemExit as e:
        out[name] = str(e)
import helper  # the parent's copy; the stage reads the file as it is now
open("helper.py", "w").write("NAME = 'edited helper'\\n")
p = runner.start([py, "fresh.py"], subprocess.PIPE)
out["fresh"] = [p.stdout.read(), p.wait()]
argv = list(sys.argv)
out["ok"] = [runner.run([py, "ok.py"], "ok.log", "none") > 0, sys.argv == argv]
import torch
torch.set_num_threads(2)  # a team of two, however many cores
x = torch.ones(1000, 1000)
(x @ x).sum(), x.exp().sum()  # OpenMP's threads start
p = runner.start([py, "parallel.py"], subprocess.PIPE)
out["after_an_op"] = [type(p).__name__, p.stdout.read(), p.wait()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def driven(tmp_path_factory):
    """The driver's results and its folder, where every stage and log lies."""
    d = tmp_path_factory.mktemp("stages")
    for name, body in {**STAGES, "helper.py": "NAME = 'helper'\n"}.items():
        (d / name).write_text(body)
    r = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT)], cwd=d, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1]), d


@pytest.mark.skipif(sys.platform != "linux", reason="stages are forked on Linux only")
def test_a_stage_is_forked_with_torch_and_transformers_imported(driven):
    assert driven[0]["modules"] == ["Forked", "['torch', 'transformers']\n", 0]


def test_a_stage_sees_its_argv_environment_and_folder_and_its_output_reaches_the_log(driven):
    lines = (driven[1] / "shards.log").read_text().splitlines()
    for i in (0, 1):  # each shard: its own argv, one torch thread as its environment says
        assert f"['argv.py', '--out', 'x', '--shard', '{i}/2'] 1 helper __main__" in lines
        assert f"threads 1 {i}/2" in lines
    assert any(line.startswith("['argv.py', '--out', 'x', '--merge', '2', '--force'] ") for line in lines)  # the merge


@pytest.mark.parametrize("name, code, line", [("message", 1, "bad input: x.jsonl line 3"), ("code", 3, None),
                                              ("raises", 1, "ValueError: boom")])
def test_a_failed_stage_stops_the_run_with_its_exit_code_and_its_error_in_the_log(driven, name, code, line):
    assert driven[0][name].startswith(f"stage failed ({code}): ")
    assert line is None or line in (driven[1] / f"{name}.log").read_text().splitlines()


def test_a_stage_imports_the_project_modules_as_they_are_on_disk_not_the_parents_copies(driven):
    assert driven[0]["fresh"] == ["edited helper\n", 0]


def test_a_stage_traceback_starts_at_the_script_as_a_new_interpreter_prints_it(driven):
    lines = (driven[1] / "raises.log").read_text().splitlines()
    first = lines.index("Traceback (most recent call last):")
    assert lines[first + 1].startswith('  File "') and lines[first + 1].endswith('raises.py", line 2, in <module>')
    assert "ValueError: boom" in lines
    assert not any("runpy" in line or "runner.py" in line for line in lines)


def test_a_stage_with_a_syntax_error_prints_only_the_error_as_a_new_interpreter_does(driven):
    lines = (driven[1] / "syntax.log").read_text().splitlines()
    assert driven[0]["syntax"].startswith("stage failed (1): ")
    assert any(line.endswith('syntax.py", line 1') for line in lines) and "SyntaxError: '(' was never closed" in lines
    assert not any("Traceback" in line or "runpy" in line or "runner.py" in line for line in lines)


def test_a_stage_that_succeeds_returns_its_time_and_the_parent_keeps_its_own_argv(driven):
    assert driven[0]["ok"] == [True, True] and (driven[1] / "ok.log").read_text().startswith("done\n")


def test_after_torch_started_its_threads_a_stage_is_a_new_interpreter_and_finishes(driven, tmp_path):
    assert driven[0]["after_an_op"] == ["Popen", "sum 2\n", 0]  # forked, it would wait forever
    import torch
    torch.ones(1000, 1000).exp().sum()  # and in pytest's process
    (tmp_path / "parallel.py").write_text(STAGES["parallel.py"])
    p = start([sys.executable, tmp_path / "parallel.py"], subprocess.PIPE)
    assert type(p).__name__ == "Popen" and p.stdout.read() == "sum 2\n" and p.wait(timeout=120) == 0
