"""codesteps.py: GSM8K solutions as rStar code steps, the output appended to a printing step; synth.py
convert --format code; the code prompt; the search appends the output of a step it ran."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synth  # noqa: E402
from codesteps import after_run, boxes_its_output, gsm8k_code_steps, with_output, written_expressions  # noqa: E402
from common import format_prompt  # noqa: E402
from sandbox import run_code  # noqa: E402
from searchtree import step_code  # noqa: E402
from train_sft import build_char_tokenizer  # noqa: E402

# GSM8K-style solutions written for these tests: (reasoning, answer, expected steps)
CASES = [
    ("Mia sold 48/2 = <<48/2=24>>24 cups on Monday.\nShe sold 48+24 = <<48+24=72>>72 cups in all.\n", "72",
     ["# Mia sold 48/2 = 24 cups on Monday.\nx1 = 48/2",
      "# She sold 48+24 = 72 cups in all.\nx2 = 48+24\nprint(x2)\n# output: 72",
      "The answer is \\boxed{72}."]),
    # a prose line joins the next step's comment; one line with two annotations gives two variables
    ("First find the total.\nIt costs 3*4 = $<<3*4=12>>12 and 12-5 = $<<12-5=7>>7 is left.\n", "7",
     ["# First find the total.\n# It costs 3*4 = $12 and 12-5 = $7 is left.\nx1 = 3*4\nx2 = 12-5\nprint(x2)\n# output: 7",
      "The answer is \\boxed{7}."]),
    # a line without annotations contributes its true written equation; a float prints as Python prints it
    ("He runs 0.5*6 = <<0.5*6=3>>3 miles.\nSo in all 3 + 2 = 5 miles.\n", "5",
     ["# He runs 0.5*6 = 3 miles.\nx1 = 0.5*6",
      "# So in all 3 + 2 = 5 miles.\nx2 = 3 + 2\nprint(x2)\n# output: 5",
      "The answer is \\boxed{5}."]),
    # the step that computes the answer is the last one kept: a later restatement goes
    ("Tom has 2*5 = <<2*5=10>>10 pens.\nHe has 10 pens.\n", "10",
     ["# Tom has 2*5 = 10 pens.\nx1 = 2*5\nprint(x1)\n# output: 10", "The answer is \\boxed{10}."]),
]


@pytest.mark.parametrize("reasoning,answer,steps", CASES)
def test_gsm8k_solution_as_code_steps(reasoning, answer, steps):
    assert gsm8k_code_steps(reasoning, answer) == steps


def test_no_calculation_gives_the_answer():
    assert gsm8k_code_steps("He has 2*5 = <<2*5=10>>10 pens.\nSo 11 in all.\n", "11") is None
    assert gsm8k_code_steps("He gets 11 pens.\n", "11") is None
    assert gsm8k_code_steps("Powers <<9**9**9=1>>1.\n", "1") is None  # never evaluated


def test_written_equations_percent_and_grouping():
    assert written_expressions("The share is 4/20 x 100% = 20%.") == ["4 / 20 * 100"]  # "%" a label
    assert written_expressions("The chance is 3 / 6 = 50%.") == ["3 / 6"]  # "%" as 1/100: 0.5 = 0.5
    assert written_expressions("That is $2000 / 2/3 = $3000.") == []  # Python reads 2000/2/3
    assert written_expressions("It costs $5 + $11 = $16 in all.") == ["5 + 11"]
    assert written_expressions("Each has 12 pens = 12 pens.") == []  # nothing computed


def test_converted_code_runs_and_prints_the_answer():
    for reasoning, answer, _ in CASES:
        steps = gsm8k_code_steps(reasoning, answer)
        ok, out = run_code("\n".join(step_code(s) for s in steps))
        assert ok and float(out.strip()) == float(answer)


def test_output_lines_replace_the_models_and_are_clipped():
    step = "x = 2\nprint(x)\n# output: 99"
    assert with_output(step, "2\n") == "x = 2\nprint(x)\n# output: 2"
    assert with_output("print(1)\nprint(2)", "1\n2\n") == "print(1)\nprint(2)\n# output: 1\n# output: 2"
    long = with_output("print(x)", "7" * 1000)
    assert len(long) < 230 and " ... " in long


def test_after_run_appends_only_to_a_printing_step_without_answer():
    assert after_run("x = 2\nprint(x)", True, "2\n") == "x = 2\nprint(x)\n# output: 2"
    assert after_run("x = 2", True, "") == "x = 2"  # prints nothing
    assert after_run("x = 1/0\nprint(x)", False, "ZeroDivisionError") == "x = 1/0\nprint(x)"  # failed: dropped later
    assert after_run("print(x)\n\\boxed{2}", True, "2\n") == "print(x)\n\\boxed{2}"  # the built-in format


def test_a_boxed_answer_must_be_the_last_printed_line():
    assert boxes_its_output("x = 2 + 3\nprint(x)\n\\boxed{5}", "5\n")
    assert not boxes_its_output("x = 2 + 2\nprint(x)\n\\boxed{5}", "4\n")  # asserted, not computed
    assert boxes_its_output("print(x)\n\\boxed{7}", "5\n7\n")  # an earlier step's output comes first
    assert not boxes_its_output("print(x)\n\\boxed{5}", "5\n7\n")
    assert not boxes_its_output("x = 5\n\\boxed{5}", "")  # printed nothing
    assert boxes_its_output("x = 2\nprint(x)", "2\n")  # no answer yet


def test_convert_cli_code_format(tmp_path):
    src = tmp_path / "gsm8k.jsonl"
    recs = [{"question": "Q1", "answer": CASES[0][0] + "#### 72"},
            {"question": "Q2", "answer": "He gets 11 pens.\n#### 11"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "code.jsonl"
    cmd = [sys.executable, str(ROOT / "synth.py"), "convert", "--kind", "gsm8k", "--in", str(src), "--out", str(out)]
    log = subprocess.run(cmd + ["--format", "code"], check=True, capture_output=True, text=True).stdout
    assert "1 records" in log and "1 skipped" in log
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "gsm8k-0", "question": "Q1", "answer": "72", "solution": "\n\n".join(CASES[0][2]),
         "source": "gsm8k", "format": "code"}]
    math = [sys.executable, str(ROOT / "synth.py"), "convert", "--kind", "math", "--in", str(src),
            "--out", str(tmp_path / "m.jsonl"), "--format", "code"]
    bad = subprocess.run(math, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "GSM8K only" in bad.stderr


def test_code_prompt_with_a_chat_template():
    tok = build_char_tokenizer()
    assert format_prompt(tok, "Q?", code=True) == format_prompt(tok, "Q?")  # no template: the plain one
    tok.chat_template = "{% for m in messages %}<u>{{ m['content'] }}</u>{% endfor %}<a>"
    assert "solve the problem with code" in format_prompt(tok, "Q?", code=True)
    assert "solve the problem with code" not in format_prompt(tok, "Q?")
    assert synth.convert_gsm8k({"question": "Q", "answer": "x"}, 0, fmt="code") is None
