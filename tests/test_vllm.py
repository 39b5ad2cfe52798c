"""The vLLM path without a GPU: engine.VLLMBackend and PPMScorer's pooling path against tests/fake_vllm,
a fake `vllm` written to vLLM's documented API that runs the tiny HF model underneath.

Where sampling is deterministic (temperature 0) the vLLM backend must give what the HF backend gives:
the same texts, token counts and finish kinds (log-probs to float rounding), so the same trees from
mcts.py, the same predictions from evaluate.py (greedy, sample, bon, beam, mcts) and the same problems
from synth.py imagine. The adapter checks fail when the adapter drops what it must pass (stop strings,
n, seeds, max tokens): test_checks_fail_when_the_adapter_drops_a_parameter breaks it on purpose.
The fake is on the path only inside this module (sys.path, and PYTHONPATH for the stage processes).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FAKE = Path(__file__).resolve().parent / "fake_vllm"
sys.path.insert(0, str(ROOT))
import evaluate  # noqa: E402
import mcts  # noqa: E402
import synth  # noqa: E402
from common import encode, format_prompt, read_problems, stable_seed  # noqa: E402
from engine import HFBackend, VLLMBackend  # noqa: E402
from scoring import PPMScorer  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny policy trained for 120 steps on two-operation problems (it writes steps, \\boxed answers and
    EOS), a PPM with a random head on it, and 8 test problems; the fake vllm importable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: extra threads only wait on each other
    d = tmp_path_factory.mktemp("vllm")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(ROOT / "synth.py"), "builtin", "--out-dir", str(d / "data"), "--n-seed", "60",
                    "--seed-ops", "2-2", "--n-pool", "8", "--n-test", "8", "--max-operand", "4", "--max-value", "8",
                    "--pool-ops", "2-2", "--test-ops", "2-2"], check=True, capture_output=True, env=env)
    subprocess.run([sys.executable, str(ROOT / "train_sft.py"), "--init", "tiny", "--data", str(d / "data" / "seed.jsonl"),
                    "--out", str(d / "policy"), "--steps", "120", "--hidden", "32", "--layers", "1", "--heads", "2",
                    "--batch-size", "32"], check=True, capture_output=True, env=env)
    import train_ppm
    torch.manual_seed(0)
    ppm, tok = train_ppm.build_model(str(d / "policy"), False)
    with torch.no_grad():
        ppm.score.weight.normal_(0, 0.5)
    ppm.save_pretrained(d / "ppm")
    tok.save_pretrained(d / "ppm")
    sys.path.insert(0, str(FAKE))
    yield d
    sys.path.remove(str(FAKE))
    sys.modules.pop("vllm", None)
    torch.set_num_threads(threads)


def prompts_of(tiny, tok):
    return [format_prompt(tok, p["question"]) for p in read_problems(tiny / "data" / "test.jsonl")]


def assert_same(a, b, where="", rel=1e-4):
    """Equal JSON-like values, floats to `rel` (the two backends round differently), with the path of a difference."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-6, nan_ok=True), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", rel)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", rel)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


# ----------------------------------------------------------------------------- the adapter


def adapter_checks(tiny, backend):
    """What VLLMBackend.generate must do, as vLLM documents it. Every assert here is something a broken
    adapter (a parameter dropped) gets wrong."""
    import vllm
    prompts = prompts_of(tiny, backend.tokenizer)[:3]
    assert vllm.LLM.made[-1]["enable_prefix_caching"] is True
    # stop strings end a step and are not part of it; max tokens caps every sample; n samples per prompt
    outs = backend.generate(prompts, n=3, temperature=1.0, max_tokens=12, stop=["\n\n"], seeds=[1, 2, 3])
    assert [len(o) for o in outs] == [3, 3, 3]
    flat = [s for o in outs for s in o]
    assert all(s["tokens"] <= 12 and "\n\n" not in s["text"] for s in flat)
    assert {s["finish"] for s in flat} <= {"stop", "length", "eos"} and any(s["finish"] == "stop" for s in flat)
    assert all(s["tokens"] == 12 for s in flat if s["finish"] == "length")
    # the n samples of a prompt differ (child seeds seed + i), and the same seeds give the same samples
    assert all(len({s["text"] for s in o}) > 1 for o in outs)
    assert backend.generate(prompts, n=3, temperature=1.0, max_tokens=12, stop=["\n\n"], seeds=[1, 2, 3]) == outs
    again = backend.generate(prompts, n=3, temperature=1.0, max_tokens=12, stop=["\n\n"], seeds=[1, 2, 4])
    assert again[:2] == outs[:2] and again[2] != outs[2]  # a request's seed is its own, not the batch's
    # greedy with n > 1 (vLLM refuses n > 1 at temperature 0): n copies of the one greedy answer
    g = backend.generate(prompts, n=2, temperature=0.0, max_tokens=40, stop=["\n\n"], seeds=[5, 6, 7])
    assert all(len(o) == 2 and o[0] == o[1] for o in g)
    return outs


