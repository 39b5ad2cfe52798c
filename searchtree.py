"""The search tree of mcts.py, in memory and on disk, and the rules the search applies to it.

`Node` is one step (or, sampled with --whole-after, the rest of a solution) with its statistics (N, Q,
prior, value, reward, ...); `Tree` is one problem's nodes (nodes[0] the root, step "") plus the
bookkeeping of the rollouts in flight, and the texts the policy continues from (`context`) and the PPM
scores (`text`). The rules: selection (`uct_score`, rStar-Math Eq. 1; `puct_score`, SVPO Eq. 4), AlphaLLM's
adaptive width, `backup` (the running mean of Q), rStar's PPM prior (Eq. 3) and AlphaLLM's critic mix
(`critic_score`). `expand` adds a node's sampled candidates as children (state merge of duplicates, terminals
scored against the gold, a node none of whose samples survives resampled, then a dead end). `Node.to_json` is a node of the trees JSONL record
(`Tree.record` lists the fields); `to_dot` / `dump_dot` draw one tree record as Graphviz DOT
(`python searchtree.py trees.jsonl tree.dot --id ID`).
"""
import argparse
import json
import math
from pathlib import Path

from common import edit_distance, join_steps, load_jsonl, print0
from grader import extract_answer, grade, steps_verified

# ----------------------------------------------------------------------------- the tree


class Node:
    __slots__ = ("parent", "children", "step", "depth", "N", "Q", "prior", "logp", "value", "terminal", "reward",
                 "correct", "tokens", "merged", "samples", "width", "vloss", "fails", "dead")

    def __init__(self, parent=None, step="", depth=0, prior=None, tokens=0):
        self.parent, self.step, self.depth, self.prior, self.tokens = parent, step, depth, prior, tokens
        self.children, self.N, self.Q, self.terminal = [], 0, 0.0, False
        self.logp = self.value = self.reward = self.correct = None  # logp: the policy's summed log-prob of the step
        self.samples = self.width = self.merged = self.vloss = 0  # samples drawn here, allowed, merged, pending
        self.fails, self.dead = 0, False  # expansions with no surviving sample; a dead end (NO_VALID_CHILD)

    def to_json(self):
        d = {"parent": self.parent, "step": self.step, "depth": self.depth, "N": self.N, "Q": round(self.Q, 6),
             "terminal": self.terminal, "tokens": self.tokens}
        for k in ("prior", "logp", "value", "reward", "correct"):
            v = getattr(self, k)
            if v is not None:
                d[k] = round(v, 6) if isinstance(v, float) else v
        d.update({"merged": self.merged} if self.merged else {}, **{"dead_end": True} if self.dead else {})
        return d


class Tree:
    def __init__(self, problem, prompt, delim="\n\n"):
        self.problem, self.prompt, self.delim = problem, prompt, delim
        self.nodes = [Node()]
        self.inflight, self.pending = [], set()  # paths of rollouts in progress; nodes being expanded
        self.started = self.done = self.tokens = self.ticks = self.n_correct = 0
        self.stopped = False

    def follow(self, path, new):
        """Put a rollout on `path`: virtual loss on its new nodes, its leaf pending."""
        for i in new:
            self.nodes[i].vloss += 1
        self.pending.add(path[-1])

    def end(self, path):
        """A rollout is over: its virtual loss taken back, one more rollout done."""
        for i in path:
            self.nodes[i].vloss -= 1
        self.inflight.remove(path)
        self.done += 1

    def record(self, config):
        """The tree's JSONL record; config: the search flags (runtime flags left out).

        {"id", "question", "answer", "ops" (built-in task), "prompt", "nodes", "config",
         "stats": {"rollouts", "tokens" (all generated), "ticks", "correct"}}.
        nodes[0] is the root (step ""); a node (Node.to_json): {"parent", "step", "depth", "N", "Q",
        "terminal", "tokens", "prior" (PUCT), "logp" (the policy's summed log-prob of the step), "value"
        (leaf evaluation), "reward" (terminal), "correct" (terminal, gold known), "merged" (duplicates
        merged into it), "dead_end" (no sample survived)}.
        A test-time tree (--no-gold) holds the final step in each terminal, its reward the PPM score of
        the whole trajectory; the trajectory is the terminal's parent chain."""
        p = self.problem
        return {"id": p["id"], "question": p["question"], "answer": p.get("answer"),
                **({"ops": p["ops"]} if "ops" in p else {}), "prompt": self.prompt,
                "nodes": [n.to_json() for n in self.nodes],
                "config": config,
                "stats": {"rollouts": self.done, "tokens": self.tokens, "ticks": self.ticks, "correct": self.n_correct}}

    def add(self, node):
        self.nodes.append(node)
        self.nodes[node.parent].children.append(len(self.nodes) - 1)
        return len(self.nodes) - 1

    def steps(self, i):
        """The steps from the root to node i (a node sampled whole, --whole-after, holds several)."""
        out = []
        while self.nodes[i].parent is not None:
            out += split_steps(self.nodes[i].step, self.delim)[::-1]
            i = self.nodes[i].parent
        return out[::-1]

    def context(self, i):
        """What the policy continues from node i: prompt + every step + delimiter."""
        return join_steps(self.prompt, self.steps(i), self.delim)

    def text(self, i):
        """What the PPM scores: the trajectory up to and including node i's step."""
        s = self.steps(i)
        return join_steps(self.prompt, s[:-1], self.delim) + (s[-1] if s else "")


