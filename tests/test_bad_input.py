"""Bad input and faults, stage by stage: each is refused with exit status 2 and ONE line on stderr,
`stage: file:line: what is wrong` or `stage: --flag: ...`, no traceback, and no earlier output
changed. Most cases run a stage's main() in this process under common.run_main (the same path as
the command line, without paying `import torch` per case); a few run the real command line.
"""
import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import NonFiniteError, ResumableWriter, check_finite_loss, run_main, save_checkpoint  # noqa: E402
from train_sft import build_char_tokenizer, build_tiny_model  # noqa: E402
from treecmp import same_trees  # noqa: E402 (tests/, on the path under pytest)

# ----------------------------------------------------------------------------- fixtures and helpers


def problem(i, **kw):
    return {"id": f"p{i:02d}", "question": f"Ann has {i} pens. How many?", "answer": str(i), **kw}


def node(parent, step="s", N=1, Q=0.5, terminal=False, **kw):
    return {"parent": parent, "step": step, "depth": 0, "N": N, "Q": Q, "terminal": terminal, **kw}


def tree(tid="t0", nodes=None):
    nodes = nodes or [node(None, ""), node(0, "a", Q=0.9, terminal=True, correct=True),
                      node(0, "b", Q=-0.9, terminal=True, correct=False)]
    return {"id": tid, "question": "Q?", "answer": "1", "nodes": nodes}


PAIR = {"id": "x", "problem": "t0", "prompt": "Question: Q?\nAnswer:\n", "chosen": "a", "rejected": "b", "kind": "step",
        "q_chosen": 0.9, "q_rejected": -0.9, "r_chosen": [0.9], "r_rejected": [-0.9], "depth": 1}


def write_lines(path, lines):
    path.write_bytes(b"".join((ln if isinstance(ln, bytes) else json.dumps(ln).encode()) + b"\n" for ln in lines))
    return path


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A random tiny policy (no training: these tests never need a good one), a fake PPM, broken model
    directories, and valid problems, trees and pairs to break one thing at a time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("bad")
    torch.manual_seed(0)
    tok = build_char_tokenizer()
    save_checkpoint(build_tiny_model(tok, hidden=32, layers=1, heads=2), tok, d / "policy", {})
    shutil.copytree(d / "policy", d / "ppm_fake")  # the config of a PPM (only the checks read it)
    cfg = json.loads((d / "ppm_fake" / "config.json").read_text())
    (d / "ppm_fake" / "config.json").write_text(json.dumps({**cfg, "architectures": ["LlamaForSequenceClassification"]}))
    shutil.copytree(d / "policy", d / "notok")
    for f in (d / "notok").glob("*token*"):
        f.unlink()
    (d / "noconfig").mkdir()
    (d / "noconfig" / "model.safetensors").write_bytes(b"x")
    write_lines(d / "problems.jsonl", [problem(i) for i in range(4)])
    write_lines(d / "sols.jsonl", [problem(i, solution=f"{i}+0={i}. The answer is \\boxed{{{i}}}.") for i in range(4)])
    write_lines(d / "trees.jsonl", [tree("t0"), tree("t1")])
    write_lines(d / "pairs.jsonl", [PAIR, {**PAIR, "id": "y"}])
    (d / "afile").write_text("not a directory\n")
    for name in ("badtok", "badweights"):  # damaged model folders: a corrupt tokenizer.json, truncated weights
        shutil.copytree(d / "policy", d / name)
    (d / "badtok" / "tokenizer.json").write_text('{"model": {"vocab"')
    weights = d / "badweights" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (d / "link.jsonl").symlink_to(d / "sols.jsonl")  # an --out that is a symlink: refused, the file it names kept
    yield d
    torch.set_num_threads(threads)


def snapshot(*roots):
    """sha256 of every file under the roots: what 'no earlier output changed' compares."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")) if Path(root).is_dir() else [Path(root)]:
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_stage(capsys, stage, argv):
    """stage's main() under run_main with sys.argv = argv: (exit code, stderr, stdout)."""
    mod = importlib.import_module(stage)
    saved = sys.argv
    sys.argv = [f"{stage}.py", *map(str, argv)]
    code = 0
    try:
        run_main(mod.main, stage)
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    return code, captured.err, captured.out


