"""mcts.py trees files compared as mcts.py promises (searchtree.same_trees), from their JSONL texts."""
import json

from searchtree import same_trees as same_records


def same_trees(a, b):
    """True when the two trees JSONL texts hold the same trees, logps equal to 1e-4."""
    return same_records(*([json.loads(line) for line in text.splitlines()] for text in (a, b)))
