"""Unit-test fixtures for the indexer: the real tokenizer file, no network, no broker."""

from __future__ import annotations

import pytest
from tests.conftest import DENSE_MODEL_PATH
from tokenizers import Tokenizer

from lectern_indexer.chunking import Chunker, WordPieceCounter


@pytest.fixture(scope="session")
def counter() -> WordPieceCounter:
    return WordPieceCounter.from_model_path(DENSE_MODEL_PATH)


@pytest.fixture(scope="session")
def chunker(counter: WordPieceCounter) -> Chunker:
    return Chunker(counter, max_tokens=256)


@pytest.fixture(scope="session")
def model_tokenizer() -> Tokenizer:
    """The tokenizer as the model would run it, with special tokens, untruncated."""
    tokenizer = Tokenizer.from_file(str(DENSE_MODEL_PATH / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
