"""Records on disk: the JSONL files every stage reads and writes, and the resume rule for outputs.

  - reading: `read_jsonl` (file:line on every bad line; NaN and Infinity refused), `check_fields`,
    `load_jsonl`, `read_problems` (this project's problems schema and the native GSM8K and MATH
    records), `read_trees` (mcts.py's trees, checked so that pair rules can trust their structure).
  - writing: `write_jsonl` / `write_json` (atomic: a temporary file renamed over the target) and
    `ResumableWriter` (a record appended and flushed per problem; a rerun skips what is done, a torn
    last line is redone).
  - outputs: `claim_output` (the rule for existing outputs: reused only with the settings and input files
    they were made with, else refused, or replaced with --force), `check_resume` (the same, for outputs
    that resume).
  - the errors every stage turns into one line (`common.run_main`): `DataError` (a bad record, with
    file:line), `UsageError` (a bad flag or path), `NonFiniteError`.
Pure Python: no torch.
"""
import errno
import json
import math
import os
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from grader import gold_from_gsm8k, gold_from_math


def print0(*args, **kwargs):
    """print on rank 0 of a torchrun job (every process otherwise)."""
    if int(os.environ.get("RANK", 0)) == 0:
        print(*args, **kwargs, flush=True)


# ----------------------------------------------------------------------------- JSONL


class DataError(ValueError):
    """A bad input file; the message is one line: 'file:line: what is wrong'."""


class NonFiniteError(ArithmeticError):
    """A NaN or infinite number where a finite one is needed (in a record, or a training loss)."""


def _finite_float(text):
    x = float(text)
    if not math.isfinite(x):
        raise NonFiniteError(f"number {text} overflows to {x}")
    return x


def _no_constant(name):
    raise NonFiniteError(f"non-finite number {name} (Q values, rewards and scores must be finite)")


def parse_json_line(line):
    """json.loads that refuses NaN, Infinity and numbers that overflow a float: Python's json accepts
    them, and one NaN Q flows through pairs and DPO into a checkpoint of NaN weights."""
    return json.loads(line, parse_constant=_no_constant, parse_float=_finite_float)


