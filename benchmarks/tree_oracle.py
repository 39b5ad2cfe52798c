"""Do a search's Q-values tell a right decision from a wrong one? mcts.py's trees on the relations task, judged by
its semantic oracle.

Every node's path is judged step by step (reloracle.oracle_steps): a node is *right* when each step on its path is
a right decision. Printed:
- sibling decisions: at a right parent, each pair of visited children of which one is right and one wrong; the
  share where Q ranks the right one higher (ties count half; chance 0.5), for the plan step (depth 1) and the
  steps after it;
- the verified correct terminals (right answer, every equation true, one per needed quantity) and the share of
  them right by the oracle: all distinct ones, pairs.py's SFT choice (top --sft-k by mean Q), the same number
  drawn at random (its expectation), and those whose first step's samples have a mean reward of at least 0 and
  0.5 (first_step_values: a plan's value), so whether ranking by Q or by the plan's value keeps fewer lucky paths
  than any correct terminal;
- trees with a verified terminal, with an oracle-right one, and the generated tokens; where the tokens went: trees
  with no right answer, with right answers the filter rejects, with 1 or more trajectories kept for SFT (and by
  the problem's number of operations); trees
  with a right first step (the plan) among the root's children, of them those with no SFT data, and of those the
  ones where every right plan became a dead end (mcts.py --resample; in a tree of whole solutions, --whole-after 0,
  the first step is the whole solution);
- pairs.py's step pairs (siblings whose Q differ by more than --tau) judged by the oracle: the right decision
  chosen over a wrong one, the reverse, both right, both wrong, under a wrong parent; at the plan step and after;
- with --ppm: each PPM's ranking of the same sibling decisions (its score of the path up to each child), on
  trees of problems it did not train on: the held-out decision pairs of the PPM's claim; with --mix, the ranking
  by the sum of several PPMs' values (AlphaLLM's critics combined).
Analysis only (the oracle knows the hidden graph): nothing here feeds training or search.

  python benchmarks/tree_oracle.py --problems runs/rel/data/pool.jsonl --trees runs/rel/round1/trees_fresh.jsonl
  python benchmarks/tree_oracle.py --problems runs/rel/data/pool.jsonl --trees runs/rel/round2/trees_fresh.jsonl \
      --ppm bt=runs/rel/round1/ppm
"""
import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import join_steps, read_problems, read_trees, run_main  # noqa: E402
from grader import steps_verified  # noqa: E402
from pairs import TreeView, sft_records, sibling_q_pairs  # noqa: E402
from reloracle import oracle_right, oracle_steps  # noqa: E402


VALUE_CUTS = (0.0, 0.5)  # first_step_values: the data kept when its plan's mean reward is at least this


def right_nodes(tree):
    """Per node id, whether every step of its path is a right decision (the root: True)."""
    right = [True] * len(tree.nodes)
    for i in range(1, len(tree.nodes)):
        right[i] = all(oracle_steps(tree.question, tree.steps(i)))
    return right


def sibling_pairs(tree, right):
    """(depth, right child, wrong child) at every right parent, visited children only."""
    out = []
    for parent in [0] + [i for i in tree.live if right[i]]:
        kids = [c for c in tree.children[parent] if c in tree.live_set]
        out += [(len(tree.path(a)), a, b) for a in kids if right[a] for b in kids if not right[b]]
    return out


def node_text(tree, prompt, i):
    """What a PPM scores at node i: the prompt and the path's steps up to and including i's (mcts.py's Tree.text)."""
    steps = [tree.nodes[j]["step"] for j in tree.path(i)]
    return join_steps(prompt, steps[:-1], tree.delim) + steps[-1]


def ranked(pairs, score_of):
    """{group: [1 when the right child scores higher, 0.5 on a tie, else 0]}: the plan step, the steps after it."""
    out = {"plan step (depth 1)": [], "later steps": []}
    for d, a, b in pairs:
        sa, sb = score_of(a), score_of(b)
        out["plan step (depth 1)" if d == 1 else "later steps"].append(1.0 if sa > sb else 0.5 if sa == sb else 0.0)
    return out


def load_scorer(path):
    from scoring import load_ppm
    return load_ppm(path)


def trajectory(tree, t):
    """Terminal t's path as one text, its steps joined by the tree's delimiter."""
    return tree.delim.join(tree.nodes[j]["step"] for j in tree.path(t))


def step_pair_labels(tree, right, tau):
    """pairs.py's step pairs of one tree (siblings whose Q differ by more than tau, the higher chosen: CPL's rule,
    pairs.sibling_q_pairs) judged by the oracle: Counter of (plan or later, what the pair is): the right decision chosen
    over a wrong one, a wrong one over a right one, both right, both wrong, or siblings under a wrong parent."""
    out = Counter()
    for parent, c, r in sibling_q_pairs(tree, tau):
        what = ("under a wrong parent" if not right[parent] else "right over wrong" if right[c] > right[r]
                else "wrong over right" if right[r] > right[c] else "both right" if right[c] else "both wrong")
        out["plan" if parent == 0 else "later", what] += 1
    return out


