"""Keys and values of prompts prefilled before, found again by token-id prefix: the CPU counterpart of
vLLM's automatic prefix caching, for engine.HFBackend.

A tree search asks for the children of a node whose prompt is its parent's prompt plus one step. The
parent's prompt was prefilled when the node itself was sampled, so its keys/values can be reused and
only the new step run through the model. Prompts are matched in blocks of `BLOCK` tokens (as vLLM's
paged blocks): a new prompt reuses the longest block-aligned prefix that a stored prompt starts with.
"""
from collections import OrderedDict

BLOCK = 16


class PrefixStore:
    """Per-prompt keys/values, least recently used out first once they hold more than `max_bytes`.

    An entry is a prompt's token ids (a tuple) and, per layer, its keys and values of shape
    (kv heads, tokens, head dim). `blocks` maps every block-aligned prefix of a stored prompt to
    that prompt, so a lookup costs one dict probe per block."""

    def __init__(self, max_bytes):
        self.max_bytes, self.bytes = max_bytes, 0
        self.entries = OrderedDict()  # ids -> [(keys, values) per layer]
        self.blocks = {}  # ids[:n] for n = BLOCK, 2 BLOCK, ... -> the ids of a stored prompt that starts so
        self.asked = self.reused = 0  # tokens of the prompts looked up, and of their prefixes found

    def clear(self):
        self.__init__(self.max_bytes)

    def lookup(self, ids):
        """(n, layers): the first n tokens of `ids` have stored keys/values, layers[i] = (keys, values)
        holding at least n tokens; n < len(ids), so one token is always left to run. (0, None) on a miss."""
        self.asked += len(ids)
        for n in range(BLOCK * ((len(ids) - 1) // BLOCK), 0, -BLOCK):
            key = self.blocks.get(tuple(ids[:n]))
            if key is not None:
                self.entries.move_to_end(key)
                self.reused += n
                return n, self.entries[key]
        return 0, None

    def add(self, ids, layers):
        """Store a prompt's per-layer (keys, values); evict the least recently used over the budget."""
        key = tuple(ids)
        if key in self.entries or self.max_bytes <= 0:
            return
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if size > self.max_bytes:
            return
        self.entries[key] = layers
        self.bytes += size
        for n in range(BLOCK, len(key) + 1, BLOCK):
            self.blocks[key[:n]] = key  # the newest prompt with this prefix
        while self.bytes > self.max_bytes:
            self._evict()

    def _evict(self):
        key, layers = self.entries.popitem(last=False)
        self.bytes -= sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        for n in range(BLOCK, len(key) + 1, BLOCK):
            if self.blocks.get(key[:n]) == key:
                del self.blocks[key[:n]]


if __name__ == "__main__":
    raise SystemExit("kvstore.py is a library; engine.HFBackend uses it.")
