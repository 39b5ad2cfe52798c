"""Can a verifier learned from the policy pick better answers than the vote? Probes of the PPM issue.

Every subcommand reads the N samples per problem that `evaluate.py --methods sample` stored in
predictions.jsonl (on the test problems, or on the pool problems as training data):
  ceiling        maj@N, pass@N and the vote over the samples whose every written equation holds
                 (grader.equations_hold; all samples when none does): what an exact checker of the
                 visible arithmetic would add to the vote, the most a verifier of the steps can hope for
                 on this task; and how many wrong samples have a false equation.
  value-head     a PPM head (train_ppm.build_model) trained with MSE at EVERY step end of every distinct
                 sample, one forward pass per sample, on clean Monte Carlo values (`clean_values`): the
                 AlphaMath value head on all nodes, with the samples of a problem as its tree; or, with
                 --target checker, on the checker's +1 / -1 alone with corrected and perturbed copies
                 (`checker_values`).
  checker-pairs  train_ppm.py pairs labelled by the checker (`checker_pairs`): each sample's first false
                 step against the same step with the checker's results, and each true step before it
                 against the same step with its last result changed (`perturb`).
  siblings       a --ppm directory's step values on the samples: AUC of true steps over first false steps,
                 and the accuracy on sibling pairs (same problem and prefix, one next step true, one false):
                 the part of a step's value that reads its arithmetic, not its context.
Best-of-N with a --ppm on the same samples: benchmarks/bon_logprob.py --ppm.

  python benchmarks/verifier_probe.py ceiling --samples E/predictions.jsonl --data test.jsonl
  python benchmarks/verifier_probe.py value-head --samples POOL/predictions.jsonl --data pool.jsonl --policy P --out V
  python benchmarks/verifier_probe.py checker-pairs --samples POOL/predictions.jsonl --data pool.jsonl --policy P --out F
  python benchmarks/verifier_probe.py siblings --samples E/predictions.jsonl --data test.jsonl --ppm V
"""
import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import encode, format_prompt, join_steps, load_jsonl, load_tokenizer, lr_at, save_checkpoint, write_jsonl  # noqa: E402
from evaluate import majority_vote, split_steps, trajectory_text  # noqa: E402
from grader import _EQUATION, correct_equations, equations_hold, is_equiv  # noqa: E402

# ----------------------------------------------------------------------------- labels (pure)


def clean_values(texts, preds, gold):
    """Per distinct sample (in order of first appearance), its steps and the clean Monte Carlo value of
    every step prefix: -1 from the first step with a false equation on, else the mean over the samples
    through that prefix of their clean reward (+1: right answer and every equation true; -1 otherwise;
    a right answer reached through a false step is not a positive).  -> [(steps, [q_1, ..., q_m])]"""
    total, count, sols = defaultdict(float), defaultdict(int), []
    for t, p in zip(texts, preds):
        steps = tuple(split_steps(t))
        reward = 1.0 if p is not None and is_equiv(p, gold) and equations_hold(t) else -1.0
        sols.append(steps)
        for i in range(len(steps)):
            total[steps[:i + 1]] += reward
            count[steps[:i + 1]] += 1
    out = []
    for steps in dict.fromkeys(sols):
        bad = first_false(steps)
        out.append((steps, [-1.0 if i >= bad else total[steps[:i + 1]] / count[steps[:i + 1]]
                            for i in range(len(steps))]))
    return out


def first_false(steps):
    """Index of the first step with a false equation (len(steps) when every one holds)."""
    return next((k for k, s in enumerate(steps) if not equations_hold(s)), len(steps))


def checker_values(texts, rng):
    """Per distinct sample, (steps, targets) labelled by the checker alone: +1 at every step end while
    every equation so far holds, -1 from the first false step on. Two truncated copies teach both sides
    of each sum: the sample up to its first false step with that step corrected (all +1), and the sample
    up to a true step chosen at random before it, that step's result moved by `perturb` (-1 there).
    -> [(steps, [q_1, ..., q_m])]"""
    out = []
    for t in dict.fromkeys(texts):
        steps = split_steps(t)
        bad = first_false(steps)
        out.append((steps, [1.0] * bad + [-1.0] * (len(steps) - bad)))
        fix = correct_equations(steps[bad]) if bad < len(steps) else None
        if fix:
            out.append((steps[:bad] + [fix], [1.0] * (bad + 1)))
        if bad:
            j = rng.randrange(bad)
            moved = perturb(steps[j], rng)
            if moved:
                out.append((steps[:j] + [moved], [1.0] * j + [-1.0]))
    return out


