"""Stage 2: batched MCTS over reasoning steps, one tree per problem, many problems in lock-step.

What it does
  One tree per problem; a node is one step (text up to the step delimiter). Up to `--window` trees
  advance together: every tick takes `--leaves-per-tick` leaves from each unfinished tree and makes ONE
  batched backend call for all of them (a row per sample, seeded by stable_seed(seed, id, node, sample
  index): a tree does not depend on what else is in the batch). A finished tree is written at once and
  the next problem takes its slot. A rollout:
  1. Select from the root: an unvisited child first, else the best UCT (rStar-Math Eq. 1, `uct_score`)
     or PUCT (SVPO Eq. 4 / AlphaMath, `puct_score`) score; terminal children are never selected (rStar
     and SVPO code); rollouts of one tree in the same tick spread by virtual loss.
  2. Expand: `--children` samples; exact and near duplicates merge into the first such sibling (AlphaLLM
     state merge, `--merge-threshold`); `--format code` runs the code of the path plus the candidate in
     the sandbox, drops failures (on a built-in problem also a boxed answer that is not the printed value of
     what is asked) and appends a printing step's output (rStar 2.3), `--check-equations` its
     text analog (a step with false written arithmetic, or a relations step that reads a value its names do not
     hold, is dropped: grader.arithmetic_ok, reltask.bookkeeping_ok); `--adaptive-width`:
     AlphaLLM's importance-weighted width. A node whose children are all terminal is expanded again.
  3. Evaluate: terminal children are scored at creation (+1/-1 by the grader against the gold answer,
     or the PPM score with `--no-gold`) and backed up. Open children, by `--leaf-eval`: `none` (rStar)
     goes on down the selected child next tick; `ppm` backs up each new child's PPM score (AlphaLLM value
     critic, rStar round 3+); `rollout` backs up the mean reward of `--fast-rollouts` completions
     (AlphaLLM fast rollout, SVPO one-step rollout); `mix` AlphaLLM's critics, value + PRM + ORM of fast
     rollouts, weighted (`critic_score`). `--ppm-prior` is rStar Eq. 3 (`ppm_prior`).
  4. Backup: along the path N += 1 and Q = running mean of the values backed up (`backup`).
  Terminal = the step has \\boxed, or ended with EOS, or is at `--max-depth`; without an extractable
  answer its reward is -1 (rStar TOO_MANY_STEPS). A node none of whose samples survives (empty, failing
  code, false equation) is sampled again `--resample` times, each time `--resample-heat` hotter, then
  is a dead end with reward -1 (rStar NO_VALID_CHILD); `--backtrack` counts an expansion that only
  repeats wrong terminal children as such a failure (`failed_expansion`). A tree stops after
  `--rollouts` rollouts or `--stop-after` distinct correct terminals (`--verified-terminals`: only a path
  that passes the training filter is correct).
  `--whole-after D`: one step per node down to depth D, below it each visit samples one whole rest of the
  solution, a terminal child, wrong (-1) when it fails the checks (1: branch at the plan step and sample under
  it; 0: rejection sampling in a tree).
The rules (selection, backup, widths, rStar's prior, AlphaLLM's critic mix) are searchtree.py's.
Departures: near-duplicates by normalized edit distance (AlphaLLM: 20 or 50 characters); one tree per
problem (SVPO: up to 10); failed nodes are resampled, hotter.

Input   `--data` problems JSONL {"id", "question", "answer", ...} (or GSM8K / MATH records).
Output  `--out` trees JSONL, a record per problem flushed as it finishes and sorted by id at the end (the
        fields: searchtree.Tree.record); beside it <out>.args.json. A rerun resumes with the same settings and
        inputs, else refuses (--force starts over); a torn last line is redone; a prompt too long is skipped.
Test time (evaluate.py): `--ppm DIR --no-gold` never reads the gold; a terminal's reward is its PPM score.

Commands
  CPU smoke: python mcts.py --policy runs/sft --data runs/data/pool.jsonl --out runs/trees.jsonl \\
                 --limit 64 --rollouts 16 --children 4 --max-depth 8 --max-step-tokens 48
  one GPU:   python mcts.py --policy ckpt --data pool.jsonl --out trees.jsonl --backend vllm --window 512
  torchrun:  torchrun --nproc_per_node 8 mcts.py ... (or --shard i/n in n processes, then --merge n)
  a tree:    python searchtree.py trees.jsonl tree.dot --id ID; dot -Tsvg tree.dot > t.svg
"""
import argparse
import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from codesteps import after_run, boxes_its_output
from common import (ResumableWriter, check_model_dir, check_not_input, check_output, check_resume,
                    fit_context, format_prompt, merge_ranks, merge_shards, nonneg_float, nonneg_int,
                    parse_shard, pick_device, positive_int, print0, read_problems, run_main,
                    shard_path, shard_spec, stable_seed, unit_float, write_json, write_jsonl)
