"""Parsing real Gazebo Markdown, real Python HTML docs, hostile HTML and plain text."""

from __future__ import annotations

import re

import pytest
from tests.conftest import GAZEBO_CORPUS, PYTHON_HTML_CORPUS

from lectern_indexer.parsing import parse_document
from lectern_indexer.parsing.model import ParsedDocument


def _read(path) -> str:  # type: ignore[no-untyped-def]
    return path.read_text(encoding="utf-8")


def _all_text(document: ParsedDocument) -> str:
    return "\n".join(b.text for s in document.sections for b in s.blocks)


def test_markdown_sections_keep_heading_paths():
    document = parse_document(_read(GAZEBO_CORPUS / "jetty/install_osx_src.md"), "markdown")
    paths = [s.heading_path for s in document.sections]
    assert paths[0] == ("Source Installation on macOS",)
    assert (
        "Source Installation on macOS",
        "Install tools",
        "Install compiler requirements",
    ) in paths
    assert document.title == "Source Installation on macOS"


def test_markdown_fenced_code_is_one_block_with_its_fence():
    source = _read(GAZEBO_CORPUS / "jetty/install_osx.md")
    document = parse_document(source, "markdown")
    code = [b.text for s in document.sections for b in s.blocks if b.kind == "code"]
    assert (
        "```bash\nbrew tap osrf/simulation\nbrew trust osrf/simulation\nbrew install gz-jetty\n```"
        in code
    )


def test_markdown_links_keep_text_and_images_keep_alt():
    document = parse_document(_read(GAZEBO_CORPUS / "common/ci.md"), "markdown")
    text = _all_text(document)
    assert "Contributing guide" in text
    assert "](" not in text
    assert "PR checks" in text
    assert "images/PR_checks.png" not in text


def test_markdown_tables_are_one_block_with_a_row_per_line():
    document = parse_document(_read(GAZEBO_CORPUS / "common/releases.md"), "markdown")
    tables = [b for s in document.sections for b in s.blocks if b.kind == "table"]
    assert tables
    first = tables[0].text.splitlines()
    assert first[0] == "| Name | Date | EOL date | Notes |"
    assert all(line.startswith("| ") and line.endswith(" |") for line in first)


def test_markdown_front_matter_becomes_metadata():
    source = (
        "---\ntitle: Hello\ntags: [sim, ros]\nlevel: 2\nnested: {a: 1}\n---\n# Top\n\nBody text.\n"
    )
    document = parse_document(source, "markdown")
    assert document.metadata == {"title": "Hello", "tags": ["sim", "ros"], "level": 2}
    assert document.title == "Hello"
    assert "title: Hello" not in _all_text(document)


def test_markdown_nested_lists_keep_indentation():
    document = parse_document(
        "# T\n\n- one\n  - nested\n- two\n\n1. first\n2. second\n", "markdown"
    )
    lists = [b.text for s in document.sections for b in s.blocks if b.kind == "list"]
    assert lists == ["- one\n  - nested\n- two", "1. first\n2. second"]


def test_markdown_raw_html_keeps_only_visible_text():
    source = '# T\n\n<div onclick="steal()">Visible <b>text</b><script>alert(1)</script></div>\n'
    text = _all_text(parse_document(source, "markdown"))
    assert "Visible text" in text
    assert "alert" not in text
    assert "steal" not in text


HOSTILE_HTML = """<!doctype html><html><head><title>Page</title>
<style>body { color: red }</style><script>var secret = 1;</script></head>
<body onload="evil()">
<header>Site header</header><nav>Home | About</nav>
<main>
<h1>Guide</h1><p onclick="evil()">Intro <a href="javascript:evil()">link text</a>
<img src="x.png" alt="diagram" onerror="evil()"></p>
<h2>Setup</h2><p>Install it.</p>
<pre><code>def f():
    return 1</code></pre>
<h3>Details</h3><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
<h2>Usage</h2><p>Run it.<script>document.write('injected')</script></p>
<form><input value="search"><button>Go</button></form>
</main>
<footer>Copyright</footer></body></html>"""


def test_html_drops_scripts_styles_chrome_and_handlers():
    document = parse_document(HOSTILE_HTML, "html")
    text = _all_text(document)
    for forbidden in ("secret", "color: red", "evil", "injected", "Site header", "Home | About"):
        assert forbidden not in text
    for forbidden in ("Copyright", "search", "Go", "javascript"):
        assert forbidden not in text
    assert "Intro link text diagram" in text
    assert document.title == "Page"


def test_html_headings_give_paths_and_pre_is_whole():
    document = parse_document(HOSTILE_HTML, "html")
    by_path = {s.heading_path: s.blocks for s in document.sections}
    setup = by_path[("Guide", "Setup")]
    assert [b.kind for b in setup] == ["text", "code"]
    assert setup[1].text == "def f():\n    return 1"
    assert by_path[("Guide", "Setup", "Details")][0].text == "| a | b |\n| 1 | 2 |"
    assert by_path[("Guide", "Usage")][0].text == "Run it."


def test_article_header_keeps_its_heading_but_not_the_rest():
    source = (
        "<body><header>Site banner</header><article><header><h1>Post</h1><p>By Ann</p>"
        "</header><p>Body text.</p></article></body>"
    )
    document = parse_document(source, "html")
    assert [(s.heading_path, [b.text for b in s.blocks]) for s in document.sections] == [
        (("Post",), ["Body text."])
    ]


def test_markdown_attribute_lists_are_dropped():
    document = parse_document(_read(GAZEBO_CORPUS / "common/releases.md"), "markdown")
    assert "{.external}" not in _all_text(document)
    assert "Gazebo Libraries. Each library" in _all_text(document)


def test_all_script_html_has_no_text():
    document = parse_document("<html><script>a()</script><style>p{}</style></html>", "html")
    assert document.is_empty


def test_plain_text_paragraphs():
    document = parse_document("First para\nline two.\n\n\nSecond   para.", "text")
    assert [b.text for b in document.sections[0].blocks] == [
        "First para\nline two.",
        "Second para.",
    ]
    assert document.sections[0].heading_path == ()


PYTHON_PAGES = sorted(PYTHON_HTML_CORPUS.rglob("*.html"))


@pytest.mark.parametrize(
    "path", PYTHON_PAGES, ids=lambda p: p.relative_to(PYTHON_HTML_CORPUS).as_posix()
)
def test_python_docs_parse_clean(path):
    document = parse_document(_read(path), "html")
    text = _all_text(document)
    assert document.sections, "no sections"
    assert all(s.heading_path for s in document.sections), "content outside any heading"
    for chrome in (
        "Theme",
        "Quick search",
        "Navigation",
        "¶",
        "var DOCUMENTATION_OPTIONS",
        "$(document)",
    ):
        assert chrome not in text, chrome
    assert not re.search(r"<(script|style|div|span)\b", text)
