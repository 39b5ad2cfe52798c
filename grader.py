"""Final answers and written arithmetic: extraction, equivalence, gold loaders, the step checker.
(The sandboxed Python runner of code steps is sandbox.py.)

Used by every stage that needs a reward or a score; nothing here depends on torch.

Answers
  extract_answer(text, free_text=True)  the final answer of a completion, the first of:
    1. the last \\boxed{...} (nested braces; also \\boxed X and \\fbox{...}). Several boxes of one
       final answer ("\\boxed{1}, \\boxed{2}", "$x=\\boxed{3}$ or $x=\\boxed{-3}$") are joined as
       "1, 2" (a set to math-verify), or "(1, 2)" when one pair of parentheses holds them: boxes
       join while only delimiters and spacing, or a short phrase with a comma, semicolon, "and" or
       "or", stand between them (math-verify's rule, except that "\\boxed{1} then \\boxed{2}" is
       "2": a revised answer). Only the last \\boxed counts: if it is not closed (a truncated
       generation) the result is None, never an earlier box;
    2. the last "The answer is X" up to the end of its line or sentence; "$X$", "\\(X\\)" are
       unwrapped, and math inside prose ("is $x = 5$ apples", "is that x equals 5") is read out of
       the phrase as in 4;
    3. GSM8K's last "#### N";
    4. free_text=True only: a completion that is one short line of math and no prose ("2\\pi",
       "(1, 2]") is the answer as a whole; else math-verify's reading of free text, the way its
       parse() does it ("Answer $ 9 $", "The solution is $x != 5$", the last number, formula or
       matrix of the last sentence), on the last MAX_FREE_TEXT_CHARS characters, under a
       READ_TIMEOUT_S deadline (like the one below); a grade call reads at most twice, then
       compares once: < 5 s in all.
    The inner text stripped, or None. Searches and training data (mcts.py, loop.py's rejection
    sampling, synth.py's votes) pass free_text=False: an unfinished solution ("7+3=10\\n\\n10*2=")
    has no answer there, while in free text its last number would be read as one.
  gold_from_gsm8k(a)     the gold of a GSM8K "answer" field: the text after the last "####",
                         thousands commas removed.
  gold_from_math(sol)    the gold of a MATH "solution" field: its final boxed answer, read as in
                         extract_answer 1 ("$\\boxed{3}$ or $\\boxed{\\frac{2}{5}}$" -> "3,
                         \\frac{2}{5}"; the last box alone would make 11 of the 5000 MATH test
                         golds one of two answers), or None.
  is_equiv(pred, gold)   equivalence of two answer strings (cached on the pair):
    1. the same string up to whitespace -> True;
    2. fast path for plain numbers: "1,234", "1 234", "-3.50", "$5", "\\$5", "50%",
       "30^\\circ", "12 apples", "5 \\text{ cm}" all reduce to a number; two numbers are equal within a
       relative tolerance of 1e-6. Two different numbers are final (False), except when one
       side carries a percent sign: then step 3 decides (math-verify accepts 0.5 == 50%).
       Commas count as thousands separators only in the exact form 1,234,567; "1,2" is a list.
    3. math-verify: digits grouped by spaces joined ("1 000", "1\\,000": math-verify reads a
       product, 1*000 = 0), both strings wrapped as "\\boxed{...}" (the wrapper it ranks first),
       parsed with its LaTeX and plain-expression extractors, then verify(gold, pred) (it is not
       symmetric: the gold goes first). It handles fractions, roots, pi, intervals (bracket type
       matters), tuples (ordered), several answers as sets ("1, 2" == "2, 1"), matrices,
       equations ("x=3" == "3") and algebraically equal expressions.
    Guards, so it never hangs or crashes: answers over MAX_ANSWER_CHARS characters or nested
    deeper than MAX_DEPTH brackets are False; a power tower (an exponent that has its own
    exponent, or one of 7+ digits) is compared as a string only; every exception is False;
    in the main thread the whole math-verify call runs under one SIGALRM deadline of
    EQUIV_TIMEOUT_S seconds (math-verify's own signal timeouts are switched off: they are whole
    seconds per call and add up); a caller's own SIGALRM timer is cancelled by the call, and a
    pair that ran out of time is cached as False. Signals only work in the main thread, so from
    other threads math-verify runs with no deadline and only the guards above protect it.
  grade(completion, gold, free_text=True)  extract_answer then is_equiv; no answer -> False.
  Try: python -c "from grader import grade; print(grade('so $\\boxed{\\dfrac{1}{2}}$', '0.5'))"

Written arithmetic (the text-format analog of executing a code step)
  equations_hold(text)   False if some integer equation "a op b = c" (op one of + - * /; "x" and
                         "×" count as *) in the text is false, else True (also with none). mcts.py
                         --check-equations drops such steps, as rStar drops a code step that fails.
  steps_verified(steps, ops)  every step's equations hold (and, with the built-in task's `ops`
                         known, one equation per operation): what pairs.py --verify keeps as SFT data.

"""
import logging
import math
import re
import signal
import sys
import threading
from functools import lru_cache

