"""Stage 3: search trees -> preference pairs, PPM pairs and SFT trajectories.

What it does
  Reads the trees mcts.py wrote and applies named pair rules, each a pure function of one tree:
  - `step` (AlphaLLM-CPL, Wang et al. 2024, section 3.1): every pair of siblings (same parent) whose Q
    differ by more than --tau; chosen = the higher Q. Prompt = question + shared prefix.
  - `complete` (CPL 3.3): pairs of root-to-terminal trajectories whose values (mean Q along the
    path, the statistic rStar ranks trajectories by) differ by more than --tau; at most
    --max-complete per problem (the paper takes all, O(leaves^2); a cap keeps one easy problem
    from filling the buffer), drawn with a per-problem stable seed.
  - `depth` (AlphaLLM-Q / MCTS-DPO, CPL Table 1): at each depth the best vs the worst node by Q
    over the whole level (different parents allowed), if their gap exceeds --tau.
  - `svpo` (SVPO, Chen et al. 2024, App. A.2): for each positive node (on a path to a correct terminal),
    top-down, up to 2 `sibling`, 1 `cousin` (same depth, other parent) and 1 `other_depth`
    (a wrong terminal at another depth, not below the positive) negatives; a sibling or cousin
    negative is a node whose explored subtree reaches only wrong terminals and whose Q is below
    the positive's.
  - `ppm` (rStar-Math section 3.3): per parent, the top-2 children by Q that lead to
    a correct answer vs the bottom-2 that lead to a wrong one, kept if the Q margin is >=
    --ppm-margin and the step texts are >= --ppm-min-edit characters apart (Levenshtein; rStar's
    released filter: 0.5 and 20); plus `ppm_final`: the top-2 correct vs bottom-2 wrong whole
    trajectories by mean Q. Problems whose terminals are all correct or all wrong give none.
  - `--greedy` (instead of trees): at the first false step of each of the policy's greedy solutions
    (evaluate.py --methods greedy on pool problems), the same step with the checker's results
    (grader.correct_equations) vs the step as the policy wrote it (kind `fixed_step`): the chosen side
    is verified, not sampled, so the errors the policy makes most often get a pair where no sample was
    true (loop.py --update sft+corrections).
  - `--samples` (instead of trees): a result verifier's data (train_sft.py --verifier), in sft.jsonl:
    every distinct sample of the policy (evaluate.py --methods sample on pool problems) with each false
    result replaced by the checker's (`corrected_records`).
  - SFT: the top --sft-k correct trajectories by (mean Q, min Q) per problem (rStar k = 2,
    AlphaLLM k = 1), duplicates by text dropped; with --verify (default) only verified ones: every
    written equation holds and, on the built-in tasks, one per operation, the answer the last result and
    relations steps reading the values they name (grader.steps_verified).
  Only visited nodes take part (an unvisited node's Q says nothing).

Text conventions (the trainer relies on them)
  - prompt = the tree record's "prompt" (what mcts.py searched with) + the shared leading steps of
    the two sides, each followed by the step delimiter (common.join_steps). `--model` rebuilds it
    instead with common.format_prompt and that tokenizer; a record without a prompt and no --model
    gets the plain template (what the built-in tiny model and any tokenizer without a chat
    template get). Moving the steps both sides share into the prompt changes nothing in DPO, r_g or p_g
    (the shared part cancels) and saves compute.
  - a completion is the remaining steps joined by the delimiter; it ENDS WITH THE DELIMITER when
    its last node is not terminal (the trajectory goes on), and then train_dpo.py adds no EOS;
    a completion that reaches a terminal has no trailing delimiter and the trainer appends EOS.
  - r_chosen / r_rejected: the Q of every step of the completion, in order (CPL Eq. 4's per-step
    rewards R(y_t, q): here the MCTS Q of the node; r_g = sum r_chosen - sum r_rejected).
  - q_chosen / q_rejected: the rule's score of each side (the node's Q, or the mean Q of a
    trajectory for complete / ppm_final); depth: depth of the chosen side's last node.
  - correct: a node's "correct" field, else reward > 0, else Q > 0 (terminal nodes only).

Input   --trees: trees JSONL (mcts.py's output contract) from mcts.py, one or more files; or
        --greedy / --samples: evaluate.py predictions.jsonl (method greedy / sample) with --problems.
Output  --out-dir: pairs.jsonl {"id", "problem", "prompt", "chosen", "rejected", "kind", "q_chosen",
        "q_rejected", "r_chosen", "r_rejected", "depth"} (every DPO kind), ppm_pairs.jsonl (same
        fields, kinds ppm / ppm_final), sft.jsonl {"id", "problem", "prompt", "completion"},
        pairs_meta.json (args and counts per kind).

Commands (pure Python on one core: no GPU or torchrun variant)
  CPU:  python pairs.py --trees runs/trees.jsonl --out-dir runs/pairs
  greedy errors:  python pairs.py --greedy E/predictions.jsonl --problems pool.jsonl --model P --out-dir G
  verifier data:  python pairs.py --samples S/predictions.jsonl --problems pool.jsonl --model P --out-dir V
  any:  python pairs.py --trees trees.jsonl --out-dir pairs --model Qwen/Qwen2.5-Math-7B-Instruct --tau 1
"""
import argparse
import json
import random
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

