"""pairs.py: every pair rule on a hand-built tree, the text conventions, the CLI."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import edit_distance  # noqa: E402
from pairs import (TreeView, complete_pairs, corrected_records, depth_pairs, greedy_fix_pair, ppm_pairs,  # noqa: E402
                   sft_records, step_pairs, svpo_pairs)

P = "Question: Q?\nAnswer:\n"
A, B, C = "7+3=10", "7*3=21", "7-3=4"
A1, A2 = "10*2=20. The answer is \\boxed{20}.", "10*2=21. The answer is \\boxed{21}."
B1, B1X, B2 = "21-1=20", "20/2=10. The answer is \\boxed{10}.", "21+1=22. The answer is \\boxed{22}."


def node(parent, step, depth, N, Q, terminal=False, correct=None):
    n = {"parent": parent, "step": step, "depth": depth, "N": N, "Q": Q, "terminal": terminal}
    if terminal:
        n.update(reward=1.0 if correct else -1.0, correct=correct)
    return n


def hand_tree():
    """      root
       /    |    \\      \\
      A .5  B -.6  C .2   D .9 (N=0: ignored)
     / \\    /  \\
   A1+1 A2-.8 B1 -.5  B2 -1 (wrong)
   (ok) (wrong) |
               B1X -1 (wrong)
    """
    nodes = [node(None, "", 0, 9, 0.0),
             node(0, A, 1, 6, 0.5), node(0, B, 1, 3, -0.6), node(0, C, 1, 1, 0.2),
             node(1, A1, 2, 3, 1.0, True, True), node(1, A2, 2, 2, -0.8, True, False),
             node(2, B1, 2, 2, -0.5), node(6, B1X, 3, 2, -1.0, True, False), node(2, B2, 2, 1, -1.0, True, False),
             node(0, "9*9=81", 1, 0, 0.9)]
    return TreeView({"id": "t", "question": "Q?", "nodes": nodes})


def triples(pairs):
    return {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs}


def test_step_pairs_siblings_with_gap_above_tau():
    pairs = step_pairs(hand_tree(), P, tau=0.5)
    # (A, B) gap 1.1 and (C, B) 0.8 under the root; (A1, A2) 1.8 under A; (A, C) 0.3 and
    # (B1, B2) exactly 0.5 are not > tau; the unvisited D never pairs
    assert triples(pairs) == {(P, A + "\n\n", B + "\n\n"), (P, C + "\n\n", B + "\n\n"),
                              (P + A + "\n\n", A1, A2)}
    ab = next(p for p in pairs if p["chosen"] == A + "\n\n" and p["rejected"] == B + "\n\n")
    assert (ab["q_chosen"], ab["q_rejected"], ab["r_chosen"], ab["r_rejected"], ab["depth"]) == (0.5, -0.6, [0.5], [-0.6], 1)
    assert all(p["kind"] == "step" for p in pairs)
    assert len(step_pairs(hand_tree(), P, tau=0.0)) == 5  # + (A, C), (B1, B2)


def test_whole_rests_pair_from_their_first_different_step():
    """mcts.py --whole-after 1: under one plan two whole rests share their first equation; the pair starts at the
    second, the shared one moves into the prompt, each step carries its node's Q (before: the whole rests, the
    right first equation of the rejected side pushed down with the wrong second)."""
    plan, first = "Kim <- Ann <- Tom", "Ann = Tom+3: 7+3=10"
    good, bad = "Kim = Ann*2: 10*2=20. The answer is \\boxed{20}.", "Kim = Ann+2: 10+2=12. The answer is \\boxed{12}."
    nodes = [node(None, "", 0, 4, 0.0), node(0, plan, 1, 4, 0.0),
             node(1, first + "\n\n" + good, 2, 2, 1.0, True, True), node(1, first + "\n\n" + bad, 2, 2, -1.0, True, False)]
    (pair,) = step_pairs(TreeView({"id": "t", "question": "Q?", "nodes": nodes}), P, tau=0.5)
    assert (pair["prompt"], pair["chosen"], pair["rejected"]) == (P + plan + "\n\n" + first + "\n\n", good, bad)
    assert (pair["r_chosen"], pair["r_rejected"], pair["depth"]) == ([1.0], [-1.0], 2)
    nodes[3]["step"] = "Ann = Tom-3: 7-3=4\n\nKim = Ann*2: 4*2=8. The answer is \\boxed{8}."
    (pair,) = step_pairs(TreeView({"id": "t", "question": "Q?", "nodes": nodes}), P, tau=0.5)
    assert pair["prompt"] == P + plan + "\n\n" and pair["r_chosen"] == [1.0, 1.0] and pair["r_rejected"] == [-1.0, -1.0]


def test_complete_pairs_by_mean_q_and_cap():
    # mean Q of the paths: A-A1 .75, A-A2 -.15, B-B1-B1X -.7, B-B2 -.8
    pairs = complete_pairs(hand_tree(), P, tau=0.5, cap=10)
    got = {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs}
    assert got == {(P + A + "\n\n", A1, A2), (P, f"{A}\n\n{A1}", f"{B}\n\n{B1}\n\n{B1X}"), (P, f"{A}\n\n{A1}", f"{B}\n\n{B2}"),
                   (P, f"{A}\n\n{A2}", f"{B}\n\n{B1}\n\n{B1X}"), (P, f"{A}\n\n{A2}", f"{B}\n\n{B2}")}
    long = next(p for p in pairs if p["rejected"].count("\n\n") == 2 and p["chosen"].endswith(A1))
    assert long["r_chosen"] == [0.5, 1.0] and long["r_rejected"] == [-0.6, -0.5, -1.0]
    assert abs(long["q_chosen"] - 0.75) < 1e-9 and abs(long["q_rejected"] + 0.7) < 1e-9
    capped = complete_pairs(hand_tree(), P, tau=0.5, cap=2)
    assert len(capped) == 2 and triples(capped) <= got
    assert triples(capped) == triples(complete_pairs(hand_tree(), P, tau=0.5, cap=2))  # stable seed


def test_depth_pairs_best_vs_worst_of_each_level():
    pairs = depth_pairs(hand_tree(), P, tau=0.5)
    # depth 1: A (.5) vs B (-.6); depth 2: A1 (1) vs B2 (-1), different parents -> whole paths;
    # depth 3 has one node
    assert triples(pairs) == {(P, A + "\n\n", B + "\n\n"), (P, f"{A}\n\n{A1}", f"{B}\n\n{B2}")}
    assert sorted(p["depth"] for p in pairs) == [1, 2]


def test_svpo_sibling_cousin_other_depth():
    pairs = svpo_pairs(hand_tree(), P, n_sibling=2, n_cousin=1, n_other=1)
    by = {}
    for p in pairs:
        by.setdefault(p["kind"], set()).add((p["prompt"], p["chosen"], p["rejected"]))
    # positives: A and A1 (on the path to the correct A1); negatives reach only wrong terminals
    assert by["sibling"] == {(P, A + "\n\n", B + "\n\n"), (P + A + "\n\n", A1, A2)}
    assert len(by["cousin"]) == 1 and by["cousin"] <= {(P, f"{A}\n\n{A1}", f"{B}\n\n{B1}\n\n"),
                                                       (P, f"{A}\n\n{A1}", f"{B}\n\n{B2}")}
    # A's other-depth negative: B-B2 or B-B1-B1X (never A2, which lies below A); A1's: B-B1-B1X
    assert (P, f"{A}\n\n{A1}", f"{B}\n\n{B1}\n\n{B1X}") in by["other_depth"] and len(by["other_depth"]) == 2
    assert all(not r.startswith(A) for _, c, r in by["other_depth"] if c == A + "\n\n")
    assert not any(p["chosen"].startswith(C) or p["rejected"].startswith(C) for p in pairs)  # C: no outcome below


def test_ppm_pairs_top2_bottom2_margin_edit_distance_and_final():
    assert edit_distance(A, B) == 3 and edit_distance(A1, A2) == 2 and edit_distance("", "abc") == 3
    pairs = ppm_pairs(hand_tree(), P, margin=0.5, min_edit=3)
    steps = {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs if p["kind"] == "ppm"}
    final = {(p["prompt"], p["chosen"], p["rejected"]) for p in pairs if p["kind"] == "ppm_final"}
    assert steps == {(P, A + "\n\n", B + "\n\n")}  # (A1, A2) is 2 edits apart: dropped
    assert final == {(P, f"{A}\n\n{A1}", f"{B}\n\n{B2}"), (P, f"{A}\n\n{A1}", f"{B}\n\n{B1}\n\n{B1X}")}
    assert (P + A + "\n\n", A1, A2) in triples(ppm_pairs(hand_tree(), P, margin=0.5, min_edit=2))
    assert not any(p["chosen"] == A + "\n\n" for p in ppm_pairs(hand_tree(), P, margin=1.2, min_edit=0)
                   if p["kind"] == "ppm")  # Q(A) - Q(B) = 1.1 < 1.2


def test_ppm_pairs_skip_all_correct_and_all_wrong_problems():
    for ok in (True, False):
        nodes = [node(None, "", 0, 4, 0.0), node(0, "1+1=2", 1, 2, 1.0 if ok else -1.0, True, ok),
                 node(0, "1+1=3. x", 1, 2, 0.2 if ok else -0.9, True, ok)]
        assert ppm_pairs(TreeView({"id": "x", "question": "q", "nodes": nodes}), P, margin=0.0, min_edit=0) == []


def test_sft_top_k_correct_by_mean_q_distinct_texts():
    nodes = [node(None, "", 0, 9, 0.0), node(0, "s1", 1, 4, 0.9), node(0, "s2", 1, 3, 0.1),
             node(1, "end \\boxed{1}", 2, 2, 1.0, True, True),  # mean .95
             node(2, "end \\boxed{1}", 2, 1, 1.0, True, True),  # mean .55
             node(1, "bad \\boxed{2}", 2, 1, -1.0, True, False),
             node(2, "end2 \\boxed{1}", 2, 1, 1.0, True, True),  # mean .55, min .1
             node(0, "end \\boxed{1}", 1, 1, 1.0, True, True)]  # mean 1.0
    t = TreeView({"id": "s", "question": "q", "nodes": nodes})
    top = sft_records(t, P, k=2)
    assert [r["completion"] for r in top] == ["end \\boxed{1}", "s1\n\nend \\boxed{1}"]
    assert [r["completion"] for r in sft_records(t, P, k=1)] == ["end \\boxed{1}"]
    assert len(sft_records(t, P, k=10)) == 4 and all(r["prompt"] == P for r in top)


def test_sft_keeps_only_verified_trajectories():
    """A correct answer through a false equation, or through true ones that skip an operation, is not data."""
    nodes = [node(None, "", 0, 9, 0.0),
             node(0, "7+3=10", 1, 3, 0.9), node(1, "10*2=20. The answer is \\boxed{20}.", 2, 2, 1.0, True, True),
             node(0, "7+3=11", 1, 3, 0.8), node(3, "11*2=20. The answer is \\boxed{20}.", 2, 2, 1.0, True, True),
             node(0, "The answer is \\boxed{20}.", 1, 1, 1.0, True, True)]  # no equation at all
    rec = {"id": "v", "question": "q", "ops": 2, "nodes": nodes}
    kept = [r["completion"] for r in sft_records(TreeView(rec), P, k=5)]
    assert kept == ["7+3=10\n\n10*2=20. The answer is \\boxed{20}."]
    assert len(sft_records(TreeView(rec), P, k=5, verify=False)) == 3
    # without "ops" (not the built-in task) only the arithmetic is checked: the equation-free answer stays
    rec.pop("ops")
    assert len(sft_records(TreeView(rec), P, k=5)) == 2


def test_a_tree_is_read_with_the_step_delimiter_it_was_searched_with():
    """pairs take mcts.py's --step-delim from the tree record's config (the default when it has none)."""
    rec = {"id": "t", "question": "Q?", "nodes": hand_tree().nodes}
    assert TreeView(rec).delim == "\n\n"
    one_line = TreeView({**rec, "config": {"step_delim": "\n"}})
    assert one_line.delim == "\n"
    assert (P + A + "\n", A1, A2) in triples(step_pairs(one_line, P, 0.5, one_line.delim))


def test_greedy_fix_pair_corrects_the_first_false_step():
    mid = greedy_fix_pair("p1", P, "3+4=7\n\n7*2=15\n\n15-1=14. The answer is \\boxed{14}.")
    assert (mid["prompt"], mid["chosen"], mid["rejected"], mid["depth"]) == (P + "3+4=7\n\n", "7*2=14\n\n", "7*2=15\n\n", 2)
    assert mid["kind"] == "fixed_step" and mid["problem"] == "p1"
    last = greedy_fix_pair("p2", P, "3+4=8. The answer is \\boxed{8}.")  # answers: EOS, not the delimiter
    assert (last["prompt"], last["chosen"], last["rejected"]) == (P, "3+4=7. The answer is \\boxed{7}.",
                                                                  "3+4=8. The answer is \\boxed{8}.")
    assert greedy_fix_pair("p3", P, "3+4=7\n\n7*2=14. The answer is \\boxed{14}.") is None  # all true
    assert greedy_fix_pair("p4", P, "7/2=3\n\n3+1=5") is None  # 7/2 has no integer result


def test_cli_greedy_pairs_from_predictions(tmp_path):
    (tmp_path / "pool.jsonl").write_text("".join(json.dumps({"id": i, "question": "Q?", "answer": "14"}) + "\n"
                                                 for i in ("a", "b")))
    preds = [{"id": "a", "greedy": {"text": "3+4=7\n\n7*2=15. The answer is \\boxed{15}.", "correct": False}},
             {"id": "b", "greedy": {"text": "3+4=7\n\n7*2=14. The answer is \\boxed{14}.", "correct": True}}]
    (tmp_path / "pred.jsonl").write_text("".join(json.dumps(r) + "\n" for r in preds))
    cmd = [sys.executable, str(ROOT / "pairs.py"), "--greedy", str(tmp_path / "pred.jsonl"), "--out-dir", str(tmp_path / "o")]
    out = subprocess.run(cmd + ["--problems", str(tmp_path / "pool.jsonl")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    pairs = [json.loads(line) for line in (tmp_path / "o" / "pairs.jsonl").read_text().splitlines()]
    assert [(p["id"], p["prompt"], p["chosen"], p["rejected"]) for p in pairs] == [
        ("a-greedy_fix-0", P + "3+4=7\n\n", "7*2=14. The answer is \\boxed{14}.", "7*2=15. The answer is \\boxed{15}.")]
    assert json.loads((tmp_path / "o" / "pairs_meta.json").read_text())["counts"]["fixed_step"] == 1
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)  # no --problems
    assert bad.returncode != 0 and "--greedy or --samples with --problems" in bad.stderr


def test_corrected_records_fix_every_false_result_once_per_distinct_sample():
    texts = ["3+4=8\n\n8*2=15. The answer is \\boxed{15}.",  # two false results: both corrected, operands kept
             "3+4=7\n\n7*2=14. The answer is \\boxed{14}.",  # all true: as written
             "3+4=8\n\n8*2=15. The answer is \\boxed{15}.",  # a repeat: once
             "7/2=3\n\n3+1=4"]                                 # 7/2 has no integer result: dropped
    recs = corrected_records("p1", P, texts)
    assert [r["completion"] for r in recs] == ["3+4=7\n\n8*2=16. The answer is \\boxed{16}.",
                                               "3+4=7\n\n7*2=14. The answer is \\boxed{14}."]
    assert all(r["prompt"] == P and r["problem"] == "p1" for r in recs)


def test_cli_samples_to_verifier_data(tmp_path):
    (tmp_path / "pool.jsonl").write_text(json.dumps({"id": "a", "question": "Q?", "answer": "14"}) + "\n")
    rec = {"id": "a", "sample": {"texts": ["3+4=7\n\n7*2=15. The answer is \\boxed{15}."] * 2, "preds": ["15", "15"]}}
    (tmp_path / "pred.jsonl").write_text(json.dumps(rec) + "\n")
    out = subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--samples", str(tmp_path / "pred.jsonl"), "--problems",
                          str(tmp_path / "pool.jsonl"), "--out-dir", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    sft = [json.loads(line) for line in (tmp_path / "o" / "sft.jsonl").read_text().splitlines()]
    assert sft == [{"problem": "a", "prompt": P, "completion": "3+4=7\n\n7*2=14. The answer is \\boxed{14}.",
                    "id": "a-corrected-0"}]


def test_cli_writes_files_and_counts(tmp_path):
    rec = {"id": "t", "question": "Q?", "answer": "20", "nodes": [n for n in hand_tree().nodes], "config": {}}
    (tmp_path / "trees.jsonl").write_text(json.dumps(rec) + "\n")
    out = subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--trees", str(tmp_path / "trees.jsonl"),
                          "--out-dir", str(tmp_path / "o"), "--ppm-min-edit", "3", "--sft-k", "1"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "o" / "pairs_meta.json").read_text())["counts"]
    assert (meta["step"], meta["complete"], meta["depth"], meta["sibling"], meta["ppm"], meta["sft"]) == (3, 5, 2, 2, 1, 1)
    assert "step 3" in out.stdout
    pairs = [json.loads(line) for line in (tmp_path / "o" / "pairs.jsonl").read_text().splitlines()]
    assert len({p["id"] for p in pairs}) == len(pairs)
    assert set(pairs[0]) >= {"id", "prompt", "chosen", "rejected", "kind", "q_chosen", "q_rejected",
                             "r_chosen", "r_rejected", "depth"}
    assert all(p["prompt"].startswith(P) for p in pairs)


def test_cli_uses_the_prompt_the_search_stored(tmp_path):
    """A chat model's prompt is in the tree record: without --model, pairs must not fall back to the plain one."""
    chat = "<|user|>Q?<|assistant|>"
    rec = {"id": "t", "question": "Q?", "answer": "20", "prompt": chat, "nodes": hand_tree().nodes, "config": {}}
    (tmp_path / "trees.jsonl").write_text(json.dumps(rec) + "\n")
    out = subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--trees", str(tmp_path / "trees.jsonl"),
                          "--out-dir", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for name in ("pairs.jsonl", "sft.jsonl"):
        recs = [json.loads(line) for line in (tmp_path / "o" / name).read_text().splitlines()]
        assert recs and all(r["prompt"].startswith(chat) for r in recs), name
    # --model rebuilds it with that tokenizer's template: the plain one for a tokenizer without a chat template
    from train_sft import build_char_tokenizer
    build_char_tokenizer().save_pretrained(tmp_path / "plain")
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "plain" / "model.safetensors").write_bytes(b"")  # what check_model_dir looks for; never read here
    out = subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--trees", str(tmp_path / "trees.jsonl"),
                          "--out-dir", str(tmp_path / "o2"), "--model", str(tmp_path / "plain")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    recs = [json.loads(line) for line in (tmp_path / "o2" / "sft.jsonl").read_text().splitlines()]
    assert recs and all(r["prompt"].startswith(P) for r in recs)


