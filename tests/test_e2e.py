"""End to end: loop.py runs every stage in sequence (synth -> SFT -> MCTS -> pairs -> SFT + CPL DPO
-> PPM -> evaluate with best-of-N and PPM-guided MCTS), two rounds, on a very small setting of the
default's shape (every split spans the same operation counts; SFT data only verified trajectories):
a 2-3-operation task with numbers up to 4 that a 2-layer model learns in 200 steps, so the search
finds correct and wrong terminals and every later stage gets real data."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grader import steps_verified  # noqa: E402


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_loop_runs_every_stage_and_resumes(tmp_path):
    out = tmp_path / "loop"
    synth = ("--n-seed 60 --seed-ops 2-3 --n-pool 24 --pool-ops 2-3 --n-test 12 --test-ops 2-3 --max-operand 4 "
             "--max-value 8")
    cmd = [sys.executable, str(ROOT / "loop.py"), "--out", str(out), "--rounds", "2", "--n-pool", "12",
           "--synth-args", synth, "--sft-args", "--hidden 64 --layers 2 --batch-size 32", "--base-steps", "200",
           "--refresh-steps", "5", "--ppm", "--ppm-steps", "5", "--rollouts", "4", "--retry-rollouts", "6",
           "--mcts-args", "--children 2 --max-depth 4 --max-step-tokens 48 --check-equations",
           "--eval-search", "--n", "2", "--update", "sft+cpl", "--dpo-args", "--epochs 1 --lr 1e-4"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)  # not from the repo: paths resolve
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "expected time" in r.stdout

    res = json.loads((out / "results.json").read_text())
    assert [row["round"] for row in res["rows"]] == [0, 1, 2]
    for row in res["rows"]:
        assert 0.0 <= row["greedy"] <= 1.0 and "maj@2" in row
    # the search found both correct and wrong terminals, so every kind of data exists
    trees = read(out / "round1" / "trees_fresh.jsonl")
    assert len(trees) == 12 and any(t["stats"]["correct"] for t in trees) and all("ops" in t for t in trees)
    # searched by two mcts.py processes (loop.SEARCH_PROCS), merged in id order with their args
    assert (out / "round1" / "trees_fresh.shard1of2.jsonl").exists() and [t["id"] for t in trees] == sorted(t["id"] for t in trees)
    assert json.loads((out / "round1" / "trees_fresh.jsonl.args.json").read_text())["shard"] == ""
    counts = json.loads((out / "round1" / "pairs" / "pairs_meta.json").read_text())["counts"]
    assert counts["sft"] > 0 and counts["step"] > 0 and counts["ppm"] + counts["ppm_final"] > 0
    # SFT data is verified: every equation true, one per operation
    ops = {t["id"]: t["ops"] for t in trees}
    for rec in read(out / "round1" / "pairs" / "sft.jsonl"):
        assert steps_verified(rec["completion"].split("\n\n"), ops[rec["problem"]])
    for d in ["round1/policy_sft", "round1/policy", "round1/ppm", "round2/policy", "round2/ppm"]:
        assert (out / d / "config.json").exists(), d
    # round 2 went back to what round 1 did not solve (with more rollouts), then fresh problems
    round1_unsolved = {t["id"] for t in trees} - {rec["problem"] for rec in read(out / "round1" / "pairs" / "sft.jsonl")}
    retry = out / "round2" / "pool_retry.jsonl"
    assert {p["id"] for p in read(retry)} == round1_unsolved if round1_unsolved else not retry.exists()
    assert res["rows"][2]["searched"] == 12
    # each round's PPM is the result verifier (--ppm alone) of that round's policy, trained on its
    # corrected samples of the whole pool
    for r in (1, 2):
        meta = json.loads((out / f"round{r}" / "ppm" / "meta.json").read_text())["args"]
        assert (out / f"round{r}" / "ppm" / "result_verifier.json").exists() and meta["init"] == str(out / f"round{r}" / "policy")
        assert meta["data"] == [str(out / f"round{r}" / "verifier" / "data" / "sft.jsonl")]
        assert len(read(out / f"round{r}" / "verifier" / "samples" / "predictions.jsonl")) == 24  # the whole pool
    # round 2 searched with the round-1 PPM as a prior, and evaluated best-of-N and MCTS with its own PPM
    assert json.loads((out / "round2" / "trees_fresh.jsonl.args.json").read_text())["ppm_prior"] is True
    assert {"bon-last:ppm@2", "mcts:ppm@2"} <= set(res["rows"][2])

    # a rerun on the same folder resumes: every stage is skipped, the table is the same
    r2 = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0 and "$ " not in r2.stdout and r2.stdout.count("[skip]") >= 15
    assert json.loads((out / "results.json").read_text())["rows"][2]["greedy"] == res["rows"][2]["greedy"]
    # a rerun with other output-shaping settings refuses in one line and changes nothing
    before = {f: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    r3 = subprocess.run([c if c != synth else synth.replace("--n-seed 60", "--n-seed 61") for c in cmd], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300)
    assert r3.returncode == 2 and r3.stderr.strip().count("\n") == 0 and "--synth-args" in r3.stderr, r3.stderr
    assert {f: f.read_bytes() for f in out.rglob("*") if f.is_file()} == before


def test_loop_with_its_own_files_runs_no_synth(tmp_path):
    """Given --seed-file, --pool-file and --test-file, loop.py uses them and generates no built-in task; given
    --base-policy too, it trains no base."""
    subprocess.run([sys.executable, str(ROOT / "synth.py"), "builtin", "--out-dir", str(tmp_path / "mine"), "--n-seed", "8",
                    "--n-pool", "4", "--n-test", "4"], check=True, capture_output=True)
    out = tmp_path / "loop"
    r = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--out", str(out), "--rounds", "0",
                        "--seed-file", str(tmp_path / "mine" / "seed.jsonl"), "--pool-file", str(tmp_path / "mine" / "pool.jsonl"),
                        "--test-file", str(tmp_path / "mine" / "test.jsonl"), "--base-steps", "2",
                        "--sft-args", "--hidden 32 --layers 1 --heads 2"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert not (out / "data").exists() and "synth.py" not in (out / "log.txt").read_text()
    assert json.loads((out / "results.json").read_text())["rows"][0]["examples"] == 8
    again = tmp_path / "again"  # --base-policy: that base is round 0's policy, copied, and no SFT runs
    r = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--out", str(again), "--rounds", "0",
                        "--seed-file", str(tmp_path / "mine" / "seed.jsonl"), "--pool-file", str(tmp_path / "mine" / "pool.jsonl"),
                        "--test-file", str(tmp_path / "mine" / "test.jsonl"), "--base-policy", str(out / "round0" / "policy")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    weights = [(d / "round0" / "policy" / "model.safetensors").read_bytes() for d in (out, again)]
    assert weights[0] == weights[1] and "train_sft.py" not in (again / "log.txt").read_text()
    assert json.loads((again / "results.json").read_text())["rows"][0]["greedy"] == \
        json.loads((out / "results.json").read_text())["rows"][0]["greedy"]


def fake_pairs_run(calls, lines):
    """A stand-in for loop.run that records the command and, for pairs.py, writes `lines` into its pairs.jsonl."""
    def run(cmd, *a, **k):
        calls.append(tuple(str(c) for c in cmd))
        if Path(str(cmd[1])).name == "pairs.py":
            out = Path(str(cmd[cmd.index("--out-dir") + 1]))
            out.mkdir(parents=True, exist_ok=True)
            (out / "pairs.jsonl").write_text(lines)
        return 0.0
    return run


def test_sft_corrections_update_iterates_decode_pairs_dpo_from_each_policy(tmp_path, monkeypatch):
    """--update sft+corrections: after the SFT, each iteration decodes the whole pool greedily with the
    current policy, builds pairs.py --greedy pairs from it, and trains DPO from that same policy (its
    reference); the last iteration writes the round's policy."""
    import loop
    calls = []
    monkeypatch.setattr(loop, "sft", lambda args, log, init, files, dest, *a, **k: calls.append(("sft", init, dest)) or 1.0)
    monkeypatch.setattr(loop, "timed", lambda cmd, *a, **k: calls.append(tuple(str(c) for c in cmd)) or 2.0)
    monkeypatch.setattr(loop, "run", fake_pairs_run(calls, '{"a pair": 1}\n'))
    args = loop.get_parser().parse_args(["--out", str(tmp_path), "--update", "sft+corrections", "--fix-iterations", "2"])
    rd = tmp_path / "round1"
    new, seconds = loop.update_policy(args, tmp_path / "log", rd, tmp_path / "round0" / "policy", tmp_path / "seed.jsonl", [])
    assert new == rd / "policy" and seconds == 1.0 + 2 * (2.0 + 2.0)  # SFT, then per iteration decoding and DPO
    assert calls[0] == ("sft", tmp_path / "round0" / "policy", rd / "policy_sft")
    scripts = [Path(c[1]).name for c in calls[1:]]
    assert scripts == ["evaluate.py", "pairs.py", "train_dpo.py"] * 2
    flag = lambda c, f: c[c.index(f) + 1]  # noqa: E731
    pool = str(tmp_path / "data" / "pool.jsonl")
    for k, (dec, pairs, dpo) in enumerate([calls[1:4], calls[4:7]], 1):
        start = str(rd / "policy_sft") if k == 1 else str(rd / "corrections" / "iter1" / "policy")
        assert flag(dec, "--model") == start and flag(dec, "--data") == pool and flag(dec, "--methods") == "greedy"
        assert flag(pairs, "--greedy") == str(rd / "corrections" / f"iter{k}" / "pool_greedy" / "predictions.jsonl")
        assert flag(pairs, "--problems") == pool
        assert flag(dpo, "--model") == start and flag(dpo, "--kinds") == "fixed_step"
        assert flag(dpo, "--pairs") == str(rd / "corrections" / f"iter{k}" / "pairs" / "pairs.jsonl")
    assert flag(calls[3], "--out") == str(rd / "corrections" / "iter1" / "policy") and flag(calls[6], "--out") == str(rd / "policy")