from common import (STEP_DELIM, DataError, check_model_dir, check_output, claim_output, edit_distance, format_prompt,
                    join_steps, load_jsonl, nonneg_float, nonneg_int, read_problems, read_trees, run_main, stable_seed,
                    write_json, write_jsonl)
from grader import correct_equations, equations_hold, steps_verified
from searchtree import record_path, split_steps

DPO_RULES = ("step", "complete", "depth", "svpo")

# ----------------------------------------------------------------------------- tree helpers

class TreeView:
    """Read-only view of one trees record (mcts.py's output): children, paths, outcome labels."""

    def __init__(self, rec, min_visits=1):
        self.id, self.question, self.nodes = str(rec["id"]), rec["question"], rec["nodes"]
        config = rec.get("config") if isinstance(rec.get("config"), dict) else {}
        self.delim = config.get("step_delim") if isinstance(config.get("step_delim"), str) else STEP_DELIM
        self.code = config.get("format") == "code"  # every step of a code tree ran in the sandbox: verified
        ops = rec.get("ops")  # built-in problems: the number of operations (steps_verified); else unknown
        self.ops = ops if isinstance(ops, int) and not isinstance(ops, bool) else None
        n = len(self.nodes)
        self.children = [[] for _ in range(n)]
        for i, nd in enumerate(self.nodes):
            if nd["parent"] is not None:
                self.children[nd["parent"]].append(i)
        self.live = [i for i in range(1, n) if self.nodes[i].get("N", 0) >= min_visits]
        self.live_set = set(self.live)
        self.terminals = [i for i in self.live if self.nodes[i]["terminal"]]
        # has_correct / has_wrong: some terminal below (or at) the node is correct / wrong
        self.has_correct, self.has_wrong = [False] * n, [False] * n
        for t in self.terminals:
            ok = self.correct(t)
            for j in self.path(t):
                self.has_correct[j] |= ok
                self.has_wrong[j] |= not ok

    def q(self, i):
        return float(self.nodes[i]["Q"])

    def correct(self, i):
        nd = self.nodes[i]
        if "correct" in nd and nd["correct"] is not None:
            return bool(nd["correct"])
        return float(nd.get("reward", nd["Q"])) > 0

    def path(self, i):
        """Node ids from depth 1 down to i (the root excluded)."""
        return record_path(self.nodes, i)

    def steps(self, i):
        """The step texts from depth 1 down to i (a node sampled whole, mcts.py --whole-after, holds several)."""
        return [s for j in self.path(i) for s in split_steps(self.nodes[j]["step"], self.delim)]

    def mean_q(self, i):
        p = self.path(i)
        return sum(self.q(j) for j in p) / len(p)

    def min_q(self, i):
        return min(self.q(j) for j in self.path(i))