def read_jsonl(path):
    """Yield (line_number, record) for every non-blank line; stop at the first bad one."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    n = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})") from None
            if not line.strip():
                continue
            try:
                rec = parse_json_line(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: malformed JSON: {e.msg} at column {e.colno}") from None
            except NonFiniteError as e:
                raise DataError(f"{path}:{lineno}: {e}") from None
            if not isinstance(rec, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            n += 1
            yield lineno, rec
    if n == 0:
        raise DataError(f"{path}: empty file, no records")


def check_fields(path, lineno, rec, fields):
    """fields: {name: type or tuple of types}. Raise a one-line DataError on a missing/mistyped one."""
    for name, types in fields.items():
        if name not in rec:
            raise DataError(f"{path}:{lineno}: missing field '{name}'")
        if not isinstance(rec[name], types) or isinstance(rec[name], bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
            raise DataError(f"{path}:{lineno}: field '{name}' must be {want}, got {type(rec[name]).__name__}")


def load_jsonl(path, fields=None):
    """All records of a JSONL file, each checked against `fields` (see check_fields)."""
    out = []
    for lineno, rec in read_jsonl(path):
        if fields:
            check_fields(path, lineno, rec, fields)
        out.append(rec)
    return out


def read_problems(path):
    """Problems as [{"id", "question", "answer", ...}] from any of the three accepted schemas.

    - this project's: {"id", "question", "answer": str|number, "solution"?, ...}
    - GSM8K native:   {"question", "answer": "...reasoning...\\n#### 42"}  -> answer "42"
    - MATH native:    {"problem", "solution": "...\\boxed{x}...", "answer"?} -> answer x
    A record without an id gets "<file stem>-<line>". Extra fields are kept.
    """
    path = Path(path)
    problems, seen = [], set()
    for lineno, rec in read_jsonl(path):
        where = f"{path}:{lineno}"
        rec = dict(rec)
        if "problem" in rec and "question" not in rec:  # MATH
            check_fields(path, lineno, rec, {"problem": str})
            rec["question"] = rec.pop("problem")
            if "answer" not in rec:
                check_fields(path, lineno, rec, {"solution": str})
                gold = gold_from_math(rec["solution"])
                if not gold:
                    raise DataError(f"{where}: no \\boxed{{}} answer in field 'solution'")
                rec["answer"] = gold
        check_fields(path, lineno, rec, {"question": str, "answer": (str, int, float)})
        answer = str(rec["answer"])
        if "####" in answer:  # GSM8K: the reasoning becomes the solution, the tail the gold
            rec["solution"] = rec.get("solution", answer.split("####")[0].strip())
            answer = gold_from_gsm8k(answer)
        rec["answer"] = answer.strip()
        problem = ("field 'question' is empty" if not rec["question"].strip() else
                   "field 'answer' is empty" if not rec["answer"] else ungradable(rec["answer"]))
        if problem:
            raise DataError(f"{where}: {problem}")
        if "id" in rec and not isinstance(rec["id"], (str, int)):
            raise DataError(f"{where}: field 'id' must be str or int, got {type(rec['id']).__name__}")
        rec["id"] = str(rec.get("id", rec.get("unique_id", f"{path.stem}-{lineno}")))
        if rec["id"] in seen:
            raise DataError(f"{where}: duplicate id '{rec['id']}'")
        seen.add(rec["id"])
        problems.append(rec)
    return problems


_EXPONENT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def ungradable(gold):
    """Why a gold answer can never match a prediction (None when it can): a number in exponent form (a JSON 1e20
    reads as "1e+20"; predictions are written in digits) or a sentence (three or more words outside LaTeX
    commands: "The answer is 5")."""
    if _EXPONENT.fullmatch(gold):
        return f"field 'answer' {gold!r} is a number in exponent form: write its digits"
    if len(re.findall(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", "", gold))) >= 3:
        return f"field 'answer' {gold[:60]!r} reads as a sentence: give the final answer alone"
    return None


def drop_equal_sides(pairs, source, quiet=False):
    """The pairs whose chosen and rejected texts differ; a pair with equal sides teaches nothing (its DPO or BT
    loss stays at log 2 whatever the model does) and is dropped with a count (unless quiet)."""
    kept = [p for p in pairs if p["chosen"] != p["rejected"]]
    if len(kept) < len(pairs) and not quiet:
        print0(f"{source}: dropped {len(pairs) - len(kept)} of {len(pairs)} pairs whose chosen equals rejected")
    return kept


@contextmanager
def damaged(path, pattern):
    """An error while reading a model folder's files matching the glob `pattern` (a corrupt tokenizer.json,
    truncated weights) becomes one DataError line naming them. Catches what readers raise on bad bytes: OSError,
    ValueError (JSON) and safetensors' SafetensorError, not a device's out-of-memory RuntimeError."""
    try:
        yield
    except Exception as e:
        if not isinstance(e, (OSError, ValueError)) and type(e).__name__ != "SafetensorError":
            raise
        names = ", ".join(sorted(p.name for p in Path(path).glob(pattern))) or pattern
        raise DataError(f"{path}: {names}: cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:200]})") from e


def write_jsonl(path, records):
    """Write all records at once, atomically (tmp file + rename): never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


