"""Document titles the CLI sends: what a reader sees in citations."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lectern_cli.ingest import SourceFile, title_of

HTML = SourceFile(Path("tutorial/venv.html"), "tutorial/venv.html", "html")


def test_html_title_character_references_are_decoded():
    page = "<html><head><title>12. Virtual Environments &#8212; Python &amp; you</title>"
    assert title_of(page, HTML) == "12. Virtual Environments — Python & you"


# HTML drops references to noncharacters (U+FDD0, U+FFFE...: category Cn) and
# control characters, so the property is over the characters a title can hold
@settings(max_examples=2000)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc", "Cn"]), min_size=1))
def test_an_escaped_title_comes_back_as_written(title: str):
    escaped = "".join(f"&#{ord(c)};" for c in title)
    expected = " ".join(title.split()) or "venv"
    assert title_of(f"<title>{escaped}</title>", HTML) == expected[:512]