def make_pair(tree, prompt, chosen, rejected, kind, q_c=None, q_r=None, delim=STEP_DELIM):
    """A pair record from two node ids: shared leading steps move into the prompt. A node sampled whole (mcts.py
    --whole-after) holds several steps: each is a step here, with its node's Q, so two whole rests that begin
    alike differ from their first different step on.

    Returns None when the two sides have the same text or one is a prefix of the other.
    """
    def steps_and_q(i):
        return [(s, tree.q(j)) for j in tree.path(i) for s in split_steps(tree.nodes[j]["step"], delim)]

    sc, sr = steps_and_q(chosen), steps_and_q(rejected)
    k = 0
    while k < min(len(sc), len(sr)) and sc[k][0] == sr[k][0]:
        k += 1
    if k == len(sc) or k == len(sr):
        return None

    def side(i, steps):
        last = tree.nodes[i]  # a terminal gets EOS from the trainer; a false step goes on unless it answers
        end = "" if last["terminal"] and not (last.get("false_step") and "\\boxed" not in last["step"]) else delim
        return delim.join(s for s, _ in steps[k:]) + end, [q for _, q in steps[k:]]

    (c_text, r_c), (r_text, r_r) = side(chosen, sc), side(rejected, sr)
    return {"problem": tree.id, "prompt": join_steps(prompt, [s for s, _ in sc[:k]], delim), "chosen": c_text,
            "rejected": r_text, "kind": kind, "q_chosen": tree.q(chosen) if q_c is None else q_c,
            "q_rejected": tree.q(rejected) if q_r is None else q_r, "r_chosen": r_c, "r_rejected": r_r,
            "depth": tree.nodes[chosen]["depth"]}


# ----------------------------------------------------------------------------- the pair rules


def sibling_q_pairs(tree, tau):
    """(parent, chosen, rejected) node ids: visited siblings whose Q differ by more than tau, chosen = argmax Q."""
    for parent, kids in enumerate(tree.children):
        kids = [i for i in kids if i in tree.live_set]
        for a, b in combinations(kids, 2):
            if abs(tree.q(a) - tree.q(b)) > tau:
                yield (parent, a, b) if tree.q(a) > tree.q(b) else (parent, b, a)


def step_pairs(tree, prompt, tau, delim=STEP_DELIM):
    """CPL stepwise pairs: siblings a, b with |Q(a) - Q(b)| > tau; chosen = argmax Q."""
    out = [make_pair(tree, prompt, c, r, "step", delim=delim) for _, c, r in sibling_q_pairs(tree, tau)]
    return [p for p in out if p]


def complete_pairs(tree, prompt, tau, cap, seed=0, delim=STEP_DELIM):
    """CPL complete-trajectory pairs: terminals whose path mean Q differ by > tau, at most `cap`."""
    value = {t: tree.mean_q(t) for t in tree.terminals}
    cands = []
    for a, b in combinations(tree.terminals, 2):
        if abs(value[a] - value[b]) > tau:
            cands.append((a, b) if value[a] > value[b] else (b, a))
    if len(cands) > cap:
        cands = random.Random(stable_seed(seed, tree.id, "complete")).sample(cands, cap)
    out = [make_pair(tree, prompt, c, r, "complete", value[c], value[r], delim) for c, r in cands]
    return [p for p in out if p]


def depth_pairs(tree, prompt, tau, delim=STEP_DELIM):
    """AlphaLLM-Q: at each depth, the highest-Q vs the lowest-Q node of the level (gap > tau)."""
    by_depth = defaultdict(list)
    for i in tree.live:
        by_depth[tree.nodes[i]["depth"]].append(i)
    out = []
    for d in sorted(by_depth):
        level = by_depth[d]
        best, worst = max(level, key=tree.q), min(level, key=tree.q)
        if tree.q(best) - tree.q(worst) > tau:
            out.append(make_pair(tree, prompt, best, worst, "depth", delim=delim))
    return [p for p in out if p]


def svpo_pairs(tree, prompt, n_sibling=2, n_cousin=1, n_other=1, seed=0, delim=STEP_DELIM):
    """SVPO (App. A.2): per positive node, top-down, sibling / cousin / other-depth negatives."""
    rng = random.Random(stable_seed(seed, tree.id, "svpo"))
    neg = [i for i in tree.live if tree.has_wrong[i] and not tree.has_correct[i]]
    wrong_terms = [t for t in tree.terminals if not tree.correct(t)]
    out = []
    for p in sorted((i for i in tree.live if tree.has_correct[i]), key=lambda i: (tree.nodes[i]["depth"], i)):
        d, par, qp = tree.nodes[p]["depth"], tree.nodes[p]["parent"], tree.q(p)
        groups = [("sibling", [n for n in neg if tree.nodes[n]["parent"] == par and tree.q(n) < qp], n_sibling),
                  ("cousin", [n for n in neg if tree.nodes[n]["depth"] == d and tree.nodes[n]["parent"] != par
                              and tree.q(n) < qp], n_cousin),
                  ("other_depth", [t for t in wrong_terms if tree.nodes[t]["depth"] != d and p not in tree.path(t)],
                   n_other)]
        for kind, pool, k in groups:
            for n in rng.sample(pool, min(k, len(pool))):
                out.append(make_pair(tree, prompt, p, n, kind, delim=delim))
    return [p for p in out if p]