class ResumableWriter:
    """Append one record per finished item, flushed at once; reopen to resume.

    On open, the existing file is read. Only the last line, when it has no newline and does not
    parse, is the torn tail of a crash (SIGKILL mid-write): it is dropped and its item redone. Any
    other bad line (corrupt, not an object, no key, a duplicate key) is damage a rewrite would make
    worse: it raises DataError with file:line and the file is left as it was.
    """

    def __init__(self, path, key="id"):
        self.path, self.key = Path(path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = self._read_existing() if self.path.exists() else []
        if self.path.exists():
            write_jsonl(self.path, self.records)
        self.done = {str(r[key]) for r in self.records}
        self.f = open(self.path, "a", encoding="utf-8")

    def _read_existing(self):
        lines = self.path.read_bytes().split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        records, seen = [], set()
        for lineno, raw in enumerate(lines + [torn], 1):
            if not raw.strip():
                continue
            try:
                rec = parse_json_line(raw.decode("utf-8"))
            except (ValueError, ArithmeticError) as e:  # bad JSON, bad UTF-8, NaN
                if raw is torn:
                    print0(f"{self.path}:{lineno}: dropped the torn last line of an interrupted run; redoing it")
                    continue
                raise DataError(f"{self.path}:{lineno}: corrupt record in an existing output "
                                f"({str(e).splitlines()[0]}); not resuming over it: repair the line, or remove "
                                f"the file (or use a new output) to start again") from None
            if not isinstance(rec, dict) or self.key not in rec:
                raise DataError(f"{self.path}:{lineno}: not a record of this output (no '{self.key}')")
            if str(rec[self.key]) in seen:
                raise DataError(f"{self.path}:{lineno}: duplicate {self.key} '{rec[self.key]}' in an existing output")
            seen.add(str(rec[self.key]))
            records.append(rec)
        return records

    def write(self, rec):
        self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.f.flush()
        self.done.add(str(rec[self.key]))
        self.records.append(rec)

    def close(self):
        self.f.close()


def write_json(path, obj):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def save_checkpoint(model, tokenizer, out_dir, meta, state_dict=None, also=None):
    """An HF directory (model, tokenizer, meta.json and whatever `also(folder)` writes), written into a folder
    beside out_dir and renamed into place when complete: a failure midway (a full disk) leaves the checkpoint that
    was there whole. What the old folder holds and the new one does not write (checkpoints/) is kept."""
    out_dir = Path(out_dir)
    new, old = (out_dir.with_name(f".{out_dir.name}.{kind}-{os.getpid()}") for kind in ("new", "old"))
    shutil.rmtree(new, ignore_errors=True)
    try:
        getattr(model, "module", model).save_pretrained(new, **({} if state_dict is None else {"state_dict": state_dict}))
        tokenizer.save_pretrained(new)
        write_json(new / "meta.json", meta)
        if also:
            also(new)
    except BaseException as e:
        shutil.rmtree(new, ignore_errors=True)
        if getattr(e, "errno", None) == errno.ENOSPC or "os error 28" in str(e):  # safetensors' error is no OSError
            raise OSError(errno.ENOSPC, "no space left on device; " + ("the checkpoint there is kept whole"
                          if out_dir.exists() else "nothing was written"), str(out_dir)) from None
        raise
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            if not (new / p.name).exists():
                p.rename(new / p.name)
        out_dir.rename(old)
    new.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


class UsageError(ValueError):
    """A bad flag, flag combination, output path or model directory; one line naming the flag."""


# ----------------------------------------------------------------------------- resume


def claim_output(flag, outputs, record_path, args, force=False, inputs=None, ignore=(), defaults=None):
    """The rule for a stage's existing outputs, the same in every stage.

    `outputs`: the paths the stage writes (a folder counts when it is not empty); `record_path`: the JSON
    that says how they were made (the args, or {"args": ...}). None exists: go on. They exist and were made
    with the same args (those in `ignore` aside) from input files with the same fingerprints (`inputs`,
    {flag: path}): go on, the rerun redoes (or resumes) the work. Otherwise refuse in one line naming `flag`
    and what changed; with force, go on and write over them. An arg the record lacks (a flag added since)
    counts as its parser default in `defaults`. Nothing is written here: returns the record the caller
    stores in record_path (the args and `sha256 of --flag` per input) once its outputs are opened."""
    record = {**vars(args), **{f"sha256 of {f}": fingerprint(p) if isinstance(p, (str, Path)) else list(map(fingerprint, p))
                               for f, p in (inputs or {}).items() if p}}
    now = json.loads(json.dumps({k: v for k, v in record.items() if k not in ignore}, default=str))
    defaults = json.loads(json.dumps(defaults or {}, default=str))
    made = [Path(p) for p in outputs if Path(p).is_file() or Path(p).is_dir() and any(Path(p).iterdir())]
    problem = _resume_conflict(made[0], Path(record_path), now, ignore, defaults) if made else None
    if problem and not force:
        raise UsageError(f"{flag}: {problem}; rerun with the same flags and inputs, --force to replace it, "
                         f"or name a new output")
    if problem:
        print0(f"{flag}: --force: {problem}; replacing it")
    return record, bool(problem)


def check_resume(out, args_path, args, ignore=(), force=False, defaults=None, inputs=None):
    """claim_output for an output that resumes (mcts.py's trees, loop.py's folder): with force, an `out`
    made otherwise is removed first, so the run starts over instead of continuing it."""
    record, replace = claim_output("--out", [out], args_path, args, force, inputs, ignore, defaults)
    if replace and Path(out).exists():
        shutil.rmtree(out) if Path(out).is_dir() else Path(out).unlink()
    return record


def fingerprint(path):
    """sha256 of a file's bytes; of a folder (a model), of each file's name, size and modification time; None for
    a path that is not here."""
    import hashlib
    path, h = Path(path), hashlib.sha256()
    if not path.exists():  # a hub model name, not a local folder
        return None
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(path)} {p.stat().st_size} {p.stat().st_mtime_ns}\n".encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _resume_conflict(out, args_path, now, ignore, defaults):
    """Why `out` cannot be resumed with the args `now` (a sentence), or None when it can."""
    if not out.exists():
        return None
    if not args_path.exists():
        return f"{out} exists but {args_path} does not, so how it was made is unknown"
    try:
        old = json.loads(args_path.read_text())
        old = {k: v for k, v in (old["args"] if isinstance(old.get("args"), dict) else old).items() if k not in ignore}
    except (ValueError, AttributeError):
        return f"{args_path} is not a JSON object of args"
    old = {**{k: v for k, v in defaults.items() if k in now and k not in ignore}, **old}
    diff = sorted(k for k in set(old) | set(now) if old.get(k, "<unset>") != now.get(k, "<unset>"))
    if not diff:
        return None
    shown = ", ".join(f"{k[10:]}'s contents changed" if k.startswith("sha256 of ") else
                      f"--{k.replace('_', '-')} {old.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}" for k in diff)
    return f"{out} was made with other settings ({shown})"


