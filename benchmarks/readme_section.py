"""Shared by the benchmark scripts: put a section into README.md in place of the old one."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def put_section(heading, section):
    """Replace README's '## {heading}' section (up to the next '## ') with `section`, or append it."""
    text = README.read_text() if README.exists() else ""
    pat = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pat.sub(lambda _: section + "\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section
    README.write_text(text)
