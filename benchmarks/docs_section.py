"""Shared by the benchmark scripts: put a section into a page of docs/ in place of the old one."""
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def put_section(page, heading, section):
    """Replace docs/{page}'s '## {heading}' section (up to the next '## ') with `section`, or append it."""
    path = DOCS / page
    text = path.read_text() if path.exists() else ""
    pat = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pat.sub(lambda _: section + "\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text)
