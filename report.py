"""evaluate.py's report: per-method accuracy (mean and std over seeds, per difficulty), tokens and
wall time; the markdown table; the accuracy-vs-generated-tokens plot, and the figure helpers the
benchmarks' plots share (matplotlib is imported only when plotting).
"""
import sys
from collections import defaultdict
from pathlib import Path

from common import mean, print0, write_json, write_jsonl

# ----------------------------------------------------------------------------- summary and table


def wall_seconds(name, seconds):
    """Mean wall time over seeds of the run(s) a method needs; seconds: {run: {seed: s}} with runs
    greedy, sample, bon:<ppm>, beam:<ppm>@<width>, mcts:<ppm>@<rollouts>. A budget k < N reports
    the run at N (the samples are drawn once)."""
    if name.startswith(("maj@", "pass@")):
        runs = ["sample"]
    elif name.startswith("bon-"):
        runs = ["sample", "bon:" + name.split(":")[1].rsplit("@", 1)[0]]
    elif name.startswith(("mcts-vote:", "mcts-pvote:")):  # read from the trees of mcts:<ppm>@<rollouts>
        runs = ["mcts:" + name.split(":", 1)[1]]
    else:
        runs = [name]
    per = [sum(seconds[r][s] for r in runs) for s in seconds.get(runs[0], {}) if all(s in seconds.get(r, {}) for r in runs)]
    return mean(per) if per else None


def summarize(per_seed, seconds):
    """Mean (and std over seeds) accuracy, tokens, wall time and per-difficulty accuracy per method."""
    import torch  # for the std (torch's, as before the report moved here); only when summarizing
    summary = {}
    for name in per_seed[0]:
        accs = [mean(s for _, s, _ in sc[name]) for sc in per_seed if name in sc]
        by = defaultdict(list)
        for sc in per_seed:
            for d, s, _ in sc.get(name, []):
                by[str(d)].append(s)
        summary[name] = {"acc": mean(accs), "acc_std": float(torch.tensor(accs).std()) if len(accs) > 1 else 0.0,
                         "acc_per_seed": accs, "seeds": len(accs),
                         "tokens": mean(t for sc in per_seed for _, _, t in sc.get(name, [])),
                         "seconds": wall_seconds(name, seconds),
                         "by_difficulty": {d: mean(v) for d, v in sorted(by.items())}}
    return summary


def markdown(summary, label):
    diffs = sorted({d for v in summary.values() for d in v["by_difficulty"]})
    head = "| model | method | acc % | ± (seeds) | tokens/problem | seconds | " + " | ".join(f"d={d}" for d in diffs) + " |"
    lines = [head, "|" + "---|" * (6 + len(diffs))]
    for name, v in summary.items():
        cells = " | ".join(f"{100 * v['by_difficulty'].get(d, float('nan')):.1f}" for d in diffs)
        sec = f"{v['seconds']:.0f}" if v["seconds"] is not None else ""
        lines.append(f"| {label} | {name} | {100 * v['acc']:.1f} | {100 * v['acc_std']:.1f} ({v['seeds']}) | "
                     f"{v['tokens']:.0f} | {sec} | {cells} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plot


def new_plot(size):
    """(pyplot, figure, axes) on matplotlib's file-only backend; matplotlib is imported here, so a
    missing one raises ImportError only when a plot is asked for."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=size)
    return plt, fig, ax


def save_plot(plt, fig, ax, path, xlabel, ylabel, title, legend="best"):
    """The house finish: axis labels, a small title, a light grid, a small legend; 110 dpi; closed."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(summary, path, title):
    """Accuracy against generated tokens per problem, one line per method (pass@k left out: an oracle)."""
    lines = defaultdict(list)
    for name, v in summary.items():
        if not name.startswith("pass@"):
            lines[name.rsplit("@", 1)[0]].append((v["tokens"], 100 * v["acc"], 100 * v["acc_std"]))
    plt, fig, ax = new_plot((8, 5.5))
    colors = plt.get_cmap("tab20").colors  # 20 distinct colours: the default cycle repeats after 10 lines
    # line i takes tab20's dark shades (even indices) first, then the light ones (odd), so neighbours differ
    for i, (key, pts) in enumerate(sorted(lines.items())):
        pts.sort()
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="os^vD"[i % 5], ms=4,
                    capsize=2, color=colors[2 * i % 20 + 2 * i // 20 % 2], label=key.replace("greedy", "greedy (pass@1)"),
                    linestyle="-" if len(pts) > 1 else "none")
    ax.set_xscale("log")
    save_plot(plt, fig, ax, path, "generated tokens per problem (log scale)", "accuracy %", title)


def write_report(out, args, problems, seeds, per_seed, seconds, preds):
    """evaluate.py's outputs in `out`: predictions.jsonl, summary.json, table.md and (--plot)
    accuracy_vs_tokens.png."""
    summary = summarize(per_seed, seconds)
    write_jsonl(out / "predictions.jsonl", preds)
    write_json(out / "summary.json", {"args": vars(args), "problems": len(problems), "seeds": seeds,
                                      "seconds": seconds, "methods": summary})
    table = markdown(summary, Path(args.model).name)
    (out / "table.md").write_text(table + "\n")
    print0(table)
    if args.plot:
        try:
            plot(summary, out / "accuracy_vs_tokens.png",
                 f"{Path(args.model).name} on {Path(args.data).name}: {len(problems)} problems, {len(seeds)} seed(s)")
            print0(f"plot: {out / 'accuracy_vs_tokens.png'}")
        except ImportError:
            print0("matplotlib is not installed: no plot (pip install matplotlib)")


if __name__ == "__main__":
    sys.exit("report.py is a library; run evaluate.py.")
