"""Running the stage scripts as child processes, for loop.py: a stage whose output exists is skipped (a rerun
resumes), its output goes to the run's log and the console, and its wall time is kept beside its output
(and after the stage's output in the log, a line "[123.4 s] train_sft.py": the run's profile).

  run(cmd, log, done) -> seconds (0 when skipped); run_shards(cmd, n, log, done): mcts.py in n processes then
  merged; timed(cmd, log, done, time_file, shards=1) -> the stage's seconds, stored or read back;
  start(cmd, out, env=None): one stage's process, on Linux forked from this one after it imported torch and
  transformers once (PRELOAD), so a stage does not spend seconds importing them again (when it may: forkable).
"""
import importlib
import json
import os
import runpy
import subprocess
import sys
import time
import traceback
from pathlib import Path

from common import write_json


def run(cmd, log, done):
    """Run one stage unless its output `done` exists; its output goes to `log` and the console. The run's folder
    is the loop's (loop.py refuses one made with other settings), and a stage runs again only when it did not
    finish: with --force it replaces what it left (mcts.py instead resumes its trees)."""
    if Path(done).exists():
        print(f"[skip] {Path(done)} exists", flush=True)
        return 0.0
    cmd = cmd if Path(str(cmd[1])).name == "mcts.py" else [*cmd, "--force"]
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    t0 = time.time()
    with open(log, "a") as f:
        p = start(cmd, subprocess.PIPE)
        for line in p.stdout:
            f.write(line)
            if not line.startswith(("Loading weights", "Writing model")) and "it/s]" not in line:
                print("  " + line.rstrip(), flush=True)
        if p.wait() != 0:
            raise SystemExit(f"stage failed ({p.returncode}): {' '.join(str(c) for c in cmd)}; see {log}")
        dt = time.time() - t0
        f.write(f"[{dt:.1f} s] {Path(str(cmd[1])).name}\n")  # the log's profile of the run
    print(f"  [{dt:.0f} s]", flush=True)
    return dt


