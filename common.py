"""Shared plumbing for every stage, and nothing else.

What lives here (the method itself lives in the stage scripts):
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
  - torchrun: `setup_dist`, `print0`, `shard_path` / `merge_shards` for inference stages.
  - training: `lr_at`, the learning-rate schedule (linear warm-up, cosine decay to a floor).
  - text: `edit_distance` (characters), for mcts.py's state merge and pairs.py's PPM pair filter.
  - device and dtype: cuda > mps > cpu; bf16 where supported, fp32 on CPU; announced in one line.
  - models: HF directories in and out (`load_model`, `load_tokenizer`, `save_checkpoint`).
  - prompts and steps: `format_prompt` (chat template when the tokenizer has one, else a plain
    template), `join_steps` (prompt + steps, each followed by the step delimiter).
  - generation: one interface, two backends. `HFBackend` (transformers model, our own batched
    sampler: left padding, per-row seeds, stop strings, finished rows dropped from the batch, and a
    KV cache that stores each distinct prompt once for all its samples, read by a registered
    "shared_prefix" attention, the cascade idea of vLLM/FlashInfer in a few lines of torch) and
    `VLLMBackend` (`LLM.generate` + `SamplingParams`, prefix caching on; vllm is imported only
    when chosen). Both return, per prompt, n dicts
    {"text", "tokens", "logp" (mean token log-prob), "finish" ("stop" | "eos" | "length")}.
  - `sequence_logps`: summed completion log-probs (prompt masked, EOS included), batched.
  - `PPMScorer`: batched scores of partial trajectories by a process preference model saved by
    train_ppm.py (an `AutoModelForSequenceClassification` directory), squashed to [-1, 1].
"""
import argparse
import functools
import hashlib
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from grader import gold_from_gsm8k, gold_from_math

