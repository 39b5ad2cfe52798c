"""sandbox.run_code: what a step of generated code may do, and that the caller always carries on."""
import os
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sandbox  # noqa: E402
from sandbox import run_code  # noqa: E402


def _descendants(root=None):
    """Pids of all processes below `root` (default: this test process), from /proc."""
    parent = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass  # exited meanwhile
    found, todo = set(), [root or os.getpid()]
    while todo:
        ppid = todo.pop()
        kids = [p for p, pp in parent.items() if pp == ppid and p not in found]
        found.update(kids)
        todo.extend(kids)
    return found


def _group_alive(pgid):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                    return True
        except (OSError, IndexError, ValueError):
            pass
    return False


def _carries_on():
    assert run_code("print(1 + 1)") == (True, "2\n")


def test_normal_code_returns_its_output():
    ok, out = run_code("import math\nx = math.comb(5, 2)\nprint('x =', x)\nprint(x * 2)")
    assert (ok, out) == (True, "x = 10\n20\n")


def test_failing_step_returns_the_traceback():
    ok, out = run_code("a = 1\nb = a / 0\nprint('never')")
    assert ok is False
    assert "Traceback" in out and "ZeroDivisionError" in out and 'step.py", line 2' in out
    assert "never" not in out
    assert run_code("import sys\nprint('bye')\nsys.exit(3)") == (False, "bye\n")
    _carries_on()


def test_infinite_loop_is_stopped_by_the_timeout():
    for code in ("while True:\n    pass", "import time\ntime.sleep(60)"):
        start = time.monotonic()
        assert run_code(code, timeout=1.0) == (False, "timeout")
        assert time.monotonic() - start < 3
    assert not _descendants()  # the child was killed and reaped
    _carries_on()


def test_memory_bomb_is_stopped_and_the_caller_survives():
    start = time.monotonic()
    ok, out = run_code("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))",
                       timeout=10, memory_mb=256)
    assert ok is False and "MemoryError" in out
    ok, out = run_code("x = bytearray(10**10)", memory_mb=256)
    assert ok is False and "MemoryError" in out
    assert time.monotonic() - start < 10
    _carries_on()


def test_fork_bomb_is_contained():
    before = _descendants()
    codes = [
        "import os\nprint(os.getpid(), flush=True)\nwhile True:\n    os.fork()",
        "import os, subprocess, sys\nprint(os.getpid(), flush=True)\n"
        "while True:\n    subprocess.Popen([sys.executable, '-c', 'pass'])",
        "import multiprocessing, os\nprint(os.getpid(), flush=True)\n"
        "while True:\n    multiprocessing.Process(target=print).start()",
        "import os\nprint(os.getpid(), flush=True)\nos.system('sleep 30 &')",
    ]
    for code in codes:
        start = time.monotonic()
        ok, out = run_code(code, timeout=5)
        assert ok is False and "PermissionError" in out
        assert time.monotonic() - start < 5
        assert not _group_alive(int(out.split()[0]))  # its session started no survivor
    assert _descendants() == before
    _carries_on()


def test_write_outside_the_sandbox_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    sibling = f"escaped-{os.getpid()}-{time.time_ns()}.txt"  # ../ from the sandbox is the temp dir
    attempts = [
        f"open({str(target)!r}, 'w').write('x')",
        f"open({str(target)!r}, 'a').write('x')",
        f"import pathlib; pathlib.Path({str(target)!r}).write_text('x')",
        f"import os; os.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
        f"import shutil; shutil.copy('step.py', {str(target)!r})",
        f"open('../{sibling}', 'w').write('x')",
        f"import os; os.remove({str(keep)!r})",
        f"import os; os.rename({str(keep)!r}, {str(target)!r})",
        f"import shutil; shutil.rmtree({str(tmp_path)!r})",
        f"import os; os.symlink({str(tmp_path)!r}, 'link')",
    ]
    for code in attempts:
        ok, out = run_code(code)
        assert ok is False and "PermissionError" in out, code
    assert not target.exists()
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), sibling))
    assert keep.read_text() == "precious"
    _carries_on()


def test_inside_the_sandbox_works_and_is_removed_afterwards():
    code = ("import os, tempfile\nopen('a.txt', 'w').write('hello')\nos.mkdir('d')\n"
            "os.rename('a.txt', 'd/b.txt')\nprint(open('d/b.txt').read())\n"
            "print(tempfile.mkstemp()[1].startswith(os.getcwd()))\nprint(os.getcwd())")
    ok, out = run_code(code)
    assert ok is True
    hello, same_dir, workdir = out.split()
    assert (hello, same_dir) == ("hello", "True")
    assert not os.path.exists(workdir)