# ----------------------------------------------------------------------------- trees

NODE_FIELDS = {"step": str, "N": int, "Q": (int, float), "terminal": bool}


def check_tree(path, lineno, rec):
    """Refuse a tree record whose structure the pair rules cannot trust (DataError, file:line).

    nodes[0] is the root (parent null); every other node's parent is an earlier node (0 <= parent
    < its own index), which also rules out cycles (a cycle made path() loop forever) and a parent
    -1 (Python would read it as the last node and build pairs from the wrong branch). Types and
    finite numbers are checked here so that a string Q or node fails at its line, not as a
    TypeError deep in a rule."""
    check_fields(path, lineno, rec, {"id": (str, int), "question": str, "nodes": list})
    nodes = rec["nodes"]
    if not nodes:
        raise DataError(f"{path}:{lineno}: tree '{rec['id']}' has no nodes (need the root at least)")
    for i, nd in enumerate(nodes):
        where = f"{path}:{lineno}: tree '{rec['id']}' node {i}"
        if not isinstance(nd, dict):
            raise DataError(f"{where}: must be an object, got {type(nd).__name__}")
        for name, types in NODE_FIELDS.items():
            if name not in nd and i == 0 and name != "terminal":
                continue  # the root has no step; N and Q are optional there
            if name not in nd:
                raise DataError(f"{where}: missing field '{name}'")
            if not isinstance(nd[name], types) or (isinstance(nd[name], bool) and types is not bool):
                raise DataError(f"{where}: field '{name}' must be {getattr(types, '__name__', 'a number')}, "
                                f"got {type(nd[name]).__name__} {nd[name]!r:.40}")
        for name in ("reward", "value"):
            if nd.get(name) is not None and (not isinstance(nd[name], (int, float)) or isinstance(nd[name], bool)):
                raise DataError(f"{where}: field '{name}' must be a number, got {type(nd[name]).__name__}")
        parent = nd.get("parent", "missing")
        if i == 0:
            if parent is not None:
                raise DataError(f"{where}: the root must have parent null, got {parent!r}")
        elif isinstance(parent, bool) or not isinstance(parent, int) or not 0 <= parent < i:
            raise DataError(f"{where}: parent must be an earlier node (0..{i - 1}), got {parent!r}")


def read_trees(paths):
    """Every checked tree record of the files, refusing a tree id seen twice (it would multiply its pairs)."""
    seen = {}
    for path in paths:
        for lineno, rec in read_jsonl(path):
            check_tree(path, lineno, rec)
            key = str(rec["id"])
            if key in seen:
                raise DataError(f"{path}:{lineno}: duplicate tree id '{key}' (first at {seen[key]})")
            seen[key] = f"{path}:{lineno}"
            yield rec


if __name__ == "__main__":
    sys.exit("records.py is a library; run one of the stage scripts.")