from engine import HFBackend, make_backend
from grader import arithmetic_ok, extract_answer
from reltask import bookkeeping_ok, prints_what_is_asked
from sandbox import run_code
from scoring import load_ppm
from searchtree import (Tree, backup, critic_score, expand, outcome, ppm_prior, resample_temperature, samples_whole,
                        select_leaf, split_steps, step_code)

# the method's rules (selection, backup, widths, rStar's prior, the critic mix): searchtree.py

# AlphaLLM's adaptive width, (root, deeper): c_min 10-40 and 2-3, c_max 60 and 10, alpha 1 on its value
# scale; scaled down here to a 4-child budget and Q in [-1, 1] (guessed, not tuned)
WIDTH_MIN, WIDTH_MAX, WIDTH_ALPHA = (4, 2), (16, 8), 4.0
CODE_TIMEOUT, CODE_WORKERS = 5.0, 4  # seconds per sandboxed run of a code step; runs in parallel


# ----------------------------------------------------------------------------- the driver


class Search:
    """Lock-step MCTS over many trees. policy: anything with engine.HFBackend's generate(); scorer: a
    callable texts -> values in [-1, 1] (scoring.PPMScorer, ResultVerifier or a stub); prm, orm: the same kind
    of callable (--leaf-eval mix); cfg: this script's args."""

    def __init__(self, policy, cfg, scorer=None, rollout_policy=None, prm=None, orm=None):
        self.policy, self.cfg, self.scorer, self.prm, self.orm = policy, cfg, scorer, prm, orm
        self.rollout_policy = rollout_policy or policy
        self.c = cfg.c if cfg.c is not None else (2.0 if cfg.selection == "uct" else 1.25)
        self.widths = (WIDTH_ALPHA, WIDTH_MIN, WIDTH_MAX) if cfg.adaptive_width else None
        if scorer is None and (cfg.no_gold or cfg.ppm_prior or cfg.leaf_eval == "ppm"):
            raise SystemExit("--no-gold, --ppm-prior and --leaf-eval ppm need a PPM (--ppm DIR)")
        if cfg.leaf_eval == "mix" and not (scorer or prm or orm):
            raise SystemExit("--leaf-eval mix needs a critic: --ppm DIR (the value function), --prm DIR or --orm DIR")
        self.code_cache, self.tokens = {}, 0  # tokens: generated by this search, for tok/s
        self.pool = ThreadPoolExecutor(CODE_WORKERS) if cfg.format == "code" else None

    def run(self, problems):
        """Yield each tree's record when it finishes; at most cfg.window trees are in flight."""
        queue, active = deque(problems), []
        while queue or active:
            while queue and len(active) < self.cfg.window:
                p = queue.popleft()
                prompt = p.get("prompt") or format_prompt(self.policy.tokenizer, p["question"], self.cfg.format == "code")
                active.append(Tree(p, prompt, self.cfg.step_delim))
            self.tick(active)
            for t in [t for t in active if t.stopped or (t.done >= self.cfg.rollouts and not t.inflight)]:
                active.remove(t)
                yield t.record({k: v for k, v in vars(self.cfg).items() if k not in RUNTIME_ARGS})

    def wanted(self, t, node):
        """Samples to draw at a node now: --children, or (adaptive) c_min first, then up to its width; one whole
        rest of the solution per visit below --whole-after."""
        if samples_whole(self.cfg, node):
            return 1
        if self.widths is None:
            return self.cfg.children
        if node.samples == 0 or all(t.nodes[i].terminal for i in node.children):
            return WIDTH_MIN[node.depth > 0]
        return max(1, node.width - node.samples)

    def tick(self, trees):
        """One lock-step tick over every unfinished tree: the phases below, in order."""
        jobs = self.select(trees)
        cands = self.sample(jobs)
        oks = self.check(jobs, cands)
        results = [(t, r, *expand(t, r[-1], cands[ji], self.cfg, oks[ji], None if self.cfg.no_gold else t.problem["answer"]))
                   for ji, (t, r) in enumerate(jobs)]
        self.evaluate(results)
        self.back_up(results)
        self.go_on(results)

    def select(self, trees):
        """1. Select: start rollouts up to --leaves-per-tick per tree (virtual loss spreads them); the jobs
        are (tree, rollout path) for every rollout in flight, whose last node is expanded this tick."""
        jobs = []
        for t in trees:
            t.ticks += 1
            while len(t.inflight) < self.cfg.leaves_per_tick and t.started < self.cfg.rollouts:
                path = select_leaf(t, [0], self.cfg.selection, self.c, self.widths)
                if path is None:
                    t.stopped = t.nodes[0].terminal
                    break
                t.follow(path, path)
                t.inflight.append(path)
                t.started += 1
            jobs += [(t, r) for r in t.inflight]
        return jobs

    def sample(self, jobs):
        """2. Expand: ONE batched call per temperature, a row per sample of every job's leaf (a node whose
        samples failed before is drawn hotter, resample_temperature); the candidates of each job."""
        cfg, rows = self.cfg, []  # (job index, context, seed, (temperature, whole rest of the solution))
        for ji, (t, r) in enumerate(jobs):
            node, ctx = t.nodes[r[-1]], t.context(r[-1])
            kind = (resample_temperature(cfg.temperature, node.fails, cfg.resample_heat), samples_whole(cfg, node))
            rows += [(ji, ctx, stable_seed(cfg.seed, t.problem["id"], r[-1], j), kind)
                     for j in range(node.samples, node.samples + self.wanted(t, node))]
        cands = [[] for _ in jobs]
        for temp, whole in sorted({row[3] for row in rows}):
            group = [row for row in rows if row[3] == (temp, whole)]
            outs = self.policy.generate([row[1] for row in group], n=1, temperature=temp, seeds=[row[2] for row in group],
                                        max_tokens=cfg.max_step_tokens * (cfg.max_depth if whole else 1),
                                        stop=None if whole else [cfg.step_delim])
            for row, o in zip(group, outs):
                cands[row[0]].append(o[0])
                self.tokens += o[0]["tokens"]
        return cands  # a job's samples share one temperature: each list is in seed order

    def check(self, jobs, cands):
        """Per job, whether each candidate passes: code that runs (--format code), true equations (--check-equations;
        a relations step must also read the values its names hold: reltask.bookkeeping_ok), or None (no check)."""
        if self.cfg.format == "code":
            return self.run_code(jobs, cands)
        if self.cfg.check_equations:  # a built-in problem (it carries "ops") is read exactly, real text by stepcheck
            return [[all(arithmetic_ok(s, "ops" in t.problem) for s in split_steps(c["text"], t.delim)) and (
                "ops" not in t.problem or bookkeeping_ok(t.problem["question"], t.steps(r[-1]) + split_steps(c["text"], t.delim)))
                for c in cs] for (t, r), cs in zip(jobs, cands)]
        return [None] * len(jobs)

    def evaluate(self, results):
        """3. Evaluate: terminals without gold get the PPM score; new open children the PPM score (leaf value,
        or rStar's prior) or the mean reward of fast rollouts."""
        cfg = self.cfg
        unscored = [(t, j) for t, r, new, _ in results for j in new if t.nodes[j].terminal and t.nodes[j].reward is None]
        opened = [(t, j) for t, r, new, _ in results for j in new if not t.nodes[j].terminal]
        for (t, j), v in zip(unscored, self.scorer([t.text(j) for t, j in unscored]) if unscored else []):
            t.nodes[j].reward = float(v)
        if opened and (cfg.leaf_eval == "ppm" or cfg.ppm_prior):
            for (t, j), v in zip(opened, self.scorer([t.text(j) for t, j in opened])):
                t.nodes[j].value = float(v)
                if cfg.leaf_eval == "none":  # --ppm-prior
                    ppm_prior(t.nodes[j], v)
        if opened and cfg.leaf_eval == "rollout":
            for (t, j), v in zip(opened, self.fast_rollouts(opened)):
                t.nodes[j].value = v
        if opened and cfg.leaf_eval == "mix":
            self.critic_mix(opened)

    def back_up(self, results):
        """4. Backup: every terminal hit, and (with a leaf evaluation) every new open child's value."""
        for t, r, new, hits in results:
            for j in hits:
                backup(t, r + [j] if j != r[-1] else r, t.nodes[j].reward)
            for j in new if self.cfg.leaf_eval != "none" else []:
                if not t.nodes[j].terminal:
                    backup(t, r + [j], t.nodes[j].value)
            t.pending.discard(r[-1])

    def go_on(self, results):
        """Each rollout ends, or (leaf-eval none, rStar) goes on down from its new children next tick."""
        cfg = self.cfg
        for t, r, new, hits in results:
            t.stopped |= bool(cfg.stop_after and not cfg.no_gold and t.n_correct >= cfg.stop_after)
            leaf = t.nodes[r[-1]]
            if not t.stopped and cfg.leaf_eval == "none" and any(not t.nodes[i].terminal for i in leaf.children):
                nxt = select_leaf(t, r, cfg.selection, self.c, self.widths)
                if nxt is not None:
                    t.follow(nxt, nxt[len(r):])
                    r.extend(nxt[len(r):])
                    continue
            if r in t.inflight:
                t.end(r)

    def run_code(self, jobs, cands):
        """rStar 2.3: the path's code plus each candidate's, run in the sandbox (a thread pool); codesteps.after_run.
        On a built-in problem a step that boxes the answer boxes what its code printed, the variable of what is asked."""
        codes = [["\n".join(step_code(s) for s in t.steps(r[-1]) + [c["text"]]) for c in cs]
                 for (t, r), cs in zip(jobs, cands)]
        todo = sorted({c for cs in codes for c in cs if c not in self.code_cache})
        for code, result in zip(todo, self.pool.map(lambda s: run_code(s, timeout=CODE_TIMEOUT), todo)):
            self.code_cache[code] = result
        for cs, code in zip(cands, codes):
            for c, k in zip(cs, code):
                c["text"] = after_run(c["text"], *self.code_cache[k])
        return [[self.code_cache[k][0] and ("ops" not in t.problem or boxes_its_output(c["text"], self.code_cache[k][1])
                 and prints_what_is_asked(t.problem["question"], c["text"])) for c, k in zip(cs, code)]
                for (t, r), cs, code in zip(jobs, cands, codes)]

    def fast_rollouts(self, opened, judge=None):
        """AlphaLLM fast rollout: per node, the mean reward of m completions to the end. A completion's reward is
        judge's score of the whole trajectory (the ORM; with --no-gold the PPM), else its outcome against the gold;
        -1 without an answer."""
        cfg, m = self.cfg, self.cfg.fast_rollouts
        prompts = [t.context(j) for t, j in opened for _ in range(m)]
        outs = [o[0] for o in self.rollout_policy.generate(
            prompts, n=1, temperature=cfg.temperature, max_tokens=cfg.max_step_tokens * cfg.max_depth,
            seeds=[stable_seed(cfg.seed, t.problem["id"], j, "fast", k) for t, j in opened for k in range(m)])]
        judge = judge or (self.scorer if cfg.no_gold else None)
        scores = judge([p + o["text"] for p, o in zip(prompts, outs)]) if judge else None
        means = []
        for n, (t, j) in enumerate(opened):
            rewards = []
            for k in range(n * m, n * m + m):
                t.tokens += outs[k]["tokens"]
                self.tokens += outs[k]["tokens"]
                has_answer = extract_answer(outs[k]["text"], free_text=False) is not None
                rewards.append((scores[k] if has_answer else -1.0) if judge else outcome(outs[k]["text"], t.problem["answer"])[0])
            means.append(sum(rewards) / m)
        return means

    def critic_mix(self, opened):
        """AlphaLLM's critics at each new open child (critic_score): the value function (--ppm) and the PRM (--prm)
        of its path, and the mean ORM (--orm) score of --fast-rollouts completions from it; a critic not given is
        left out."""
        texts = [t.text(j) for t, j in opened]
        value, prm = (c(texts) if c else [None] * len(texts) for c in (self.scorer, self.prm))
        orm = self.fast_rollouts(opened, self.orm) if self.orm else [None] * len(texts)
        for (t, j), v, p, o in zip(opened, value, prm, orm):
            t.nodes[j].value = critic_score(v, p, o, self.cfg.critic_weights)