def test_adapter_passes_params_as_vllm_documents_them(tiny):
    import vllm
    backend = VLLMBackend(tiny / "policy", seed=0)
    calls = []
    real = backend.llm.generate
    backend.llm.generate = lambda p, params, **kw: calls.append((p, params)) or real(p, params, **kw)
    adapter_checks(tiny, backend)
    prompts, params = calls[0]
    # token ids from common.encode, as the HF backend sees them (vLLM would add special tokens to text)
    assert prompts[0] == {"prompt_token_ids": encode(backend.tokenizer, prompts_of(tiny, backend.tokenizer)[0])}
    sp = params[2]  # the third prompt's
    assert (sp.n, sp.temperature, sp.max_tokens, sp.stop, sp.logprobs) == (3, 1.0, 12, ["\n\n"], 0)
    assert sp.seed == stable_seed(3) % 2 ** 31
    assert vllm.LLM.made[-1]["max_model_len"] == 512  # capped at the tiny model's max_position_embeddings
    # mcts.py's hot resamples may pass vLLM's bound of 2 (1.0 + 0.5 x 3 resamples): clamped, not refused
    hot = backend.generate(prompts_of(tiny, backend.tokenizer)[:1], n=1, temperature=2.5, max_tokens=4, seeds=[1])
    assert calls[-1][1][0].temperature == 2.0 and len(hot) == 1


@pytest.mark.parametrize("drop", ["stop", "n", "seed", "max_tokens"])
def test_checks_fail_when_the_adapter_drops_a_parameter(tiny, monkeypatch, drop):
    import vllm

    class Dropping(vllm.SamplingParams):  # what the adapter would build if it forgot `drop`
        def __init__(self, **kw):
            super().__init__(**{k: v for k, v in kw.items() if k != drop})
    monkeypatch.setattr(vllm, "SamplingParams", Dropping)
    with pytest.raises(AssertionError):
        adapter_checks(tiny, VLLMBackend(tiny / "policy", seed=0))


def test_fake_keeps_vllms_rules(tiny):  # tiny: puts the fake on the path
    import vllm
    with pytest.raises(ValueError, match="n must be 1 when using greedy sampling"):
        vllm.SamplingParams(n=2, temperature=0.0)
    with pytest.raises(TypeError):
        vllm.SamplingParams(stop_strings=["x"])  # not a vLLM field
    assert vllm.SamplingParams(stop="\n").stop == ["\n"]


def test_greedy_and_ppm_scores_equal_the_hf_backend(tiny):
    import vllm
    # the vLLM PPM below reserves 0.2 of the GPU: the policy engine leaves room for it
    hf, vl = HFBackend(tiny / "policy", CPU, torch.float32), VLLMBackend(tiny / "policy", gpu_memory_utilization=0.7)
    prompts = prompts_of(tiny, hf.tokenizer)
    for kw in [dict(n=1, max_tokens=60), dict(n=2, max_tokens=30, stop=["\n\n"]), dict(n=1, max_tokens=5)]:
        a, b = hf.generate(prompts, temperature=0.0, **kw), vl.generate(prompts, temperature=0.0, **kw)
        assert_same(a, b, str(kw))
    assert {s["finish"] for o in a for s in o} == {"length"}  # the last: max_tokens 5 cuts every answer
    # the pooling runner: raw score (no sigmoid), tanh'd like the HF scorer's
    texts = [p + "2+2=4" for p in prompts] + [prompts[0] + "2+2=4\n\n4+1=5. The answer is \\boxed{5}."]
    want = PPMScorer(tiny / "ppm", CPU, torch.float32)(texts)
    assert_same(PPMScorer(tiny / "ppm", backend="vllm")(texts), want)
    assert vllm.LLM.made[-1]["runner"] == "pooling"