def verified_right(tree):
    """(the verified correct terminals: a right answer, and every step passing the training filter unless the tree
    ran code; {their distinct texts: right by the oracle}), each checked once."""
    good = {t for t in tree.terminals if tree.correct(t)
            and (tree.code or steps_verified(tree.steps(t), tree.ops, tree.question))}
    return good, {text: oracle_right(tree.question, text, tree.delim) for text in {trajectory(tree, t) for t in good}}


def terminal_shares(tree, k, right):
    """(distinct verified correct texts, how many right by the oracle, top-k by mean Q kept, right among them);
    right: verified_right's texts."""
    kept = [r["completion"] for r in sft_records(tree, "", k, tree.delim)]
    return len(right), sum(right.values()), len(kept), sum(right[t] for t in kept)


def first_step_values(tree, good, right):
    """(value, right by the oracle) of each distinct verified correct trajectory (good, right: verified_right). Its
    value is the mean reward of every sample drawn under its first step (+1 verified correct, -1 otherwise, each
    terminal counted as often as it was drawn, N): the plan's own mean in a tree that branches at the plan
    (mcts.py --whole-after 1), the same statistic grouped afterwards for whole samples (--whole-after 0)."""
    reward, first_of = {}, {}
    for t in tree.terminals:
        first, n = tree.steps(t)[0], tree.nodes[t].get("N", 1)
        total, count = reward.get(first, (0, 0))
        reward[first] = (total + (n if t in good else -n), count + n)
        if t in good:
            first_of.setdefault(trajectory(tree, t), first)
    return [(reward[f][0] / reward[f][1], right[text]) for text, f in first_of.items()]


def kept_by_value(valued):
    """{cut: (trajectories kept, their oracle-right share, problems with one kept)} for each of VALUE_CUTS;
    valued: first_step_values of each tree."""
    out = {}
    for cut in VALUE_CUTS:
        kept = [[ok for v, ok in tree if v >= cut] for tree in valued]
        flat = [ok for tree in kept for ok in tree]
        out[cut] = (len(flat), statistics.mean(flat) if flat else None, sum(map(bool, kept)))
    return out


