"""Final answers and code steps: extraction, equivalence, gold loaders, a sandboxed Python runner.

Used by every stage that needs a reward or a score; nothing here depends on torch.

Answers
  extract_answer(text)   the last \\boxed{...} (nested braces; also \\boxed X and \\fbox{...}),
                         else the last "The answer is X", else GSM8K's last "#### N"; the inner
                         text stripped, or None. Only the last \\boxed counts: if it is not closed
                         (a truncated generation) the result is None, never an earlier box.
  gold_from_gsm8k(a)     the gold of a GSM8K "answer" field: the text after the last "####",
                         thousands commas removed.
  gold_from_math(sol)    the gold of a MATH "solution" field: its last \\boxed{} content, or None.
  is_equiv(pred, gold)   equivalence of two answer strings (cached on the pair):
    1. the same string up to whitespace -> True;
    2. fast path for plain numbers: "1,234", "-3.50", "$5", "\\$5", "50%", "30^\\circ",
       "12 apples", "5 \\text{ cm}" all reduce to a number; two numbers are equal within a
       relative tolerance of 1e-6. Two different numbers are final (False), except when one
       side carries a percent sign: then step 3 decides (math-verify accepts 0.5 == 50%).
       Commas count as thousands separators only in the exact form 1,234,567; "1,2" is a list.
    3. math-verify: both strings wrapped as "\\boxed{...}" (the wrapper it ranks first), parsed
       with its LaTeX and plain-expression extractors, then verify(gold, pred) (it is not
       symmetric: the gold goes first). It handles fractions, roots, pi, intervals (bracket type
       matters), tuples (ordered), several answers as sets ("1, 2" == "2, 1"), matrices,
       equations ("x=3" == "3") and algebraically equal expressions.
    Guards, so it never hangs or crashes: answers over MAX_ANSWER_CHARS characters or nested
    deeper than MAX_DEPTH brackets are False; a power tower (an exponent that has its own
    exponent, or one of 7+ digits) is compared as a string only; every exception is False;
    in the main thread the whole math-verify call runs under one SIGALRM deadline of
    EQUIV_TIMEOUT_S seconds (math-verify's own signal timeouts are switched off: they are whole
    seconds per call and add up); a caller's own SIGALRM timer is cancelled by the call, and a
    pair that ran out of time is cached as False. Signals only work in the main thread, so from
    other threads math-verify runs with no deadline and only the guards above protect it.
  grade(completion, gold)  extract_answer then is_equiv; no answer -> False.
  Try: python -c "from grader import grade; print(grade('so $\\boxed{\\dfrac{1}{2}}$', '0.5'))"

Written arithmetic (the text-format analog of executing a code step)
  equations_hold(text)   False if some integer equation "a op b = c" (op one of + - * /; "x" and
                         "×" count as *) in the text is false, else True (also with none). mcts.py
                         --check-equations drops such steps, as rStar drops a code step that fails.
  steps_verified(steps, ops)  every step's equations hold (and, with the built-in task's `ops`
                         known, one equation per operation): what pairs.py --verify keeps as SFT data.

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
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache

MAX_ANSWER_CHARS = 1000  # longer "answers" are degenerate generations; refused, not truncated
MAX_DEPTH = 20  # nesting of {[( ; MATH test golds nest <= 3 deep, parse time grows with it
EQUIV_TIMEOUT_S = 2.0  # one deadline for parse + verify (guessed: real answers take < 0.3 s)
MAX_OUTPUT_CHARS = 4096  # rStar keeps 1024 (its released code); the caller may cut further
FILE_SIZE_MB = 16  # cap on any file the code writes, its captured output included

# ----------------------------------------------------------------------------- extraction

_BOX = re.compile(r"\\(?:boxed|fbox)")
# the answer runs to the end of the line or of the sentence (a "." before a space or the end)
_ANSWER_IS = re.compile(r"the (?:final )?answer is\b[ \t:]*((?:[^\n.]|\.(?=\S))*)", re.IGNORECASE)


def _last_boxed(text):
    """Content of the last \\boxed{...} / \\fbox{...} / \\boxed X, or None (also if unclosed)."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    i = j = starts[-1]
    while j < len(text) and text[j] in " \t":
        j += 1
    if text.startswith("{", j):
        depth = 0
        for k in range(j, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                return text[j + 1:k].strip() or None
        return None
    m = re.match(r"\s+([^\s$]+)", text[i:i + MAX_ANSWER_CHARS])  # "\boxed 5$"
    return m.group(1) if m else None


def extract_answer(text):
    """The final answer in a completion: last boxed, else 'The answer is X', else '#### N'."""
    if not isinstance(text, str):
        return None
    boxed = _last_boxed(text)
    if boxed is not None or _BOX.search(text):
        return boxed
    said = [m.group(1) for m in _ANSWER_IS.finditer(text)]
    if said:
        answer = said[-1].strip().strip("*").strip(" $")
        return answer or None
    if "####" in text:
        answer = text.rsplit("####", 1)[1].strip().split("\n")[0].strip()
        return answer or None
    return None


def gold_from_gsm8k(answer_field):
    """GSM8K gold: text after the last '####', thousands commas removed."""
    return answer_field.rsplit("####", 1)[-1].replace(",", "").strip()


def gold_from_math(solution):
    """MATH gold: the content of the solution's last \\boxed{}, or None."""
    return _last_boxed(solution)

# ----------------------------------------------------------------------------- equivalence

_NUMBER = re.compile(
    r"(?P<sign>[-−]?)\s*(?:\\?\$\s*)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<rest>.*)", re.DOTALL)
_UNIT = re.compile(  # what may follow a number and still leave it a plain number
    r"\s*(?:(?:\\?%|\^\s*\{?\s*\\circ\s*\}?|°"
    r"|\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z .]*\})\s*)?"
    r"(?:(?<=\s)[A-Za-z]{2,}[A-Za-z .]*)?")  # a bare word only after a space: "2x" is no unit
_MATH_WORDS = {"pi", "sqrt", "or", "and", "infty", "to", "times", "cdot", "is"}


def _as_number(s):
    """(value, has_percent) if s is a plain number with optional sign, $, %, degrees or unit."""
    s = s.strip().strip("$").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    s = re.sub(r"^(-?)\s*\\?\$", r"\1", s.replace("\\left", "").replace("\\right", ""))
    m = _NUMBER.fullmatch(s.strip())
    if not m or not _UNIT.fullmatch(m["rest"]):
        return None
    if set(re.findall(r"[A-Za-z]+", m["rest"])) & _MATH_WORDS:
        return None
    value = float(m["num"].replace(",", ""))
    return (-value if m["sign"] else value), "%" in m["rest"]


def _too_hard(s):
    """Inputs sympy could spend forever on, or recurse too deep into."""
    depth = deepest = 0
    for ch in s:
        depth += 1 if ch in "{[(" else -1 if ch in "}])" else 0
        deepest = max(deepest, depth)
    tower = re.search(r"\^\s*\{[^{}]*\^|\^\s*\{?\s*\d{7,}|\*\*[^*]*\*\*", s)
    return len(s) > MAX_ANSWER_CHARS or deepest > MAX_DEPTH or tower is not None


class _Deadline(BaseException):
    """Raised by our SIGALRM handler; BaseException so library `except Exception` can't eat it."""


def _with_deadline(fn, seconds):
    """fn() under a SIGALRM deadline; False on expiry. Outside the main thread fn() unguarded."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            raise _Deadline()

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:  # re-fire every 50 ms in case some library code swallows the first one
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
        return fn()
    except _Deadline:
        return False
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@lru_cache(maxsize=None)
def _math_verify_api():
    """(parse, verify), imported on first use and warmed up outside any deadline (~1-2 s)."""
    from math_verify import parse, verify
    for name in ("math_verify.parser", "math_verify.grader"):  # quiet "Timeout is disabled"
        logging.getLogger(name).addFilter(lambda r: "Timeout is disabled" not in r.getMessage())
    parse("\\boxed{1}", parsing_timeout=None)
    return parse, verify


@lru_cache(maxsize=1 << 14)
def _parse(answer):
    return _math_verify_api()[0]("\\boxed{" + answer + "}", parsing_timeout=None)


def _math_verify(pred, gold):
    g, p = _parse(gold), _parse(pred)
    verify = _math_verify_api()[1]  # allow_set_relation_comp: "x > 3" == "(3, \infty)"
    return bool(g and p and verify(g, p, allow_set_relation_comp=True, timeout_seconds=None))


@lru_cache(maxsize=1 << 16)
def _is_equiv(pred, gold):
    if " ".join(pred.split()) == " ".join(gold.split()):
        return True
    a, b = _as_number(pred), _as_number(gold)
    if a is not None and b is not None:
        if math.isclose(a[0], b[0], rel_tol=1e-6, abs_tol=1e-9):
            return True
        if not (a[1] or b[1]):
            return False
    if _too_hard(pred) or _too_hard(gold):
        return False
    _math_verify_api()
    return _with_deadline(lambda: _math_verify(pred, gold), EQUIV_TIMEOUT_S)


def is_equiv(pred, gold):
    """True if the answer string `pred` equals the gold answer string `gold` (see module doc)."""
    try:
        pred, gold = str(pred).strip(), str(gold).strip()
        if not pred or not gold or max(len(pred), len(gold)) > MAX_ANSWER_CHARS:
            return False
        return _is_equiv(pred, gold)
    except BaseException as e:  # a guard must never take the caller down, except on Ctrl-C
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return False


def grade(completion, gold):
    """True if the completion's final answer (extract_answer) is equivalent to the gold."""
    answer = extract_answer(completion)
    return answer is not None and is_equiv(answer, gold)

# an integer equation, not part of a decimal or a longer number: 12+3=15, 4 * 5 = 20, 8/2=4
_EQUATION = re.compile(r"(?<![\d.,])(-?\d+)\s*([-+*/x×])\s*(-?\d+)\s*=\s*(-?\d+)(?![\d.,]\d)")


def equations_hold(text):
    """False if an integer equation a op b = c in the text is false (division must be exact)."""
    for a, op, b, c in _EQUATION.findall(text):
        a, b, c = int(a), int(b), int(c)
        if op == "/":
            ok = b != 0 and a == b * c
        else:
            ok = {"+": a + b, "-": a - b}.get(op, a * b) == c
        if not ok:
            return False
    return True


def steps_verified(steps, ops=None):
    """rStar's rule for training data, text analog: every step's written arithmetic holds.

    With `ops` known (built-in problems carry it) the path must also write one equation per
    operation: a correct answer through true equations that skipped an operation is a coincidence
    (e.g. "+3" and "-3" both left out), not a solution.
    """
    if not all(equations_hold(s) for s in steps):
        return False
    return ops is None or sum(len(_EQUATION.findall(s)) for s in steps) == int(ops)

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