STEP_DELIM = "\n\n"
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
    process preference model (a *ForSequenceClassification checkpoint, train_ppm.py). A causal LM
    passed as a PPM would load with a freshly initialised score head and score noise."""
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


def check_resume(out, args_path, args, ignore=(), force=False):
    """Refuse to resume `out` if it was made with other output-shaping args.

    args_path (JSON) holds the args `out` was made with. When `out` exists and any arg outside
    `ignore` differs, stop naming the flags, so one output never mixes two settings and its args
    file always says how it was made; with force, such an `out` is removed and the run starts
    over (with the same args, force resumes as usual). An output without its args file cannot be
    checked and is refused too. Nothing is written here: the caller writes the args to args_path
    once the output itself has been opened (and checked) for the run."""
    out, args_path = Path(out), Path(args_path)
    now = json.loads(json.dumps({k: v for k, v in vars(args).items() if k not in ignore}, default=str))
    problem = _resume_conflict(out, args_path, now, ignore)
    if problem and force:
        print0(f"--force: {problem}; removing {out} and starting over")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    elif problem:
        raise UsageError(f"--out: {problem}; rerun with the same flags to resume, --force to start over, "
                         f"or use a new output")


def _resume_conflict(out, args_path, now, ignore):
    """Why `out` cannot be resumed with the args `now` (a sentence), or None when it can."""
    if not out.exists():
        return None
    if not args_path.exists():
        return f"{out} exists but {args_path} does not, so how it was made is unknown"
    try:
        old = {k: v for k, v in json.loads(args_path.read_text()).items() if k not in ignore}
    except (ValueError, AttributeError):
        return f"{args_path} is not a JSON object of args"
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
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    return rank, world, local


def teardown_dist():
    """Every rank waits for the others (rank 0 may still be saving) before the group goes away.

    Without the barrier, CI once saw rank 1 of a 2-process gloo run die with SIGABRT ("terminate
    called without an active exception") after leaving early while rank 0 was still saving."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def print0(*args, **kwargs):
    if int(os.environ.get("RANK", 0)) == 0:
        print(*args, **kwargs, flush=True)


def pick_device(local_rank=0, announce=True):
    """cuda (bf16 when supported) > mps (fp32) > cpu (fp32); one line says which."""
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
    """Concatenate the shard files of `out`, ordered by key, into `out` itself."""
    recs = [r for i in range(world) for r in load_jsonl(shard_path(out, i, world))]
    write_jsonl(out, sorted(recs, key=lambda r: str(r[key])))
    return len(recs)


# ----------------------------------------------------------------------------- training


def lr_at(step, total, peak, warmup, min_frac):
    """Linear warm-up for `warmup` steps, then cosine decay from `peak` to `min_frac * peak`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


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


# ----------------------------------------------------------------------------- generation


class HFBackend:
    """Batched sampling with a transformers causal LM and its KV cache.

    Rows are (prompt, sample) pairs, left padded, `batch_size` at a time. Sampling is
    inverse-CDF with one pre-drawn uniform per (row, position) from a generator seeded with
    stable_seed(prompt seed, sample index), so a row's text does not depend on what else is in
    the batch. Rows that hit EOS or a stop string leave the batch (their cache rows are dropped).
    A distinct prompt is prefilled once and its keys/values are shared by its samples
    (SharedPrefixCache): on this 2-core CPU a lock-step search of 64 trees (256 rows per call) went
    from 24.4 s to 15.4-17.1 s with it, the trees unchanged.
    """

    def __init__(self, path, device=None, dtype=None, batch_size=64):
        if device is None:
            device, dtype = pick_device(announce=False)
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, device, dtype)
        shared_prefix_cache_class()  # registers the attention below; without its cache it is plain SDPA
        self.model.set_attn_implementation("shared_prefix")
        self.device, self.batch_size = device, batch_size
        self._pieces = {}

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        seeds = seeds if seeds is not None else list(range(len(prompts)))
        rows = [(i, j) for i in range(len(prompts)) for j in range(n)]
        out = [[None] * n for _ in prompts]
        chunks = range(0, len(rows), self.batch_size)
        if progress:
            from tqdm import tqdm
            chunks = tqdm(chunks, desc="generate", unit="batch")
        for s in chunks:
            batch = rows[s:s + self.batch_size]
            res = self._generate_batch([prompts[i] for i, _ in batch], [stable_seed(seeds[i], j) for i, j in batch],
                                       temperature, max_tokens, stop or [])
            for (i, j), r in zip(batch, res):
                out[i][j] = r
        return out

    @torch.no_grad()
    def _generate_batch(self, prompts, seeds, temperature, max_tokens, stop):
        tok, model, dev = self.tokenizer, self.model, self.device
        index = {}
        rows = [index.setdefault(p, len(index)) for p in prompts]  # each row's distinct prompt
        ids = [encode(tok, p) for p in index]  # a distinct prompt is encoded and prefilled once
        P, T = len(ids), max(len(x) for x in ids)
        pad = tok.pad_token_id
        input_ids = torch.full((P, T), pad, dtype=torch.long)
        mask = torch.zeros((P, T), dtype=torch.long)
        for b, x in enumerate(ids):
            input_ids[b, T - len(x):] = torch.tensor(x)
            mask[b, T - len(x):] = 1
        input_ids, mask = input_ids.to(dev), mask.to(dev)
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        uniforms = torch.stack([torch.rand(max_tokens, generator=g, dtype=torch.float64) for g in gens]).to(dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = shared_prefix_cache_class()(model.config)
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                       use_cache=True).logits[:, -1].float()
        cache.share(rows, mask.bool(), max_tokens)
        logits, pos = logits[cache.rows], pos[cache.rows, -1:]
        B = len(prompts)
        alive = list(range(B))  # original row index of each batch row
        gen_ids = [[] for _ in range(B)]
        logp_sum = [0.0] * B
        finish = ["length"] * B
        max_stop = max((len(s) for s in stop), default=0)
        piece = self._pieces  # token id -> its text alone: decode a row's tail only when a stop may end there
        ends = {s[-1] for s in stop} | {"\ufffd"}  # (or a character split across tokens)
        eos = tok.eos_token_id  # a plain int: the tokenizer's attribute lookup is slow in this loop
        for t in range(max_tokens):
            logp = torch.log_softmax(logits, -1)  # (b, V) the model's own distribution
            if temperature <= 0:
                nxt = logp.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, -1).double()
                cdf = probs.cumsum(-1)
                u = uniforms[alive, t].unsqueeze(-1) * cdf[:, -1:]
                nxt = torch.searchsorted(cdf, u).squeeze(-1).clamp(max=probs.shape[-1] - 1)
            chosen = logp.gather(-1, nxt[:, None]).squeeze(-1).tolist()
            keep = []
            for b, (r, tk, lp) in enumerate(zip(alive, nxt.tolist(), chosen)):
                logp_sum[r] += lp
                if tk == eos:
                    finish[r] = "eos"
                    continue
                gen_ids[r].append(tk)
                if stop:
                    if tk not in piece:
                        piece[tk] = tok.decode([tk], skip_special_tokens=True)
                    if any(e in piece[tk] for e in ends):
                        tail = tok.decode(gen_ids[r][-(max_stop + 8):], skip_special_tokens=True)
                        if any(s in tail for s in stop):
                            finish[r] = "stop"
                            continue
                keep.append(b)
            if not keep or t == max_tokens - 1:
                break
            if len(keep) < len(alive):
                idx = torch.tensor(keep, device=dev)
                cache.batch_select_indices(idx)
                nxt, pos = nxt[idx], pos[idx]
                alive = [alive[b] for b in keep]
            pos = pos + 1
            logits = model(input_ids=nxt[:, None], position_ids=pos, past_key_values=cache, use_cache=True,
                           shared_prefix=cache).logits[:, -1].float()
        res = []
        for r in range(B):
            text = tok.decode(gen_ids[r], skip_special_tokens=True)
            ntok = len(gen_ids[r]) + (finish[r] == "eos")
            if finish[r] == "stop":  # cut at the first stop string; the delimiter is not part of the step
                text = text[:min(text.find(s) for s in stop if s in text)]
            res.append({"text": text, "tokens": ntok, "logp": logp_sum[r] / max(ntok, 1), "finish": finish[r]})
        return res


@functools.cache
def shared_prefix_cache_class():
    """SharedPrefixCache, with its attention function registered in transformers under the name
    "shared_prefix" (built on first use: transformers is imported lazily)."""
    from transformers import AttentionInterface, DynamicCache
    from transformers.cache_utils import DynamicLayer
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    class Layer(DynamicLayer):
        """Prefill: keys/values as usual. Then (`SharedPrefixCache.share`) new tokens are written in
        place into a buffer with room for all of them (DynamicLayer concatenates, copying the whole
        cache per token), and the prompts' keys/values either stay apart in `prefix`, one row per
        distinct prompt, or (few rows) are copied to the head of each row's buffer."""
        prefix = buf = None

        def update(self, k, v, *args, **kwargs):
            if self.buf is None:
                return super().update(k, v, *args, **kwargs)
            n = self.keys.shape[-2]
            self.buf[0][:, :, n:n + 1], self.buf[1][:, :, n:n + 1] = k, v
            self.keys, self.values = self.buf[0][:, :, :n + 1], self.buf[1][:, :, :n + 1]
            return self.keys, self.values

        def get_seq_length(self):
            return (self.prefix[0].shape[-2] if self.prefix is not None else 0) + super().get_seq_length()

        def batch_select_indices(self, idx):  # rows only ever leave: compact the filled part in place
            n, m = self.keys.shape[-2], len(idx)
            self.buf = (self.buf[0][:m], self.buf[1][:m])
            self.buf[0][:, :, :n], self.buf[1][:, :, :n] = self.keys[idx], self.values[idx]
            self.keys, self.values = self.buf[0][:, :, :n], self.buf[1][:, :, :n]

    class SharedPrefixCache(DynamicCache):
        """KV cache for many samples of few prompts (the children of one MCTS leaf, the N samples of
        best-of-N): each prompt's keys/values are computed and stored once, not once per sample, and
        decode steps attend to them with `shared_prefix_attention`. With the tiny model at 256 rows
        on CPU, a per-sample copy of the prompt made attention memory-bound; sharing reads it n times
        less. A batch of at most `few` rows copies the prompts instead: fewer, larger ops."""
        few = 16

        def __init__(self, config):
            super().__init__(config=config)
            self.layers = [Layer() for _ in self.layers]

        def share(self, rows, prompt_mask, room):
            """Switch from prefill to decoding: row r samples prompt rows[r]; prompt_mask (P, T) bool."""
            rows = torch.tensor(rows, device=prompt_mask.device)
            self.shared, T = len(rows) > self.few, prompt_mask.shape[1]
            for layer in self.layers:
                k = layer.keys
                layer.buf = tuple(k.new_empty(len(rows), k.shape[1], (0 if self.shared else T) + room, k.shape[-1])
                                  for _ in range(2))
                if self.shared:
                    layer.prefix, n = (layer.keys, layer.values), 0
                else:
                    layer.buf[0][:, :, :T], layer.buf[1][:, :, :T], n = layer.keys[rows], layer.values[rows], T
                layer.keys, layer.values = layer.buf[0][:, :, :n], layer.buf[1][:, :, :n]
            dt = self.layers[0].buf[0].dtype  # the model's dtype (bf16 on a GPU): SDPA wants the mask in it
            self.prompt_bias = torch.zeros(prompt_mask.shape, dtype=dt, device=rows.device).masked_fill_(
                ~prompt_mask, float("-inf"))
            self.bias = torch.zeros(len(rows), 1, 1, T + room, dtype=dt, device=rows.device)  # -inf at left padding
            self.bias[:, 0, 0, :T] = self.prompt_bias[rows]
            self._set_rows(rows)

        def _set_rows(self, rows):
            """Each row's prompt and its slot among that prompt's rows (the grid of the attention)."""
            self.rows = rows
            if not self.shared:  # rows hold their prompt's keys: no grid
                return
            order = torch.argsort(rows, stable=True)
            first = torch.searchsorted(rows[order], rows[order])  # first sorted position of each prompt
            slot = torch.empty_like(rows)
            slot[order] = torch.arange(len(rows), device=rows.device) - first
            self.slot, self.G = slot, int(slot.max()) + 1

        def batch_select_indices(self, idx):
            super().batch_select_indices(idx)
            self.bias = self.bias[idx]
            self._set_rows(self.rows[idx])

    def shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                                shared_prefix=None, **kwargs):
        """softmax(q [K_prompt; K_own]^T * scaling + padding bias) [V_prompt; V_own] for one new token
        per row, with K_prompt read once per distinct prompt: queries are scattered into a
        (prompt, slot) grid and attend to their prompt's keys in batched matmuls; the two parts
        are merged by their softmax maxima m and sums l (out = sum_i e^(m_i - m) o_i / sum_i e^(m_i - m) l_i)."""
        c = shared_prefix
        if c is None:  # prefill, or any other use of the model: plain SDPA
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                          scaling=scaling, **kwargs)
        if not c.shared:  # each row holds its prompt's keys
            bias = c.bias[..., :key.shape[-2]]
            return sdpa_attention_forward(module, query, key, value, bias, scaling=scaling, **kwargs)
        pk, pv = c.layers[module.layer_idx].prefix  # (P, Hkv, Tp, D)
        R, Hq, L, D = query.shape
        assert L == 1, "shared_prefix attention decodes one token per row"
        P, Hkv, Tp, _ = pk.shape
        g, G = Hq // Hkv, c.G
        scaling = D ** -0.5 if scaling is None else scaling

        def part(s, v):  # unnormalised softmax attention: (output, max, sum) of scores s over values v
            m = s.amax(-1, keepdim=True)
            e = (s - m).exp()
            return e @ v, m, e.sum(-1, keepdim=True)

        grid = query.new_zeros(P, G, Hq, L, D)  # (prompt, slot) -> query; empty slots stay zero
        grid[c.rows, c.slot] = query
        grid = grid.view(P, G, Hkv, g, L, D).transpose(1, 2).reshape(P, Hkv, G * g * L, D)
        s_prompt = grid @ pk.transpose(-1, -2) * scaling + c.prompt_bias[:, None, None, :]  # (P, Hkv, G*g, Tp)
        o, m, l = part(s_prompt, pv)
        o1, m1, l1 = (torch.cat([o, m, l], -1).view(P, Hkv, G, g, L, D + 2).transpose(1, 2)
                      .reshape(P, G, Hq, L, D + 2)[c.rows, c.slot].split([D, 1, 1], -1))  # back to rows
        k_own = key.repeat_interleave(g, 1) if g > 1 else key
        v_own = value.repeat_interleave(g, 1) if g > 1 else value
        o2, m2, l2 = part(query @ k_own.transpose(-1, -2) * scaling, v_own)  # one query: no causal mask
        m = torch.maximum(m1, m2)
        a1, a2 = (m1 - m).exp(), (m2 - m).exp()
        out = (o1 * a1 + o2 * a2) / (l1 * a1 + l2 * a2)
        return out.transpose(1, 2).contiguous(), None

    AttentionInterface.register("shared_prefix", shared_prefix_attention)
    AttentionMaskInterface.register("shared_prefix", sdpa_mask)
    return SharedPrefixCache