def test_chat_tokenizer_loads_only_a_tokenizer_with_a_chat_template(tmp_path):
    """--model's tokenizer only shapes the prompt through its chat template: a directory without one gives None,
    and the prompt is the same plain one the tokenizer would give."""
    from common import format_prompt, load_tokenizer
    from pairs import chat_tokenizer
    from train_sft import build_char_tokenizer
    tok = build_char_tokenizer()
    tok.save_pretrained(tmp_path / "plain")
    assert chat_tokenizer(tmp_path / "plain") is None
    assert format_prompt(None, "Q?") == format_prompt(load_tokenizer(tmp_path / "plain"), "Q?")
    template = "{% for m in messages %}<u>{{ m['content'] }}</u>{% endfor %}<a>"
    tok.chat_template = template
    tok.save_pretrained(tmp_path / "chat")
    assert chat_tokenizer(tmp_path / "chat").chat_template == template
    config = json.loads((tmp_path / "plain" / "tokenizer_config.json").read_text())  # the older place of a template
    (tmp_path / "plain" / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    assert chat_tokenizer(tmp_path / "plain").chat_template == template
    (tmp_path / "plain" / "tokenizer_config.json").write_text("{not json")  # damaged: named in one line, as before
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "plain" / "model.safetensors").write_bytes(b"")  # what check_model_dir looks for; never read here
    (tmp_path / "pool.jsonl").write_text(json.dumps({"id": "a", "question": "Q?", "answer": "1"}) + "\n")
    (tmp_path / "pred.jsonl").write_text(json.dumps({"id": "a", "greedy": {"text": "1+0=1", "correct": True}}) + "\n")
    bad = subprocess.run([sys.executable, str(ROOT / "pairs.py"), "--greedy", str(tmp_path / "pred.jsonl"), "--problems",
                          str(tmp_path / "pool.jsonl"), "--model", str(tmp_path / "plain"), "--out-dir", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "tokenizer_config.json: cannot be read" in bad.stderr, \
        bad.stderr