def refused(capsys, stage, argv, *expect, keep=(), started=False):
    """Assert the stage refuses: exit 2, one line `stage: ...` holding each of `expect`, files in `keep`
    unchanged. Before any work stderr is that line alone; once work has `started` (a model loaded), the
    line is the last one after the libraries' progress bars."""
    before = snapshot(*keep)
    code, err, _ = run_stage(capsys, stage, argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and (started or len(lines) == 1), err
    assert lines[-1].startswith(f"{stage}: "), err
    for e in expect:
        assert e in lines[-1], (e, lines[-1])
    assert snapshot(*keep) == before
    return lines[-1]


def fill(argv, d, tmp):
    return [str(a).format(d=d, tmp=tmp) for a in argv]


MCTS = ["--policy", "{d}/policy", "--data", "{d}/problems.jsonl", "--out", "{tmp}/trees.jsonl"]
EVAL = ["--model", "{d}/policy", "--data", "{d}/problems.jsonl", "--out-dir", "{tmp}/eval"]
SFT = ["--data", "{d}/sols.jsonl", "--out", "{tmp}/sft", "--steps", "1"]
DPO = ["--model", "{d}/policy", "--pairs", "{d}/pairs.jsonl", "--out", "{tmp}/dpo"]
PPM = ["--init", "{d}/policy", "--pairs", "{d}/pairs.jsonl", "--out", "{tmp}/ppm"]
PAIRS = ["--trees", "{d}/trees.jsonl", "--out-dir", "{tmp}/pairs"]
BUILTIN = ["builtin", "--out-dir", "{tmp}/synth"]
LOOP = ["--out", "{tmp}/loop"]
IMAGINE = ["imagine", "--model", "{d}/policy", "--seed-file", "{d}/problems.jsonl", "--out", "{tmp}/im.jsonl"]

# ----------------------------------------------------------------------------- flags: (stage, argv, the flag named)

FLAGS = [
    ("mcts", MCTS + ["--rollouts", "0"], "--rollouts"),
    ("mcts", MCTS + ["--children", "0"], "--children"),
    ("mcts", MCTS + ["--leaves-per-tick", "0"], "--leaves-per-tick"),
    ("mcts", MCTS + ["--limit", "-3"], "--limit"),
    ("mcts", MCTS + ["--shard", "abc"], "--shard"),
    ("mcts", MCTS + ["--shard", "2/2"], "--shard"),
    ("mcts", MCTS + ["--max-depth", "0"], "--max-depth"),
    ("mcts", MCTS + ["--temperature", "-1"], "--temperature"),
    ("mcts", MCTS + ["--c", "nan"], "--c"),
    ("mcts", MCTS + ["--merge-threshold", "2"], "--merge-threshold"),
    ("mcts", MCTS + ["--window", "0"], "--window"),
    ("mcts", MCTS + ["--resample-heat", "-1"], "--resample-heat"),
    ("mcts", MCTS + ["--leaf-eval", "magic"], "--leaf-eval"),
    ("mcts", MCTS + ["--no-such-flag"], "--no-such-flag"),
    ("evaluate", EVAL + ["--n", "0"], "--n"),
    ("evaluate", EVAL + ["--limit", "-3"], "--limit"),
    ("evaluate", EVAL + ["--beam-width", "0"], "--beam-width"),
    ("evaluate", EVAL + ["--mcts-rollouts", "a,b"], "--mcts-rollouts"),
    ("evaluate", EVAL + ["--seed", "x"], "--seed"),
    ("evaluate", EVAL + ["--temperature", "inf"], "--temperature"),
    ("evaluate", EVAL + ["--methods", "greedy,psychic"], "psychic"),
    ("evaluate", EVAL + ["--methods", "bon"], "--ppm"),
    ("train_sft", SFT[:-2] + ["--steps", "-3"], "--steps"),
    ("train_sft", SFT + ["--batch-size", "0"], "--batch-size"),
    ("train_sft", SFT + ["--lr", "0"], "--lr"),
    ("train_sft", SFT + ["--max-len", "0"], "--max-len"),
    ("train_sft", SFT + ["--hidden", "30", "--heads", "4"], "--hidden"),
    ("train_sft", SFT + ["--max-len", "0"], "--max-len"),
    ("train_dpo", DPO + ["--epochs", "0"], "--epochs"),
    ("train_dpo", DPO + ["--beta", "0"], "--beta"),
    ("train_dpo", DPO + ["--label-smoothing", "0.7"], "--label-smoothing"),
    ("train_dpo", DPO + ["--batch-size", "0"], "--batch-size"),
    ("train_ppm", PPM + ["--steps", "-3"], "--steps"),
    ("train_ppm", PPM + ["--eval-frac", "1.5"], "--eval-frac"),
    ("train_ppm", PPM + ["--batch-size", "0"], "--batch-size"),
    ("pairs", PAIRS + ["--tau", "-1"], "--tau"),
    ("pairs", PAIRS + ["--sft-k", "-1"], "--sft-k"),
    ("pairs", PAIRS + ["--rules", "step,bogus"], "--rules"),
    ("synth", BUILTIN + ["--n-pool", "-3"], "--n-pool"),
    ("synth", BUILTIN + ["--seed-ops", "5-2"], "--seed-ops"),
    ("synth", BUILTIN + ["--max-operand", "1"], "--max-operand"),
    ("synth", IMAGINE + ["--n", "0"], "--n"),
    ("synth", IMAGINE + ["--min-agree", "0"], "--min-agree"),
    ("synth", ["convert", "--kind", "aime", "--in", "{d}/problems.jsonl", "--out", "{tmp}/c.jsonl"], "--kind"),
    ("loop", LOOP + ["--rounds", "-1"], "--rounds"),
    ("loop", LOOP + ["--n-pool", "0"], "--n-pool"),
    ("loop", LOOP + ["--base-lr", "nan"], "--base-lr"),
    ("loop", LOOP + ["--init", "{d}/nope"], "--init"),
    ("loop", LOOP + ["--update", "sft+fix"], "--update"),
    ("loop", LOOP + ["--ppm", "orm"], "--ppm"),
    ("loop", LOOP + ["--seed-file", "{d}/nope.jsonl", "--pool-file", "{d}/problems.jsonl", "--test-file",
                     "{d}/problems.jsonl"], "nope.jsonl"),
]


@pytest.mark.parametrize("stage,argv,flag", FLAGS, ids=[f"{s}{a[-2] if len(a) > 1 else ''}={a[-1]}" for s, a, _ in FLAGS])
def test_bad_flag(d, tmp_path, capsys, stage, argv, flag):
    refused(capsys, stage, fill(argv, d, tmp_path), flag, keep=[d])
    assert not any(tmp_path.iterdir())  # nothing written


# ----------------------------------------------------------------------------- paths and model directories

PATHS = [
    ("mcts", MCTS[:-1] + ["{d}/link.jsonl"], ["--out", "link.jsonl is a symlink"]),
    ("synth", ["convert", "--kind", "gsm8k", "--in", "{d}/problems.jsonl", "--out", "/dev/null"], ["--out", "a special file"]),
    ("train_dpo", DPO[:-1] + ["{d}/link.jsonl"], ["--out", "is a symlink"]),
    ("evaluate", ["--model", "{d}/badtok"] + EVAL[2:], ["badtok: tokenizer.json, tokenizer_config.json: cannot be read"]),
    ("train_sft", ["--init", "{d}/badweights"] + SFT, ["badweights: model.safetensors: cannot be read"]),
    ("train_dpo", ["--model", "{d}/badweights"] + DPO[2:], ["badweights: model.safetensors: cannot be read"]),
    ("mcts", MCTS[:-1] + ["{d}/problems.jsonl"], ["--out", "also the input --data"]),
    ("mcts", MCTS[:-1] + ["{d}/afile/trees.jsonl"], ["--out", "not a directory"]),
    ("mcts", MCTS[:-1] + ["{d}"], ["--out", "is a directory"]),
    ("mcts", MCTS[:3] + ["{d}/nope.jsonl"] + MCTS[4:], ["nope.jsonl", "no such file"]),
    ("mcts", ["--policy", "{d}/nope"] + MCTS[2:], ["--policy", "no such model directory"]),
    ("mcts", ["--policy", "{d}/notok"] + MCTS[2:], ["--policy", "no tokenizer files"]),
    ("mcts", ["--policy", "{d}/noconfig"] + MCTS[2:], ["--policy", "no config.json"]),
    ("mcts", ["--policy", "{d}/ppm_fake"] + MCTS[2:], ["--policy", "LlamaForSequenceClassification", "causal LM"]),
    ("mcts", MCTS + ["--ppm", "{d}/policy"], ["--ppm", "found LlamaForCausalLM", "sequence-classification"]),
    ("mcts", MCTS + ["--rollout-model", "{d}/afile"], ["--rollout-model", "not a directory"]),
    ("evaluate", EVAL + ["--methods", "bon", "--ppm", "{d}/policy"], ["--ppm", "found LlamaForCausalLM"]),
    ("evaluate", ["--model", "{d}/nope"] + EVAL[2:], ["--model", "no such model directory"]),
    ("evaluate", EVAL[:-1] + ["{d}/afile/eval"], ["--out-dir", "not a directory"]),
    ("train_sft", SFT[:3] + ["{d}/afile/sft"] + SFT[4:], ["--out", "not a directory"]),
    ("train_sft", SFT[:3] + ["{d}/afile"] + SFT[4:], ["--out", "is a file"]),
    ("train_sft", SFT + ["--init", "{d}/nope"], ["--init", "no such model directory"]),
    ("train_sft", ["--data", "{d}/problems.jsonl"] + SFT[2:], ["problems.jsonl", "no record has a 'solution'"]),
    ("train_dpo", ["--model", "{d}/nope"] + DPO[2:], ["--model", "no such model directory"]),
    ("train_dpo", DPO[:-1] + ["{d}/afile/dpo"], ["--out", "not a directory"]),
    ("train_dpo", DPO[:-1] + ["{d}/policy"], ["--out", "also the input --model"]),
    ("train_ppm", ["--init", "{d}/notok"] + PPM[2:], ["--init", "no tokenizer files"]),
    ("pairs", PAIRS[:-1] + ["{d}/afile"], ["--out-dir", "is a file"]),
    ("pairs", ["--trees", "{d}/nope.jsonl"] + PAIRS[2:], ["nope.jsonl", "no such file"]),
    ("pairs", PAIRS + ["--model", "{d}/noconfig"], ["--model", "no config.json"]),
    ("synth", ["convert", "--kind", "gsm8k", "--in", "{d}/problems.jsonl", "--out", "{d}/problems.jsonl"],
     ["--out", "also the input --in"]),
    ("synth", ["convert", "--kind", "gsm8k", "--in", "{d}/nope.jsonl", "--out", "{tmp}/c.jsonl"], ["nope.jsonl"]),
    ("synth", IMAGINE[:2] + ["{d}/nope"] + IMAGINE[3:], ["--model", "no such model directory"]),
]


@pytest.mark.parametrize("stage,argv,expect", PATHS, ids=[f"{s}-{e[-1][:24]}" for s, _, e in PATHS])
def test_bad_path_or_model_dir(d, tmp_path, capsys, stage, argv, expect):
    refused(capsys, stage, fill(argv, d, tmp_path), *expect, keep=[d])


# ----------------------------------------------------------------------------- bad records: (stage, argv with {bad}, lines, expected)

BAD_ROOT = node(0, "")
RECORDS = [
    ("mcts", MCTS, [problem(0), b'{"id": "p1", "question": '], ":2: malformed JSON"),
    ("mcts", MCTS, [{"id": "p0", "question": "Q?"}], ":1: missing field 'answer'"),
    ("mcts", MCTS, [problem(0), problem(0)], ":2: duplicate id 'p00'"),
    ("mcts", MCTS, [b'{"id": "p0", "question": "Q?", "answer": NaN}'], ":1: non-finite number NaN"),
    ("mcts", MCTS, [[1, 2]], ":1: expected a JSON object"),
    ("mcts", MCTS, [problem(0), b'{"id": "p1", "question": "\xff", "answer": "1"}'], ":2: not valid UTF-8"),
    ("mcts", MCTS, [{"id": "p0", "question": 7, "answer": "1"}], ":1: field 'question' must be str"),
    ("mcts", MCTS, [b"  "], "empty file"),
    ("evaluate", EVAL, [problem(0), {"id": "p1", "question": "Q?", "answer": ""}], ":2: field 'answer' is empty"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(2), node(1)])], ":1: tree 't0' node 1: parent must be an earlier node"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(0), node(-1)])], "node 2: parent must be an earlier node (0..1), got -1"),
    ("pairs", PAIRS, [tree(), tree("t1", [node(None, ""), node(99)])], ":2: tree 't1' node 1: parent must be an earlier node"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), "a node"])], "node 1: must be an object, got str"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(0, Q="0.5")])], "node 1: field 'Q' must be a number, got str"),
    ("pairs", PAIRS, [b'{"id": "t0", "question": "Q", "nodes": [{"parent": null}, {"parent": 0, "step": "a", '
                      b'"N": 1, "Q": NaN, "terminal": true}]}'], ":1: non-finite number NaN"),
    ("pairs", PAIRS, [tree("t0"), tree("t1"), tree("t0")], ":3: duplicate tree id 't0' (first at"),
    ("pairs", PAIRS, [tree(nodes=[BAD_ROOT, node(0)])], "node 0: the root must have parent null"),
    ("pairs", PAIRS, [{**tree(), "nodes": []}], "tree 't0' has no nodes"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(0, N=1.5)])], "node 1: field 'N' must be int"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(0, terminal="yes")])], "node 1: field 'terminal' must be bool"),
    ("pairs", PAIRS, [tree(nodes=[node(None, ""), node(True)])], "node 1: parent must be an earlier node"),
    ("pairs", PAIRS, [{"id": "t0", "question": "Q"}], ":1: missing field 'nodes'"),
    ("train_dpo", DPO, [PAIR, b'{"prompt": "p", "chosen": "a", "rejected": "b", "q_chosen": Infinity}'],
     ":2: non-finite number Infinity"),
    ("train_dpo", DPO, [{**PAIR, "r_chosen": "0.9"}], ":1: field 'r_chosen' must be a list of numbers"),
    ("train_dpo", DPO, [PAIR, {"prompt": "p", "chosen": "a"}], ":2: missing field 'rejected'"),
    ("train_dpo", DPO, [b'{"prompt": "p", "chosen": "a", "rejected": "b", "q_chosen": 1e999}'],
     ":1: number 1e999 overflows"),
    ("train_ppm", PPM + ["--loss", "mse"], [{**PAIR, "q_chosen": "high"}], ":1: field 'q_chosen' must be"),
    ("train_dpo", DPO, [{**PAIR, "rejected": "a"}], ": no pairs of kinds [] with two different sides"),
    ("train_ppm", PPM, [{**PAIR, "rejected": "a"}, {**PAIR, "id": "y", "rejected": "a"}], "with two different sides"),
    ("train_sft", SFT, [{"prompt": "p", "completion": 3}], ":1: field 'completion' must be str"),
]