def perturb(step, rng):
    """The step with the result of its last equation moved by 1, 2, 3, 9, 10, 11 or 20 (up or down, never
    below 0; a \\boxed copy of it follows), or None when it has no equation."""
    ms = list(_EQUATION.finditer(step))
    if not ms:
        return None
    m = ms[-1]
    c, d = int(m.group(4)), rng.choice([1, 2, 3, 10, 9, 11, 20])
    new = c + d if rng.random() < 0.5 or c - d < 0 else c - d
    return (step[:m.start(4)] + str(new) + step[m.end(4):]).replace(f"\\boxed{{{c}}}", f"\\boxed{{{new}}}")


def checker_pairs(pid, prompt, texts, rng, seen, share=1.0):
    """Pairs of one problem's distinct samples: at the first false step (corrected, as written), kind
    false_fix; at each true step before it (as written, perturbed), kind perturb, for a `share` of
    them. `seen` drops repeats across calls."""
    out = []
    for t in dict.fromkeys(texts):
        steps = split_steps(t)
        for k, s in enumerate(steps):
            pre = join_steps(prompt, steps[:k])
            if not equations_hold(s):
                fix = correct_equations(s)
                if fix and (pre, fix, s) not in seen:
                    seen.add((pre, fix, s))
                    out.append((pre, fix, s, "false_fix"))
                break
            bad = perturb(s, rng) if rng.random() < share else None
            if bad and (pre, s, bad) not in seen and ("true", pre, s) not in seen:
                seen |= {(pre, s, bad), ("true", pre, s)}
                out.append((pre, s, bad, "perturb"))
    return [{"id": f"{pid}#{i}", "problem": pid, "prompt": pre, "chosen": c, "rejected": r, "kind": kind,
             "q_chosen": 1.0, "q_rejected": -1.0} for i, (pre, c, r, kind) in enumerate(out)]


def sibling_stats(items):
    """items: (problem, steps, values) per distinct sample -> (AUC of true steps over first false steps,
    sibling pairs, their accuracy: a true next step valued above a false one of the same prefix)."""
    pos, neg, kids = [], [], defaultdict(dict)
    for pid, steps, values in items:
        for k, (s, v) in enumerate(zip(steps, values)):
            ok = equations_hold(s)
            kids[(pid, tuple(steps[:k]))][s] = (ok, v)
            if not ok:
                neg.append(v)
                break
            pos.append(v)
    pos = random.Random(0).sample(pos, min(len(pos), 5000))
    auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / max(len(pos) * len(neg), 1)
    pairs = [(a, b) for ch in kids.values() for ok_a, a in ch.values() if ok_a for ok_b, b in ch.values() if not ok_b]
    return auc, len(pairs), sum(a > b for a, b in pairs) / max(len(pairs), 1)

# ----------------------------------------------------------------------------- subcommands


def read(args):
    """(records with samples, {id: problem})."""
    problems = {str(p["id"]): p for p in load_jsonl(args.data)}
    return [r for r in load_jsonl(args.samples) if "sample" in r], problems


def ceiling(args):
    recs, _ = read(args)
    maj = pas = filt = 0
    wrong = Counter()
    for r in recs:
        s, gold = r["sample"], r["answer"]
        right = lambda a: a is not None and is_equiv(a, gold)  # noqa: E731
        maj += right(majority_vote(s["preds"]))
        pas += any(s["correct"])
        ok = [p for p, t in zip(s["preds"], s["texts"]) if equations_hold(t)]
        filt += right(majority_vote(ok or s["preds"]))
        wrong.update("false equation" if not equations_hold(t) else "all equations true"
                     for t, c in zip(s["texts"], s["correct"]) if not c)
    n = len(recs)
    print(f"{n} problems | maj@N {100 * maj / n:.1f} | pass@N {100 * pas / n:.1f} | "
          f"vote over checked samples {100 * filt / n:.1f} | wrong samples: {dict(wrong)}")


