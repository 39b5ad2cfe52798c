"""Exact checking of the arithmetic written in one solution step of real math text (GSM8K, MATH).

check_step(text) -> True | False | None
  Every "=" is an equation between the arithmetic expression right before it and the one right
  after it ("Natalia sold 48+24 = 72 clips": 48+24 against 72; "a = b = c": a = b, then b = c).
  False when some judged equation is false, True when one or more are judged and all hold, None
  (abstain) when none is judged. Sides are evaluated exactly (Fraction; no floats, no eval()) by
  precedence climbing: + - * × / ÷ ^, signs, parentheses, "2(3)", integer powers, decimals,
  thousands commas, money ($1.50, \\$5), percent (20% = 20/100, "20% of 50", "20 percent"), x, X or
  times between numbers ("0.2 x 50"), "divided by ... equals", \\times, \\cdot, \\div, \\frac{a}{b},
  \\dfrac, \\tfrac, \\frac12; "$...$", \\[ \\], \\left, "= \\boxed{7}", thin spaces and "&" are read
  through. GSM8K writes units after numbers: a noun ("lip gloss per tub", "beetles/snake", "cm^2")
  between a number and an operator is dropped ("4 houses * 3 gnomes = 12" is 4 * 3 = 12); a word
  glued to a number is a variable ("3apples", "5x"), except a short unit ("26ml").

  An equation holds when its sides are equal exactly, or when one side is one number with d >= 1
  decimals that is the other side rounded half up or cut to d decimals (10/3 = 3.33, 2/3 = 0.67,
  2/3 = 0.66 hold; 10/3 = 3.4 does not). A whole number must be exact (10/3 = 3 is false: an
  off-by-one result is the error to catch), except in a step about a remainder or rounding ("100/3
  = 33 with 1 remaining": not judged). It also holds when a GSM8K habit holds: "%" as a label
  beside a plain number ("1260 / 3500 * 100 = 36%"), a / b / c as a / (b / c) ("25 / 1/3 = 75"),
  a run-on chain "7 x 60 = 420 + 23 = 443" (420 against 7 x 60).

  Not judged, as not purely numeric or not surely one expression: variables and functions
  ("5x-1=3x+2", "f(2) = 5", letters in LaTeX math), LaTeX commands next to a side (\\sqrt, \\pi,
  \\binom, \\dots, ^\\circ), "*" in LaTeX math (a defined operation: "2 * 6 = 2^6 + 6^2"), glued marks
  ("5!", "|-3|", "123_4", "0.\\overline{3}"), ratios and times ("3:4", "0730"), a digit before \\frac,
  operands side by side ("2 1/2"), joining words ("5 plus 3 =", "half of 50 =", "= 5 and 2/3", "= 50
  cents"), labels ("Week 2 = 35", "at $.50 ="), unequal plain numbers ("1 hour = 60 minutes"), division
  by zero, huge or fractional powers, "mod", < \\le \\approx \\equiv ("x \\le 3+4 = 7" judges 3+4 = 7 only).

steps_checked(steps) -> (n_true, n_false, n_none). No torch. grader.equations_hold: the older check.
  python -c "from stepcheck import check_step; print(check_step('He sold 110 - 60 - 15 = 35 pens'))"
"""
import re
from fractions import Fraction

MAX_EXPONENT = 64  # larger integer powers are not judged: exact but huge (guessed bound)
MAX_BASE_DIGITS = 30  # digits of a power's base beyond which it is not judged (guessed bound)
MAX_UNIT_WORDS = 6  # "tubes of lip gloss per tub of lip gloss" (guessed bound)

# ----------------------------------------------------------------------------- normalizing LaTeX

