"""Hostile documents: invisible text, scripts in Markdown, unsafe links, front matter.

Parser-level checks, property-based tests of the Markdown sanitiser (hypothesis), and
the service layer with the fakes of ``test_service`` (no I/O).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from tests.unit.indexer.test_service import command, embedder, service

from lectern.contracts import MetadataFilter, SearchRequest
from lectern_indexer.chunking import Chunker
from lectern_indexer.errors import InvalidDocumentError
from lectern_indexer.parsing import parse_document
from lectern_indexer.parsing.front_matter import front_matter_metadata
from lectern_indexer.parsing.model import ParsedDocument, has_visible_text
from lectern_indexer.service import IndexerService

__all__ = ["embedder", "service"]  # fixtures of test_service, used here

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u3164\u2800 \t\n"
HIDDEN_TAGS = ("script", "style", "iframe", "SCRIPT", "Style", "noscript", "template")
PAYLOAD = "zqxpayload"
PROSE = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="`~\\<&\n")
"""Text around a tag that cannot turn it into literal code (code spans, escapes, fences)."""


def _text(document: ParsedDocument) -> str:
    return "\n".join(b.text for s in document.sections for b in s.blocks)


@pytest.mark.parametrize("document_format", ["markdown", "html", "text"])
def test_zero_width_only_content_has_no_blocks(document_format: str):
    content = "\u200b\u200c\u200d\n\n\u2060\ufeff\u00ad\n\n\u3164\u2800"
    document = parse_document(content, document_format)  # type: ignore[arg-type]
    assert document.sections == ()
    assert document.is_empty


def test_zero_width_markdown_structure_has_no_blocks():
    content = "\u200b\n\n# \u200b\n\n- \u200b\n- \u2060\n\n| \u200b |\n| --- |\n| \u200d |\n"
    assert parse_document(content, "markdown").sections == ()


def test_zero_width_code_fence_has_no_blocks():
    assert parse_document("```python\n\u200b\u200d\n```", "markdown").sections == ()


@given(st.text(alphabet=INVISIBLE, min_size=1))
def test_invisible_text_is_never_visible(text: str):
    assert not has_visible_text(text)


def test_visible_text_with_joiners_is_kept():
    assert has_visible_text("\u200bword\u200d")
    assert _text(parse_document("a\u200bb", "markdown")) == "a\u200bb"


@pytest.mark.parametrize("tag", HIDDEN_TAGS)
def test_inline_hidden_elements_in_a_paragraph_are_dropped(tag: str):
    source = f"# T\n\nBefore <{tag} x='1'>{PAYLOAD}()</{tag}> after, and *more*.\n"
    text = _text(parse_document(source, "markdown"))
    assert PAYLOAD not in text
    assert "Before" in text
    assert "after, and more." in text


def test_a_script_spanning_paragraphs_hides_them_until_it_closes():
    source = f"Intro <script>\n\n{PAYLOAD}()\n\n```js\n{PAYLOAD}\n```\n\n</script> outro\n"
    text = _text(parse_document(source, "markdown"))
    assert PAYLOAD not in text
    assert "Intro" in text
    assert "outro" in text


def test_an_unclosed_script_hides_the_rest():
    text = _text(parse_document(f"Intro <script>{PAYLOAD}\n\n# H\n\n{PAYLOAD}", "markdown"))
    assert text == "Intro"


def test_html_blocks_and_code_that_mentions_script_tags():
    source = (
        f"<iframe src='x'>\n{PAYLOAD}\n</iframe>\n\n"
        "Write `<script>` tags like this:\n\n```html\n<script>ok()</script>\n```\n"
    )
    text = _text(parse_document(source, "markdown"))
    assert PAYLOAD not in text
    assert "`<script>`" in text
    assert "<script>ok()</script>" in text


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(1)", "JavaScript:alert(1)", "vbscript:msgbox", "data:x"],
)
def test_unsafe_link_targets_are_dropped_and_text_kept(target: str):
    source = f"See [the docs]({target}) and [more](<{target}>) and <{target}>.\n"
    text = _text(parse_document(source, "markdown"))
    assert text.startswith("See the docs and more and")
    assert "script" not in text.lower()
    assert "data:" not in text
    assert "](" not in text


def test_a_scheme_broken_by_a_tab_is_still_unsafe():
    text = _text(parse_document("See [more](<java\tscript:alert(1)>).\n", "markdown"))
    assert text == "See more."


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(alphabet=PROSE, max_size=40),
    payload=st.text(min_size=1, max_size=60),
    after=st.text(alphabet=PROSE, max_size=40),
    tag=st.sampled_from(HIDDEN_TAGS),
    attributes=st.sampled_from(["", " src='x'", ' type="text/javascript"', " a=1\n b=2"]),
)
def test_no_payload_inside_a_hidden_element_reaches_the_chunks(
    chunker: Chunker, before: str, payload: str, after: str, tag: str, attributes: str
):
    marked = f"{PAYLOAD}{payload.replace('<', '')}{PAYLOAD}"
    source = f"# Doc\n\n{before} <{tag}{attributes}>{marked}</{tag}> {after}\n"
    chunks = chunker.chunk("Doc", parse_document(source, "markdown"))
    # the oracle: what a browser shows of the rendered Markdown (a start tag that Markdown
    # itself breaks, e.g. "# <script a=1" then " b=2>" on the next line, is escaped text,
    # and a browser shows what follows it)
    browser = _text(parse_document(MarkdownIt("commonmark").render(source), "html"))
    if PAYLOAD not in browser:
        assert all(PAYLOAD not in chunk.embed_text for chunk in chunks)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_front_matter_never_raises_and_keeps_only_contract_values(yaml_text: str):
    metadata = front_matter_metadata(yaml_text)
    for key, value in metadata.items():
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key)
        assert isinstance(value, str | int | float | bool | list)
        assert not isinstance(value, list) or all(isinstance(v, str) for v in value)


def test_front_matter_keys_and_values_outside_the_contract_are_left_out():
    source = (
        "title: T\ntags: [a, b]\nyears: [2023, 2024]\nlevel: 2\nbad key: 1\n"
        "nested: {a: 1}\nnothing: null\nratio: .nan\nhuge: 99999999999999999999\n"
        "when: 2024-01-02\n"
    )
    assert front_matter_metadata(source) == {
        "title": "T",
        "tags": ["a", "b"],
        "level": 2,
        "when": "2024-01-02",
    }


@pytest.mark.parametrize("broken", [": [", "when: 2024-02-30", "- just\n- a list", "a: *nope"])
def test_invalid_front_matter_is_ignored(broken: str):
    document = parse_document(f"---\n{broken}\n---\n# Title\n\nBody text.\n", "markdown")
    assert document.metadata == {}
    assert _text(document) == "Body text."


async def test_zero_width_only_document_fails_as_no_indexable_text(service: IndexerService):
    with pytest.raises(InvalidDocumentError, match="no indexable text"):
        await service.ingest(command("\u200b\u200c\u200d\u2060\ufeff\u00ad"))


async def test_front_matter_is_merged_under_request_metadata_and_filterable(
    service: IndexerService,
):
    content = "---\ntags: [sim, ros]\nlevel: beginner\nlang: de\n---\n# A\n\nRockets fly.\n"
    ingest = command(content, metadata={"lang": "en"})
    await service.ingest(ingest)
    wanted = MetadataFilter(metadata={"level": "beginner", "lang": "en"})
    hits = (await service.search(SearchRequest(query="rockets", filter=wanted))).hits
    assert hits
    assert hits[0].metadata == {"tags": ["sim", "ros"], "level": "beginner", "lang": "en"}
    again = await service.ingest(ingest)
    assert again.unchanged is True
    hits = (await service.search(SearchRequest(query="rockets", filter=wanted))).hits
    assert hits[0].metadata["tags"] == ["sim", "ros"]


def test_a_hidden_start_tag_cut_by_a_block_boundary_still_hides_its_content(chunker: Chunker):
    # found by the property test above: in a list item, markdown-it ends the HTML block at
    # the line break inside the start tag, and the payload arrived in the next paragraph
    source = f"# Doc\n\n- <script a=1\n b=2>{PAYLOAD}0{PAYLOAD}</script> \n\nAfter.\n"
    chunks = chunker.chunk("Doc", parse_document(source, "markdown"))
    assert all(PAYLOAD not in chunk.embed_text for chunk in chunks)
    assert "After." in " ".join(chunk.embed_text for chunk in chunks)
