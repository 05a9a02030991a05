"""The indexer's exception hierarchy: what can never succeed versus what may later.

The message consumer decides on the class alone: :class:`InvalidDocumentError` is
dead-lettered at once, :class:`TransientError` is retried with back-off.
"""

from __future__ import annotations


class IndexerError(Exception):
    """Base class of every error the indexer raises on purpose."""


class InvalidDocumentError(IndexerError):
    """The command can never succeed (bad JSON, empty, too large, binary...).

    The message says why, for humans; it becomes ``DocumentIndexingFailed.reason``.
    """


class InvalidRequestError(IndexerError):
    """An RPC request that cannot be served as sent (answered with status 400)."""


class TransientError(IndexerError):
    """A failure that may pass: the vector store is unavailable or timed out."""


class StoreUnavailableError(TransientError):
    """The vector store cannot be reached or failed to answer in time."""