_FRAC = re.compile(r"\\[dt]?frac\s*")
_TEXT = re.compile(r"\\(?:text|textrm|textbf|mbox|mathrm|textnormal|operatorname)\s*\{([^{}]*)\}")
# LaTeX text (MATH): "$" delimits math, "\$" is money; plain text (GSM8K): "$" is money
_LATEX = re.compile(r"\\(?!boxed\b)[A-Za-z]+|\\[\[(]|\$\$|\$\s*[^\s\d.,$]|\$\S[^$]*?(?<=\S)\$(?=[\s.,;:!?)]|$)")
_MATH = re.compile(r"\$\$?|\\[\[\]()]|\\(?:begin|end)\{(?:align|equation|eqnarray|gather|multline)\*?\}")
_SUBS = [(re.compile(p), r) for p, r in [  # applied in order
    (r"\^\s*\{?\s*\\circ\s*\}?|°", " deg "),  # degrees: a unit, so an angle is never judged
    (r"(\d),\\!(\d{3})(?!\d)", r"\1\2"),  # 28,\!672
    (r"\\left\b|\\right\b|\\!|\\displaystyle\b", ""),
    (r"(=\s*\ue002?\s*)\\(?:boxed|fbox)\b", r"\1"),  # "= \boxed{7}"; "\boxed{11}=2" is no number
    (r"(\d)(?:\\,|\{,\})(\d{3})(?!\d)", r"\1\2"),  # 1\,000 and 1{,}000 are one number
    (r"\\&", " \\amp "),  # a defined operation "3 \& 5"
    (r"\\[,;: ]|~|\\q?quad\b|&", " "),
    (r"²", "^2"), (r"³", "^3"), (r"\\times\b|\\cdot\b|×|·|∙|⋅", "×"), (r"\\div\b|÷", "/"),
    (r"−|–", "-"), (r"\\%", "%"), (r"\\\$", "$"), (r"(?<=\d)\s*percent\b", "%"),
    (r"(?<=\d) (?:(divided)|multiplied) by (\$?[\d.,]+) (?:equals|=) (?=[$\d.(-])",  # "150 divided by 5
     lambda m: (" / " if m[1] else " × ") + m[2] + " = "),  # equals 30"; "is equal to": a ratio
    (r"(?<=\d) equals (?=[$\d.(-])", " = "),
    (r"(?<=\d)\.\.\.", ""),  # "8.333...": a rounded literal like "8.333"
    (r"(?<=[\d)%])(\s*)[xX](\s*)(?=\$?[\d(]|\$?\.\d)", r"\1×\2"),  # "3 x 4"; "5x", "2x$" stay
    (r"%(\s*)of(\s+)(?=\$?[\d(.])", "%\\1\ue000\\2")]]  # 20% of 50: _OF below


def _brace_arg(text, i):
    """(argument, end) of a LaTeX argument at text[i]: a {...} group or one character; None."""
    i = len(text) - len(text[i:].lstrip(" "))
    if i < len(text) and text[i] != "{":
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
        num = _brace_arg(text, m.end()) if m.start() >= i else None
        den = num and _brace_arg(text, num[1])
        if den:
            mixed = " mixed" if m.start() > i and re.search(r"\d\s*$", text[i:m.start()]) else ""
            out += [text[i:m.start()], mixed, f"(({_expand_fracs(num[0])})/({_expand_fracs(den[0])}))"]
            i = den[1]
    return "".join(out) + text[i:]


def normalize(text):
    """The step rewritten for the tokenizer. In LaTeX text math delimiters become "\\ue002", money
    "\\ue001", a comma between digits a list ("(28,365) = 1": a gcd; "\\$1,250" stays money)."""
    latex = bool(_LATEX.search(text))
    text = _MATH.sub("\ue002", text.replace("\\$", "\ue001")) if latex else text
    text = _expand_fracs(_TEXT.sub(lambda m: " " + m.group(1), text))  # "5\text{ cm}^2": 5 cm^2
    for pattern, repl in _SUBS:
        text = pattern.sub(repl, text)
    if latex:
        text = re.sub(r"(\ue001?)(\d+(?:,\d+)+)", lambda m: m[0] if m[1] else m[2].replace(",", ", "), text)
    return text.replace("{", "(").replace("}", ")")

# ----------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"""
    (?P<sp>\s+)
  | (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+)?|\.\d+)
  | (?P<rel>[<>!=]=|=[=>]|[<>≤≥≠≈∼≡]|\\(?:approx|le|ge|leq|geq|lt|gt|ne|neq|sim|equiv|cong)(?![A-Za-z]))
  | (?P<eq>=) | (?P<word>\\[A-Za-z]+|[^\W\d_]+) | (?P<op>[-+*×/^\ue000]) | (?P<lp>\() | (?P<rp>\))
  | (?P<pct>%) | (?P<dollar>[$€£\ue001]) | (?P<math>\ue002) | (?P<newline>\\\\) | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
_OF = "\ue000"  # "20% of 50": a product, but a right side "= 15% of $300" ends before it
_ARITH = {"sp", "num", "op", "lp", "rp", "pct", "dollar", "math"}
_BLANK = ("sp", "dollar", "math")
_END_MARKS = {",", ".", ";", ":", "?", '"'}  # may touch a side: "=10.", "Ann:7+3"
# LaTeX commands next to a side that leave it a whole expression (not "\sqrt[3]{8} = 2")
_CONNECTORS = set(r"\Rightarrow \implies \therefore \iff \Longrightarrow \rightarrow \to \text"
                  r" \Leftrightarrow \quad \qquad \end \begin \hline \newline".split())