def value_head(args):
    import torch
    from train_ppm import build_model
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    model, tok = build_model(args.policy, args.from_scratch)
    recs, problems, rng = *read(args), random.Random(args.seed)
    examples, split = [], 0  # (ids, step-end positions, values); samples whose prefixes tokenize apart
    for r in recs:
        prompt = format_prompt(tok, problems[str(r["id"])]["question"])
        labelled = (clean_values(r["sample"]["texts"], r["sample"]["preds"], r["answer"]) if args.target == "mc"
                    else checker_values(r["sample"]["texts"], rng))
        for steps, qs in labelled:
            ids = encode(tok, trajectory_text(prompt, list(steps)))
            prefixes = [encode(tok, trajectory_text(prompt, list(steps[:i + 1]))) for i in range(len(steps))]
            if any(ids[:len(p)] != p for p in prefixes):  # a step end is not a position of the whole sample
                split += 1
            elif len(ids) <= args.max_len:
                examples.append((ids, [len(p) - 1 for p in prefixes], qs))
    steps_total = int(args.epochs * len(examples) / args.batch_size)
    print(f"{len(examples)} samples ({split} skipped: a prefix tokenizes apart) | "
          f"{sum(len(q) for _, _, q in examples)} step values ({sum(v < 0 for _, _, q in examples for v in q)} "
          f"below 0) | {steps_total} steps", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95))
    body, order, t0 = getattr(model, model.base_model_prefix), [], time.time()
    model.train()
    for step in range(steps_total):
        if len(order) < args.batch_size:
            order += random.sample(range(len(examples)), len(examples))
        b, order = [examples[i] for i in order[:args.batch_size]], order[args.batch_size:]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps_total, args.lr, max(1, steps_total // 20), 0.05)
        T = max(len(x) for x, _, _ in b)
        x = torch.tensor([ids + [tok.pad_token_id] * (T - len(ids)) for ids, _, _ in b])
        m = torch.tensor([[1] * len(ids) + [0] * (T - len(ids)) for ids, _, _ in b])
        v = torch.tanh(model.score(body(input_ids=x, attention_mask=m).last_hidden_state)[..., 0].float())
        rows = torch.tensor([i for i, (_, ends, _) in enumerate(b) for _ in ends])
        cols = torch.tensor([e for _, ends, _ in b for e in ends])
        loss = (v[rows, cols] - torch.tensor([q for _, _, qs in b for q in qs])).pow(2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        if step % 100 == 0 or step == steps_total - 1:
            print(f"step {step + 1}/{steps_total} | mse {loss.item():.4f} | {time.time() - t0:.0f}s", flush=True)
    save_checkpoint(model, tok, args.out, {"args": vars(args), "examples": len(examples),
                                           "value": "tanh(raw score at the last non-pad token)"})
    print(f"saved {args.out}")


def pairs(args):
    tok, (recs, problems) = load_tokenizer(args.policy), read(args)
    rng, seen, out = random.Random(0), set(), []
    for r in recs:
        pid = str(r["id"])
        out += checker_pairs(pid, format_prompt(tok, problems[pid]["question"]), r["sample"]["texts"], rng, seen,
                             args.share)
    write_jsonl(args.out, out)
    print(f"{args.out}: {dict(Counter(p['kind'] for p in out))}")


def siblings(args):
    import torch
    from scoring import load_ppm
    from evaluate import step_values
    scorer = load_ppm(args.ppm, torch.device("cpu"), torch.float32, 64)
    recs, problems = read(args)
    items = sorted({(str(r["id"]), t) for r in recs for t in r["sample"]["texts"]})
    values = step_values(scorer, [(format_prompt(scorer.tokenizer, problems[i]["question"]), t) for i, t in items])
    auc, n, acc = sibling_stats([(i, split_steps(t), v) for (i, t), v in zip(items, values)])
    print(f"{args.ppm}: step AUC (true over first false) {auc:.3f} | sibling pairs {n} | accuracy {acc:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    helps = {"ceiling": "maj@N, pass@N and the vote over the samples whose equations hold",
             "value-head": "train a PPM head with MSE at every step end on clean Monte Carlo values",
             "checker-pairs": "write train_ppm.py pairs labelled by the arithmetic checker",
             "siblings": "a --ppm's step AUC and accuracy on same-prefix true / false sibling steps"}
    for name, fn in (("ceiling", ceiling), ("value-head", value_head), ("checker-pairs", pairs), ("siblings", siblings)):
        p = sub.add_parser(name, help=helps[name])
        p.set_defaults(fn=fn)
        p.add_argument("--samples", required=True, help="evaluate.py predictions.jsonl (method sample)")
        p.add_argument("--data", required=True, help="the problems it sampled (questions)")
        if name in ("value-head", "checker-pairs"):
            p.add_argument("--policy", required=True, help="the policy (tokenizer; value-head: the body it starts from)")
            p.add_argument("--out", required=True, help="value-head: HF directory; checker-pairs: pairs JSONL")
        if name == "checker-pairs":
            p.add_argument("--share", type=float, default=1.0, help="share of the true steps given a perturbed pair")
        if name == "value-head":
            p.add_argument("--target", choices=["mc", "checker"], default="mc",
                           help="mc: clean Monte Carlo values (clean_values); checker: +1 / -1 by the checker "
                                "with corrected and perturbed copies (checker_values)")
            p.add_argument("--from-scratch", action="store_true", help="fresh weights of the policy's architecture")
            p.add_argument("--epochs", type=float, default=1.0, help="passes over the distinct samples")
            p.add_argument("--lr", type=float, default=1e-3, help="peak lr (warm-up 5%%, cosine to 5%%)")
            p.add_argument("--batch-size", type=int, default=32, help="samples per step")
            p.add_argument("--max-len", type=int, default=512, help="longer samples are skipped")
            p.add_argument("--seed", type=int, default=0, help="seed of the order")
        if name == "siblings":
            p.add_argument("--ppm", required=True, help="a --ppm directory (scoring.load_ppm)")
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
