"""Running the stage scripts as subprocesses, for loop.py: a stage whose output exists is skipped (a rerun
resumes), its output goes to the run's log and the console, and its wall time is kept beside its output
(and after the stage's output in the log, a line "[123.4 s] train_sft.py": the run's profile).

  run(cmd, log, done) -> seconds (0 when skipped); run_shards(cmd, n, log, done): mcts.py in n processes then
  merged; timed(cmd, log, done, time_file, shards=1) -> the stage's seconds, stored or read back.
"""
import json
import os
import subprocess
import sys
import time
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
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        rest = [subprocess.Popen([str(c) for c in cmd] + ["--shard", f"{i}/{n}"], stdout=f, stderr=subprocess.STDOUT,
                                 env=env) for i in range(1, n)]
        first = subprocess.Popen([str(c) for c in cmd] + ["--shard", f"0/{n}"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=env)
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