class VLLMBackend:
    """vLLM for GPU boxes: `LLM.generate` with per-request `SamplingParams` and prefix caching on.

    Where vLLM's semantics differ from HFBackend's, this class bridges them (tests/test_vllm.py checks
    it against tests/fake_vllm, which is written to vLLM's documented behaviour):
      - prompts go in as token ids from `encode`, so both backends see the same tokens (vLLM would
        tokenize text with special tokens added: a chat template that starts with BOS got two);
      - vLLM refuses n > 1 at temperature 0 ("n must be 1 when using greedy sampling"): a greedy
        request is sent once and its output repeated n times, which is what n greedy samples are;
      - max_model_len is capped at the model's max_position_embeddings (vLLM refuses a larger one);
      - `gpu_memory_utilization` is the share of the GPU this engine reserves: engines in one process
        (a policy and a vLLM PPM, or a rollout policy) must share it, their sum at most ~0.9.
    vLLM's n samples of a request are seeded seed + i; each output's EOS (when it ends with one) is in
    its token_ids and cumulative_logprob, as in HFBackend's "tokens" and "logp".
    """

    def __init__(self, path, dtype="auto", tensor_parallel=1, gpu_memory_utilization=0.9, max_model_len=4096, seed=0):
        from transformers import AutoConfig
        from vllm import LLM  # imported only when --backend vllm is chosen
        limit = getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", None)
        self.llm = LLM(model=str(path), dtype=dtype, tensor_parallel_size=tensor_parallel, seed=seed,
                       enable_prefix_caching=True, gpu_memory_utilization=gpu_memory_utilization,
                       max_model_len=min(max_model_len, limit or max_model_len))
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts, n=1, temperature=1.0, max_tokens=256, stop=None, seeds=None, progress=False):
        from vllm import SamplingParams
        seeds = seeds if seeds is not None else list(range(len(prompts)))
        greedy = temperature < 1e-5  # vLLM's _SAMPLING_EPS: below it, sampling is argmax
        params = [SamplingParams(n=1 if greedy else n, temperature=temperature, max_tokens=max_tokens,
                                 stop=stop or None, seed=stable_seed(s) % (2 ** 31), logprobs=0) for s in seeds]
        outs = self.llm.generate([{"prompt_token_ids": encode(self.tokenizer, p)} for p in prompts], params,
                                 use_tqdm=progress)
        res = []
        for o in outs:
            row = []
            for c in o.outputs:
                ntok = len(c.token_ids)
                lp = c.cumulative_logprob
                if lp is None and c.logprobs:
                    lp = sum(d[t].logprob for d, t in zip(c.logprobs, c.token_ids))
                finish = "length" if c.finish_reason == "length" else ("stop" if c.stop_reason is not None else "eos")
                row.append({"text": c.text, "tokens": ntok, "logp": (lp or 0.0) / max(ntok, 1), "finish": finish})
            res.append(row * n if greedy else row)
        return res