from stepcheck import check_step

MAX_ANSWER_CHARS = 1000  # longer "answers" are degenerate generations; refused, not truncated
MAX_DEPTH = 20  # nesting of {[( ; MATH test golds nest <= 3 deep, parse time grows with it
MAX_FREE_TEXT_CHARS = 4000  # the free-text fallback reads this much of a completion's end (guessed)
EQUIV_TIMEOUT_S = 2.0  # one deadline for parse + verify (guessed: real answers take < 0.3 s)
READ_TIMEOUT_S = 1.0  # one free-text reading (< 0.1 s on real text); at most two per grade call

# ----------------------------------------------------------------------------- extraction

_BOX = re.compile(r"\\(?:boxed|fbox)")
# the answer runs to the end of the line or of the sentence (a "." before a space or the end)
_ANSWER_IS = re.compile(r"the (?:final )?answer is\b[ \t:]*((?:[^\n.]|\.(?=\S))*)", re.IGNORECASE)
# an answer that is one piece of math: "$x$", "$$x$$", "\\(x\\)", "\\[x\\]"
_INLINE_MATH = re.compile(r"\$+([^$]*)\$+|\\\(((?:(?!\\\)).)*)\\\)|\\\[((?:(?!\\\]).)*)\\\]", re.DOTALL)
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")  # a word, not a LaTeX command
_MATH_IN_PROSE = re.compile(r"(?<!\\)\$|\\\(|\\\[")  # an unescaped "$" ("\\$5" is money)


def _box_content(text, start, stop=None):
    """(content, end) of the box whose command ends at `start`, closed before `stop`; None if it
    has no brace or is not closed."""
    stop = len(text) if stop is None else stop
    j = start
    while j < stop and text[j] in " \t":
        j += 1
    if not text.startswith("{", j):
        return None
    depth = 0
    for k in range(j, stop):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[j + 1:k].strip(), k + 1
    return None