# a word next to a side that makes it part of more than we read ("5 plus 3 =", "\dots + 9 =")
_JOIN_ALWAYS = set(r"x X times plus minus divided multiplied over mod modulo \pmod \mod"
                   r" \bmod \dots \cdots \ldots \dotsm \dotsb \dotsc".split())
_JOIN_AFTER_NUMBER = {"of", "by", "and"}  # "1/2 of 50 =", "1 and 1/4 =", not "a total of 4+2 ="
# scale words: never a unit, and a result followed by one is not judged ("= 50 cents")
_SCALE = set("cents cent percent percentage dozen dozens hundred hundreds thousand thousands"
             " half halves third thirds quarter quarters fourth"
             " fourths fifth fifths tenth tenths twice double triple k mixed deg".split())
# prose that is no unit (a unit is a noun after a number: "4 houses * 3 gnomes")
_NOT_UNIT = _SCALE | _JOIN_ALWAYS | set(
    "and or is are was were be has have had so then which that the a an to for in on with from if"
    " because than as more less left remaining equals gives makes of already still now"
    " only just all up down away out back at per".split())
_UNIT_GLUE = set("of per on in for to with from at a an the".split())  # "tubes of lip gloss per tub"
# glued to a number a word is a variable ("5x"), except these units ("26ml", "5lbs")
_GLUED_UNITS = set("ml kg mg lb lbs oz km cm mm ft mph hr hrs min mins sec secs pm am st nd rd th".split())


def tokenize(text):
    """[(kind, text)] of the normalized step: _TOKEN's kinds, "unit" (a noun after a number), "var"
    (a word in LaTeX math, one letter in LaTeX text), "x"/"times" between numbers made "×"."""
    toks = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(normalize(text))]
    in_math, latex = False, any(kind == "math" for kind, _ in toks)
    for k, (kind, tok) in enumerate(toks):
        before, after = _tok(toks, k - 1), _tok(toks, k + 1)
        prv, nxt = (_tok(toks, _real_at(toks, k + d, d)) for d in (-1, 1))
        per = tok == "/" and (prv[0] in ("word", "unit", "num", "rp") and _unit_word(nxt)
                              or before[0] == "unit" and after[0] == "word")  # "$5 / hour", "ml/g"
        in_math ^= kind == "math"
        if kind == "op" and (per or tok == "-" and before[0] == "unit" and _unit_word(after)):
            toks[k] = ("unit", tok)  # per, not a division; "bee-eaters" is one word
        elif before[0] == "unit" and (tok == "^" or before[1] == "^" and kind == "num"):
            toks[k] = ("unit", tok)  # "cm^2"
        elif in_math and tok == "*":
            toks[k] = ("word", "\\ast")  # a defined operation: "$2 * 6 = 2^6 + 6^2$"
        elif kind != "word" or tok.startswith("\\"):
            continue
        elif in_math or latex and len(tok) == 1 and tok not in "aAI":
            toks[k] = ("var", tok)
        elif tok in ("x", "X", "times") and nxt[0] in ("num", "lp") and prv[0] in ("num", "unit", "pct", "rp"):
            toks[k] = ("op", "×")
        elif _unit_word((kind, tok)) and before[0] not in ("num", "rp") or before[0] == "num" and tok in _GLUED_UNITS:
            toks[k] = ("unit", tok)
    return toks


def _unit_word(token):
    """A word that may be a unit: two letters or more (one letter is a variable), no prose."""
    return token[0] == "word" and len(token[1]) >= 2 and not token[1].startswith("\\") \
        and token[1].lower() not in _NOT_UNIT


def _tok(toks, k):
    return toks[k] if k is not None and 0 <= k < len(toks) else (None, None)


def _real_at(toks, k, step, blank=_BLANK):
    """Index of the first token from k on (direction step) that is not blank, or None."""
    while 0 <= k < len(toks) and toks[k][0] in blank:
        k += step
    return k if 0 <= k < len(toks) else None


def _real(run):  # run without spaces, "$" and math delimiters
    return [t for t in run if t[0] not in _BLANK]

# ----------------------------------------------------------------------------- exact evaluation