def make_backend(kind, path, batch_size=64, seed=0, gpu_memory=0.9):
    """gpu_memory: the vLLM engine's gpu_memory_utilization (less when other engines share the GPU)."""
    if kind == "vllm":
        return VLLMBackend(path, seed=seed, gpu_memory_utilization=gpu_memory)
    if kind != "hf":
        raise ValueError(f"unknown backend {kind!r} (hf or vllm)")
    device, dtype = pick_device()
    return HFBackend(path, device, dtype, batch_size=batch_size)


# ----------------------------------------------------------------------------- scoring


def encode_completions(tokenizer, prompts, completions, add_eos=True, max_len=None):
    """Right-padded batch of prompt + completion (+ EOS) with a mask over completion tokens only."""
    seqs, lmask = [], []
    for p, c in zip(prompts, completions):
        pi = encode(tokenizer, p)
        ci = tokenizer(c, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
        x = (pi + ci)[-max_len:] if max_len else pi + ci
        m = ([0] * len(pi) + [1] * len(ci))[-len(x):]
        seqs.append(x)
        lmask.append(m)
    T = max(len(x) for x in seqs)
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (T - len(x)) for x in seqs]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (T - len(x)) for x in seqs]),
        "loss_mask": torch.tensor([m + [0] * (T - len(m)) for m in lmask]),
    }