def test_sft_corrections_stops_at_an_iteration_with_nothing_to_correct(tmp_path, monkeypatch):
    """An iteration whose pairs.py finds no false step trains nothing: the iterations end there and the
    policy it decoded becomes the round's (copied into place), instead of train_dpo.py failing on an empty file."""
    import loop
    calls = []
    monkeypatch.setattr(loop, "timed", lambda cmd, *a, **k: calls.append(tuple(str(c) for c in cmd)) or 2.0)
    monkeypatch.setattr(loop, "run", fake_pairs_run(calls, ""))
    start, rd = tmp_path / "round1" / "policy_sft", tmp_path / "round1"
    start.mkdir(parents=True)
    (start / "config.json").write_text("{}")
    args = loop.get_parser().parse_args(["--out", str(tmp_path), "--fix-iterations", "3"])
    assert loop.correction_iterations(args, tmp_path / "log", rd, start, rd / "policy") == 2.0  # one decoding
    assert [Path(c[1]).name for c in calls] == ["evaluate.py", "pairs.py"]  # no train_dpo.py, no second iteration
    assert (rd / "policy" / "config.json").read_text() == "{}"


def test_round_ppm_bt_trains_on_every_rounds_ppm_pairs_and_the_verifier_on_corrected_pool_samples(tmp_path, monkeypatch):
    """--ppm bt: train_ppm.py on every round's PPM pairs so far (rStar), none without pairs; verifier (the
    default): the policy's samples on the whole pool, pairs.py --samples, train_sft.py --verifier from the policy."""
    import loop
    calls = []
    monkeypatch.setattr(loop, "timed", lambda cmd, *a, **k: calls.append(tuple(str(c) for c in cmd)) or 2.0)
    monkeypatch.setattr(loop, "run", lambda cmd, *a, **k: calls.append(tuple(str(c) for c in cmd)) or 0.0)
    flag = lambda c, f: c[c.index(f) + 1]  # noqa: E731
    rd, pol, files = tmp_path / "round2", tmp_path / "round2" / "policy", [tmp_path / "round1" / "ppm_pairs.jsonl",
                                                                            tmp_path / "round2" / "ppm_pairs.jsonl"]
    bt = loop.get_parser().parse_args(["--out", str(tmp_path), "--ppm", "bt"])
    assert loop.round_ppm(bt, tmp_path / "log", rd, pol, []) == (None, 0.0) and not calls
    assert loop.round_ppm(bt, tmp_path / "log", rd, pol, files) == (rd / "ppm", 2.0)
    (c,) = calls
    assert Path(c[1]).name == "train_ppm.py" and c[c.index("--pairs") + 1:c.index("--out")] == tuple(map(str, files))
    assert flag(c, "--init") == str(pol) and flag(c, "--loss") == "bt" and flag(c, "--steps") == "300"
    calls.clear()
    ver = loop.get_parser().parse_args(["--out", str(tmp_path), "--ppm"])
    assert ver.ppm == "verifier" and loop.round_ppm(ver, tmp_path / "log", rd, pol, files) == (rd / "ppm", 4.0)
    sample, pairs, sft = calls
    assert [Path(c[1]).name for c in calls] == ["evaluate.py", "pairs.py", "train_sft.py"]
    assert flag(sample, "--model") == str(pol) and flag(sample, "--data") == str(tmp_path / "data" / "pool.jsonl")
    assert flag(sample, "--methods") == "sample" and flag(sample, "--n") == "16"
    assert flag(pairs, "--samples") == flag(sample, "--out-dir") + "/predictions.jsonl"
    assert flag(sft, "--init") == str(pol) and flag(sft, "--data") == flag(pairs, "--out-dir") + "/sft.jsonl"
    assert "--verifier" in sft and flag(sft, "--out") == str(rd / "ppm") and flag(sft, "--steps") == "1000"


