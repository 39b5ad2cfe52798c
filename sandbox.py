"""A sandboxed Python runner for code steps.

Code steps (rStar-Math's code-augmented CoT, Guan et al. 2025, section 3.1)
  run_code(code, timeout=5.0, memory_mb=512) -> (success, output). The caller concatenates the
  code of all steps so far; this runs one string, from scratch, in a fresh process:
  `sys.executable -I -B`, a new temporary working directory (deleted afterwards), a minimal
  environment, its own session (the whole process group is killed on timeout and after exit),
  rlimits set in the child before the code runs (address space, CPU seconds, file size;
  RLIMIT_NPROC too when not root, since the kernel ignores it for root), and an audit hook.
  success = exit status 0 (not rStar's "error" substring test, which also fires on printed text).
  output = stdout + stderr, head and tail kept within MAX_OUTPUT_CHARS (plus "killed by SIGxxx"
  when a signal ended it); a timeout gives (False, "timeout"). RLIMIT_AS counts virtual memory:
  512 MB is enough to import numpy and sympy. The limits are set in the child rather than in a preexec_fn, which is not
  safe when the caller has threads (an MCTS may run steps from a thread pool).
  Threat model: this contains the mistakes of a small model's generated code, not a determined
  attacker. The audit hook (PEP 578) refuses writes, renames, removals, links, chmod outside the
  temporary directory, and every way to start a process (fork, forkpty, exec, spawn, posix_spawn,
  subprocess, os.system, pty; `_posixsubprocess.fork_exec`, which raises no audit event, is
  replaced before the hook goes on and cannot be imported afresh), to open a socket, to read
  another process's /proc entry (the caller's environment), to send a signal, to raise an rlimit,
  or to call through ctypes. A determined
  attacker can still escape (os.open with a dir_fd opened outside, C extensions, reading any
  file the caller can read); run untrusted code in a container or VM.
"""
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile

MAX_OUTPUT_CHARS = 4096  # rStar keeps 1024 (its released code); the caller may cut further
FILE_SIZE_MB = 16  # cap on any file the code writes, its captured output included

# ----------------------------------------------------------------------------- code sandbox

# Runs in the child before the generated code: rlimits, then the audit hook, then the code.
_PREAMBLE = r'''
import os, re, resource, sys, traceback
mem, cpu, fsize = map(int, sys.argv[1:4])
def cap(lim, val):  # soft = hard = val, never above the hard limit we were given
    hard = resource.getrlimit(lim)[1]
    val = val if hard == resource.RLIM_INFINITY else min(val, hard)
    resource.setrlimit(lim, (val, val))
def owner(pid):
    try:
        return os.stat("/proc/" + pid).st_uid
    except OSError:
        return None
cap(resource.RLIMIT_AS, mem); cap(resource.RLIMIT_CPU, cpu); cap(resource.RLIMIT_FSIZE, fsize)
if os.geteuid() != 0:  # NPROC counts all the user's processes (root is exempt): a few more
    cap(resource.RLIMIT_NPROC, 16 + sum(owner(p) == os.getuid() for p in os.listdir("/proc")))
ROOT = os.path.realpath(os.getcwd())
DENY = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
        "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "resource.setrlimit",
        "resource.prlimit", "ctypes.dlsym", "ctypes.call_function", "os.link", "os.symlink"}
# _posixsubprocess.fork_exec (behind subprocess and multiprocessing) raises no audit event: replace
# it before the hook is on, and refuse a fresh import of the module (after `del sys.modules[...]`)
import _posixsubprocess, subprocess
def no_fork_exec(*args, **kwargs):
    raise PermissionError("sandbox: _posixsubprocess.fork_exec is not allowed")
_posixsubprocess.fork_exec = subprocess._fork_exec = no_fork_exec
NO_IMPORT = {"_posixsubprocess", "_xxsubinterpreters"}
PROC = re.compile(r"/proc/(\d+)(/|$)")
PATHS = {"os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
         "os.utime", "shutil.rmtree", "os.setxattr", "os.removexattr", "os.chflags"}
WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
def inside(path):
    if isinstance(path, int):
        return True
    real = os.path.realpath(os.fsdecode(path))
    return real == ROOT or real.startswith(ROOT + os.sep) or real == os.devnull
def other_process(path):  # /proc/<pid>/... of another process: its environment, memory, command line
    if isinstance(path, int):
        return False
    m = PROC.match(os.path.realpath(os.fsdecode(path)))
    return m is not None and int(m.group(1)) != os.getpid()
def hook(event, args):
    if event in DENY or event.startswith("socket."):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "import" and args[0] in NO_IMPORT:
        raise PermissionError(f"sandbox: import {args[0]} is not allowed")
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE)
        if writes and path is not None and not inside(path):
            raise PermissionError(f"sandbox: no writing outside the working directory: {path!r}")
        if path is not None and other_process(path):
            raise PermissionError(f"sandbox: no reading another process's /proc entry: {path!r}")
    elif event in PATHS:
        for a in args:
            if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                raise PermissionError(f"sandbox: {event} outside the working directory: {a!r}")
src = open("step.py", encoding="utf-8").read()
sys.addaudithook(hook)
sys.argv = ["step.py"]
try:
    exec(compile(src, "step.py", "exec"), {"__name__": "__main__", "__file__": "step.py"})
except SystemExit:
    raise
except BaseException as e:  # print the traceback without this preamble's frame
    traceback.print_exception(type(e), e, e.__traceback__.tb_next)
    sys.exit(1)
'''


def _clip(text, limit=MAX_OUTPUT_CHARS):
    if len(text) <= limit:
        return text
    return text[:limit // 2] + "\n...[truncated]...\n" + text[-limit // 2:]


def run_code(code, timeout=5.0, memory_mb=512):
    """Run Python `code` in a contained child process; (success, stdout+stderr clipped)."""
    workdir = tempfile.mkdtemp(prefix="sandbox-")
    try:
        with open(os.path.join(workdir, "step.py"), "w", encoding="utf-8") as f:
            f.write(code)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir,
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        limits = [memory_mb << 20, math.ceil(timeout) + 1, FILE_SIZE_MB << 20]
        out_path = os.path.join(workdir, ".output")
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _PREAMBLE, *map(str, limits)], cwd=workdir,
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False, "timeout"
            finally:  # the whole session: whatever the code may have left running
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
        size = os.path.getsize(out_path)
        with open(out_path, "rb") as f:  # read head and tail only: the output may be 16 MB
            head = f.read(MAX_OUTPUT_CHARS)
            f.seek(max(len(head), size - MAX_OUTPUT_CHARS))
            text = (head + f.read()).decode("utf-8", errors="replace")
        if proc.returncode < 0:
            try:
                text += f"\nkilled by {signal.Signals(-proc.returncode).name}"
            except ValueError:  # a real-time signal has no name
                text += f"\nkilled by signal {-proc.returncode}"
        return proc.returncode == 0, _clip(text)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit("sandbox.py is a library; mcts.py runs code steps with it.")
