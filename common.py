"""Shared plumbing for every stage, and nothing else (the method lives in the stage scripts; the
generation backends in engine.py, log-prob and PPM scoring in scoring.py).

What lives here:
  - JSONL: read / validate / write atomically / append with resume, and `read_problems`, which
    accepts this project's problems schema and the native GSM8K and MATH records.
  - stage boundaries: `run_main` (expected errors as one line `stage: file:line: ...` or
    `stage: --flag: ...`, exit 2; bugs keep their traceback), argparse types (`positive_int`,
    `nonneg_int`, `unit_float`, `int_list`, `shard_spec`, ...), `check_output` (writable, checked
    before any work), `check_not_input`, `check_model_dir` (a policy must be a causal LM with a
    tokenizer, a PPM a sequence-classification checkpoint), `check_resume` (an output is resumed only
    with the args it was made with), `check_finite_loss`, `fit_context` (prompts longer than the
    model's context are skipped with a count). Readers refuse NaN and Infinity.
  - seeding: `stable_seed` (sha256 of the parts; never Python's salted `hash()`), so per-item
    randomness does not depend on the number of workers or on batch composition.
  - torchrun: `setup_dist` (`setup_training` for the trainers), `print0`, `shard_path` / `merge_shards` / `merge_ranks` for inference stages.
  - training: `lr_at`, the learning-rate schedule (linear warm-up, cosine decay to a floor), and
    `global_batches`, the data order of the trainers.
  - text: `edit_distance` (characters), for mcts.py's state merge and pairs.py's PPM pair filter.
  - device and dtype: cuda > mps > cpu; bf16 where supported, fp32 on CPU; announced in one line.
  - models: HF directories in and out (`load_model`, `load_tokenizer`, `save_checkpoint`).
  - prompts and steps: `format_prompt` (chat template when the tokenizer has one, else a plain
    template), `join_steps` (prompt + steps, each followed by the step delimiter).
torch and transformers are imported inside the functions that need them, so a stage that needs
neither (synth.py's built-in task, pairs.py) starts without them.
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

from grader import gold_from_gsm8k, gold_from_math

STEP_DELIM = "\n\n"
IMPLICIT_PRM_FILE = "implicit_prm.json"  # marks a --ppm directory as an implicit PRM (scoring.ImplicitPRM)
RESULT_VERIFIER_FILE = "result_verifier.json"  # marks a --ppm directory as a result verifier (scoring.ResultVerifier)
PLAIN_TEMPLATE = "Question: {question}\nAnswer:\n"
CHAT_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."

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
        if not answer.strip():
            raise DataError(f"{where}: field 'answer' is empty")
        rec["answer"] = answer.strip()
        if "id" in rec and not isinstance(rec["id"], (str, int)):
            raise DataError(f"{where}: field 'id' must be str or int, got {type(rec['id']).__name__}")
        rec["id"] = str(rec.get("id", rec.get("unique_id", f"{path.stem}-{lineno}")))
        if rec["id"] in seen:
            raise DataError(f"{where}: duplicate id '{rec['id']}'")
        seen.add(rec["id"])
        problems.append(rec)
    return problems


def write_jsonl(path, records):
    """Write all records at once, atomically (tmp file + rename): never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
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


# ----------------------------------------------------------------------------- stage boundaries
# Every stage validates its flags, input records and model directories before any work, and runs
# under run_main: an expected error (bad input, bad flag, missing file, a loss gone non-finite)
# prints one line "stage: file:line: what is wrong" or "stage: --flag: ..." and exits 2; only a real
# bug shows a traceback.


class UsageError(ValueError):
    """A bad flag, flag combination, output path or model directory; one line naming the flag."""


EXPECTED_ERRORS = (DataError, UsageError, NonFiniteError, FileNotFoundError, NotADirectoryError,
                   IsADirectoryError, PermissionError)


def _one_line(e):
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    return " ".join(str(e).split()) or type(e).__name__