# ----------------------------------------------------------------------------- the stages, vllm vs hf


def test_mcts_trees_equal_the_hf_backend(tiny, tmp_path):
    args = ["--policy", str(tiny / "policy"), "--data", str(tiny / "data" / "test.jsonl"), "--rollouts", "4",
            "--children", "2", "--max-depth", "4", "--max-step-tokens", "16", "--temperature", "0",
            "--resample-heat", "0"]  # a failed node resampled at temperature 0 too: the backends agree there
    mcts.main(args + ["--out", str(tmp_path / "hf.jsonl")])
    mcts.main(args + ["--out", str(tmp_path / "vllm.jsonl"), "--backend", "vllm"])
    hf, vl = read_jsonl(tmp_path / "hf.jsonl"), read_jsonl(tmp_path / "vllm.jsonl")
    assert_same(hf, vl)
    steps = [n["step"] for t in hf for n in t["nodes"]]
    assert any("\\boxed" in s for s in steps) and sum(n["terminal"] for t in hf for n in t["nodes"]) >= len(hf)


def test_evaluate_all_methods_equal_the_hf_backend(tiny, tmp_path, monkeypatch):
    # the stage processes (evaluate.py's mcts.py) import the fake too, and share one "GPU" with this one
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    (tmp_path / "gpu").mkdir()
    monkeypatch.setenv("FAKE_VLLM_GPU", str(tmp_path / "gpu"))
    common = ["evaluate.py", "--model", str(tiny / "policy"), "--data", str(tiny / "data" / "test.jsonl"),
              "--limit", "4", "--methods", "greedy,sample,bon,beam,mcts", "--ppm", f"bt={tiny / 'ppm'}",
              "--temperature", "0", "--n", "2", "--max-tokens", "40", "--max-step-tokens", "16", "--max-depth", "3",
              "--beam-width", "2", "--beam-children", "2", "--mcts-rollouts", "2", "--mcts-children", "2", "--no-plot",
                  "--mcts-args=--resample-heat 0"]
    for name, extra in [("hf", []), ("vllm", ["--backend", "vllm", "--ppm-backend", "vllm"])]:
        monkeypatch.setattr(sys, "argv", common + ["--out-dir", str(tmp_path / name)] + extra)
        evaluate.main()
    hf, vl = read_jsonl(tmp_path / "hf" / "predictions.jsonl"), read_jsonl(tmp_path / "vllm" / "predictions.jsonl")
    assert len(hf) == 4 and {"greedy", "sample", "bon", "beam", "mcts"} <= hf[0].keys()
    assert_same(hf, vl)
    summary = [json.loads((tmp_path / n / "summary.json").read_text())["methods"] for n in ("hf", "vllm")]
    for m in summary[0]:
        assert_same({k: v for k, v in summary[0][m].items() if k != "seconds"},
                    {k: v for k, v in summary[1][m].items() if k != "seconds"}, m)


def test_synth_imagine_equals_the_hf_backend(tiny, tmp_path):
    runs = {}
    for backend in ["hf", "vllm"]:
        out = tmp_path / f"{backend}.jsonl"
        args = synth.get_parser().parse_args(
            ["imagine", "--model", str(tiny / "policy"), "--seed-file", str(tiny / "data" / "seed.jsonl"), "--out",
             str(out), "--n", "6", "--k", "2", "--shots", "2", "--temperature", "0",
             "--max-tokens", "40", "--min-agree", "0.5", "--min-chars", "5", "--backend", backend])
        runs[backend] = synth.run_imagine(args)
    assert runs["hf"][1]["cleaned"] > 0  # the questions were written, cleaned and solved
    assert_same(list(runs["hf"]), list(runs["vllm"]))