def token_logps(model, input_ids, attention_mask):
    """log p(x_t | x_<t) for t >= 1, with positions counted from the first real token.  # (B, T-1)"""
    pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos).logits[:, :-1]
    return torch.log_softmax(logits.float(), -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def sequence_logps(model, input_ids, attention_mask, loss_mask):
    """sum_t log p(y_t | x, y_<t) over completion tokens (loss_mask = 1; EOS included).  # (B,)

    Works with padding on either side: positions come from the attention mask.
    """
    return (token_logps(model, input_ids, attention_mask) * loss_mask[:, 1:]).sum(-1)


class PPMScorer:
    """Scores partial trajectories with a train_ppm.py checkpoint: tanh(score at the last token).

    The head's raw score is unbounded (Bradley-Terry only fixes differences); tanh maps it to
    [-1, 1], the range of terminal rewards, so PPM values and +/-1 rewards can be averaged in Q.
    backend "hf": transformers, left-padded batches of similar lengths; "vllm": vLLM's pooling
    runner (`LLM.classify` with the activation off, so it returns the raw score; token ids in, as
    VLLMBackend; GPU only, reserving `gpu_memory` of it).
    """

    def __init__(self, path, device=None, dtype=None, batch_size=64, backend="hf", gpu_memory=0.2):
        self.llm = None
        if backend == "vllm":
            from vllm import LLM  # imported only when chosen
            self.llm = LLM(model=str(path), runner="pooling", gpu_memory_utilization=gpu_memory)
            self.tokenizer = self.llm.get_tokenizer()
            return
        from transformers import AutoModelForSequenceClassification
        if device is None:
            device, dtype = pick_device(announce=False)
        self.tokenizer = load_tokenizer(path)
        self.model = load_model(path, device, dtype, cls=AutoModelForSequenceClassification)
        self.device, self.batch_size = device, batch_size
        self._pieces = {}

    @torch.no_grad()
    def __call__(self, texts):
        if self.llm is not None:
            from vllm import PoolingParams
            outs = self.llm.classify([{"prompt_token_ids": encode(self.tokenizer, t)} for t in texts],
                                     pooling_params=PoolingParams(use_activation=False), use_tqdm=False)
            return [math.tanh(o.outputs.probs[0]) for o in outs]
        ids = [encode(self.tokenizer, t) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths per batch: less padding
        scores = [0.0] * len(ids)
        for s in range(0, len(order), self.batch_size):
            rows = order[s:s + self.batch_size]
            T = max(len(ids[i]) for i in rows)
            pad = self.tokenizer.pad_token_id
            x = torch.tensor([[pad] * (T - len(ids[i])) + ids[i] for i in rows], device=self.device)
            m = torch.tensor([[0] * (T - len(ids[i])) + [1] * len(ids[i]) for i in rows], device=self.device)
            pos = (m.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=x, attention_mask=m, position_ids=pos).logits  # (B, 1)
            for i, v in zip(rows, torch.tanh(logits[:, 0].float()).tolist()):
                scores[i] = v
        return scores


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def fmt_pct(x):
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


if __name__ == "__main__":
    sys.exit("common.py is a library; run one of the stage scripts.")