def _argparse_error(self, message):
    """argparse's error as one line: 'argument --x/-x: msg' -> '--x: msg' (no usage block)."""
    if message.startswith("argument "):
        flag, _, rest = message[len("argument "):].partition(": ")
        message = f"{flag.split('/')[0]}: {rest}"
    raise UsageError(message)


def run_main(main, stage, argv=None):
    """Run a stage's main(); expected errors become `stage: message` on stderr and exit status 2.

    argparse's own errors (usage block + message) are turned into the same one line for the run.
    A SystemExit with a message (the stages' older `raise SystemExit("...")`) is a usage error too.
    """
    saved = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _argparse_error
    try:
        main() if argv is None else main(argv)
    except EXPECTED_ERRORS as e:
        print(f"{stage}: {_one_line(e)}", file=sys.stderr, flush=True)
        sys.exit(2)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"{stage}: {_one_line(SystemExit(e.code))}", file=sys.stderr, flush=True)
            sys.exit(2)
        raise
    except KeyboardInterrupt:
        print(f"{stage}: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    finally:
        argparse.ArgumentParser.error = saved


def int_at_least(lo):
    """An argparse type: an integer >= lo (e.g. --rollouts 0 would save root-only trees as finished)."""
    def check(text):
        try:
            x = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if x < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {x}")
        return x
    check.__name__ = f"integer >= {lo}"
    return check


positive_int, nonneg_int = int_at_least(1), int_at_least(0)


def float_in(lo=-math.inf, hi=math.inf, lo_open=False):
    """An argparse type: a finite float in [lo, hi] ((lo, hi] with lo_open); NaN and inf refused."""
    def check(text):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(x) or x > hi or x < lo or (lo_open and x == lo):
            raise argparse.ArgumentTypeError(f"must be in {'(' if lo_open else '['}{lo}, {hi}], got {text}")
        return x
    check.__name__ = "number"
    return check


finite_float, positive_float, nonneg_float, unit_float = float_in(), float_in(0, lo_open=True), float_in(0), float_in(0, 1)


def int_list(lo):
    """An argparse type: a comma list of integers >= lo ('4' or '1,3'); the text is kept as given."""
    one = int_at_least(lo)

    def check(text):
        if not text.strip():
            raise argparse.ArgumentTypeError("empty list")
        for part in text.split(","):
            one(part.strip())
        return text
    return check


def shard_spec(text):
    """An argparse type for --shard: '' or 'i/n' with 0 <= i < n."""
    if text:
        try:
            parse_shard(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("--shard: ")) from None
    return text


def check_output(path, flag, is_dir=False):
    """Refuse an output that cannot be written, before any work (not after training every step):
    an existing path of the wrong kind, a parent that is a file, or a place we may not write."""
    path = Path(path)
    if path.exists() and path.is_dir() != is_dir:
        raise UsageError(f"{flag}: {path} is {'a file' if is_dir else 'a directory'}, "
                         f"need {'a directory' if is_dir else 'a file'}")
    anc = path if is_dir and path.exists() else path.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"{flag}: {path} cannot be created: {anc} is not a directory")
    import tempfile
    try:
        tempfile.TemporaryFile(dir=anc).close()
    except OSError as e:
        raise UsageError(f"{flag}: {path} cannot be written: {anc}: {e.strerror or e}") from None


