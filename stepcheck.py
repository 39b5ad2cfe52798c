"""Exact checking of the arithmetic written in one solution step of real math text (GSM8K, MATH).

check_step(text) -> True | False | None
  Every "=" in the step is read as an equation between the maximal arithmetic expression
  immediately to its left and the one immediately to its right ("Natalia sold 48+24 = 72 clips":
  48+24 against 72; "a = b = c": a against b, then b against c). An equation is judged only when
  both sides are purely numeric and parse; the step is
    False  when some judged equation is false,
    True   when at least one is judged and all hold,
    None   (abstain) when none can be judged.
  Sides are evaluated exactly (fractions.Fraction, never floats; no eval()) by a small
  recursive-descent parser: + - * / ^ with the usual precedence, unary minus, parentheses,
  implicit products "2(3)" and "(2)(3)", integer powers. Numbers: integers, decimals, thousands
  commas (1,234), money ($1.50, \\$5), percent (20% = 20/100; "20% of 50" = 20% * 50).
  Multiplication: *, x or X between numbers ("0.2 x 50", "3x4"; "5x" alone is a variable), ×,
  \\times, \\cdot; division: /, ÷, \\div, \\frac{a}{b}, \\dfrac, \\tfrac, \\frac12. "$...$",
  \\left, \\right, \\boxed{...}, thin spaces and "&" (align) are read through.

  An equation holds when both sides are equal exactly, or when one side is a single written
  number with d decimals (d >= 1) within one unit of its last place of the other side's exact
  value: 10/3 = 3.33 and 2/3 = 0.67 (rounded) and 2/3 = 0.66 (truncated) hold, 10/3 = 3.4 and
  10/3 = 4.33 do not. An integer result must be exact (10/3 = 3 is false): GSM8K writes a whole
  count of a non-integer quotient in words, and a result off by one is the error to catch.

  Abstains (the equation is not judged) on what is not purely numeric or not surely one
  expression: variables glued to a number or an operator ("5x-1=3x+2", "f(2) = 5"), words or
  units between numbers ("3 feet x 4 = 12", "3 times 4 = 12", "half of 50 = 25": the span starts
  with an operator or follows a word that joins numbers), two numbers side by side ("2 1/2"),
  a digit before \\frac (a mixed number or a product?), LaTeX functions (\\sqrt, \\pi, \\binom,
  ^\\circ), subscripts and bases ("123_4"), factorials and absolute values glued to a side,
  ratios and times ("3:4"), unbalanced parentheses inside a side, division by zero, huge or
  fractional powers, "mod", and relations other than "=" (< > \\le \\approx ≈ \\equiv ...: a
  chain "x \\le 3+4 = 7" still judges 3+4 = 7). A number glued to a word ("3apples") ends the
  expression and the equation is not judged.

steps_checked(steps) -> (n_true, n_false, n_none) over a list of step texts.
Nothing here imports torch; grader.equations_hold is the older integer-only "a op b = c" check.
  python -c "from stepcheck import check_step; print(check_step('He sold 110 - 60 - 15 = 35 pens'))"
"""
import re
from fractions import Fraction

MAX_EXPONENT = 64  # larger integer powers are abstained on: exact but huge (guessed bound)
MAX_BASE_DIGITS = 30  # digits of a power's base beyond which it is abstained on (guessed bound)

# ----------------------------------------------------------------------------- normalizing LaTeX