def fix_pair(problem, prompt, steps_before, step, q_chosen, depth, delim=STEP_DELIM):
    """A fixed_step pair: correct_equations(step) vs the false `step`, both after `prompt` and
    `steps_before`; q_rejected = -1 (a false step's reward). None when the checker cannot correct it.
    A side that writes \\boxed ends there (the trainer adds EOS), any other with the delimiter."""
    fixed = correct_equations(step)
    if fixed is None:
        return None
    end = "" if "\\boxed" in step else delim
    return {"problem": problem, "prompt": join_steps(prompt, steps_before, delim), "chosen": fixed + end,
            "rejected": step + end, "kind": "fixed_step", "q_chosen": q_chosen, "q_rejected": -1.0,
            "r_chosen": [q_chosen], "r_rejected": [-1.0], "depth": depth}


def greedy_fix_pair(problem, prompt, text, delim=STEP_DELIM):
    """The fixed-step pair of one greedy solution `text` after `prompt` (--greedy): at its first false
    step, or None when every step holds or the checker cannot correct it."""
    steps = text.split(delim)
    k = next((k for k, step in enumerate(steps) if not equations_hold(step)), None)
    return None if k is None else fix_pair(problem, prompt, steps[:k], steps[k], 0.0, k + 1, delim)


def corrected_records(problem, prompt, texts, delim=STEP_DELIM):
    """`--samples` for one problem: every distinct sample with each false result replaced by the
    checker's (grader.correct_equations), kept when every step then holds. A verifier trained on them
    learns the results the policy writes wrong, on the policy's own text (scoring.ResultVerifier)."""
    out = []
    for text in dict.fromkeys(texts):
        steps = [correct_equations(s) or s for s in text.split(delim)]
        if all(equations_hold(s) for s in steps):
            out.append({"problem": problem, "prompt": prompt, "completion": delim.join(steps)})
    return out


def ppm_pairs(tree, prompt, margin=0.5, min_edit=20, top=2, delim=STEP_DELIM):
    """rStar-Math PPM pairs: per parent top-`top` correct-leading vs bottom-`top` wrong-leading
    children (Q margin >= margin, edit distance >= min_edit), plus top vs bottom whole trajectories."""
    outcomes = {tree.correct(t) for t in tree.terminals}
    if outcomes != {True, False}:
        return []  # all-correct or all-wrong problems carry no preference (rStar filter)
    out = []
    for kids in tree.children:
        kids = [i for i in kids if i in tree.live_set]
        pos = sorted((i for i in kids if tree.has_correct[i]), key=tree.q, reverse=True)[:top]
        negs = sorted((i for i in kids if tree.has_wrong[i]), key=tree.q)[:top]
        for c in pos:
            for r in negs:
                if c != r and tree.q(c) - tree.q(r) >= margin and \
                        edit_distance(tree.nodes[c]["step"], tree.nodes[r]["step"]) >= min_edit:
                    out.append(make_pair(tree, prompt, c, r, "ppm", delim=delim))
    good = sorted((t for t in tree.terminals if tree.correct(t)), key=tree.mean_q, reverse=True)[:top]
    bad = sorted((t for t in tree.terminals if not tree.correct(t)), key=tree.mean_q)[:top]
    for c in good:
        for r in bad:
            out.append(make_pair(tree, prompt, c, r, "ppm_final", tree.mean_q(c), tree.mean_q(r), delim))
    return [p for p in out if p]


def sft_records(tree, prompt, k, delim=STEP_DELIM, verify=True):
    """The top-k correct trajectories by (mean Q, min Q), distinct texts (rStar k=2, AlphaLLM k=1).

    verify: keep only verified trajectories (grader.steps_verified: every written equation holds; on the
    built-in tasks one per operation, the answer the last result, relations steps reading the values they
    name), rStar's rule that a correct answer through a failing step is not training data; in a code tree
    every step ran, which is rStar's check itself.
    """
    good = sorted((t for t in tree.terminals if tree.correct(t) and (not verify or tree.code or steps_verified(
        tree.steps(t), tree.ops, tree.question if tree.ops else None))),
                  key=lambda t: (tree.mean_q(t), tree.min_q(t)), reverse=True)
    out, seen = [], set()
    for t in good:
        text = delim.join(tree.nodes[i]["step"] for i in tree.path(t))
        if text not in seen and len(out) < k:
            seen.add(text)
            out.append({"problem": tree.id, "prompt": prompt, "completion": text})
    return out