def check_not_input(out, flag, inputs):
    """Refuse an output that is one of the inputs (it would be overwritten while being read)."""
    for name, p in inputs.items():
        for q in p if isinstance(p, (list, tuple)) else [p]:
            if q and os.path.realpath(out) == os.path.realpath(q):
                raise UsageError(f"{flag}: {out} is also the input {name}; it would be overwritten")


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_model_dir(path, flag, kind="causal"):
    """Refuse a model directory that is not what the stage needs, saying what was found instead.

    kind "causal": a policy (a *ForCausalLM checkpoint with tokenizer files); kind "ppm": a
    process preference model (a *ForSequenceClassification checkpoint, train_ppm.py, or a causal LM
    with IMPLICIT_PRM_FILE, train_dpo.py --implicit-prm, or with RESULT_VERIFIER_FILE, train_sft.py
    --verifier). A plain causal LM passed as a PPM would load with a freshly initialised score head
    and score noise."""
    p = Path(path)
    if not p.exists() and HUB_ID.match(str(path)) and not p.parent.exists():
        return  # a hub id ("org/name", no local folder "org"): transformers or vLLM fetch and check it
    if not p.exists():
        raise UsageError(f"{flag}: {path}: no such model directory")
    if not p.is_dir():
        raise UsageError(f"{flag}: {path}: not a directory (need a Hugging Face model directory)")
    if not (p / "config.json").exists():
        raise UsageError(f"{flag}: {path}: no config.json, not a Hugging Face model directory")
    try:
        archs = json.loads((p / "config.json").read_text()).get("architectures") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        raise UsageError(f"{flag}: {path}/config.json: not a JSON object") from None
    if kind == "ppm" and ((p / IMPLICIT_PRM_FILE).exists() or (p / RESULT_VERIFIER_FILE).exists()):
        kind = "causal"
    want = ("ForSequenceClassification",) if kind == "ppm" else ("ForCausalLM", "LMHeadModel")
    if not any(a.endswith(want) for a in archs):
        found = ", ".join(archs) or "no architecture"
        need = ("a sequence-classification PPM (train_ppm.py)" if kind == "ppm"
                else "a causal LM policy (train_sft.py, train_dpo.py)")
        raise UsageError(f"{flag}: {path}: found {found}, need {need}")
    if not any(p.glob("*.safetensors")) and not any(p.glob("*.bin")):
        raise UsageError(f"{flag}: {path}: no weights (*.safetensors or *.bin)")
    if not any((p / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")):
        raise UsageError(f"{flag}: {path}: no tokenizer files (tokenizer.json or tokenizer_config.json)")


def check_resume(out, args_path, args, ignore=(), force=False, defaults=None):
    """Refuse to resume `out` if it was made with other output-shaping args.

    args_path (JSON) holds the args `out` was made with. When `out` exists and any arg outside
    `ignore` differs, stop naming the flags, so one output never mixes two settings and its args
    file always says how it was made. An arg the args file lacks (a flag added since `out` was
    made) counts as its value in `defaults` (the parser's): a new flag left at its default does
    not block a resume. With force, such an `out` is removed and the run starts
    over (with the same args, force resumes as usual). An output without its args file cannot be
    checked and is refused too. Nothing is written here: the caller writes the args to args_path
    once the output itself has been opened (and checked) for the run."""
    out, args_path = Path(out), Path(args_path)
    now = json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in ignore}, default=str))
    defaults = json.loads(json.dumps(defaults or {}, default=str))
    problem = _resume_conflict(out, args_path, now, ignore, defaults)
    if problem and force:
        print0(f"--force: {problem}; removing {out} and starting over")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    elif problem:
        raise UsageError(f"--out: {problem}; rerun with the same flags to resume, --force to start over, "
                         f"or use a new output")


def _resume_conflict(out, args_path, now, ignore, defaults):
    """Why `out` cannot be resumed with the args `now` (a sentence), or None when it can."""
    if not out.exists():
        return None
    if not args_path.exists():
        return f"{out} exists but {args_path} does not, so how it was made is unknown"
    try:
        old = {k: v for k, v in json.loads(args_path.read_text()).items() if k not in ignore}
    except (ValueError, AttributeError):
        return f"{args_path} is not a JSON object of args"
    old = {**{k: v for k, v in defaults.items() if k in now and k not in ignore}, **old}
    diff = sorted(k for k in set(old) | set(now) if old.get(k, "<unset>") != now.get(k, "<unset>"))
    if not diff:
        return None
    shown = ", ".join(f"--{k.replace('_', '-')} {old.get(k, '<unset>')!r} -> {now.get(k, '<unset>')!r}" for k in diff)
    return f"{out} was made with other settings ({shown})"