def _last_boxed(text):
    """Content of the last \\boxed{...} / \\fbox{...} / \\boxed X, or None (also if unclosed)."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    box = _box_content(text, starts[-1])
    if box is not None:
        return box[0] or None
    if text[starts[-1]:].lstrip(" \t").startswith("{"):  # unclosed: a truncated generation
        return None
    m = re.match(r"\s+([^\s$]+)", text[starts[-1]:starts[-1] + MAX_ANSWER_CHARS])  # "\boxed 5$"
    return m.group(1) if m else None


# what may stand between two boxes of one final answer: math delimiters and spacing, and at most
# a short phrase with a separator ("\boxed{1}, \boxed{2}", "x = \boxed{1} and y = \boxed{2}")
_MATH_DELIMS = re.compile(r"\$|\\[()\[\]]|\s|\\q?quad\b|\\[,;:! ]|~|\\\\|&")
_SEPARATOR = re.compile(r"[,;]|\b(?:and|or)\b")


def _joined_boxes(text):
    """The final answer when it is written in several boxes: their contents as "a, b" (a set for
    math-verify), "(a, b)" when the boxes sit inside one pair of parentheses; None if one box.
    Boxes join the last one while what lies between is only delimiters and spacing, or under 70
    characters with a comma, semicolon, "and" or "or" (math-verify also joins any gap under 10
    characters: "\\boxed{1} then \\boxed{2}"; here a revised answer stays the last box).
    Walks back from the last box and stops at the first gap that ends the answer: linear time."""
    commands = list(_BOX.finditer(text))
    last = _box_content(text, commands[-1].end()) if commands else None
    if last is None:  # no box, an unclosed or a bare "\\boxed 5" last box
        return None
    chain = [(commands[-1].start(), last[1], last[0])]  # (start, end, content), in text order
    for m in reversed(commands[:-1]):
        box = _box_content(text, m.end(), chain[0][0])
        if box is None:  # \\boxed{\\boxed{1}}: a box around the answer ends the walk
            break
        gap = text[box[1]:chain[0][0]]
        bare = _MATH_DELIMS.sub(" ", gap).strip(" .")
        if bare and not (len(gap) < 70 and _SEPARATOR.search(bare)):
            break
        if box[0] != chain[0][2]:  # "\\boxed{5}, i.e. \\boxed{5}" is one answer
            chain.insert(0, (m.start(), box[1], box[0]))
    if len(chain) < 2:
        return None
    joined = ", ".join(b[2] for b in chain)
    before = _MATH_DELIMS.sub("", text[max(0, chain[0][0] - 20):chain[0][0]])[-1:]
    after = _MATH_DELIMS.sub("", text[chain[-1][1]:chain[-1][1] + 20])[:1]
    return f"({joined})" if (before, after) == ("(", ")") else joined


def _has_prose(s):
    """A word of 3+ letters outside LaTeX commands and their word arguments ("\\text{yes}",
    "\\begin{pmatrix}"); "and" joins answers ("2 and 3"), it is no prose."""
    s = re.sub(r"\\[A-Za-z]+\s*\{[A-Za-z ]*\}", "", s)
    return any(w.lower() != "and" for w in _PROSE.findall(s))


def _said_answer(text):
    """The text after the last "The answer is", up to the end of its line or sentence, or None.
    An answer written inside prose ("is $x = 5$ apples") is read out of it like free text."""
    said = list(_ANSWER_IS.finditer(text))
    if not said:
        return None
    answer = said[-1].group(1).strip().strip("*").strip()
    inner = _INLINE_MATH.fullmatch(answer)
    if inner:
        return next(g for g in inner.groups() if g is not None).strip() or None
    if _MATH_IN_PROSE.search(answer):  # math that may go on past the line: "is \\(\n x=5 \n\\)"
        return _read_free_text(answer) or _read_free_text(text[said[-1].start(1):]) or answer
    if _has_prose(answer) and _as_number(answer) is None:  # "is that x equals 5"
        return _read_free_text(answer) or answer
    return answer or None


def _bare_answer(text):
    """The whole text when it is one short line of math and no prose ("2\\pi", "x^2", "(1, 2]"):
    read as one answer, as if boxed. math-verify's free-text reading would take "2" out of "2\\pi"
    and "3" out of "3x", and find nothing in "\\frac12"."""
    answer = text.strip()
    if len(answer) > 200 or "\n" in answer or _MATH_IN_PROSE.search(answer) or _has_prose(answer):
        return None
    return answer or None


def extract_answer(text, free_text=True):
    """The final answer in a completion: the last box (several boxes of one final answer
    joined), else 'The answer is X', else '#### N', else (free_text) math-verify's reading of
    the last expression in the text."""
    if not isinstance(text, str):
        return None
    if _BOX.search(text):
        return _joined_boxes(text) or _last_boxed(text)
    answer = _said_answer(text)
    if answer is None and "####" in text:
        answer = text.rsplit("####", 1)[1].strip().split("\n")[0].strip() or None
    if answer is None and free_text:
        answer = _bare_answer(text) or _read_free_text(text)
    return answer


def gold_from_gsm8k(answer_field):
    """GSM8K gold: text after the last '####', thousands commas removed."""
    return answer_field.rsplit("####", 1)[-1].replace(",", "").strip()


def gold_from_math(solution):
    """MATH gold: the solution's boxed final answer, read as extract_answer reads boxes, or None."""
    return _joined_boxes(solution) or _last_boxed(solution)

# ----------------------------------------------------------------------------- equivalence

_NUMBER = re.compile(
    r"(?P<sign>[-−]?)\s*(?:\\?\$\s*)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<rest>.*)", re.DOTALL)
# digits grouped by thousands with a space: "1 000", "1\\,000", "1\\ 000", "1~000" (one sep per number)
_SPACED_DIGITS = re.compile(r"(?<![\d.,^_])\d{1,3}(?:(?:\s|\\[,;: ]|~)\d{3})+(?![\d,])")
_UNIT = re.compile(  # what may follow a number and still leave it a plain number
    r"\s*(?:(?:\\?%|\^\s*\{?\s*\\circ\s*\}?|°"
    r"|\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z .]*\})\s*)?"
    r"(?:(?<=\s)[A-Za-z]{2,}[A-Za-z .]*)?")  # a bare word only after a space: "2x" is no unit
_MATH_WORDS = {"pi", "sqrt", "or", "and", "infty", "to", "times", "cdot", "is"}