def test_environment_is_clean(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN_FOR_TEST", "do-not-leak")
    ok, out = run_code("import os\nprint(sorted(os.environ))")
    assert ok is True and "SECRET_TOKEN_FOR_TEST" not in out and "do-not-leak" not in out


def test_output_is_clipped():
    ok, out = run_code("print('a' * 100000)\nprint('END')")
    assert ok is True and out.startswith("aaaa") and out.rstrip().endswith("END")
    assert len(out) <= sandbox.MAX_OUTPUT_CHARS + 50


# Hostile code, one route per row: {m} is a file outside the sandbox that the code tries to create,
# directly or through a process it starts. Every row must fail, leave no file and no process behind.
_SH = "['/bin/sh', '-c', 'touch {m}']"
HOSTILE = {
    "os.system": "import os; os.system('touch {m}')",
    "os.popen": "import os; os.popen('touch {m}').read()",
    "subprocess.run": f"import subprocess; subprocess.run({_SH})",
    "_posixsubprocess.fork_exec": (
        "import _posixsubprocess\n_posixsubprocess.fork_exec([b'/bin/sh'], [b'/bin/sh', b'-c', b'touch {m}'], True, (), "
        "None, None, -1, -1, -1, -1, -1, -1, -1, -1, False, False, None, None, None, -1, None, False)"),
    "re-imported _posixsubprocess": "import sys; sys.modules.pop('_posixsubprocess', None); import _posixsubprocess",
    "subprocess._fork_exec": "import subprocess; subprocess._fork_exec()",
    "os.posix_spawn": f"import os; os.posix_spawn('/bin/sh', {_SH}, dict())",
    "os.posix_spawnp": f"import os; os.posix_spawnp('sh', {_SH}, dict())",
    "os.fork": "import os\nif os.fork() == 0:\n    open('{m}', 'w')",
    "os.forkpty": "import os\nif os.forkpty()[0] == 0:\n    open('{m}', 'w')",
    "pty.spawn": f"import pty; pty.spawn({_SH})",
    "os.execv": f"import os; os.execv('/bin/sh', {_SH})",
    "os.spawnv": f"import os; os.spawnv(os.P_WAIT, '/bin/sh', {_SH})",
    "multiprocessing spawn": ("import multiprocessing as mp\nmp.set_start_method('spawn')\n"
                              "p = mp.Process(target=print)\np.start()\np.join()"),
    "multiprocessing forkserver": ("import multiprocessing as mp\nmp.set_start_method('forkserver')\n"
                                   "p = mp.Process(target=print)\np.start()\np.join()"),
    "ProcessPoolExecutor": "import concurrent.futures as f; f.ProcessPoolExecutor(2).submit(abs, 1).result()",
    "asyncio subprocess": f"import asyncio; asyncio.run(asyncio.create_subprocess_exec(*{_SH}))",
    "ctypes libc.system": "import ctypes; ctypes.CDLL(None).system(b'touch {m}')",
    "write outside": "open('{m}', 'w').write('x')",
    "os.open outside": "import os; os.open('{m}', os.O_CREAT | os.O_WRONLY)",
    "socket connect": "import socket; socket.create_connection(('127.0.0.1', 9))",
    "raw socket": "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 9))",
    "socketpair": "import socket; socket.socketpair()",
    "parent's environment": "import os; print(open('/proc/%d/environ' % os.getppid()).read())",
    "raise own rlimit": "import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
    "kill the parent": "import os, signal; os.kill(os.getppid(), signal.SIGKILL)",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_contained(name, tmp_path):
    marker = tmp_path / "escaped"
    before = _descendants()
    ok, out = run_code(HOSTILE[name].format(m=marker), timeout=5)
    assert ok is False and "PermissionError" in out, out
    assert not marker.exists()
    time.sleep(0.05)
    assert _descendants() == before
    _carries_on()


def test_hostile_environment_read_sees_only_the_clean_environment(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN_FOR_TEST", "do-not-leak")
    for code in ("import os; print(dict(os.environ))", "print(open('/proc/self/environ').read())"):
        ok, out = run_code(code)
        assert ok is True and "do-not-leak" not in out