def check_finite_loss(loss, step):
    """Stop training at the first non-finite loss, before anything is saved."""
    if not math.isfinite(float(loss)):
        raise NonFiniteError(f"step {step}: the loss is {float(loss)}; stopped before saving anything "
                             f"(lower --lr, or check the inputs for extreme values)")


# ----------------------------------------------------------------------------- seeds, ranks, devices


def stable_seed(*parts):
    """A 63-bit seed from a sha256 of the parts: the same on every machine, worker count and run."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def setup_dist():
    """(rank, world_size, local_rank) from torchrun's environment; init the process group if > 1."""
    import torch
    import torch.distributed as dist
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return rank, world, local


def setup_training(args):
    """A trainer's start: torchrun's process group (setup_dist), this rank's device and dtype (one line
    says which), the resolved args printed, torch seeded with args.seed. Returns (rank, world, device, dtype)."""
    import torch
    rank, world, local = setup_dist()
    device, dtype = pick_device(local)
    print0(json.dumps(vars(args)))
    torch.manual_seed(args.seed)
    return rank, world, device, dtype


def teardown_dist():
    """Every rank waits for the others (rank 0 may still be saving) before the group goes away.

    Without the barrier, CI once saw rank 1 of a 2-process gloo run die with SIGABRT ("terminate
    called without an active exception") after leaving early while rank 0 was still saving."""
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def print0(*args, **kwargs):
    if int(os.environ.get("RANK", 0)) == 0:
        print(*args, **kwargs, flush=True)


def pick_device(local_rank=0, announce=True):
    """cuda (bf16 when supported) > mps (fp32) > cpu (fp32); one line says which."""
    import torch
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device, dtype = torch.device("mps"), torch.float32
    else:
        device, dtype = torch.device("cpu"), torch.float32
    if announce:
        print0(f"device {device} | dtype {str(dtype).replace('torch.', '')} | threads {torch.get_num_threads()}")
    return device, dtype


def shard_path(out, rank, world):
    """Output file of one shard: out.jsonl -> out.shard0of2.jsonl (the plain name when world == 1)."""
    out = Path(out)
    return out if world == 1 else out.with_name(f"{out.stem}.shard{rank}of{world}{out.suffix}")


def parse_shard(spec):
    """'--shard i/n' -> (i, n); '' -> torchrun's rank and world size (or 0/1)."""
    if not spec:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        i, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise UsageError(f"--shard: {spec!r} is not 'i/n' (two integers, e.g. 0/2)") from None
    if not 0 <= i < n:
        raise UsageError(f"--shard: {spec!r} needs 0 <= i < n")
    return i, n


def merge_shards(out, world, key="id"):
    """Concatenate the shard files of `out`, ordered by key, into `out` itself; shard 0's settings
    (<shard>.args.json, if any) go with it as <out>.args.json, their "shard" emptied."""
    recs = [r for i in range(world) for r in load_jsonl(shard_path(out, i, world))]
    write_jsonl(out, sorted(recs, key=lambda r: str(r[key])))
    first = Path(str(shard_path(out, 0, world)) + ".args.json")
    if first.exists():
        write_json(Path(str(out) + ".args.json"), {**json.loads(first.read_text()), "shard": ""})
    return len(recs)


def merge_ranks(out, rank, world, noun="records"):
    """torchrun, inference stages: a CPU (gloo) rendezvous once every rank has written its shard (no
    timeout to speak of: ranks finish far apart), then rank 0 merges the shard files into `out`."""
    from datetime import timedelta

    import torch.distributed as dist
    dist.init_process_group("gloo", timeout=timedelta(days=1))
    dist.barrier()
    if rank == 0:
        print0(f"merged {merge_shards(out, world)} {noun} into {out}")
    dist.destroy_process_group()


# ----------------------------------------------------------------------------- training


