"""Code steps for real data: rStar-Math's code-augmented CoT (Guan et al. 2025, section 3.1).

A code step is a comment carrying the natural-language reasoning plus the Python for it. The step that
prints gets the printed output appended as comment lines, as rStar appends the observation of its final
code step; the answer follows in a step of its own, so it is written after the output is read:

    # Natalia sold 48/2 = 24 clips in May.
    x1 = 48 / 2

    # Natalia sold 48+24 = 72 clips altogether in April and May.
    x2 = 48 + 24
    print(x2)
    # output: 72

    The answer is \\boxed{72}.

The output lines are comments, so the code of a path (every step joined) still runs. The built-in tasks
keep their own code format (task.py, reltask.py): the printing step boxes the answer too.

  gsm8k_code_steps(reasoning, answer) -> the steps of a GSM8K solution in this format, or None
  with_output(step, stdout) -> the step with its output lines (any the model wrote replaced)
  after_run(step, ok, stdout) -> what the search keeps of a step the sandbox ran (mcts.py --format code)
  boxes_its_output(step, stdout) -> whether a step that boxes an answer boxes what its code printed last
"""
import re
import sys

from grader import extract_answer, is_equiv
from stepcheck import equations

OUTPUT = "# output: "
MAX_OUTPUT_CHARS = 200  # of the appended output; rStar clips at 1024
_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_ARITHMETIC = re.compile(r"[\d\s.+\-*/()]+")  # what a GSM8K calculator annotation computes


def _value(expr):
    """What Python computes for an expression of numbers and + - * / ( ) (float or int), or None."""
    if not _ARITHMETIC.fullmatch(expr) or "**" in expr:  # no powers: 9**9**9 never ends
        return None
    try:
        return eval(expr, {"__builtins__": {}})  # digits, dots, operators and parentheses only
    except (SyntaxError, ZeroDivisionError, TypeError, OverflowError):  # "2(3)" calls an int; 9.9e307 * 10
        return None


def same_number(value, answer):
    """Whether a computed value is the answer's number (to 1e-9 relative: 0.1 + 0.2 is 0.3)."""
    try:
        target = float(answer.replace(",", ""))
    except ValueError:
        return False
    return abs(value - target) <= 1e-9 * max(1.0, abs(target))


_PYTHON_OP = {"×": "*", "*": "*", "/": "/", "+": "+", "-": "-", "\ue000": "*"}  # \ue000: "20% of 50"


def _python_of(tokens, percent="/100"):
    """The Python of one side of a written equation (stepcheck tokens: numbers, + - × / ( ) %, units and
    money skipped; "%" read as `percent`), or None when it holds anything else; "(" after a number is a product."""
    out, prev = [], None
    for kind, tok in tokens:
        if kind in ("sp", "dollar", "math", "unit") or kind == "pct" and not percent:
            continue
        if kind == "num":
            piece = tok.replace(",", "")
        elif kind == "op" and tok in _PYTHON_OP:
            piece = _PYTHON_OP[tok]
        elif kind in ("lp", "rp", "pct"):
            piece = {"lp": "(", "rp": ")", "pct": percent}[kind]
            piece = "*(" if kind == "lp" and prev in ("num", "rp", "pct") else piece
        else:
            return None
        out.append(piece)
        prev = kind
    return " ".join(out) if out else None


def written_expressions(line):
    """Python for the left side of every true equation written without an annotation ("48+30=78
    pounds", "$21 - $19 = $2"), where Python computes the written result (not "$2000 / 2/3 = $3000").
    "%" is first read as a label ("4/20 x 100% = 20%" computes 20), then as 1/100 ("3/6 = 50%": 0.5)."""
    found = []
    for left, right, verdict in equations(line):
        for percent in ("", "/100") if verdict and left and len(left) > 1 else ():
            expr, result = _python_of(left, percent), _python_of(right, percent)
            value, written = (_value(e) if e else None for e in (expr, result))
            if value is not None and written is not None and abs(value - written) <= 1e-9 * max(1.0, abs(value)):
                found.append(expr)
                break
    return found


def gsm8k_code_steps(reasoning, answer):
    """A GSM8K solution ("...<<48/2=24>>24 ...\\n...") as code steps: each line with calculator
    annotations becomes the line as a comment (annotations removed) plus one `xK = <expression>` per
    annotation; a line without one joins the next step's comment. The last variable whose value equals
    `answer` is printed, with its output, and an answer step follows. None when no annotation computes
    the answer (the solution reads it off prose) or an annotation is not plain arithmetic. A line without
    annotations contributes the true equations it writes (written_expressions)."""
    steps, comments, var, printed = [], [], 0, None
    for line in (s.strip() for s in reasoning.split("\n")):
        if not line:
            continue
        comments.append("# " + _ANNOTATION.sub("", line))
        code = []
        exprs = [m.group(1).rsplit("=", 1)[0].strip() for m in _ANNOTATION.finditer(line)] or written_expressions(line)
        for expr in exprs:
            value = _value(expr)
            if value is None:
                return None
            var += 1
            code.append(f"x{var} = {expr}")
            if same_number(value, answer):
                printed = (len(steps), var, value)
        if code:
            steps.append("\n".join(comments + code))
            comments = []
    if printed is None:
        return None
    k, v, value = printed
    steps = steps[:k + 1]  # steps after the one that computes the answer only restate it
    steps[k] = with_output(steps[k] + f"\nprint(x{v})", str(value))  # str(): what print shows
    return steps + [f"The answer is \\boxed{{{answer}}}."]


def with_output(step, stdout):
    """The step with the code's printed output appended as '# output: ' comment lines (clipped); output
    lines the model wrote itself are dropped first."""
    kept = [s for s in step.split("\n") if not s.startswith(OUTPUT)]
    out = stdout.strip()
    if len(out) > MAX_OUTPUT_CHARS:
        out = out[:MAX_OUTPUT_CHARS // 2] + " ... " + out[-MAX_OUTPUT_CHARS // 2:]
    return "\n".join(kept + [OUTPUT + s for s in out.split("\n")] if out else kept)


def after_run(step, ok, stdout):
    """A code step after the sandbox ran it (ok: it ran): with its output appended when it prints and
    gives no answer yet (rStar appends the observation of the final code step), else as it was."""
    prints = any(s.strip().startswith("print(") for s in step.split("\n"))
    return with_output(step, stdout) if ok and prints and "\\boxed" not in step else step


def boxes_its_output(step, stdout):
    """Whether a step that boxes an answer boxes the last line the code printed (the built-in tasks' code
    format: `print(x)` and \\boxed{...} in one step). The code format's counterpart of the text rule that a
    boxed answer is the last equation's result: a number written after the code is asserted, not computed.
    True for a step without a boxed answer."""
    boxed = extract_answer(step, free_text=False)
    return boxed is None or is_equiv(boxed, stdout.strip().split("\n")[-1].strip())


if __name__ == "__main__":
    sys.exit("codesteps.py is a library; run synth.py convert --format code or mcts.py --format code.")