_PREC = {"+": 1, "-": 1, "*": 2, "×": 2, "/": 2, _OF: 2, "(": 2, "^": 4}  # a sign: 3, so -2^2 = -4


class _Parser:
    """Precedence climbing over (kind, text) tokens without blanks; values are Fractions; raises
    ValueError on anything it does not read. `percent`: what "%" multiplies by (1/100, or 1 where
    it is a label: "100 - 50 = 50%"); `right_div` reads a / b / c as a / (b / c)."""

    def __init__(self, tokens, percent, right_div):
        self.toks, self.i, self.percent, self.right_div = tokens + [(None, None)], 0, percent, right_div

    def expr(self, min_prec=1):
        """The value of what follows, down to operators of precedence min_prec."""
        value = self.operand()
        while True:
            kind, tok = self.toks[self.i]
            op = "(" if kind == "glued_lp" else tok if kind == "op" else None  # "(": 2(3), (2)(3)
            if _PREC.get(op, 0) < min_prec:
                return value
            self.i += op != "("
            right = self.expr(_PREC[op] + (op != "^"))  # "^" groups to the right, the others left
            while op == "/" and self.right_div and self.toks[self.i] == ("op", "/"):
                self.i += 1
                right = right / self.expr(3)
            if op == "^":
                digits = len(str(abs(value.numerator))) + len(str(value.denominator))
                if right.denominator != 1 or abs(right) > MAX_EXPONENT or digits > MAX_BASE_DIGITS:
                    raise ValueError("power not read")
                value = value ** int(right)
            else:  # a ZeroDivisionError is caught by evaluate
                value = value + right if op == "+" else value - right if op == "-" else \
                    value / right if op == "/" else value * right

    def operand(self):
        """A signed operand, or a number or parenthesized expression and its percent signs."""
        kind, tok = self.toks[self.i]
        self.i += 1
        if (kind, tok) in (("op", "-"), ("op", "+")):
            return -self.expr(3) if tok == "-" else self.expr(3)  # a sign binds below "^"
        if kind == "num" and not re.fullmatch(r"0\d{3}", tok):  # "0730" is a time or a code
            value = Fraction(tok.replace(",", ""))
        elif kind in ("lp", "glued_lp"):
            value = self.expr()
            if self.toks[self.i][0] != "rp":
                raise ValueError("unclosed parenthesis")
            self.i += 1
        else:
            raise ValueError(f"unexpected {tok!r}")
        while self.toks[self.i][0] == "pct":
            self.i += 1
            value = value * self.percent
        return value


def evaluate(tokens, percent=Fraction(1, 100), right_div=False):
    """Exact value (Fraction) of a side's tokens, or None. A "(" touching a number or ")" is an
    implicit product; with a space between, operands side by side ("2 (3)", "2 1/2") are not read."""
    kinds = [None] + [kind for kind, _ in tokens]
    marked = [("glued_lp" if kind == "lp" and prev in ("num", "rp", "pct") else kind, tok)
              for prev, (kind, tok) in zip(kinds, tokens) if kind not in _BLANK]
    parser = _Parser(marked, percent, right_div)
    try:
        value = parser.expr()
    except (ValueError, ZeroDivisionError, RecursionError):  # RecursionError: "((((...1))))"
        return None
    return value if parser.toks[parser.i][0] is None else None

# ----------------------------------------------------------------------------- equations


def _arith_edge(toks, k, step):
    """The far end of the run of arithmetic tokens from index k (step -1: its start, k exclusive)."""
    while 0 <= k + min(step, 0) < len(toks) and toks[k + min(step, 0)][0] in _ARITH:
        k += step
    return k