# ----------------------------------------------------------------------------- selection and backup (the method's rules)


def uct_score(q, n, n_parent, c):
    """UCT (rStar-Math Eq. 1, with 1 + N so an unvisited child is finite): Q + c * sqrt(ln N_parent / (1 + N))."""
    return q + c * math.sqrt(math.log(max(n_parent, 1)) / (1 + n))


def puct_score(q, n, n_parent, prior, c):
    """PUCT (SVPO Eq. 4, AlphaMath): Q + c * P(a|s) * sqrt(N_parent) / (1 + N)."""
    return q + c * prior * math.sqrt(n_parent) / (1 + n)


def select_child(tree, node, rule="uct", c=2.0):
    """The child to descend into: an unvisited open child first (UCT: the first created, PUCT: the highest
    prior), else the best score with pending visits counted as value -1 (virtual loss). None when every
    child is terminal."""
    kids = [i for i in node.children if not tree.nodes[i].terminal]
    fresh = [i for i in kids if tree.nodes[i].N + tree.nodes[i].vloss == 0]
    if fresh:
        return max(fresh, key=lambda i: tree.nodes[i].prior or 0.0) if rule == "puct" else fresh[0]
    n_parent = node.N + node.vloss

    def score(i):
        k = tree.nodes[i]
        n = k.N + k.vloss
        q = (k.Q * k.N - k.vloss) / n
        return uct_score(q, n, n_parent, c) if rule == "uct" else puct_score(q, n, n_parent, k.prior or 0.0, c)
    return max(kids, key=score) if kids else None  # max keeps the first of equal scores


def adaptive_width(values, c_min, c_max, alpha):
    """AlphaLLM importance-weighted branching: n(s) = max(c_min, min(floor(alpha * I) + 1, c_max)),
    I = max_i |v_i - mean(v)| over the children's values (the released code's estimate of importance)."""
    if not values:
        return c_min
    m = sum(values) / len(values)
    return max(c_min, min(int(alpha * max(abs(v - m) for v in values)) + 1, c_max))


def needs_expansion(tree, node, widths=None):
    """Never expanded, or no open child (sample again), or (adaptive) fewer samples than its width.
    widths: None or (alpha, (c_min root, c_min deeper), (c_max root, c_max deeper))."""
    if node.samples == 0 or all(tree.nodes[i].terminal for i in node.children):
        return True
    if widths is None:
        return False
    alpha, lo, hi = widths
    vals = [tree.nodes[i].Q for i in node.children if tree.nodes[i].N > 0]
    t = int(node.depth > 0)
    node.width = max(node.width, adaptive_width(vals, lo[t], hi[t], alpha))  # only grows (AlphaLLM code)
    return node.samples < node.width


def select_leaf(tree, path, rule="uct", c=2.0, widths=None):
    """Descend from path[-1] to the first node that needs expanding: the whole path, or None when that
    node is terminal or already being expanded by another rollout of this tree."""
    path = list(path)
    while True:
        node = tree.nodes[path[-1]]
        if node.terminal:
            return None
        if needs_expansion(tree, node, widths):
            return None if path[-1] in tree.pending else path
        path.append(select_child(tree, node, rule, c))


def backup(tree, path, value):
    """Every node on the path: N += 1, Q += (value - Q) / N (the running mean; SVPO Eq. 6, rStar Eq. 2)."""
    for i in path:
        n = tree.nodes[i]
        n.N += 1
        n.Q += (value - n.Q) / n.N


def critic_score(value=None, prm=None, orm=None, weights=(1.0, 1.0, 1.0)):
    """AlphaLLM's node score (critics combined, spec section 5.5):
    s(s) = beta_value * v_phi(s) + beta_PRM * PRM(s) + beta_ORM * E_{tau ~ pi_fast(s)}[ORM(tau)],
    the last a mean over fast rollouts; the paper's betas are all 1. A critic not given (None) is left out."""
    return sum(w * x for w, x in zip(weights, (value, prm, orm)) if x is not None)