_FRAC = re.compile(r"\\[dt]?frac\s*")
_TEXT = re.compile(r"\\(?:text|textrm|textbf|mbox|mathrm|textnormal|operatorname)\s*\{([^{}]*)\}")
# LaTeX text (MATH): "$" delimits math and "\\$" is money; plain text (GSM8K): "$" is money
_LATEX = re.compile(r"\\(?!boxed\b)[A-Za-z]+|\\[\[(]|\$\$|\$\s*[^\s\d.,$]|\$\S[^$]*?(?<=\S)\$(?=[\s.,;:!?)]|$)")
_SUBS = [  # (pattern, replacement), applied in order
    (r"\^\s*\{?\s*\\circ\s*\}?|°", " deg "),  # degrees: a unit, so an angle is never judged
    (r"(\d),\\!(\d{3})(?!\d)", r"\1\2"),  # 28,\!672
    (r"\\left\b|\\right\b|\\!|\\displaystyle\b", ""),
    (r"(=\s*\ue002?\s*)\\(?:boxed|fbox)\b", r"\1"),  # "= \boxed{7}"; "\boxed{11}=2" is no number
    (r"(\d)(?:\\,|\{,\})(\d{3})(?!\d)", r"\1\2"),  # 1\,000 and 1{,}000 are one number
    (r"\\&", " \\amp "),  # a defined operation "3 \\& 5"
    (r"\\[,;: ]|~|\\q?quad\b|&", " "),
    (r"²", "^2"), (r"³", "^3"),
    (r"\\times\b|\\cdot\b|×|·|∙|⋅", "×"),
    (r"\\div\b|÷", "/"),
    (r"−|–", "-"),
    (r"(?<=\d)\.\.\.", ""),  # "8.333...": a rounded literal like "8.333"
    (r"\\%", "%"), (r"\\\$", "$"),
    # x between two numbers is a product; a lone "5x" or "2x$" stays a variable
    (r"(?<=[\d)%])(\s*)[xX](\s*)(?=\$?[\d(]|\$?\.\d)", r"\1×\2"),
    (r"%(\s*)of(\s+)(?=\$?[\d(.])", "%\\1\ue000\\2"),  # 20% of 50: _OF below
]
_SUBS = [(re.compile(p), r) for p, r in _SUBS]