def _unit_edge(toks, k, step):
    """Like _arith_edge for a run of unit words ("houses", "lip gloss per tub", "beetles/snake")
    that starts with a unit next to the number; k itself when there is none or it is too long."""
    seen, last, j = [], k, k + min(step, 0)
    while 0 <= j < len(toks) and (toks[j][0] in ("unit", "sp") or toks[j][1] in _UNIT_GLUE):
        if toks[j][0] != "sp":
            seen, last = seen + [toks[j]], j + max(step, 0)
        j += step
    first = seen[-1 if step < 0 else 0] if seen else (None, None)  # the word next to the number
    words = sum(kind == "unit" for kind, _ in seen)
    return last if 0 < words <= MAX_UNIT_WORDS and (first[0] == "unit" or first[1] == "per") else k


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
        unary = real[0][1] in "-+" and len(real) > 1 and toks[k + 1][0] != "sp"
        if unary and _tok(toks, _real_at(toks, k - 1, -1, ("sp", "dollar")))[0] == "math":
            return parts, start  # "$-2^2 = -4$": right after a math delimiter
        units = _unit_edge(toks, start, -1)
        if units == start:  # "-3 + 5 =" is unary; "hours * 3 =", "10i +10 =" miss an operand
            prev = _tok(toks, _real_at(toks, start - 1, -1))
            operand = prev[0] in ("num", "rp", "pct", "unit", "var") or _command(prev)
            if prev[0] is None and not unary:  # "*87+15=12" opens the step: a stray operator
                parts.remove(real[0])
            return (parts, start) if (unary or prev[0] is None) and not operand else None
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
        stray = _tok(toks, _real_at(toks, end, 1))[1] in (None, ".")  # "= 24*." ends: a stray operator
        cut = next((start + j for j, (_, t) in enumerate(toks[start:end]) if t == _OF), None)
        end = cut or end
        while stray and end > start and toks[end - 1][0] in ("sp", "op"):
            end -= 1
        real = _real(toks[start:end])
        if not real or real[-1][0] == "op" or (not parts and real[0][1] in "*×/^"):
            return None
        parts += toks[start:end] + [("sp", " ")]
        units = _unit_edge(toks, end, 1)
        nxt = _real(toks[units:_arith_edge(toks, units, 1)])
        if cut or units == end or not nxt or nxt[0][0] != "op":
            return parts, end
        start = units


def _command(tok):
    """A LaTeX command that is not mere layout ("\\sqrt", "\\pi", "\\binom", "\\star")."""
    return tok[0] == "word" and tok[1].startswith("\\") and tok[1] not in _CONNECTORS


def _outer_ok(toks, edge, step, side):
    """Whether nothing beyond the side's outer token `edge` (step -1: a left side) makes it part
    of more: a glued word, variable or mark ("5x-1", "5!", "a_1", "3.\\overline{3}", "3:4",
    "16,0000"), a variable or command next to it ("f (2)", "\\sqrt[3]{8} = 2"), a joining word
    ("1/2 of 50 =", "= 5 and 2/3", "= 50 cents"), a word before one number ("Week 2", "at $.50")."""
    near, beyond = _tok(toks, edge + step), _tok(toks, edge + 2 * step)[0]
    if toks[edge][0] not in ("sp", "math") and near[0] is not None:
        if near[1] == "." and _command(_tok(toks, edge + 2 * step)) or near[1] in ":," and beyond == "num":
            return False
        if near[0] in ("word", "var") or near[0] == "other" and near[1] not in _END_MARKS:
            return False
    k = _real_at(toks, edge + step, step)
    n = _real_at(toks, (k or 0) + step, step)
    real, nxt = _tok(toks, k), _tok(toks, n)
    if real[0] == "var" or _command(real) or real[1] in _SCALE or real == ("other", ":") and nxt[0] == "num" \
            and _tok(toks, k + step)[0] == "sp":
        return False  # "$7,980 : $420 = 19", not "by 2: 12 * 2 = 24"
    if _tok(toks, _real_at(toks, _real_at(toks, edge, -step) + step, step, ("sp", "dollar")))[0] == "math":
        return real[1] not in _JOIN_ALWAYS  # a math delimiter ends the side: "$2^{10} = 1024$ and $"
    if step > 0:
        mixed = real[1] == "and" and (nxt[0] == "lp" or nxt[0] == "num" and _tok(toks, n + 1)[1] == "/")
        joins = real[1] == "of" or real[1] in _JOIN_ALWAYS
        return not (mixed or joins and nxt[0] in ("num", "lp"))
    if real[1] in _JOIN_ALWAYS or real[1] in _JOIN_AFTER_NUMBER and (
            nxt[0] in ("num", "pct", "rp") or nxt[1] in _SCALE):
        return False
    j = k  # words between the side and an operator: "25 kids + his 1 teacher + 1 himself ="
    for _ in range(MAX_UNIT_WORDS):
        j = _real_at(toks, j - 1, -1) if _tok(toks, j)[0] in ("word", "unit") else j
    op = _tok(toks, j)[0] == "op" and _tok(toks, j + 1)[0] not in ("word", "unit")  # not "12-gallon"
    return not (_is_literal(side) and real[0] in ("word", "unit") or op)