def ppm_prior(node, value):
    """rStar-Math Eq. 3: a new node's Q starts at its PPM score, q(s)^0 = PPM(s), counted as one
    visit (N = 1) and not backed up to its ancestors."""
    node.N, node.Q = 1, float(value)


def resample_temperature(t, fails, heat):
    """The temperature of a node's samples after `fails` failed expansions (failed_expansion): t + heat * fails
    (a systematic false step, e.g. the same wrong sum in every sample, is escaped by sampling hotter only where
    the check failed; heat 0: always t)."""
    return t + heat * fails


# ----------------------------------------------------------------------------- expanding a node


def failed_expansion(tree, node, new, backtrack=False):
    """An expansion that leaves node no way on: no sample survived (no child at all; rStar
    NO_VALID_CHILD), or, with backtrack, no new child while every child is a terminal with a negative
    reward (the samples only repeat wrong answers: without it every later rollout of the tree samples
    this node again, and an earlier false step above it is never revisited)."""
    if not node.children:
        return True
    return backtrack and not new and all(
        tree.nodes[k].terminal and (tree.nodes[k].reward or 0.0) < 0 for k in node.children)


def split_steps(text, delim="\n\n"):
    """The steps of a text: one, or several in a child sampled as the whole rest of its solution."""
    return [s for s in text.split(delim) if s.strip()] or [text]


def samples_whole(cfg, node):
    """Whether node's children are sampled as the whole rest of the solution (--whole-after: below that depth)."""
    return cfg.whole_after is not None and node.depth >= cfg.whole_after


def step_code(step):
    """The Python of a code-format step: every line but the \\boxed answer line."""
    return "\n".join(line for line in step.splitlines() if "\\boxed" not in line)


def path_verified(tree, i):
    """The training filter (grader.steps_verified) on the path to node i; True off the built-in tasks."""
    p = tree.problem
    return "ops" not in p or steps_verified(tree.steps(i), p["ops"], p["question"])


def outcome(text, gold):
    """Terminal reward against the gold: (+1 or -1, correct); (-1, False) without an explicit final
    answer (box, "The answer is", "####"): the last number of an unfinished solution is no answer."""
    ok = grade(text, gold, free_text=False)
    return (1.0 if ok else -1.0), ok


def expand(tree, idx, cands, cfg, ok=None, gold=None):
    """Add generated candidates ({"text","tokens","logp","finish"}) as children of node idx: drop empty
    steps, failing code or false equations (ok[i] False; a whole rest of the solution, --whole-after, that fails
    is kept as a wrong terminal), merge duplicates (of existing children too), mark
    terminals and score them against the gold when known (with cfg.verified_terminals, a right answer on a
    path that fails path_verified scores as wrong). Returns (new children, terminal hits: children to back
    up, a terminal once more per merged duplicate)."""
    node, whole = tree.nodes[idx], samples_whole(cfg, tree.nodes[idx])
    node.samples += len(cands)
    tree.tokens += sum(c["tokens"] for c in cands)
    passes = [ok is None or ok[i] for i in range(len(cands))]  # a whole rest that failed: kept, a wrong terminal
    kept = [(c, passed) for c, passed in zip(cands, passes) if c["text"].strip() and (passed or whole)]
    keep = [c for c, _ in kept]
    # a dead-end child is an open step that failed: a new sample of the same step merges into it
    final = [tree.nodes[k].terminal and not tree.nodes[k].dead for k in node.children] + \
        ["\\boxed" in c["text"] or c["finish"] == "eos" or node.depth + 1 >= cfg.max_depth or whole for c in keep]
    steps = [tree.nodes[k].step for k in node.children] + [c["text"] for c in keep]
    answers = [extract_answer(s, free_text=False) if f else None for s, f in zip(steps, final)]
    reps = merge_duplicates(steps, cfg.merge_threshold, list(zip(final, answers)))
    slot, new, hits = list(node.children), [], []  # slot: node index of every entry of `steps`
    for i, (c, passed) in enumerate(kept, len(node.children)):
        if reps[i] < i:  # a duplicate of an existing child or an earlier candidate
            dup = tree.nodes[slot[reps[i]]]
            dup.merged += 1
            hits += [slot[reps[i]]] if dup.terminal else []
            slot.append(slot[reps[i]])
            continue
        child = Node(idx, c["text"], node.depth + 1, math.exp(c["logp"]) if cfg.selection == "puct" else None, c["tokens"])
        child.logp = c["logp"] * c["tokens"]  # the backend's mean token log-prob, summed: log p(step | prefix)
        child.terminal = final[i]
        slot.append(tree.add(child))
        new.append(slot[-1])
        if child.terminal:
            if answers[i] is None or not passed:  # no answer (depth limit, bare EOS), or failed
                child.reward = -1.0
            elif gold is not None:
                child.reward, child.correct = outcome(child.step, gold)
                if child.correct and cfg.verified_terminals and not path_verified(tree, slot[-1]):
                    child.reward, child.correct = -1.0, False
                tree.n_correct += child.correct
            hits.append(slot[-1])
    # sample again, or after 1 + cfg.resample tries a dead end; a wrong terminal is one the gold graded (not a PPM score)
    if failed_expansion(tree, node, new, cfg.backtrack and not cfg.no_gold):
        node.fails += 1
        if node.fails > cfg.resample:  # rStar NO_VALID_CHILD
            node.terminal, node.dead, node.reward = True, True, -1.0
            node.correct = False if gold is not None else None
            hits.append(idx)
    return new, hits