def _join_digit_groups(s):
    """ "1 000" -> "1000": math-verify reads a space between digits as a product (1*000 = 0)."""
    return _SPACED_DIGITS.sub(lambda m: re.sub(r"\D", "", m.group()), s)


def _as_number(s):
    """(value, has_percent) if s is a plain number with optional sign, $, %, degrees or unit."""
    s = _join_digit_groups(s.strip().strip("$").replace("\\!", "").replace("{,}", ","))
    s = re.sub(r"^(-?)\s*\\?\$", r"\1", s.replace("\\left", "").replace("\\right", ""))
    m = _NUMBER.fullmatch(s.strip())
    if not m or not _UNIT.fullmatch(m["rest"]):
        return None
    if set(re.findall(r"[A-Za-z]+", m["rest"])) & _MATH_WORDS:
        return None
    value = float(m["num"].replace(",", ""))
    return (-value if m["sign"] else value), "%" in m["rest"]


def _too_hard(s):
    """Inputs sympy could spend forever on, or recurse too deep into."""
    depth = deepest = 0
    for ch in s:
        depth += 1 if ch in "{[(" else -1 if ch in "}])" else 0
        deepest = max(deepest, depth)
    tower = re.search(r"\^\s*\{[^{}]*\^|\^\s*\{?\s*\d{7,}|\*\*[^*]*\*\*", s)
    return len(s) > MAX_ANSWER_CHARS or deepest > MAX_DEPTH or tower is not None


class _Deadline(BaseException):
    """Raised by our SIGALRM handler; BaseException so library `except Exception` can't eat it."""


def _with_deadline(fn, seconds):
    """fn() under a SIGALRM deadline; False on expiry. Outside the main thread fn() unguarded."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            raise _Deadline()

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:  # re-fire every 50 ms in case some library code swallows the first one
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
        return fn()
    except _Deadline:
        return False
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@lru_cache(maxsize=None)
def _math_verify_api():
    """(parse, verify), imported on first use and warmed up outside any deadline (~1-2 s)."""
    from math_verify import parse, verify
    for name in ("math_verify.parser", "math_verify.grader"):  # quiet "Timeout is disabled"
        logging.getLogger(name).addFilter(lambda r: "Timeout is disabled" not in r.getMessage())
    parse("\\boxed{1}", parsing_timeout=None)
    return parse, verify


@lru_cache(maxsize=1 << 14)
def _parse(answer):
    return _math_verify_api()[0]("\\boxed{" + _join_digit_groups(answer) + "}", parsing_timeout=None)


@lru_cache(maxsize=1 << 12)
def _read_free_text(text):
    """math-verify's own reading of the final answer in free text ("Answer $ 9 $", the last
    number, formula or matrix), as an answer string, or None. Only the tail is read: answers
    come last, and its regexes slow down on long text. Under its own READ_TIMEOUT_S deadline."""
    tail = text[-MAX_FREE_TEXT_CHARS:]
    if len(tail) < len(text) and "\n" in tail:  # start on a line: "$" pairs stay aligned
        tail = tail[tail.index("\n") + 1:]
    tail = tail.replace("\\$", " ")  # math-verify reads no number after an escaped "\\$15"
    parse = _math_verify_api()[0]
    try:
        found = _with_deadline(lambda: parse(tail, parsing_timeout=None), READ_TIMEOUT_S)
    except Exception:
        return None
    if not found or not isinstance(found[-1], str) or not found[-1].strip():
        return None
    value, answer = found[0], found[-1].strip().rstrip(".")  # [sympy value, its text] or [text]
    if "%" not in answer and _is_percent(value):  # "it is 12%" reads as "12" with value 12/100
        answer += "\\%"
    return answer if len(answer) <= MAX_ANSWER_CHARS else None


def _is_percent(value):
    """True for math-verify's reading of "12%": 12 times an unevaluated 1/100."""
    from sympy import Rational, UnevaluatedExpr  # loaded with math-verify, on first use
    return any(isinstance(a, UnevaluatedExpr) and a.args[0] == Rational(1, 100)
               for a in getattr(value, "args", ()))


def _math_verify(pred, gold):
    g, p = _parse(gold), _parse(pred)
    verify = _math_verify_api()[1]  # allow_set_relation_comp: "x > 3" == "(3, \infty)"
    return bool(g and p and verify(g, p, allow_set_relation_comp=True, timeout_seconds=None))