def _is_literal(side):
    """One written number, with an optional sign, "$" or "%" ("(7)": "= \\boxed{7}")."""
    real = _real(side)
    while len(real) > 2 and real[0][0] == "lp" and real[-1][0] == "rp":
        real = real[1:-1]
    real = real[1:] if real and real[0] == ("op", "-") else real
    return bool(real) and real[0][0] == "num" and all(k == "pct" for k, _ in real[1:])


def _rounds_to(written, exact, percent):
    """Whether the side `written` is one number with d >= 1 decimals that is `exact` rounded
    half up or cut to d decimals: 10/3 -> 3.33, 2/3 -> 0.67 or 0.66, not 10/3 -> 3.4."""
    real = [t for t in _real(written) if t != ("op", "-")]
    if not _is_literal(written) or "." not in real[0][1] or len(real) > 2:
        return False
    unit = Fraction(1, 10 ** len(real[0][1].split(".")[1])) * (percent if len(real) == 2 else 1)
    value = evaluate(written, percent)
    q, w = abs(exact) / unit, abs(value) / unit
    return ((exact < 0) == (value < 0) or value == 0) and w in (q // 1, (q + Fraction(1, 2)) // 1)


def _percents(lside, rside):
    """What "%" may mean: 1/100, or also a label (1) where the other side has none and the side
    with it is one number ("1260 / 3500 * 100 = 36%") or writes it as "100%" ("x 100% = 120")."""
    label = [("pct", "%") in one and ("pct", "%") not in other and (_is_literal(one) or all(
        _real(one)[k - 1] == ("num", "100") for k, t in enumerate(_real(one)) if t[0] == "pct"))
        for one, other in ((lside, rside), (rside, lside))]
    return [Fraction(1, 100)] + [Fraction(1)] * any(label)


def _holds(lside, rside, run_on=False, whole=False):
    """True / False for two sides, None when one is not read. True when a reading holds: "%"
    (_percents), a / b / c as (a / b) / c or a / (b / c), exact or rounded (_rounds_to); run_on
    (another "=" follows): also the left side against the first number on the right. whole: the
    step speaks of a remainder or rounding: a whole side against one that is not is not judged."""
    a, b = evaluate(lside), evaluate(rside)
    if a is None or b is None:
        return None
    first = _real(rside)[:1]  # a run-on chain's first number
    for right, p, d in [(r, p, d) for r in [rside] + [first] * (run_on and first[0][0] == "num")
                        for p in _percents(lside, rside) for d in (False, True)]:
        x, y = evaluate(lside, p, d), evaluate(right, p, d)
        if x is not None and y is not None and (x == y or _rounds_to(lside, y, p) or _rounds_to(right, x, p)):
            return True
    if _is_literal(lside) and _is_literal(rside):
        return None  # "1 hour = 60 minutes", "12 inches = 1 foot": a unit conversion
    if whole and (a.denominator == 1) != (b.denominator == 1):
        return None  # "500 / 13 = 13 * 38 + 6"
    return False


_WHOLE = re.compile(r"remain|round|left ?over|nearest", re.IGNORECASE)


def equations(text):
    """[(left tokens, right tokens, verdict)] for every "=" of the step; verdict True / False /
    None (not judged); a side is None when it is not one expression."""
    toks, whole, out = tokenize(text), bool(_WHOLE.search(text)), []
    for i in [i for i, (kind, _) in enumerate(toks) if kind == "eq"]:
        left, right, verdict = _left_side(toks, i), _right_side(toks, i), None
        if left and right and _outer_ok(toks, left[1], -1, left[0]) and _outer_ok(toks, right[1] - 1, 1, right[0]) \
                and not (_is_literal(left[0]) and _unit_edge(toks, i, -1) != i):  # "14 hours = 14 * 60"
            run_on = _tok(toks, _real_at(toks, _unit_edge(toks, right[1], 1), 1))[0] == "eq"
            verdict = _holds(left[0], right[0], run_on, whole)
        out.append((left and left[0], right and right[0], verdict))
    return out


def check_step(text):
    """False if an exactly evaluable equation of the step is false, True if at least one is
    judged and all judged ones hold, None when none is judged (see the module docstring)."""
    try:
        verdicts = [v for _, _, v in equations(text) if v is not None]
    except RecursionError:  # \frac nested hundreds deep: no real step
        return None
    return all(verdicts) if verdicts else None


def steps_checked(steps):
    """(n_true, n_false, n_none): how many of the step texts check_step finds True, False, None."""
    return tuple(map([check_step(s) for s in steps].count, (True, False, None)))