def report(trees, k, ppms=None, mixes=None, tau=0.5):
    """The numbers of the module docstring, as a dict; ppms: {label: scorer (texts -> values)}; mixes: {label: [ppm
    labels]}, the sum of their values (AlphaLLM's critic mix, betas 1, every critic scoring the path)."""
    pairs, shares, tokens, texts, spent, plans, by_ops, valued = [], [], 0, {}, {}, [0, 0, 0], {}, []
    step_pairs = Counter()
    for rec in trees:
        tree = TreeView(rec)
        good, right = verified_right(tree)
        shares.append(terminal_shares(tree, k, right))  # its kept count: pairs.py's choice, computed once
        valued.append(first_step_values(tree, good, right))
        kind = ("no right answer" if not any(tree.correct(t) for t in tree.terminals) else
                f"{shares[-1][2]} kept for SFT")
        n, t = spent.get(kind, (0, 0))
        spent[kind] = (n + 1, t + rec.get("stats", {}).get("tokens", 0))
        n_ops = by_ops.setdefault(tree.ops, [0, 0])
        n_ops[0], n_ops[1] = n_ops[0] + 1, n_ops[1] + bool(shares[-1][2])
        right = right_nodes(tree)
        found = sibling_pairs(tree, right)
        step_pairs += step_pair_labels(tree, right, tau)
        good = [i for i in tree.children[0] if right[i]]  # right plans (first steps)
        plans[0] += bool(good)
        plans[1] += bool(good) and not shares[-1][2]
        plans[2] += bool(good) and not shares[-1][2] and all(tree.nodes[i].get("dead_end") for i in good)
        pairs += [(d, (tree, a), (tree, b)) for d, a, b in found]
        texts.update({(tree.id, i): node_text(tree, rec.get("prompt", ""), i) for _, a, b in found for i in (a, b)})
        tokens += rec.get("stats", {}).get("tokens", 0)
    scorers, values = {"Q": lambda tn: tn[0].q(tn[1])}, {}
    for label, scorer in (ppms or {}).items():
        keys = sorted(texts)
        values[label] = dict(zip(keys, map(float, scorer([texts[key] for key in keys])))) if keys else {}
    for label, parts in (mixes or {}).items():
        values[label] = {key: sum(values[p][key] for p in parts) for key in texts}
    for label, v in values.items():
        scorers[label] = lambda tn, v=v: v[(tn[0].id, tn[1])]
    rank = {label: ranked(pairs, f) for label, f in scorers.items()}
    n, ok, kept, kept_ok = (sum(s[i] for s in shares) for i in range(4))
    at_random = sum(min(k, c) * r / c for c, r, _, _ in shares if c)
    return {"trees": len(shares), "tokens": tokens, "solved": sum(s[0] > 0 for s in shares),
            "solved_right": sum(s[1] > 0 for s in shares),
            "ranks_right": {label: {name: (len(v), statistics.mean(v) if v else None) for name, v in by.items()}
                            for label, by in rank.items()},
            "verified_terminals": (n, ok / n if n else None), "top_k": (kept, kept_ok / kept if kept else None),
            "random_k": (sum(min(k, s[0]) for s in shares), at_random / max(1, sum(min(k, s[0]) for s in shares))),
            "spent": dict(sorted(spent.items())), "right_plans": plans,
            "by_value": kept_by_value(valued), "step_pairs": step_pairs,
            "sft_by_ops": dict(sorted(by_ops.items(), key=lambda kv: str(kv[0])))}


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", nargs="+", required=True, help="mcts.py trees JSONL file(s) of relations problems")
    ap.add_argument("--problems", required=True, help="the problems searched (their ops: one equation per quantity)")
    ap.add_argument("--sft-k", type=int, default=2, help="trajectories pairs.py keeps per problem (its --sft-k)")
    ap.add_argument("--tau", type=float, default=0.5, help="Q gap of the step pairs judged (pairs.py's --tau)")
    ap.add_argument("--ppm", nargs="*", default=[], help="PPM directories (label=DIR or DIR) whose ranking of the "
                    "sibling decisions is shown beside Q's")
    ap.add_argument("--mix", nargs="*", default=[], help="label=A+B+...: the sum of those --ppm labels' values, "
                    "ranked like a PPM (AlphaLLM's critic mix at weights 1)")
    args = ap.parse_args()
    ppms = dict(x.split("=", 1) if "=" in x else (Path(x).name, x) for x in args.ppm)
    ops = {p["id"]: p.get("ops") for p in read_problems(args.problems)}
    trees = [{**t, "ops": t.get("ops", ops.get(str(t["id"])))} for t in read_trees(args.trees)]
    mixes = {label: parts.split("+") for label, _, parts in (x.partition("=") for x in args.mix)}
    unknown = sorted({p for parts in mixes.values() for p in parts} - set(ppms))
    if unknown or any("=" not in x for x in args.mix):
        raise SystemExit(f"--mix: label=A+B of --ppm labels ({', '.join(ppms) or 'none given'}); unknown: {unknown}")
    r = report(trees, args.sft_k, {label: load_scorer(d) for label, d in ppms.items()}, mixes, args.tau)
    print(f"{r['trees']} trees | {r['tokens']} tokens | a verified terminal in {r['solved']} | an oracle-right one in "
          f"{r['solved_right']}")
    labels = list(r["ranks_right"])
    print("trees by what they hold (tokens %): " + ", ".join(
        f"{kind} {n} ({pct(t / r['tokens'] if r['tokens'] else None)})" for kind, (n, t) in r["spent"].items()))
    print("trees with SFT data, by operations: " + ", ".join(f"{o}: {k} of {n}" for o, (n, k) in r["sft_by_ops"].items()))
    print("a right first step (plan) among the root's children: {} trees; in {} of them no SFT data, every right "
          "plan a dead end in {}".format(*r["right_plans"]))
    print("| sibling decisions | pairs (right, wrong) | " + " | ".join(f"{x} ranks the right one higher %" for x in labels)
          + " |\n|---|---|" + "---|" * len(labels))
    for name in r["ranks_right"]["Q"]:
        print(f"| {name} | {r['ranks_right']['Q'][name][0]} | "
              + " | ".join(pct(r["ranks_right"][x][name][1]) for x in labels) + " |")
    print("| verified correct terminals | trajectories | right by the oracle % |\n|---|---|---|")
    for name, key in (("all distinct", "verified_terminals"), (f"top-{args.sft_k} by mean Q (pairs.py)", "top_k"),
                      (f"{args.sft_k} at random (expected)", "random_k")):
        print(f"| {name} | {r[key][0]} | {pct(r[key][1])} |")
    for cut, (n, share, problems) in r["by_value"].items():
        print(f"| all distinct, their first step's mean reward >= {cut} | {n} ({problems} problems) | {pct(share)} |")
    whats = ("right over wrong", "wrong over right", "both right", "both wrong", "under a wrong parent")
    print(f"| step pairs (Q gap > {args.tau}), by the oracle | " + " | ".join(whats) + " |\n|---|" + "---|" * len(whats))
    for where in ("plan", "later"):
        print(f"| {where} | " + " | ".join(str(r["step_pairs"][where, w]) for w in whats) + " |")


if __name__ == "__main__":
    run_main(main, "tree_oracle")