@lru_cache(maxsize=1 << 16)
def _is_equiv(pred, gold):
    if " ".join(pred.split()) == " ".join(gold.split()):
        return True
    a, b = _as_number(pred), _as_number(gold)
    if a is not None and b is not None:
        if math.isclose(a[0], b[0], rel_tol=1e-6, abs_tol=1e-9):
            return True
        if not (a[1] or b[1]):
            return False
    if _too_hard(pred) or _too_hard(gold):
        return False
    _math_verify_api()
    return _with_deadline(lambda: _math_verify(pred, gold), EQUIV_TIMEOUT_S)


def is_equiv(pred, gold):
    """True if the answer string `pred` equals the gold answer string `gold` (see module doc)."""
    try:
        pred, gold = str(pred).strip(), str(gold).strip()
        if not pred or not gold or max(len(pred), len(gold)) > MAX_ANSWER_CHARS:
            return False
        return _is_equiv(pred, gold)
    except BaseException as e:  # a guard must never take the caller down, except on Ctrl-C
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return False


def grade(completion, gold, free_text=True):
    """True if the completion's final answer (extract_answer) is equivalent to the gold.
    free_text=False: only an explicit final answer (box, "The answer is", "####") counts."""
    answer = extract_answer(completion, free_text)
    return answer is not None and is_equiv(answer, gold)

# an integer equation, not part of a decimal or a longer number: 12+3=15, 4 * 5 = 20, 8/2=4
_EQUATION = re.compile(r"(?<![\d.,])(-?\d+)\s*([-+*/x×])\s*(-?\d+)\s*=\s*(-?\d+)(?![\d.,]\d)")


def equations_hold(text):
    """False if an integer equation a op b = c in the text is false (division must be exact)."""
    for a, op, b, c in _EQUATION.findall(text):
        a, b, c = int(a), int(b), int(c)
        if op == "/":
            ok = b != 0 and a == b * c
        else:
            ok = {"+": a + b, "-": a - b}.get(op, a * b) == c
        if not ok:
            return False
    return True


def result_spans(text):
    """(start, end) character spans of the result c of every integer equation a op b = c in the
    text, true or false: the tokens a result verifier scores (scoring.ResultVerifier)."""
    return [m.span(4) for m in _EQUATION.finditer(text)]


def correct_equations(text):
    """The text with every false integer equation a op b = c given its true result c' (and a
    \\boxed{c} of the last one becomes \\boxed{c'}), or None when every equation holds or a false
    division has no integer result."""
    out, end, last = [], 0, None
    for m in _EQUATION.finditer(text):
        a, op, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        if op == "/":
            true = a // b if b != 0 and a % b == 0 else None
        else:
            true = {"+": a + b, "-": a - b}.get(op, a * b)
        if true == c:
            continue
        if true is None:
            return None
        out += [text[end:m.start(4)], str(true)]
        end, last = m.end(4), (c, true)
    if last is None:
        return None
    fixed = "".join(out) + text[end:]
    return fixed.replace(f"\\boxed{{{last[0]}}}", f"\\boxed{{{last[1]}}}")


def arithmetic_ok(text, builtin=True):
    """The check of a step's written arithmetic (mcts.py --check-equations, steps_verified): on the built-in
    tasks the exact reading of their one-equation steps (equations_hold); on real text stepcheck.check_step,
    which judges what it can evaluate exactly (several terms, decimals, percent, LaTeX fractions) and abstains
    on the rest (variables, equations to solve): a step passes unless it is judged false."""
    return equations_hold(text) if builtin else check_step(text) is not False


def steps_verified(steps, ops=None, question=None):
    """rStar's rule for training data, text analog: every step's written arithmetic holds.

    With `ops` known (built-in problems carry it) the path must also write one equation per
    operation: a correct answer through true equations that skipped an operation is a coincidence
    (e.g. "+3" and "-3" both left out), not a solution; and a boxed answer must be the result of the
    last equation (an answer asserted after a broken step is not computed). With the `question` of
    a relations problem, every named step must read the values it names, compute a name not yet known, and
    the boxed step what is asked (reltask.bookkeeping_ok). Without `ops` (real data): stepcheck (arithmetic_ok).
    """
    if not all(arithmetic_ok(s, builtin=ops is not None) for s in steps):
        return False
    if ops is None:
        return True
    equations = [e for s in steps for e in _EQUATION.findall(s)]
    answer = extract_answer("\n\n".join(steps), free_text=False)
    if question is not None:
        from reltask import bookkeeping_ok
        if not bookkeeping_ok(question, steps):
            return False
    return len(equations) == int(ops) and (answer is None or bool(equations) and is_equiv(answer, equations[-1][3]))


if __name__ == "__main__":
    sys.exit("grader.py is a library; run one of the stage scripts.")
