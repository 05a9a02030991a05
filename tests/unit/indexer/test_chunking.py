"""Chunking real documents with the model's own tokenizer."""

from __future__ import annotations

import re

import pytest
from tests.conftest import GAZEBO_CORPUS, PYTHON_HTML_CORPUS
from tokenizers import Tokenizer

from lectern_indexer.chunking import Chunker, chunk_header
from lectern_indexer.parsing import parse_document
from lectern_indexer.parsing.model import Block, ParsedDocument, Section

GAZEBO_FILES = sorted(GAZEBO_CORPUS.rglob("*.md"))
FENCE = re.compile(r"^```[^\n]*\n.*?\n```$", re.S | re.M)


def _chunks(chunker: Chunker, path, fmt: str = "markdown"):  # type: ignore[no-untyped-def]
    document = parse_document(path.read_text(encoding="utf-8"), fmt)  # type: ignore[arg-type]
    return document, chunker.chunk(document.title or path.stem, document)


@pytest.mark.parametrize(
    "path", GAZEBO_FILES, ids=lambda p: p.relative_to(GAZEBO_CORPUS).as_posix()
)
def test_every_chunk_fits_the_model(chunker: Chunker, model_tokenizer: Tokenizer, path):
    _, chunks = _chunks(chunker, path)
    assert chunks
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        real = len(model_tokenizer.encode(chunk.embed_text).ids)
        assert real == chunk.token_count
        assert real <= 256


@pytest.mark.parametrize(
    "path", GAZEBO_FILES, ids=lambda p: p.relative_to(GAZEBO_CORPUS).as_posix()
)
def test_code_blocks_that_fit_are_never_split(chunker: Chunker, counter, path):  # type: ignore[no-untyped-def]
    document, chunks = _chunks(chunker, path)
    for section in document.sections:
        header_tokens = counter.count(
            chunk_header(document.title or path.stem, section.heading_path)
        )
        budget = 256 - 2 - header_tokens
        for block in section.blocks:
            if block.kind in ("code", "table") and counter.count(block.text) <= budget:
                assert any(block.text in c.text for c in chunks), block.text[:80]


def test_embed_text_is_title_heading_path_and_text(chunker: Chunker):
    _, chunks = _chunks(chunker, GAZEBO_CORPUS / "jetty/install_osx_src.md")
    chunk = next(c for c in chunks if c.heading_path[-1:] == ("Install compiler requirements",))
    assert chunk.embed_text.startswith(
        "Source Installation on macOS\nInstall tools > Install compiler requirements\n\n"
    )
    assert chunk.embed_text.endswith(chunk.text)
    assert "xcode-select --install" in chunk.text


def test_long_prose_splits_at_sentence_ends(chunker: Chunker):
    sentence = "The simulator steps the physics engine at a fixed rate of one kilohertz. "
    paragraph = sentence * 60
    document = ParsedDocument(sections=(Section(("Physics",), (Block("text", paragraph),)),))
    chunks = chunker.chunk("Doc", document)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.token_count <= 256
        assert chunk.text.startswith("The simulator")
        assert chunk.text.endswith("kilohertz.")


def test_over_long_code_splits_at_line_breaks_into_fenced_parts(chunker: Chunker):
    body = [f"value_{i} = compute({i}, {i + 1})" for i in range(200)]
    code = "```python\n" + "\n".join(body) + "\n```"
    document = ParsedDocument(sections=(Section(("Code",), (Block("code", code),)),))
    chunks = chunker.chunk("Doc", document)
    assert len(chunks) > 1
    openings = [c.text.split("\n")[0] for c in chunks]
    assert openings == ["```python"] + ["```python (continued)"] * (len(chunks) - 1)
    assert all(c.text.endswith("\n```") for c in chunks)
    assert all(c.token_count <= 256 for c in chunks)
    lines = [line for c in chunks for line in c.text.split("\n")[1:-1]]
    assert lines == body


def test_over_long_unfenced_code_splits_only_at_line_breaks(chunker: Chunker):
    code = "\n".join(f"value_{i} = compute({i}, {i + 1})" for i in range(200))
    document = ParsedDocument(sections=(Section(("Code",), (Block("code", code),)),))
    chunks = chunker.chunk("Doc", document)
    assert len(chunks) > 1
    assert [line for c in chunks for line in c.text.split("\n")] == code.split("\n")


def test_a_single_huge_word_is_cut_between_word_pieces(
    chunker: Chunker, model_tokenizer: Tokenizer
):
    word = "x" * 5000
    document = ParsedDocument(sections=(Section((), (Block("text", word),)),))
    chunks = chunker.chunk("Doc", document)
    assert "".join(c.text for c in chunks) == word
    assert all(len(model_tokenizer.encode(c.embed_text).ids) <= 256 for c in chunks)


PYTHON_PAGES = sorted(PYTHON_HTML_CORPUS.rglob("*.html"))


@pytest.mark.parametrize(
    "path", PYTHON_PAGES, ids=lambda p: p.relative_to(PYTHON_HTML_CORPUS).as_posix()
)
def test_python_html_chunks_fit_and_are_clean(chunker: Chunker, model_tokenizer: Tokenizer, path):
    _, chunks = _chunks(chunker, path, "html")
    assert chunks
    for chunk in chunks:
        assert chunk.heading_path
        assert len(model_tokenizer.encode(chunk.embed_text).ids) <= 256
        assert "¶" not in chunk.text
        assert "<script" not in chunk.text


def test_python_html_chunks_have_heading_paths(chunker: Chunker, model_tokenizer: Tokenizer):
    _, chunks = _chunks(chunker, PYTHON_HTML_CORPUS / "tutorial/errors.html", "html")
    assert all(c.heading_path and c.heading_path[0] == "8. Errors and Exceptions" for c in chunks)
    assert any(c.heading_path[-1] == "8.3. Handling Exceptions" for c in chunks)
    assert all(len(model_tokenizer.encode(c.embed_text).ids) <= 256 for c in chunks)


def test_title_is_not_repeated_when_it_is_the_first_heading():
    assert chunk_header("Guide", ("Guide", "Setup")) == "Guide\nSetup"
    assert chunk_header("Guide", ("Guide",)) == "Guide"
    assert chunk_header("Doc", ()) == "Doc"