# flags that change how a run is executed, not which trees it finds: left out of each record's config
RUNTIME_ARGS = {"data", "out", "shard", "merge", "window", "backend", "limit"}


# ----------------------------------------------------------------------------- run


def get_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument_group("input, output and runtime").add_argument
    a("--policy", help="policy HF directory")
    a("--data", help="problems JSONL (project, GSM8K or MATH records)")
    a("--out", help="trees JSONL to write (resumed when it exists)")
    a("--backend", default="hf", choices=["hf", "vllm"], help="generation backend (vllm: prefix caching on, GPU)")
    a("--window", type=positive_int, default=64, help="trees in lock-step (HF: window x children rows per batch)")
    a("--leaves-per-tick", type=positive_int, default=1, help="rollouts in flight per tree per tick, spread by virtual loss")
    a("--limit", type=nonneg_int, default=0, help="search only the first N problems (0: all)")
    a("--seed", type=int, default=0, help="sampling seed (per-sample seeds derive from it, the id and the node)")
    a("--shard", type=shard_spec, default="", help="'i/n': search every n-th problem from i into its own file (default: torchrun rank)")
    a("--merge", type=nonneg_int, default=0, help="merge this many shard files of --out into --out, ordered by id, and exit")
    a("--force", action="store_true", help="start --out over when it was made with other settings (else: refuse)")
    a = ap.add_argument_group("search: selection and budget").add_argument
    a("--selection", default="uct", choices=["uct", "puct"], help="uct: rStar-Math Eq. 1; puct: SVPO Eq. 4 / AlphaMath")
    a("--c", type=nonneg_float, default=None, help="exploration constant (default: 2 for uct, rStar; 1.25 for puct, SVPO)")
    a("--rollouts", type=positive_int, default=16, help="rollouts per problem (rStar rounds 2-4: 16)")
    a("--stop-after", type=nonneg_int, default=0, help="stop a tree at this many distinct correct terminals (SVPO: 4; 0: off)")
    a("--max-depth", type=positive_int, default=16, help="max steps per trajectory (rStar: 16; SVPO: 8)")
    a = ap.add_argument_group("expansion").add_argument
    a("--children", type=positive_int, default=8, help="samples per expansion (rStar rounds 2-3: 8; SVPO: 5)")
    a("--temperature", type=nonneg_float, default=1.0, help="sampling temperature (rStar rounds 2-4: 1.0)")
    a("--max-step-tokens", type=positive_int, default=256, help="max new tokens per step (48 is plenty for the built-in task)")
    a("--step-delim", default="\n\n", help="step delimiter: generation stops at it")
    a("--whole-after", type=nonneg_int, default=None, help="expand one step per node (--children samples) down to "
      "this depth; below it each visit samples one whole rest of the solution, a terminal child, -1 when it fails "
      "the checks (1: branch at the first step, e.g. a plan, and sample under the plan UCT picks; 0: rejection "
      "sampling, a sample per rollout; default: one step per node throughout)")
    a("--format", default="text", choices=["text", "code"], help="code: rStar code steps, run in the sandbox, failures dropped")
    a("--check-equations", action="store_true", help="drop a step whose written arithmetic is false (grader.arithmetic_ok) "
      "or, on a relations problem, that reads a value its names do not hold or computes a name again "
      "(reltask.bookkeeping_ok)")
    a("--verified-terminals", action="store_true", help="built-in problems: a right answer is correct (+1, counted by "
      "--stop-after) only when its path passes the training filter (grader.steps_verified); else -1")
    a("--resample", type=nonneg_int, default=3, help="a node none of whose samples survives (failing code, false equation, "
      "empty) is sampled again this many times, then is a dead end with reward -1 (rStar: 0)")
    a("--resample-heat", type=nonneg_float, default=0.5, help="each resample of a node whose samples all failed the "
      "check is drawn this much hotter (temperature + heat * failures; 0: off)")
    a("--backtrack", action=argparse.BooleanOptionalAction, default=True, help="with the gold: an expansion whose "
      "samples all repeat wrong terminals fails as one with no surviving sample (resampled, then a dead end)")
    a("--merge-threshold", type=unit_float, default=0.0, help="AlphaLLM state merge: siblings within this edit distance merge")
    a("--adaptive-width", action="store_true", help="AlphaLLM importance-weighted width: from the spread of children's Q")
    a = ap.add_argument_group("evaluation of leaves and terminals").add_argument
    a("--leaf-eval", default="none", choices=["none", "ppm", "rollout", "mix"],
      help="none: expand down to a terminal (rStar); ppm: PPM score (AlphaLLM value, rStar r3+); rollout: fast rollouts "
      "(AlphaLLM, SVPO); mix: AlphaLLM's critics, value (--ppm) + PRM (--prm) + ORM (--orm) of fast rollouts, weighted")
    a("--fast-rollouts", type=positive_int, default=4, help="completions per leaf with --leaf-eval rollout (AlphaLLM: 4)")
    a("--rollout-model", default=None, help="a smaller policy for fast rollouts (AlphaLLM's pi_fast; default: the policy)")
    a("--ppm", default=None, help="PPM directory: train_ppm.py (scoring.PPMScorer) or train_sft.py --verifier (scoring.ResultVerifier)")
    a("--prm", default=None, help="--leaf-eval mix: the PRM, a scorer directory like --ppm, scoring the path to a node")
    a("--orm", default=None, help="--leaf-eval mix: the ORM, a scorer directory like --ppm, scoring each fast rollout's whole trajectory")
    a("--critic-weights", type=float, nargs=3, default=[1.0, 1.0, 1.0], metavar=("VALUE", "PRM", "ORM"),
      help="--leaf-eval mix: beta_value, beta_PRM, beta_ORM (AlphaLLM: 1 each)")
    a("--ppm-prior", action="store_true", help="seed a new child's Q with its PPM score (rStar Eq. 3, round 3+)")
    a("--no-gold", action="store_true", help="test time: never read the gold answer; terminal reward = PPM score (rStar 6.1)")
    return ap