def _bad_argv(argv, bad):
    """argv with its input file (the one after --data, --trees or --pairs) replaced by `bad`."""
    out = list(argv)
    for flag in ("--data", "--trees", "--pairs"):
        if flag in out:
            out[out.index(flag) + 1] = str(bad)
    return out


@pytest.mark.parametrize("stage,argv,lines,expect", RECORDS, ids=[f"{s}-{e.strip(':')[:30]}" for s, _, _, e in RECORDS])
def test_bad_record(d, tmp_path, capsys, stage, argv, lines, expect):
    bad = write_lines(tmp_path / "bad.jsonl", lines)
    line = refused(capsys, stage, _bad_argv(fill(argv, d, tmp_path), bad), expect, keep=[d, bad])
    assert str(bad) in line  # the file is named
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]  # no output started


# ----------------------------------------------------------------------------- the real command line


@pytest.mark.parametrize("stage,argv,expect", [
    ("mcts", MCTS + ["--rollouts", "0"], "mcts: --rollouts: must be >= 1, got 0"),
    ("pairs", ["--trees", "{tmp}/cycle.jsonl", "--out-dir", "{tmp}/out"], "pairs: {tmp}/cycle.jsonl:1: tree 't0' node 1"),
])
def test_command_line_prints_one_line_and_exits_2(d, tmp_path, stage, argv, expect):
    write_lines(tmp_path / "cycle.jsonl", [tree(nodes=[node(None, ""), node(2), node(1)])])
    r = subprocess.run([sys.executable, str(ROOT / f"{stage}.py"), *fill(argv, d, tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(expect.format(tmp=tmp_path)), r.stderr


def test_real_bugs_still_show_a_traceback(capsys):
    def main():
        raise KeyError("a bug")
    with pytest.raises(KeyError):
        run_main(main, "stage")


# ----------------------------------------------------------------------------- resume: one output, one setting

SMALL = ["--rollouts", "2", "--children", "2", "--max-depth", "2", "--max-step-tokens", "8", "--window", "2"]


@pytest.fixture(scope="module")
def ref(d, tmp_path_factory):
    """An uninterrupted mcts.py run on the four problems: the bytes every resumed run must equal."""
    out = tmp_path_factory.mktemp("ref") / "trees.jsonl"
    import mcts
    mcts.main(fill(MCTS[:-1], d, "") + [str(out)] + SMALL)
    return out


def mcts_argv(d, out, *extra):
    return fill(MCTS[:-1], d, "") + [str(out)] + SMALL + list(extra)


def test_rerun_with_other_settings_is_refused_then_forced(d, ref, tmp_path, capsys):
    out = tmp_path / "trees.jsonl"
    shutil.copy(ref, out)
    shutil.copy(str(ref) + ".args.json", str(out) + ".args.json")
    code, err, _ = run_stage(capsys, "mcts", mcts_argv(d, out))  # the same settings: resumes, nothing to do
    assert code == 0 and out.read_bytes() == ref.read_bytes(), err
    refused(capsys, "mcts", mcts_argv(d, out, "--rollouts", "3"), "--rollouts 2 -> 3", "--force", keep=[tmp_path])
    refused(capsys, "mcts", mcts_argv(d, out, "--seed", "1", "--max-depth", "3"), "--max-depth 2 -> 3",
            "--seed 0 -> 1", keep=[tmp_path])
    code, _, _ = run_stage(capsys, "mcts", mcts_argv(d, out, "--rollouts", "3", "--force"))
    assert code == 0 and json.loads(Path(str(out) + ".args.json").read_text())["rollouts"] == 3
    assert all(json.loads(ln)["config"]["rollouts"] == 3 for ln in out.read_text().splitlines())


def test_output_without_its_args_file_is_refused(d, ref, tmp_path, capsys):
    out = tmp_path / "trees.jsonl"
    shutil.copy(ref, out)
    refused(capsys, "mcts", mcts_argv(d, out), "how it was made is unknown", keep=[tmp_path])


def test_corrupt_middle_line_stops_with_file_and_line(d, ref, tmp_path, capsys):
    out = tmp_path / "trees.jsonl"
    lines = ref.read_bytes().split(b"\n")
    lines[1] = lines[1][:40] + b"#garbage#" + lines[1][60:]
    out.write_bytes(b"\n".join(lines))
    shutil.copy(str(ref) + ".args.json", str(out) + ".args.json")
    refused(capsys, "mcts", mcts_argv(d, out), f"{out}:2: corrupt record", keep=[tmp_path])


def test_torn_last_line_is_redone_to_the_same_trees(d, ref, tmp_path, capsys):
    out = tmp_path / "trees.jsonl"
    data = ref.read_bytes()
    out.write_bytes(data[:len(data) - 200])  # the crash case: the last record cut short, no newline
    shutil.copy(str(ref) + ".args.json", str(out) + ".args.json")
    code, err, _ = run_stage(capsys, "mcts", mcts_argv(d, out))
    assert code == 0 and same_trees(out.read_text(), data.decode()), err


def test_resumable_writer_keeps_the_torn_case_apart(tmp_path):
    f = tmp_path / "o.jsonl"
    f.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c"')
    assert ResumableWriter(f).done == {"a", "b"}
    f.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(Exception, match=r"o.jsonl:2: duplicate id 'a'"):
        ResumableWriter(f)
    assert f.read_text() == '{"id": "a"}\n{"id": "a"}\n'


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_mid_run_then_rerun_equals_uninterrupted(d, ref, tmp_path, sig):
    out = tmp_path / "trees.jsonl"
    cmd = [sys.executable, str(ROOT / "mcts.py"), *mcts_argv(d, out, "--window", "1")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (out.exists() and out.read_text().count("\n") >= 1):
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    r = subprocess.run(cmd[:-2] + ["--window", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert same_trees(out.read_text(), ref.read_text())


# ----------------------------------------------------------------------------- context and non-finite numbers


def test_question_longer_than_the_context_is_skipped_with_a_count(d, tmp_path, capsys):
    data = write_lines(tmp_path / "long.jsonl", [problem(0), {**problem(1), "question": "x" * 2_000_000}, problem(2)])
    out = tmp_path / "trees.jsonl"
    code, _, log = run_stage(capsys, "mcts", ["--policy", d / "policy", "--data", data, "--out", out] + SMALL)
    assert code == 0
    assert "skipped 1 problem(s) whose prompt does not fit the context of 512 tokens" in log
    assert [json.loads(ln)["id"] for ln in out.read_text().splitlines()] == ["p00", "p02"]


NAN_LOSS = {  # stage: (argv, the loss function made to return NaN: a fault injected into a healthy run)
    "train_sft": (["--data", "{d}/sols.jsonl", "--steps", "3", "--hidden", "32", "--layers", "1", "--heads", "2",
                   "--batch-size", "2"], "sft_loss"),
    "train_dpo": (["--model", "{d}/policy", "--pairs", "{d}/pairs.jsonl", "--batch-size", "1", "--grad-accum", "1",
                   "--epochs", "1"], "dpo_loss"),
    "train_ppm": (["--init", "{d}/policy", "--pairs", "{d}/pairs.jsonl", "--kinds", "", "--steps", "3",
                   "--batch-size", "1", "--eval-frac", "0"], "bt_loss"),
}


def _nan_from_step(fn, step):
    """fn with its loss (the first output) turned NaN from the given call on."""
    calls = [0]

    def wrapped(*args, **kwargs):
        calls[0] += 1
        out = fn(*args, **kwargs)
        if calls[0] < step:
            return out
        return (out[0] * float("nan"), *out[1:]) if isinstance(out, tuple) else out * float("nan")
    return wrapped


@pytest.mark.parametrize("stage", sorted(NAN_LOSS))
def test_nan_loss_stops_training_before_anything_is_saved(d, tmp_path, capsys, monkeypatch, stage):
    argv, loss = NAN_LOSS[stage]
    mod = importlib.import_module(stage)
    monkeypatch.setattr(mod, loss, _nan_from_step(getattr(mod, loss), 2))
    out = tmp_path / "out"
    line = refused(capsys, stage, fill(argv, d, tmp_path) + ["--out", out], "step 2: the loss is nan",
                   "stopped before saving", keep=[d], started=True)
    assert line.startswith(f"{stage}: step 2") and not out.exists()
    with pytest.raises(NonFiniteError):
        check_finite_loss(float("inf"), 3)