# ----------------------------------------------------------------------------- run


def read_predictions(path, method, problems, tok):
    """(problem id, prompt, record) per record of evaluate.py's predictions.jsonl holding `method`."""
    by_id = {str(p["id"]): p for p in read_problems(problems)}
    for r in load_jsonl(path, {"id": (str, int), method: dict}):
        pid = str(r["id"])
        if pid not in by_id:
            raise DataError(f"{path}: problem {pid} is not in --problems {problems}")
        yield pid, format_prompt(tok, by_id[pid]["question"], by_id[pid].get("format") == "code"), r


def extract(tree, prompt, args):
    """All records of one tree: (dpo pairs, ppm pairs, sft records)."""
    rules, d = set(args.rules.split(",")), tree.delim
    dpo = []
    if "step" in rules:
        dpo += step_pairs(tree, prompt, args.tau, d)
    if "complete" in rules:
        dpo += complete_pairs(tree, prompt, args.tau, args.max_complete, args.seed, d)
    if "depth" in rules:
        dpo += depth_pairs(tree, prompt, args.tau, d)
    if "svpo" in rules:
        dpo += svpo_pairs(tree, prompt, seed=args.seed, delim=d)
    ppm = ppm_pairs(tree, prompt, args.ppm_margin, args.ppm_min_edit, 2, d) if "ppm" in rules else []
    sft = sft_records(tree, prompt, args.sft_k, d, args.verify) if args.sft_k > 0 else []
    return dpo, ppm, sft


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", nargs="+", default=[], help="trees JSONL file(s) from mcts.py")
    ap.add_argument("--greedy", default="", help="instead of --trees: evaluate.py greedy predictions.jsonl on answer-"
                    "carrying problems (never the test set) -> fixed-step pairs at each solution's first false step")
    ap.add_argument("--samples", default="", help="instead of --trees: evaluate.py sample predictions.jsonl on answer-"
                    "carrying problems -> sft.jsonl of the samples with their false results corrected (verifier data)")
    ap.add_argument("--problems", default="", help="--greedy / --samples: the problems decoded (for the questions)")
    ap.add_argument("--out-dir", required=True, help="writes pairs.jsonl, ppm_pairs.jsonl, sft.jsonl, pairs_meta.json")
    ap.add_argument("--rules", default="step,complete,depth,svpo,ppm",
                    help="comma-separated pair rules: step, complete, depth, svpo, ppm")
    ap.add_argument("--model", default=None,
                    help="policy/tokenizer dir, only for the prompt format (chat template); none: the plain template")
    ap.add_argument("--tau", type=nonneg_float, default=0.5,
                    help="Q-gap margin of step/complete/depth pairs (CPL uses 1 on an unbounded value scale; Q here is in [-1, 1])")
    ap.add_argument("--max-complete", type=nonneg_int, default=8, help="complete pairs per problem at most (CPL: no cap)")
    ap.add_argument("--ppm-margin", type=nonneg_float, default=0.5, help="PPM pairs: Q(pos) - Q(neg) >= this (rStar code: 0.5)")
    ap.add_argument("--ppm-min-edit", type=nonneg_int, default=20, help="PPM pairs: edit distance of the two steps >= this (rStar code: 20 chars)")
    ap.add_argument("--sft-k", type=nonneg_int, default=2, help="SFT trajectories per problem (rStar: 2, AlphaLLM: 1; 0: none)")
    ap.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                    help="SFT trajectories must be verified: every written equation a op b = c holds, one per "
                         "operation on the built-in task (grader.steps_verified; rStar keeps only code that runs)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the per-problem sampling (complete cap, SVPO negatives)")
    ap.add_argument("--force", action="store_true", help="replace an --out-dir made with other flags or inputs (else: refuse)")
    return ap