def _brace_arg(text, i):
    """(argument, end) of a LaTeX argument at text[i]: a {...} group or one character; None."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        return (text[i], i + 1) if text[i] not in "\\}" else None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j], j + 1
    return None


def _expand_fracs(text):
    """\\frac{a}{b} -> ((a)/(b)), nested ones too; a digit right before \\frac (a mixed number
    "1\\frac12" or a product?) gets a word in between, so that side is not judged."""
    out, i = [], 0
    for m in _FRAC.finditer(text):
        if m.start() < i:
            continue
        num = _brace_arg(text, m.end())
        den = num and _brace_arg(text, num[1])
        if not den:
            continue
        mixed = " mixed" if re.search(r"\d\s*$", text[i:m.start()]) and m.start() > i else ""
        out += [text[i:m.start()], mixed,
                f"(({_expand_fracs(num[0])})/({_expand_fracs(den[0])}))"]
        i = den[1]
    return "".join(out) + text[i:]


def normalize(text):
    """The step with LaTeX and typographic variants rewritten to the tokens below. In LaTeX text
    math delimiters become "\\ue002", money "\\ue001", "*" a defined operation ("2 * 6 = 2^6 +
    6^2") and a comma between digits a list ("(28,365) = 1": a gcd, not 28365)."""
    latex = bool(_LATEX.search(text))
    if latex:
        text = re.sub(r"\$\$?|\\[\[\]()]|\\(?:begin|end)\{(?:align|equation|eqnarray|gather|multline)\*?\}",
                      "\ue002", text.replace("\\$", "\ue001"))
    text = _TEXT.sub(lambda m: " " + m.group(1), text)  # "5\\text{ cm}^2" -> "5 cm^2"
    text = _expand_fracs(text)
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    if latex:
        text = re.sub(r"(\ue001?)(\d+(?:,\d+)+)", lambda m: m[0] if m[1] else m[2].replace(",", ", "),
                      text.replace("*", " \\ast "))  # "\\$1,250" is money, "(28,365)" a pair
    return text.replace("{", "(").replace("}", ")")

# ----------------------------------------------------------------------------- tokens


_TOKEN = re.compile(r"""
    (?P<sp>\s+)
  | (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+)?|\.\d+)
  | (?P<rel>[<>!=]=|=[=>]|[<>≤≥≠≈∼≡]|\\(?:approx|le|ge|leq|geq|lt|gt|ne|neq|sim|equiv|cong)(?![A-Za-z]))
  | (?P<eq>=)
  | (?P<word>\\[A-Za-z]+|[^\W\d_]+)
  | (?P<op>[-+*×/^\ue000])
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<pct>%)
  | (?P<dollar>[$\ue001])
  | (?P<math>\ue002)
  | (?P<newline>\\\\)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_OF = "\ue000"  # "20% of 50": a product, but a right side "= 15% of $300" ends before it
_ARITH = {"sp", "num", "op", "lp", "rp", "pct", "dollar", "math"}
_BLANK = ("sp", "dollar", "math")
# punctuation that may touch a side and still leave it a whole expression ("=10.", "Ann:7+3")
_END_MARKS = {",", ".", ";", ":", "?", '"'}
# LaTeX commands next to a side that leave it a whole expression (others: "\\sqrt[3]{8} = 2")
_CONNECTORS = {"\\Rightarrow", "\\implies", "\\therefore", "\\iff", "\\Longrightarrow",
               "\\rightarrow", "\\to", "\\Leftrightarrow", "\\text", "\\quad", "\\qquad", "\\end",
               "\\begin", "\\hline", "\\newline"}
# a word next to a side that makes it part of a product we cannot read ("bulbs at $.50 =")
_JOIN_ALWAYS = {"x", "X", "times", "plus", "minus", "divided", "multiplied", "over", "at", "per",
                "mod", "modulo", "\\pmod", "\\mod", "\\bmod", "\\dots", "\\cdots", "\\ldots",
                "\\dotsm", "\\dotsb", "\\dotsc"}
_JOIN_AFTER_NUMBER = {"of", "by", "and"}  # "1/2 of 50 =", "3 by 4 =", "1 and 1/4 =" but "a total
# of 48+24 ="
# scale words and fractions: never a unit, and a result followed by one is not judged
# ("$1 / 2 = 50 cents", "5 * 3 = 15 thousand")
_SCALE = {"cents", "cent", "percent", "dozen", "dozens", "hundred", "hundreds", "thousand",
          "thousands", "million", "millions", "billion", "billions", "half", "halves", "third",
          "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths", "tenth",
          "tenths", "twice", "double", "triple", "percentage", "k", "mixed", "deg"}
# prose that ends a unit: a unit is a noun after a number ("4 houses * 3 gnomes")
_NOT_UNIT = _SCALE | _JOIN_ALWAYS | {
    "and", "or", "is", "are", "was", "were", "be", "has", "have", "had", "so", "then", "which",
    "that", "the", "a", "an", "to", "for", "in", "on", "with", "from", "if", "because", "than",
    "as", "more", "less", "each", "total", "left", "remaining", "equals", "gives", "makes", "of",
    "already", "still", "now", "only", "just", "all", "up", "down", "away", "out", "back"}
# glued to a number a word is a variable ("5x"), except these units ("26ml", "5lbs")
_GLUED_UNITS = {"ml", "kg", "mg", "lb", "lbs", "oz", "km", "cm", "mm", "ft", "mph", "hr", "hrs",
                "min", "mins", "sec", "secs", "pm", "am", "st", "nd", "rd", "th"}
MAX_UNIT_WORDS = 6  # "tubes of lip gloss per tub of lip gloss" (guessed bound)


def tokenize(text):
    """[(kind, text)] of the normalized step; kinds as in _TOKEN, plus "unit" (a noun that may
    follow a number inside an expression: "4 houses * 3 gnomes", "beetles/snake", "cm^2"),
    "var" (a word inside LaTeX math: a variable or a function) and "x"/"times" between a unit
    and a number made a product ("20 students x $4 = $80")."""
    toks = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(normalize(text))]
    in_math, latex = False, "\ue002" in "".join(t for _, t in toks)
    for k, (kind, tok) in enumerate(toks):
        before = toks[k - 1] if k else (None, None)
        after = toks[k + 1] if k + 1 < len(toks) else (None, None)
        per = tok == "/" and before[0] in ("word", "unit", "num")  # "beetles/snake", "$65/month"
        in_math ^= kind == "math"
        if kind == "op" and (per or tok == "-" and before[0] == "unit") and _unit_word(after):
            toks[k] = ("unit", tok)  # per, not a division; "bee-eaters" is one word
        elif before[0] == "unit" and (tok == "^" or before[1] == "^" and kind == "num"):
            toks[k] = ("unit", tok)  # "cm^2"
        elif kind != "word" or tok.startswith("\\"):
            continue
        elif in_math or latex and len(tok) == 1 and tok not in "aAI":
            toks[k] = ("var", tok)
        elif tok in ("x", "X", "times") and _tok(toks, _real_at(toks, k + 1, 1))[0] in ("num", "lp") \
                and _tok(toks, _real_at(toks, k - 1, -1))[0] in ("num", "unit", "pct", "rp"):
            toks[k] = ("op", "×")
        elif _unit_word((kind, tok)) and (before[0] not in ("num", "rp") or tok in _GLUED_UNITS):
            toks[k] = ("unit", tok)
    return toks


def _unit_word(token):
    """A word that may be a unit: two letters or more (one letter is a variable), no prose."""
    kind, tok = token
    return kind == "word" and len(tok) >= 2 and not tok.startswith("\\") \
        and tok.lower() not in _NOT_UNIT


# ----------------------------------------------------------------------------- exact evaluation


class _Parser:
    """Recursive descent over (kind, text) tokens, spaces and "$" removed; values are Fractions.
    Raises ValueError on anything it does not read. `percent` is what "%" multiplies by (1/100,
    or 1 where it is a label: "100 - 50 = 50%"); `right_div` reads a / b / c as a / (b / c)
    (GSM8K's "25 / 1/3 = 75")."""

    def __init__(self, tokens, percent=Fraction(1, 100), right_div=False):
        self.toks, self.i = tokens, 0
        self.percent, self.right_div = percent, right_div

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self):
        value = self.expr()
        if self.i != len(self.toks):
            raise ValueError("trailing tokens")
        return value

    def expr(self):  # expr := term (("+" | "-") term)*
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            sign = self.take()[1]
            value = value + self.term() if sign == "+" else value - self.term()
        return value

    def term(self):  # term := unary (("*" | "/") unary | implicit "(" product)*
        value = self.unary()
        while True:
            kind, tok = self.peek()
            if kind == "op" and tok in "*×/" + _OF:
                self.take()
                right = self.unary()
                while self.right_div and tok == "/" and self.peek() == ("op", "/"):
                    self.take()
                    right = right / self.unary()
                if tok == "/" and right == 0:
                    raise ValueError("division by zero")
                value = value / right if tok == "/" else value * right
            elif kind == "glued_lp":  # 2(3), (2)(3)
                value = value * self.unary()
            else:
                return value

    def unary(self):  # unary := ("-" | "+") unary | power; -2^2 = -4
        if self.peek() in (("op", "-"), ("op", "+")):
            sign = self.take()[1]
            value = self.unary()
            return -value if sign == "-" else value
        return self.power()

    def power(self):  # power := atom "%"* ("^" unary)?
        base = self.atom()
        while self.peek()[0] == "pct":
            self.take()
            base = base * self.percent
        if self.peek() != ("op", "^"):
            return base
        self.take()
        exp = self.unary()
        if exp.denominator != 1 or abs(exp) > MAX_EXPONENT or (base == 0 and exp < 0):
            raise ValueError("power not read")
        if len(str(abs(base.numerator))) + len(str(base.denominator)) > MAX_BASE_DIGITS:
            raise ValueError("power not read")
        return base ** int(exp)

    def atom(self):  # atom := number | "(" expr ")"
        kind, tok = self.take() if self.i < len(self.toks) else (None, None)
        if kind == "num" and re.match(r"0\d", tok):
            raise ValueError("a time or a code: 0730")
        if kind == "num":
            return Fraction(tok.replace(",", ""))
        if kind in ("lp", "glued_lp"):
            value = self.expr()
            if self.take()[0] != "rp":
                raise ValueError("unclosed parenthesis")
            return value
        raise ValueError(f"unexpected {tok!r}")


def evaluate(tokens, percent=Fraction(1, 100), right_div=False):
    """Exact value (Fraction) of a side's arithmetic tokens, or None when it is not read.
    A "(" touching a number or ")" on its left is an implicit product; with a space between,
    two operands side by side ("2 (3)", "2 1/2") are not read."""
    marked, prev = [], None
    for kind, tok in tokens:
        if kind == "lp" and prev in ("num", "rp", "pct"):
            kind = "glued_lp"
        if kind not in _BLANK:
            marked.append((kind, tok))
        prev = kind
    try:
        return _Parser(marked, percent, right_div).parse()
    except (ValueError, IndexError, ZeroDivisionError):
        return None

# ----------------------------------------------------------------------------- equations


def _arith_edge(toks, k, step):
    """Where the run of arithmetic tokens from index k in direction step ends: its start
    (step -1, k exclusive) or its end (step 1, exclusive)."""
    if step < 0:
        while k > 0 and toks[k - 1][0] in _ARITH:
            k -= 1
        return k
    while k < len(toks) and toks[k][0] in _ARITH:
        k += 1
    return k


def _unit_edge(toks, k, step):
    """Like _arith_edge for a run of unit words ("houses", "lip gloss per tub", "beetles/snake"),
    spaces inside it; k itself when there is no unit word or too many."""
    look = (lambda m: m - 1) if step < 0 else (lambda m: m)
    m, words, last, kinds = k, 0, k, []
    while 0 <= look(m) < len(toks) and (toks[look(m)][0] in ("unit", "sp")
                                        or toks[look(m)] in (("word", "of"), ("word", "per"))):
        if toks[look(m)][0] != "sp":
            words, last = words + (toks[look(m)][0] == "unit"), m + step
            kinds.append(toks[look(m)][0])
        m += step
    first = kinds[-1 if step < 0 else 0] if kinds else None  # the word next to the number
    return last if 0 < words <= MAX_UNIT_WORDS and first == "unit" else k


def _real(run):
    """run without spaces and "$"."""
    return [t for t in run if t[0] not in _BLANK]


def _left_side(toks, i):
    """(tokens of the expression left of the "=" at index i, its start index), units between
    operands dropped ("4 houses * 3 gnomes" -> 4 * 3); None when it is not one expression."""
    end, parts = _unit_edge(toks, i, -1), []
    while True:
        start = _arith_edge(toks, end, -1)
        run = toks[start:end]
        real = _real(run)
        if not real:
            return None
        parts[:0] = run + [("sp", " ")]
        if real[0][0] != "op":
            return parts, start
        k = start + run.index(real[0])  # the operator that opens the run
        if real[0][1] in "-+" and len(real) > 1 and toks[k + 1][0] != "sp" and _bounded(toks, k - 1, -1):
            return parts, start  # "$-2^2 = -4$": a unary minus right after a math delimiter
        units = _unit_edge(toks, start, -1)
        if units == start:  # "-3 + 5": unary; "hours * 3", "Chad has 6 + 2": an operand missing
            glued = len(real) > 1 and run[run.index(real[0]) + 1][0] != "sp"
            prev = _tok(toks, _real_at(toks, start - 1, -1))  # "10i +10 =": binary after all
            operand = prev[0] in ("num", "rp", "pct", "unit", "var") or _command(prev)
            unary = real[0][1] in "-+" and glued and not operand
            return (parts, start) if unary else None
        before = _real(toks[_arith_edge(toks, units, -1):units])
        if not before or before[-1][0] not in ("num", "pct", "rp"):
            return None  # "60 - Losses - 2": the words are an operand, not a unit
        end = units


def _right_side(toks, i):
    """(tokens of the expression right of the "=" at index i, its end index), units dropped;
    None when it is not one expression. "= 15% of $300" ends before "of"."""
    start, parts = i + 1, []
    while True:
        end = _arith_edge(toks, start, 1)
        texts = [t for _, t in toks[start:end]]
        cut = _OF in texts
        end = start + texts.index(_OF) if cut else end
        real = _real(toks[start:end])
        if not real or real[-1][0] == "op" or (not parts and real[0][1] in "*×/^"):
            return None
        parts += toks[start:end] + [("sp", " ")]
        units = _unit_edge(toks, end, 1)
        nxt = _real(toks[units:_arith_edge(toks, units, 1)])
        if cut or units == end or not nxt or nxt[0][0] != "op":
            return parts, end
        start = units


def _is_literal(side):
    """One written number, with an optional sign, "$" or "%" ("(7)": "= \\boxed{7}")."""
    real = _real(side)
    while len(real) > 2 and real[0][0] == "lp" and real[-1][0] == "rp":
        real = real[1:-1]
    real = real[1:] if real and real[0] == ("op", "-") else real
    return bool(real) and real[0][0] == "num" and all(k == "pct" for k, _ in real[1:])


def _real_at(toks, k, step):
    """Index of the first token from k on (direction step) that is not blank, or None."""
    while 0 <= k < len(toks) and toks[k][0] in _BLANK:
        k += step
    return k if 0 <= k < len(toks) else None


def _tok(toks, k):
    return toks[k] if k is not None and 0 <= k < len(toks) else (None, None)


def _bounded(toks, k, step):
    """Whether a LaTeX math delimiter comes first from index k on (direction step), spaces and
    "$" of money aside."""
    while 0 <= k < len(toks) and toks[k][0] in ("sp", "dollar"):
        k += step
    return _tok(toks, k)[0] == "math"


def _command(tok):
    """A LaTeX command that is not mere layout ("\\sqrt", "\\pi", "\\binom", "\\star")."""
    return tok[0] == "word" and tok[1].startswith("\\") and tok[1] not in _CONNECTORS


def _outer_ok(toks, edge, step, side):
    """Whether nothing at the outer end of a side makes it part of something larger. edge: the
    side's first token (step -1, a left side) or last token (step 1, a right side). Not: a glued
    word, variable or mark ("5x-1", "= 3x", "5!", "|-3|", "a_1"), "." ("3.\\overline{3}"), a
    ratio or a broken number ("3:4", "16,0000", "0,2"), a variable or command next to it
    ("f (2)", "\\sqrt[3]{8} = 2"), a word that joins it to more ("bulbs at $.50", "1/2 of 50
    =", "= 5 and 2/3", "= 50 cents"), a left side that is one number after a word ("Week 2")."""
    near = _tok(toks, edge + step)
    if toks[edge][0] not in ("sp", "math") and near[0] is not None:
        beyond = _tok(toks, edge + 2 * step)[0]
        if near[1] == "." and beyond not in (None, "sp", "math") or near[1] in (":", ",") and beyond == "num":
            return False
        if near[0] in ("word", "var") or near[0] == "other" and near[1] not in _END_MARKS:
            return False
    k = _real_at(toks, edge + step, step)
    real = _tok(toks, k)
    if k is None or _bounded(toks, edge + step, step):
        return True  # "$" or "\\]" ends the expression: no word beyond it joins
    if real[0] == "var" or _command(real) or real[1] in _SCALE:
        return False
    if real == ("other", ":") and _tok(toks, _real_at(toks, k + step, step))[0] == "num":
        return False  # "$7,980 : $420 = 19"
    if step > 0:
        joins = real[1] == "of" or real[1] in _JOIN_ALWAYS and real[1] != "per"
        nxt = _real_at(toks, k + 1, 1)
        mixed = real[1] == "and" and nxt is not None and _tok(toks, nxt)[0] == "num" \
            and _tok(toks, nxt + 1)[1] == "/"
        return not (mixed or joins and _tok(toks, nxt)[0] in ("num", "lp"))
    if real[1] in _JOIN_ALWAYS or real[1] in _JOIN_AFTER_NUMBER and _after_number(toks, k):
        return False
    return not (_is_literal(side) and real[0] in ("word", "unit"))


def _after_number(toks, k):
    """Whether the word at index k follows a number, a percent or a fraction word."""
    prev = _tok(toks, _real_at(toks, k - 1, -1))
    return prev[0] in ("num", "pct", "rp") or prev[1] in _SCALE


def _literal_unit(side, percent):
    """The place value of a side that is one written number with d >= 1 decimals (10**-d, times
    `percent` after "%"), else None: such a side may be a rounding of the other side."""
    real = _real(side)
    real = real[1:] if real and real[0] == ("op", "-") else real
    if not _is_literal(side) or "." not in real[0][1] or len(real) > 2:
        return None
    unit = Fraction(1, 10 ** len(real[0][1].split(".")[1]))
    return unit * percent if len(real) == 2 else unit


def _percents(lside, rside):
    """What "%" may mean: 1/100, or also a label (1) where the other side has none and the side
    with it is one number ("1260 / 3500 * 100 = 36%") or writes it as "100%" ("x 100% = 120")."""
    out = [Fraction(1, 100)]
    for one, other in ((lside, rside), (rside, lside)):
        real = _real(one)
        label = _is_literal(one) or all(real[k - 1] == ("num", "100")
                                        for k, t in enumerate(real) if t[0] == "pct")
        if ("pct", "%") in one and ("pct", "%") not in other and label:
            out.append(Fraction(1))
    return out


def _rounds_to(exact, written, unit):
    """Whether `written` (a multiple of unit) is `exact` rounded half up or cut to that unit:
    10/3 -> 3.33, 2/3 -> 0.67 or 0.66, but not 10/3 -> 3.4 (one decimal: 3.3)."""
    q, w = abs(exact) / unit, abs(written) / unit
    same_sign = (exact < 0) == (written < 0) or written == 0
    return same_sign and w in (q // 1, (q + Fraction(1, 2)) // 1)


def _equal(lside, rside, percent, right_div):
    """Whether the sides are equal in one reading, a written decimal side being allowed to be a
    rounding of the other; None when a side is not read."""
    a, b = evaluate(lside, percent, right_div), evaluate(rside, percent, right_div)
    if a is None or b is None:
        return None
    if a == b:
        return True
    for written, exact in ((lside, b), (rside, a)):
        unit = _literal_unit(written, percent)
        if unit is not None and _rounds_to(exact, evaluate(written, percent), unit):
            return True
    return False


def _holds(lside, rside, run_on=False, whole=False):
    """True / False for two sides, None when one is not read. True when some reading holds
    (_percents; a / b / c as (a / b) / c or as a / (b / c)). run_on: another "=" follows, so
    "7 x 60 = 420 + 23 = 443" holds when the left side equals the first number on the right.
    whole: the step speaks of a remainder or rounding, so an equation between a fraction and
    something else ("100 / 3 = 33 ... with 1 remaining") is not judged."""
    if evaluate(lside) is None or evaluate(rside) is None:
        return None
    readings = [(p, d) for p in _percents(lside, rside) for d in (False, True)]
    if any(_equal(lside, rside, p, d) for p, d in readings):
        return True
    first = _real(rside)[:1]
    if run_on and first[0][0] == "num" and any(_equal(lside, first, p, d) for p, d in readings):
        return True
    a, b = evaluate(lside), evaluate(rside)
    if _is_literal(lside) and _is_literal(rside):
        return None  # "1 hour = 60 minutes", "12 inches = 1 foot": a unit conversion
    if whole and (a.denominator != 1 or b.denominator != 1):
        return None  # "100 / 3 = 33 ... with 1 remaining", "500 / 13 = 13 * 38 + 6"
    return False


_WHOLE = re.compile(r"remain|round|whole|full|left ?over|nearest", re.IGNORECASE)


def equations(text):
    """[(left tokens, right tokens, verdict)] for every "=" of the step; verdict True / False /
    None (not judged); a side is None when it is not one expression."""
    toks = tokenize(text)
    whole, out = bool(_WHOLE.search(text)), []
    for i, (kind, _) in enumerate(toks):
        if kind != "eq":
            continue
        left, right = _left_side(toks, i), _right_side(toks, i)
        verdict = None
        if left and right and _outer_ok(toks, left[1], -1, left[0]) \
                and _outer_ok(toks, right[1] - 1, 1, right[0]) \
                and not (_is_literal(left[0]) and _unit_edge(toks, i, -1) != i):  # "14 hours ="
            run_on = _tok(toks, _real_at(toks, _unit_edge(toks, right[1], 1), 1))[0] == "eq"
            verdict = _holds(left[0], right[0], run_on, whole)
        out.append((left and left[0], right and right[0], verdict))
    return out


def check_step(text):
    """False if an exactly evaluable equation of the step is false, True if at least one is
    judged and all judged ones hold, None when none is judged (see the module docstring)."""
    verdicts = [v for _, _, v in equations(text) if v is not None]
    if not verdicts:
        return None
    return all(verdicts)


def steps_checked(steps):
    """(n_true, n_false, n_none): how many of the step texts check_step finds True, False, None."""
    verdicts = [check_step(s) for s in steps]
    return verdicts.count(True), verdicts.count(False), verdicts.count(None)


if __name__ == "__main__":
    raise SystemExit("stepcheck.py is a library; benchmarks/check_gold.py measures it on GSM8K / MATH.")