def run_shards(cmd, n, log, done):
    """run() for mcts.py split into n processes at once (`--shard i/n`, each with 1/n of the CPU's torch
    threads), then merged (`--merge n`): the same trees, sooner on a CPU (two one-thread searches do ~25%
    more work on 2 cores than one two-thread search; docs/loop.md). Only shard 0 prints to the console."""
    if n == 1 or Path(done).exists():
        return run(cmd, log, done)
    print("$ " + " ".join(str(c) for c in cmd) + f" --shard i/{n}, i < {n}", flush=True)
    t0, threads = time.time(), str(max(1, (os.cpu_count() or n) // n))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    with open(log, "a") as f:
        rest = [start([*cmd, "--shard", f"{i}/{n}"], f, env) for i in range(1, n)]
        first = start([*cmd, "--shard", f"0/{n}"], subprocess.PIPE, env)
        for line in first.stdout:
            f.write(line)
            if "it/s]" not in line and not line.startswith("Loading weights"):
                print("  " + line.rstrip(), flush=True)
        if any(p.wait() != 0 for p in [first] + rest):
            raise SystemExit(f"stage failed: {' '.join(str(c) for c in cmd)} --shard i/{n}; see {log}")
        f.write(f"[{time.time() - t0:.1f} s] {Path(str(cmd[1])).name} --shard i/{n}\n")
    out = cmd[cmd.index("--out") + 1]
    run([cmd[0], cmd[1], "--out", out, "--merge", n], log, done)
    return time.time() - t0


PRELOAD = ("torch", "torch.distributed", "torch.nn.functional", "transformers", "transformers.cache_utils",
           "transformers.masking_utils", "transformers.integrations.sdpa_attention",
           "transformers.models.llama.modeling_llama")


class Forked:
    """A stage run as `python script args` in a fork of this process: a process of its own (its memory, exit
    code and output are its own), but torch and transformers are already imported (PRELOAD, ~6-9 s a process
    on a CPU; see forkable). Popen's stdout (a pipe when out is subprocess.PIPE), wait() and returncode."""

    def __init__(self, cmd, out, env):
        read, write = os.pipe() if out == subprocess.PIPE else (None, out.fileno())
        sys.stdout.flush(), sys.stderr.flush()
        self.pid, self.returncode = os.fork(), None
        if self.pid == 0:  # the child never returns from here
            code = 1
            try:
                os.dup2(write, 1), os.dup2(write, 2)
                if read is not None:
                    os.close(read)
                code = run_script([str(c) for c in cmd[1:]], env)
            finally:
                os._exit(code)
        self.stdout = None
        if read is not None:
            self.stdout = os.fdopen(read)
            os.close(write)

    def wait(self):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


def threads():
    """The ids of this process's threads, as the OS lists them."""
    return set(os.listdir("/proc/self/task"))


def forkable():
    """Whether a stage may be forked from this process: on Linux, when torch was first imported here by PRELOAD
    and no thread has started since (some may have ended: OpenBLAS stops its idle ones at a fork). OpenMP's
    worker threads, which torch starts at its first parallel op, do not survive a fork: the child's first
    parallel op would wait for them forever."""
    if sys.platform != "linux":
        return False
    if not hasattr(forkable, "threads"):  # the first stage: import PRELOAD, unless torch was imported before
        forkable.threads = False
        if "torch" not in sys.modules:
            preload()
            forkable.threads = threads()
    return forkable.threads is not False and threads() <= forkable.threads


def preload():
    """Import PRELOAD; a module this version of transformers lacks is left out (a stage that needs it says so)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def forget_modules(folder):
    """Drop the modules imported from `folder` (the project's: common, records, this one), so that the script
    imports them from disk as a new interpreter would, edits made while the loop runs included."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.dirname(path) == folder:  # a string test: resolving each of torch's files takes ~0.5 s
            del sys.modules[name]


def run_script(argv, env):
    """The child's side of Forked: run script argv[0] as __main__ with argv and env (torch's threads as
    env's OMP_NUM_THREADS says); the exit code `python script` would give."""
    os.environ.clear(), os.environ.update(env)
    sys.stdout, sys.stderr = open(1, "w", buffering=1, closefd=False), open(2, "w", buffering=1, closefd=False)
    if "OMP_NUM_THREADS" in env:
        import torch
        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    sys.argv, sys.path[0], code = argv, str(Path(argv[0]).resolve().parent), 0
    forget_modules(sys.path[0])
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:  # sys.exit(None | int | message), as the interpreter treats it
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException as e:
        # from the script's own frame on, as `python script` prints it (a SyntaxError has none: the script never ran)
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != argv[0]:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        code = 1
    sys.stdout.flush(), sys.stderr.flush()
    return code


def start(cmd, out, env=None):
    """Start stage cmd = [python, script, *args] with its output (stdout and stderr) to `out` (a file, or
    subprocess.PIPE: the result's .stdout, as text); Forked when cmd[0] is this Python running a script on
    Linux when this process may fork (forkable), else subprocess.Popen."""
    env = dict(os.environ if env is None else env)
    if str(cmd[0]) == sys.executable and str(cmd[1]).endswith(".py") and forkable():
        return Forked(cmd, out, env)
    return subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, text=True, env=env)


def seconds(time_file):
    """The wall time a finished stage stored beside its output (0 when it has not run)."""
    return json.loads(Path(time_file).read_text())["seconds"] if Path(time_file).exists() else 0.0


def timed(cmd, log, done, time_file, shards=1):
    """run_shards() (run() when shards is 1), and keep the stage's wall time beside its output (so a resumed
    run keeps its timings)."""
    dt = run_shards(cmd, shards, log, done)
    if dt:
        write_json(time_file, {"seconds": dt})
    return seconds(time_file)


if __name__ == "__main__":
    sys.exit("runner.py is a library; run loop.py.")