def check_args(args):
    """One-line refusals of a bad combination, before anything is read; an --out-dir made with other flags or inputs
    refused unless --force (records.claim_output). (the tokenizer of --model or None, the args record)."""
    bad = set(args.rules.split(",")) - set(DPO_RULES) - {"ppm"}
    if bad:
        raise SystemExit(f"--rules: unknown rule(s) {sorted(bad)}")
    if sum(map(bool, (args.trees, args.greedy, args.samples))) != 1 or bool(args.problems) == bool(args.trees):
        raise SystemExit("give --trees, or --greedy or --samples with --problems")
    check_output(args.out_dir, "--out-dir", is_dir=True)
    inputs = {"--trees": args.trees, "--greedy": args.greedy, "--samples": args.samples, "--problems": args.problems}
    if args.model:
        check_model_dir(args.model, "--model")
    record = claim_output("--out-dir", [args.out_dir], Path(args.out_dir) / "pairs_meta.json", args, args.force,
                          {**inputs, "--model": args.model}, ignore={"force", "out_dir"})[0]
    return chat_tokenizer(args.model) if args.model else None, record


def chat_tokenizer(model_dir):
    """The tokenizer of `model_dir` when it ships a chat template (chat_template.jinja or .json, or a "chat_template"
    in tokenizer_config.json), else None: format_prompt then writes the plain template, as it would with the
    tokenizer, and the process skips the seconds of importing transformers."""
    d = Path(model_dir)
    try:
        plain = not any((d / f).exists() for f in ("chat_template.jinja", "chat_template.json", "additional_chat_templates")) \
            and "chat_template" not in json.loads((d / "tokenizer_config.json").read_text())
    except (OSError, ValueError):  # no readable tokenizer_config.json: the tokenizer decides, naming any damage
        plain = False
    if plain:
        return None
    from common import load_tokenizer
    return load_tokenizer(model_dir)


def from_predictions(args, tok):
    """--greedy: fixed-step pairs at each greedy solution's first false step; --samples: the samples with
    their results corrected (a result verifier's data). (dpo pairs, sft records)."""
    dpo, sft = [], []
    if args.greedy:
        for pid, prompt, r in read_predictions(args.greedy, "greedy", args.problems, tok):
            pair = greedy_fix_pair(pid, prompt, r["greedy"]["text"])
            dpo += [{**pair, "id": f"{pid}-greedy_fix-0"}] if pair else []
    if args.samples:
        for pid, prompt, r in read_predictions(args.samples, "sample", args.problems, tok):
            recs = corrected_records(pid, prompt, r["sample"]["texts"])
            sft += [{**c, "id": f"{pid}-corrected-{j}"} for j, c in enumerate(recs)]
    return dpo, sft


def from_trees(args, tok):
    """Every rule on every tree: (dpo pairs, ppm pairs, sft records, trees read, trees with a correct terminal)."""
    dpo, ppm, sft, n_trees, solved = [], [], [], 0, 0
    for rec in read_trees(args.trees):
        tree = TreeView(rec)
        n_trees += 1
        solved += any(tree.correct(t) for t in tree.terminals)
        # the prompt the search used (mcts.py stores it), unless --model rebuilds it (its chat template, else the plain one)
        prompt = rec.get("prompt") if isinstance(rec.get("prompt"), str) and not args.model else \
            format_prompt(tok, tree.question, rec.get("config", {}).get("format") == "code")
        d, p, s = extract(tree, prompt, args)
        for kind_recs in (d, p, s):
            for j, r in enumerate(kind_recs):
                r["id"] = f"{tree.id}-{r.get('kind', 'sft')}-{j}"
        dpo, ppm, sft = dpo + d, ppm + p, sft + s
    return dpo, ppm, sft, n_trees, solved


def main():
    args = get_parser().parse_args()
    print(json.dumps(vars(args)))
    tok, record = check_args(args)
    if args.trees:
        dpo, ppm, sft, n_trees, solved = from_trees(args, tok)
    else:
        (dpo, sft), ppm, n_trees, solved = from_predictions(args, tok), [], 0, 0
    out = Path(args.out_dir)
    write_jsonl(out / "pairs.jsonl", dpo)
    write_jsonl(out / "ppm_pairs.jsonl", ppm)
    write_jsonl(out / "sft.jsonl", sft)
    counts = dict(Counter(r["kind"] for r in dpo + ppm))
    counts.update(trees=n_trees, solved_trees=solved, sft=len(sft), sft_problems=len({r["problem"] for r in sft}),
                  problems_with_pairs=len({r["problem"] for r in dpo}))
    write_json(out / "pairs_meta.json", {"args": record, "counts": counts})
    print(" | ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    run_main(main, "pairs")
