"""benchmarks/loop_table.py and learning_curve.py: what they report, on hand-built run folders."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import learning_curve  # noqa: E402
import loop_table  # noqa: E402


def fake_run(d, seed, n_seed, greedy, baselines=()):
    """A loop.py folder: loop_args.json, results.json with rounds 0..len(greedy)-1, round-0 eval, baselines."""
    d.mkdir(parents=True)
    (d / "loop_args.json").write_text(json.dumps({"seed": seed}))
    (d / "data").mkdir()
    (d / "data" / "seed.jsonl").write_text("{}\n" * n_seed)  # the seed set's size is read from its file
    rows = [{"round": r, "greedy": g, "greedy_by_difficulty": {"2": g}, "examples": n_seed + 100 * r}
            for r, g in enumerate(greedy)]
    (d / "results.json").write_text(json.dumps({"args": {"seed": seed}, "rows": rows}))
    ev = d / "round0" / "eval" / "greedy"
    ev.mkdir(parents=True)
    (ev / "summary.json").write_text(json.dumps({"methods": {"greedy": {"acc": greedy[0], "by_difficulty": {"2": greedy[0]}}}}))
    if baselines:
        (d / "baselines").mkdir()
        (d / "baselines" / "results.json").write_text(json.dumps({"rows": [
            {"round": r, "policy": p, "greedy": g, "greedy_by_difficulty": {"2": g}, "examples": n_seed} for r, p, g in baselines]}))
    return d


def test_margins_are_loop_minus_baseline_per_seed(tmp_path, capsys):
    a = fake_run(tmp_path / "a", 2, 500, [0.50, 0.60], [(1, "more SFT on seed", 0.52)])
    b = fake_run(tmp_path / "b", 3, 500, [0.40, 0.46], [(1, "more SFT on seed", 0.44)])
    sys.argv = ["loop_table.py", str(a), str(b)]
    loop_table.main()
    out = capsys.readouterr().out
    # +8 and +2 points: mean 5.0, sample sd sqrt(((8-5)^2 + (2-5)^2) / 1) = 4.2
    assert "| 1 | loop minus more SFT on seed | +8.0 / +2.0 | 5.0 ± 4.2 |" in out
    assert "| 1 | loop | 60.0 / 46.0 | 53.0 ± 9.9 | 8.0 ± 2.8 |" in out


def test_base_points_average_the_bases_of_one_size(tmp_path):
    runs = [fake_run(tmp_path / "a", 2, 500, [0.6]), fake_run(tmp_path / "b", 3, 500, [0.4]),
            fake_run(tmp_path / "c", 1, 250, [0.2])]
    points, per_size = learning_curve.base_points(runs)
    assert points == [(250, 0.2), (500, 0.5)] and per_size[500] == [0.6, 0.4]


def test_round_cost_counts_the_whole_update_of_the_round(tmp_path):
    """bench_loop.round_cost: the more-SFT baseline gets the wall time of the search and of every part of the
    update (SFT, CPL DPO, each correction iteration's decoding and DPO); the search tokens are summed."""
    import bench_loop
    rd = tmp_path / "round1"
    for name, s in [("mcts_fresh_time.json", 10.0), ("mcts_retry_time.json", 5.0), ("sft_time.json", 3.0),
                    ("corrections/iter1/decode_time.json", 2.0), ("corrections/iter1/dpo_time.json", 1.5),
                    ("corrections/iter2/decode_time.json", 2.5)]:
        (rd / name).parent.mkdir(parents=True, exist_ok=True)
        (rd / name).write_text(json.dumps({"seconds": s}))
    (rd / "trees_fresh.jsonl").write_text(json.dumps({"stats": {"tokens": 70}}) + "\n" + json.dumps({"stats": {"tokens": 30}}) + "\n")
    for i, tokens in enumerate((70, 30)):  # the shards loop.py merged into trees_fresh.jsonl: not counted again
        (rd / f"trees_fresh.shard{i}of2.jsonl").write_text(json.dumps({"stats": {"tokens": tokens}}) + "\n")
    assert bench_loop.round_cost(rd) == {"search": 15.0, "train": 9.0, "mcts_tokens": 100}


def test_oracle_columns_and_the_sft_datas_oracle_wrong_share(tmp_path, capsys):
    """--oracle on the relations task: a greedy solution right by the oracle counts as verified and oracle; a lucky
    one (a true equation of the wrong relation, the right answer) as verified only; SFT data holding one of each: 50%."""
    q = "Ann has 2 more pens than Tom. Tom has 2 pens. Leo has 3 more pens than Tom. How many pens does Ann have?"
    gold = "Ann <- Tom\n\nAnn = Tom+2: 2+2=4. The answer is \\boxed{4}."
    lucky = "Ann <- Tom\n\nAnn = Tom*2: 2*2=4. The answer is \\boxed{4}."  # Ann is Tom+2: the wrong relation
    run = fake_run(tmp_path / "a", 2, 1, [0.5, 0.6])
    for split in ("test", "pool"):
        (run / "data" / f"{split}.jsonl").write_text(json.dumps({"id": "p1", "question": q, "answer": "4", "ops": 1}) + "\n")
    for r, text in ((0, gold), (1, lucky)):
        ev = run / f"round{r}" / "eval" / "greedy"
        ev.mkdir(parents=True, exist_ok=True)
        (ev / "predictions.jsonl").write_text(json.dumps({"id": "p1", "greedy": {"text": text}}) + "\n")
    (run / "round1" / "pairs").mkdir()
    (run / "round1" / "pairs" / "sft.jsonl").write_text("".join(json.dumps({"problem": "p1", "completion": c}) + "\n"
                                                               for c in (gold, lucky)))
    sys.argv = ["loop_table.py", str(run), "--oracle"]
    loop_table.main()
    out = capsys.readouterr().out
    assert "| 0 | base (SFT on the seed set) | 50.0 | 50.0 ± 0.0 |  | 100.0 ± 0.0 | 100.0 ± 0.0 | " in out
    assert "| 1 | loop | 60.0 | 60.0 ± 0.0 | 10.0 ± 0.0 | 100.0 ± 0.0 | 0.0 ± 0.0 | " in out
    assert "| 1 | loop: the tree's top-2 by mean Q | 2 | 50.0 ± 0.0 |" in out


def test_tree_oracle_on_a_hand_built_tree(tmp_path, capsys, monkeypatch):
    """benchmarks/tree_oracle.py: at the root the wrong plan has the higher Q (0 of 1 pairs ranked right); below the
    right plan the right step beats the wrong one (1 of 1); of the two verified correct terminals one is right
    (50%); top-1 by mean Q keeps the lucky one (mean Q 0.95 against 0.9: 0%); one at random: 50% expected."""
    import tree_oracle
    q = "Ann has 2 more pens than Tom. Tom has 2 pens. Leo has 3 more pens than Tom. How many pens does Ann have?"
    def nd(parent, step, depth, q_, terminal=False, correct=None):
        return {"parent": parent, "step": step, "depth": depth, "N": 1, "Q": q_, "terminal": terminal, "correct": correct}
    nodes = [nd(None, "", 0, 0.0), nd(0, "Ann <- Tom", 1, 0.8), nd(0, "Ann <- Leo", 1, 0.9),
             nd(1, "Ann = Tom+2: 2+2=4. The answer is \\boxed{4}.", 2, 1.0, True, True),
             nd(1, "Ann = Tom+3: 2+3=5. The answer is \\boxed{5}.", 2, -1.0, True, False),
             nd(2, "Ann = Tom*2: 2*2=4. The answer is \\boxed{4}.", 2, 1.0, True, True)]
    (tmp_path / "trees.jsonl").write_text(json.dumps({"id": "p1", "question": q, "answer": "4", "nodes": nodes,
                                                      "prompt": "P: Answer:",
                                                      "stats": {"tokens": 50}}) + "\n")
    (tmp_path / "pool.jsonl").write_text(json.dumps({"id": "p1", "question": q, "answer": "4", "ops": 1}) + "\n")
    sys.argv = ["tree_oracle.py", "--trees", str(tmp_path / "trees.jsonl"), "--problems", str(tmp_path / "pool.jsonl"),
                "--sft-k", "1"]
    tree_oracle.main()
    out = capsys.readouterr().out
    assert "1 trees | 50 tokens | a verified terminal in 1 | an oracle-right one in 1" in out
    assert "trees by what they hold (tokens %): 1 kept for SFT 1 (100.0)" in out
    assert "trees with SFT data, by operations: 1: 1 of 1" in out
    assert "| plan step (depth 1) | 1 | 0.0 |" in out and "| later steps | 1 | 100.0 |" in out
    assert "| all distinct | 2 | 50.0 |" in out and "| top-1 by mean Q (pairs.py) | 1 | 0.0 |" in out
    assert "| 1 at random (expected) | 1 | 50.0 |" in out
    # the right plan's two samples: one verified right answer, one wrong (mean reward 0); the wrong plan's one
    # sample a lucky right answer (1): kept at >= 0.5, only the lucky trajectory
    assert "| all distinct, their first step's mean reward >= 0.0 | 2 (1 problems) | 50.0 |" in out
    assert "| all distinct, their first step's mean reward >= 0.5 | 1 (1 problems) | 0.0 |" in out
    # step pairs at Q gap > 0.5: the plans differ by 0.1 (no pair), below the right plan right (1) over wrong (-1)
    assert "| plan | 0 | 0 | 0 | 0 | 0 |" in out and "| later | 1 | 0 | 0 | 0 | 0 |" in out
    sys.argv += ["--tau", "0.05"]  # now the plans pair too: the wrong plan (0.9) chosen over the right one (0.8)
    tree_oracle.main()
    out = capsys.readouterr().out
    assert "| plan | 0 | 1 | 0 | 0 | 0 |" in out and "| later | 1 | 0 | 0 | 0 | 0 |" in out
    sys.argv = sys.argv[:-2]
    # a PPM that scores a path by whether it names Tom: the right plan above the wrong one (100%); below the right
    # plan both children name Tom (a tie: 50%); it scores each text once, the prompt in front of the steps
    seen = []
    monkeypatch.setattr(tree_oracle, "load_scorer", lambda d: lambda texts: seen.extend(texts) or
                        [float("Tom" in t.split("Answer:")[-1]) for t in texts])
    sys.argv += ["--ppm", "stub=unused"]
    tree_oracle.main()
    out = capsys.readouterr().out
    assert "| plan step (depth 1) | 1 | 0.0 | 100.0 |" in out and "| later steps | 1 | 100.0 | 50.0 |" in out
    assert len(seen) == 4 and all(t.startswith("P: ") for t in seen)
    # --mix: the sum of two scorers' values; "names Tom" ties below the right plan, "+2" breaks the tie: 100% both
    stubs = {"tom": lambda texts: [float("Tom" in t.split("Answer:")[-1]) for t in texts],
             "plus": lambda texts: [float("+2" in t) for t in texts]}
    monkeypatch.setattr(tree_oracle, "load_scorer", lambda d: stubs[d])
    sys.argv = sys.argv[:-2] + ["--ppm", "tom=tom", "plus=plus", "--mix", "both=tom+plus"]
    tree_oracle.main()
    out = capsys.readouterr().out
    assert "| plan step (depth 1) | 1 | 0.0 | 100.0 | 50.0 | 100.0 |" in out
    assert "| later steps | 1 | 100.0 | 50.0 | 100.0 | 100.0 |" in out
    sys.argv[-1] = "both=tom+nope"
    with pytest.raises(SystemExit, match="unknown: \\['nope'\\]"):
        tree_oracle.main()
    sys.argv[-1] = "tom+plus"  # no label
    with pytest.raises(SystemExit, match="--mix: label=A\\+B"):
        tree_oracle.main()


def test_tree_oracle_counts_trees_whose_right_plans_all_died():
    """The right plan was drawn but became a dead end (its samples failed the checks), the wrong one reached only
    wrong answers: one tree with a right plan, no SFT data, every right plan dead."""
    import tree_oracle
    q = "Ann has 2 more pens than Tom. Tom has 2 pens. Leo has 3 more pens than Tom. How many pens does Ann have?"
    nodes = [{"parent": None, "step": "", "depth": 0, "N": 3, "Q": -1.0, "terminal": False},
             {"parent": 0, "step": "Ann <- Tom", "depth": 1, "N": 1, "Q": -1.0, "terminal": True, "reward": -1.0,
              "correct": False, "dead_end": True},
             {"parent": 0, "step": "Ann <- Leo", "depth": 1, "N": 2, "Q": -1.0, "terminal": False},
             {"parent": 2, "step": "Ann = Leo+2: 5+2=7. The answer is \\boxed{7}.", "depth": 2, "N": 2, "Q": -1.0,
              "terminal": True, "reward": -1.0, "correct": False}]
    rec = {"id": "p1", "question": q, "answer": "4", "ops": 1, "nodes": nodes, "stats": {"tokens": 9}}
    assert tree_oracle.report([rec], 2)["right_plans"] == [1, 1, 1]
    nodes[1].pop("dead_end")
    assert tree_oracle.report([rec], 2)["right_plans"] == [1, 1, 0]
