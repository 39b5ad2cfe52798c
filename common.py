"""Shared plumbing for every stage, and nothing else (the method lives in the stage scripts; JSONL records
and the resume rule in records.py, whose names are importable from here too; generation in engine.py;
log-prob and PPM scoring in scoring.py).
  - stage boundaries: `run_main` (expected errors as one line `stage: file:line: ...` or `stage: --flag:
    ...`, exit 2; bugs keep their traceback), argparse types (`positive_int`, `unit_float`, `shard_spec`,
    ...), `check_output`, `check_not_input`, `check_model_dir` (a policy must be a causal LM with a
    tokenizer, a PPM a sequence-classification checkpoint), `check_finite_loss`, `fit_context`.
  - seeding: `stable_seed` (sha256 of the parts; never Python's salted `hash()`), so per-item randomness
    does not depend on the number of workers or on batch composition.
  - torchrun: `setup_dist` / `setup_training`, `print0`, `shard_path` / `merge_shards` / `merge_ranks`.
  - training: `lr_at` (linear warm-up, cosine decay to a floor) and `global_batches` (the data order).
  - device and dtype: cuda > mps > cpu; bf16 where supported, fp32 on CPU; announced in one line.
  - models and prompts: `load_model`, `load_tokenizer`, `save_checkpoint`; `format_prompt` (the chat
    template when the tokenizer has one, else a plain template), `join_steps`, `edit_distance`.
torch and transformers are imported inside the functions that need them, so a stage that needs neither
(synth.py's built-in task, pairs.py) starts without them.
"""
import argparse
import errno
import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path

# the records layer, here too so that a stage imports its plumbing from one place
from records import (DataError, NonFiniteError, ResumableWriter, UsageError, check_fields, damaged, drop_equal_sides,  # noqa: F401
                     check_resume, claim_output, load_jsonl, print0, read_jsonl, read_problems, read_trees, save_checkpoint, write_json,
                     write_jsonl)

STEP_DELIM = "\n\n"
RESULT_VERIFIER_FILE = "result_verifier.json"  # marks a --ppm directory as a result verifier (scoring.ResultVerifier)
PLAIN_TEMPLATE = "Question: {question}\nAnswer:\n"
CHAT_INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."
CODE_INSTRUCTION = ("\nLet's think step by step and solve the problem with code: each step a Python comment with the "  # rStar's
                    "reasoning and the code for it; print the result, then put the final answer within \\boxed{}.")


# ----------------------------------------------------------------------------- stage boundaries
# Every stage validates its flags, input records and model directories before any work, and runs
# under run_main: an expected error (bad input, bad flag, missing file, a loss gone non-finite)
# prints one line "stage: file:line: what is wrong" or "stage: --flag: ..." and exits 2; only a real
# bug shows a traceback.


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
    except (*EXPECTED_ERRORS, OSError) as e:  # of other OSErrors, a full disk (the machine's state, not a bug)
        if not isinstance(e, EXPECTED_ERRORS) and e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
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
    an existing path of the wrong kind, a symlink or a special file (/dev/full: outputs are renamed into place,
    which would replace it), a parent that is a file, or a place we may not write."""
    path = Path(path)
    if path.is_symlink() or path.exists() and not (path.is_dir() or path.is_file()):
        raise UsageError(f"{flag}: {path} is {'a symlink' if path.is_symlink() else 'a special file'}; outputs are "
                         "written beside their path and renamed into place, which would replace it: name a plain path")
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
    with RESULT_VERIFIER_FILE, train_sft.py --verifier). A plain causal LM passed as a PPM would load with a freshly initialised score head
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
    if kind == "ppm" and (p / RESULT_VERIFIER_FILE).exists():
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
    with damaged(path, "tokenizer*"):
        tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path, device, dtype, cls=None):
    from transformers import AutoModelForCausalLM
    with damaged(path, "*.safetensors"):
        model = (cls or AutoModelForCausalLM).from_pretrained(path, dtype=dtype)
    return model.to(device).eval()


def load_for_training(path, cls=None, config=None):
    """A model to train, in fp32 whatever the device: the master weights AdamW updates (the trainers autocast to
    bf16 on a GPU; bf16 weights, 8 bits of mantissa, would round an update at lr 7e-6 of a weight ~1 away)."""
    import torch
    from transformers import AutoModelForCausalLM
    kw = {"config": config} if config is not None else {}
    with damaged(path, "*.safetensors"):
        return (cls or AutoModelForCausalLM).from_pretrained(path, dtype=torch.float32, **kw)


def format_prompt(tokenizer, question, code=False):
    """The chat template with the instruction of the format (text or code steps) when the tokenizer has one, else the plain one."""
    if getattr(tokenizer, "chat_template", None):
        msgs = [{"role": "user", "content": question + (CODE_INSTRUCTION if code else CHAT_INSTRUCTION)}]
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


if __name__ == "__main__":
    sys.exit("common.py is a library; run one of the stage scripts.")