def lr_at(step, total, peak, warmup, min_frac):
    """Linear warm-up for `warmup` steps, then cosine decay from `peak` to `min_frac * peak`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def global_batches(n, size, seed):
    """Indices of n training examples, `size` at a time, forever: one permutation per epoch from the
    seed (torch.randperm, seed * 1000 + epoch), the same on every rank; rank r takes its own slice of
    each global batch, so 1 process and N processes see the same global batches."""
    import torch
    order, epoch = [], 0
    while True:
        while len(order) < size:
            g = torch.Generator().manual_seed(seed * 1000 + epoch)
            order += torch.randperm(n, generator=g).tolist()
            epoch += 1
        b, order = order[:size], order[size:]
        yield b


# ----------------------------------------------------------------------------- text


def edit_distance(a, b):
    """Levenshtein distance in characters (insert, delete, substitute; each costs 1)."""
    if len(a) < len(b):
        a, b = b, a  # the row runs over the shorter string
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


# ----------------------------------------------------------------------------- models and prompts


def load_tokenizer(path):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path, device, dtype, cls=None):
    from transformers import AutoModelForCausalLM
    model = (cls or AutoModelForCausalLM).from_pretrained(path, dtype=dtype)
    return model.to(device).eval()


def load_for_training(path, cls=None, config=None):
    """A model to train, in fp32 whatever the device: the master weights AdamW updates.

    The trainers autocast the forward pass to bf16 on a GPU. Weights stored in bf16 would round
    small updates away: bf16 keeps 8 bits of mantissa, so at lr 7e-6 (the GPU recipe) an update to
    a weight of size ~1 is below its resolution and SFT or the PPM would barely move.
    """
    import torch
    from transformers import AutoModelForCausalLM
    kw = {"config": config} if config is not None else {}
    return (cls or AutoModelForCausalLM).from_pretrained(path, dtype=torch.float32, **kw)


def save_checkpoint(model, tokenizer, out_dir, meta):
    """An HF directory (model + tokenizer) plus meta.json (args and metrics)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    getattr(model, "module", model).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_json(out_dir / "meta.json", meta)


def format_prompt(tokenizer, question):
    """The chat template with a boxed-answer instruction when the tokenizer has one, else the plain one."""
    if getattr(tokenizer, "chat_template", None):
        msgs = [{"role": "user", "content": question + CHAT_INSTRUCTION}]
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return PLAIN_TEMPLATE.format(question=question)


def join_steps(prompt, steps, delim=STEP_DELIM):
    """A partial trajectory: the prompt, then every step followed by the delimiter."""
    return prompt + "".join(s + delim for s in steps)


def encode(tokenizer, text):
    """Token ids of a prompt; special tokens are added unless the text already starts with BOS."""
    bos = tokenizer.bos_token
    return tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"]


def context_limit(model_dir):
    """The model's context length from its config.json (None when it does not say)."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return next((cfg[k] for k in ("max_position_embeddings", "n_positions", "max_seq_len") if k in cfg), None)


def fit_context(problems, tokenizer, model_dir, room):
    """The problems whose prompt leaves `room` tokens of the model's context (config.json) for the
    generation; the rest are skipped with a count and their ids. A 2 MB question once asked a
    batch for terabytes and ended a whole search; a prompt cut from the left would lose the question."""
    n_ctx = context_limit(model_dir)
    if not n_ctx:
        return problems
    fits = [len(encode(tokenizer, p.get("prompt") or format_prompt(tokenizer, p["question"]))) + room <= n_ctx
            for p in problems]
    skipped = [p["id"] for p, ok in zip(problems, fits) if not ok]
    if skipped:
        print0(f"skipped {len(skipped)} problem(s) whose prompt does not fit the context of {n_ctx} tokens with "
               f"{room} left to generate: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    return [p for p, ok in zip(problems, fits) if ok]


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def fmt_pct(x):
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


if __name__ == "__main__":
    sys.exit("common.py is a library; run one of the stage scripts.")