def load_search(args, torchrun, local):
    """The Search with its policy (and rollout policy) on this rank's device, and the PPM if any."""
    def backend(path):  # one device per rank
        if args.backend == "vllm":
            if torchrun:  # vLLM takes the first visible GPU: make it this rank's
                vis = os.environ.get("CUDA_VISIBLE_DEVICES")
                os.environ["CUDA_VISIBLE_DEVICES"] = vis.split(",")[local] if vis else str(local)
            # a vLLM rollout policy shares the GPU with the policy: each engine reserves half
            return make_backend("vllm", path, seed=args.seed, gpu_memory=0.45 if args.rollout_model else 0.9)
        rows = args.window * args.children * args.leaves_per_tick
        return HFBackend(path, *pick_device(local, announce=path == args.policy), batch_size=rows)
    prm, orm = (load_ppm(p) if p else None for p in (args.prm, args.orm))
    return Search(backend(args.policy), args, load_ppm(args.ppm) if args.ppm else None,
                  backend(args.rollout_model) if args.rollout_model else None, prm, orm)


def search_all(search, todo, writer, show):
    """Search the problems, each tree written (flushed) as it finishes; one tqdm bar with tok/s."""
    t0 = time.time()
    bar = tqdm(total=len(todo), desc="trees", unit="tree", mininterval=2, disable=not show)
    for rec in search.run(todo):
        writer.write(rec)
        bar.update(1)
        bar.set_postfix_str(f"{search.tokens / (time.time() - t0):.0f} tok/s")
    bar.close()
    writer.close()
    return time.time() - t0


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.merge and args.out:
        return print0(f"merged {merge_shards(args.out, args.merge)} trees into {args.out}")
    if not (args.data and args.policy and args.out):
        raise SystemExit("--policy, --data and --out are required")
    shard, nshards = parse_shard(args.shard)  # torchrun: RANK / WORLD_SIZE
    torchrun, local = not args.shard and nshards > 1, int(os.environ.get("LOCAL_RANK", 0))
    out = shard_path(args.out, shard, nshards)
    print0(json.dumps(vars(args)))
    for flag, path, kind in (("--policy", args.policy, "causal"), ("--ppm", args.ppm, "ppm"), ("--prm", args.prm, "ppm"),
                             ("--orm", args.orm, "ppm"), ("--rollout-model", args.rollout_model, "causal")):
        if path:  # model directories, paths and outputs, before any model is loaded or any record written
            check_model_dir(path, flag, kind)
    check_not_input(args.out, "--out", {"--data": args.data, "--policy": args.policy})
    check_output(out, "--out")
    problems = read_problems(args.data)[:args.limit or None][shard::nshards]
    record = check_resume(out, Path(str(out) + ".args.json"), args, RUNTIME_ARGS | {"force"}, args.force,
                          {k: get_parser().get_default(k) for k in vars(args)},
                          {"--data": args.data, "--policy": args.policy, "--ppm": args.ppm, "--prm": args.prm, "--orm": args.orm})
    writer = ResumableWriter(out)
    write_json(Path(str(out) + ".args.json"), record)
    todo = [p for p in problems if p["id"] not in writer.done]
    print0(f"shard {shard}/{nshards}: {len(problems)} problems, {len(problems) - len(todo)} done, {len(todo)} to search")
    search = load_search(args, torchrun, local)
    todo = fit_context(todo, search.policy.tokenizer, args.policy, args.max_step_tokens)
    dt = search_all(search, todo, writer, show=shard == 0)
    recs = sorted(writer.records, key=lambda r: str(r["id"]))
    write_jsonl(out, recs)  # the same trees however it ran (logps to ~1e-6)
    solved = "n/a" if args.no_gold else f"{100 * sum(r['stats']['correct'] > 0 for r in recs) / max(len(recs), 1):.1f}%"
    print0(f"done | {len(recs)} trees | {solved} with a correct terminal | {search.tokens} tokens this run | "
           f"{search.tokens / dt:.0f} tok/s | {dt:.0f}s")
    if torchrun:
        merge_ranks(args.out, shard, nshards, "trees")  # rank 0 merges the shard files once every rank is done


if __name__ == "__main__":
    run_main(main, "mcts")
