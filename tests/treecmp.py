"""mcts.py trees files compared as mcts.py promises: the same trees however the run went (window,
shards, ranks, a kill and a resume), every field equal except each node's `logp`, the policy's
log-prob of its step, a float of the model that the other rows of a batch move in its last digits."""
import json

import pytest


def split_logps(text):
    """(records without their nodes' logp, the logps in order) of a trees JSONL text."""
    recs, logps = [json.loads(line) for line in text.splitlines()], []
    for r in recs:
        for n in r["nodes"]:
            logps.append(n.pop("logp", None))
    return recs, logps


def same_trees(a, b):
    """True when the two trees texts hold the same trees, logps equal to 1e-4."""
    (ra, la), (rb, lb) = split_logps(a), split_logps(b)
    return ra == rb and [x is None for x in la] == [x is None for x in lb] and \
        [x for x in la if x is not None] == pytest.approx([x for x in lb if x is not None], abs=1e-4)