def test_default_update_is_corrections_on_the_builtin_task_and_sft_for_an_hf_model(tmp_path):
    """--update unset: sft+corrections with --init tiny, sft (rStar's) with an HF model."""
    import loop
    args = loop.get_parser().parse_args(["--out", str(tmp_path)])
    assert args.update is None and loop.default_update(args.init) == "sft+corrections"
    assert loop.default_update("Qwen/Qwen2.5-Math-1.5B-Instruct") == "sft"


def test_loop_runs_on_the_relations_task_with_a_policy_that_makes_no_checkable_error(tmp_path):
    """The task with decisions through the whole loop at smoke size: its problems carry "ops" (one equation per
    needed quantity), so the search checks their steps exactly. The policy, trained 5 steps, writes no equation
    the checker can correct: the corrections iteration has no pairs, is skipped with a message, and the loop ends
    with its table (it used to die in train_dpo.py)."""
    out = tmp_path / "rel"
    synth = ("--task relations --n-seed 40 --seed-ops 1-2 --n-pool 16 --pool-ops 1-2 --n-test 8 --test-ops 1-2 "
             "--distractors 0-1")
    r = subprocess.run([sys.executable, str(ROOT / "loop.py"), "--out", str(out), "--rounds", "1", "--n-pool", "8",
                        "--synth-args", synth, "--base-steps", "5", "--refresh-steps", "2", "--fix-iterations", "1",
                        "--rollouts", "2", "--mcts-args", "--children 2 --max-depth 4 --check-equations",
                        "--sft-args", "--hidden 32 --layers 1"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert {p["source"] for p in read(out / "data" / "pool.jsonl")} == {"relations"}
    trees = read(out / "round1" / "trees_fresh.jsonl")
    assert len(trees) == 8 and all(t["ops"] >= 1 for t in trees)
    assert "no false step to correct" in r.stdout and (out / "round1" / "policy" / "config.json").exists()
    assert [row["round"] for row in json.loads((out / "results.json").read_text())["rows"]] == [0, 1]


def test_the_tiny_models_step_limit_holds_the_longest_gold_step(tmp_path):
    """loop.step_tokens: 48 (MODEL_SETTINGS) while every seed step is shorter; a 56-character relations answer step
    raises it to 56 + 8 (the tiny model writes a token per character); an HF model keeps its 256."""
    import argparse
    import loop
    seed = tmp_path / "seed.jsonl"
    answer = "Difference = Kim-Tom: 20-7=13. The answer is \\boxed{13}."
    seed.write_text(json.dumps({"id": "a", "question": "Q?", "answer": "1", "solution": "1+0=1. The answer is \\boxed{1}."})
                    + "\n")
    args = argparse.Namespace(init="tiny", seed_file=str(seed), out=str(tmp_path))
    assert loop.step_tokens(args) == 48
    seed.write_text(seed.read_text() + json.dumps({"id": "b", "question": "Q?", "answer": "13",
                                                   "solution": "Kim <- Tom\n\nKim = Tom*2: 7*2=14\n\n" + answer}) + "\n")
    assert len(answer) == 56 and loop.step_tokens(args) == 56 + 8
    assert loop.step_tokens(argparse.Namespace(init="some/hf-model", seed_file=str(seed), out=str(tmp_path))) == 256