# ----------------------------------------------------------------------------- reading records


def record_path(nodes, i):
    """Node ids from depth 1 down to i in a trees record's "nodes" (the root excluded)."""
    out = []
    while nodes[i]["parent"] is not None:
        out.append(i)
        i = nodes[i]["parent"]
    return out[::-1]


def same_trees(a, b, tol=1e-4):
    """Whether two lists of trees records hold the same trees, as mcts.py promises however a run went (window,
    shards, ranks, a kill and a resume): in `id` order, every field equal but each node's `logp`, the policy's
    log-prob of its step, a float of the model that the other rows of a batch move in its last digits (to `tol`)."""
    def split(recs):
        recs = json.loads(json.dumps(sorted(recs, key=lambda r: r["id"])))  # a copy; records come out as trees finish
        return recs, [n.pop("logp", None) for r in recs for n in r["nodes"]]
    (ra, la), (rb, lb) = split(a), split(b)
    return ra == rb and all(x == y or None not in (x, y) and abs(x - y) <= tol for x, y in zip(la, lb))


def is_duplicate(a, b, threshold):
    """Same text up to whitespace, or normalized edit distance d(a, b) / max(|a|, |b|) <= threshold."""
    a, b = " ".join(a.split()), " ".join(b.split())
    m = max(len(a), len(b))
    return a == b or threshold > 0 and abs(len(a) - len(b)) <= threshold * m and edit_distance(a, b) <= threshold * m


def merge_duplicates(steps, threshold, keys=None):
    """AlphaLLM state merge: rep[i] = the first step that step i duplicates (i when it is new). Steps with
    different keys (e.g. different final answers) never merge."""
    keys = keys or [None] * len(steps)
    reps = []
    for i, s in enumerate(steps):
        reps.append(next((j for j in sorted(set(reps)) if keys[j] == keys[i] and is_duplicate(steps[j], s, threshold)), i))
    return reps


# ----------------------------------------------------------------------------- Graphviz


def to_dot(rec, max_chars=48):
    """Graphviz DOT of one tree: a box per node with its step, N and Q; correct terminals green, wrong red."""
    lines = ["digraph tree {", '  node [shape=box, fontname="monospace", fontsize=10];']
    for i, n in enumerate(rec["nodes"]):
        step = n["step"] if n["parent"] is not None else rec["question"]
        label = step[:max_chars] + ("..." if len(step) > max_chars else "") + f"\nN={n['N']} Q={n['Q']:.2f}"
        color = "black" if not n["terminal"] else "green" if n.get("correct") or n.get("reward", -1) > 0 else "red"
        lines.append(f"  n{i} [label={json.dumps(label)}, color={color}];")
        lines += [f"  n{n['parent']} -> n{i};"] if n["parent"] is not None else []
    return "\n".join(lines + ["}"]) + "\n"


def dump_dot(trees, dot, tree_id=None):
    """Write the tree `tree_id` (default: the first) of the trees JSONL file `trees` as DOT to `dot`."""
    recs = load_jsonl(trees)
    rec = next((r for r in recs if tree_id is None or str(r["id"]) == tree_id), None)
    if rec is None:
        raise SystemExit(f"{trees}: no tree with id {tree_id}")
    Path(dot).write_text(to_dot(rec))
    print0(f"wrote {dot} (tree {rec['id']}, {len(rec['nodes'])} nodes)")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Draw one tree of mcts.py's output as Graphviz DOT "
                                 "(then: dot -Tsvg tree.dot > tree.svg).")
    ap.add_argument("trees", help="trees JSONL written by mcts.py")
    ap.add_argument("dot", help="DOT file to write")
    ap.add_argument("--id", default=None, help="the problem id of the tree (default: the first tree)")
    args = ap.parse_args(argv)
    dump_dot(args.trees, args.dot, args.id)


if __name__ == "__main__":
    main()
