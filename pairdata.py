"""Preference pairs as train_dpo.py reads them: pairs.py's JSONL checked, each side tokenized
with the position of every step's last token (where SVPO reads the value V(s_t)), batches collated.

A pair record: {"prompt", "chosen", "rejected", "r_chosen"?, "r_rejected"? (the Q of each step of
a side), "q_chosen"?, "q_rejected"?, "problem"?, "kind"?}. A side that ends with the step delimiter
is a partial trajectory and gets no EOS (pairs.py's convention); every other side gets EOS.
"""
import sys

import torch

from common import DataError, check_fields, drop_equal_sides, encode, read_jsonl

# ----------------------------------------------------------------------------- reading


def read_pairs(paths, kinds=(), quiet=False):
    """The pair records of `kinds` (all when empty), each checked: texts are strings, r_chosen/r_rejected lists
    of numbers, q_* numbers (the reader already refuses NaN and Infinity, which would train a checkpoint of NaN
    weights); pairs with equal sides dropped with a count (unless quiet); none left is an error."""
    recs = []
    for path in paths:
        for lineno, r in read_jsonl(path):
            check_fields(path, lineno, r, {"prompt": str, "chosen": str, "rejected": str})
            for name in ("r_chosen", "r_rejected"):
                xs = r.get(name, [])
                if not isinstance(xs, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
                    raise DataError(f"{path}:{lineno}: field '{name}' must be a list of numbers, got {xs!r:.60}")
            for name in ("q_chosen", "q_rejected"):
                if r.get(name) is not None and (not isinstance(r[name], (int, float)) or isinstance(r[name], bool)):
                    raise DataError(f"{path}:{lineno}: field '{name}' must be a number, got {r[name]!r:.60}")
            recs.append(r)
    where = " ".join(map(str, paths))
    recs = [r for r in recs if not kinds or r.get("kind") in kinds]
    recs = drop_equal_sides(recs, where, quiet)
    if not recs:
        raise DataError(f"{where}: no pairs of kinds {sorted(kinds)} with two different sides")
    return recs


def load_pairs(paths, kinds, tok, delim, max_len, per_step_q=False):
    """The pairs of `kinds` (all when empty), each side tokenized (tokenize_side), with r_gap (CPL's
    sum r_chosen - sum r_rejected) and the problem the pair comes from. per_step_q (SVPO): every
    pair must give one Q per step of each side."""
    data = []
    for r in read_pairs(paths, kinds):
        c = tokenize_side(tok, r["prompt"], r["chosen"], delim, max_len)
        rj = tokenize_side(tok, r["prompt"], r["rejected"], delim, max_len)
        rc, rr = r.get("r_chosen", []), r.get("r_rejected", [])
        if per_step_q and (len(rc) != len(c[2]) or len(rr) != len(rj[2])):
            raise SystemExit(f"pair {r.get('id')}: r_chosen/r_rejected need one Q per step for --loss svpo")
        data.append({"c": c, "r": rj, "q_c": rc, "q_r": rr, "r_gap": sum(rc) - sum(rr),
                     "group": r.get("problem", r["prompt"]), "kind": r.get("kind", "")})
    return data


# ----------------------------------------------------------------------------- tokens and batches


def tokenize_side(tok, prompt, completion, delim, max_len):
    """(ids, first completion index, token index of each step's last token) of prompt + completion.

    EOS is appended unless the completion ends with the delimiter; a step's last token is its
    delimiter's last token, or the EOS for a finished trajectory. Truncation keeps the right end.
    """
    p = encode(tok, prompt)
    enc = tok(completion, add_special_tokens=False, return_offsets_mapping=True)
    c, offs = list(enc["input_ids"]), enc["offset_mapping"]
    final = not completion.endswith(delim)
    pieces = completion.split(delim)[: None if final else -1]
    ends, pos, vpos = [], 0, []
    for k, piece in enumerate(pieces):
        pos += len(piece) + (0 if final and k == len(pieces) - 1 else len(delim))
        ends.append(pos)
    for k, e in enumerate(ends):
        last = final and k == len(ends) - 1
        vpos.append(len(c) if last else max(j for j, (a, _) in enumerate(offs) if a < e))
    if final:
        c.append(tok.eos_token_id)
    cut = max(0, len(p) + len(c) - max_len)
    return (p + c)[cut:], max(1, len(p) - cut), [max(0, len(p) + v - cut) for v in vpos]


def collate(sides, pad_id, device):
    """Right-padded tensors for a list of sides (ids, start, vpos)."""
    T, S = max(len(s[0]) for s in sides), max(len(s[2]) for s in sides)
    ids = torch.full((len(sides), T), pad_id, dtype=torch.long)
    attn, lmask = torch.zeros_like(ids), torch.zeros_like(ids)
    vpos, vmask = torch.zeros((len(sides), S), dtype=torch.long), torch.zeros((len(sides), S))
    for b, (x, start, vp) in enumerate(sides):
        ids[b, :len(x)] = torch.tensor(x)
        attn[b, :len(x)] = 1
        lmask[b, start:len(x)] = 1
        vpos[b, :len(vp)] = torch.tensor(vp, dtype=torch.long)
        vmask[b, :len(vp)] = 1
    return [t.to(device) for t in (ids, attn, lmask, vpos, vmask)]


if __name__ == "__main__":
    sys.exit("pairdata.py is a library; run train_dpo.py.")
