"""SQL of the RPC reads; each read is one statement served by an index.

- session history: ``sessions`` primary key, then ``events_session_idx``, with run-time
  partition pruning on the session's first and last seen times;
- document status: ``documents`` primary key;
- document list: ``documents`` primary key, or ``documents_status_idx`` with a status;
- analytics summary: ``events_type_time_idx`` with partition pruning on the window,
  and ``documents_status_time_idx`` for the failed documents;
- feedback summary: the window's answers by ``events_type_time_idx``, each answer's
  ratings and each rating's answer by ``events_answer_idx``.
"""

from __future__ import annotations

SESSION_HISTORY = """
SELECT s.session_id, s.first_seen_at, s.last_seen_at, s.search_count, s.answer_count,
       s.event_count, e.event_id, e.event_type, e.occurred_at, e.correlation_id, e.payload
FROM sessions s
LEFT JOIN LATERAL (
    SELECT event_id, event_type, occurred_at, correlation_id, payload
    FROM events
    WHERE session_id = s.session_id
      AND occurred_at >= s.first_seen_at AND occurred_at <= s.last_seen_at
      AND (occurred_at, event_id) > ($2::timestamptz, $3::uuid)
    ORDER BY occurred_at, event_id
    LIMIT $4
) e ON true
WHERE s.session_id = $1
  AND ($5::text IS NULL OR s.principal IS NULL OR s.principal = $5::text)
ORDER BY e.occurred_at, e.event_id
"""
"""$1 session id, $2/$3 keyset cursor (occurred_at, event_id), $4 page size + 1,
$5 the principal that must own the session (``NULL``: any owner, for admins). A session
without an owner (only events other services published, which name no principal) is
readable by every reader."""

DOCUMENT_COLUMNS = """collection, document_id, status, version, title, source, format,
    chunk_count, failure_reason, first_seen_at, updated_at"""

DOCUMENT_STATUS = (
    f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection = $2 AND document_id = $1"
)
"""$1 document id, $2 its collection."""

DOCUMENT_LIST = f"""
SELECT {DOCUMENT_COLUMNS} FROM documents
WHERE (collection, document_id) > ($1, $4)
  AND ($3::text[] IS NULL OR collection = ANY($3::text[]))
ORDER BY collection, document_id LIMIT $2
"""
"""$1/$4 keyset cursor (last collection and document id, '' for the first page), $2 page
size + 1, $3 the collections (``NULL``: every one)."""

DOCUMENT_LIST_BY_STATUS = f"""
SELECT {DOCUMENT_COLUMNS} FROM documents
WHERE status = $5 AND (collection, document_id) > ($1, $4)
  AND ($3::text[] IS NULL OR collection = ANY($3::text[]))
ORDER BY collection, document_id LIMIT $2
"""
"""As :data:`DOCUMENT_LIST`, with $5 the status."""

ANALYTICS_SUMMARY = """
WITH w AS MATERIALIZED (
    SELECT event_type, occurred_at,
           CASE WHEN jsonb_typeof(payload->'latency_ms') = 'number'
                THEN (payload->>'latency_ms')::float8 END AS latency_ms,
           CASE WHEN jsonb_typeof(payload->'hit_count') = 'number'
                THEN (payload->>'hit_count')::float8 END AS hit_count,
           lower(btrim(payload->>'query')) AS query
    FROM events
    WHERE event_type IN ('search.completed', 'answer.completed')
      AND occurred_at >= $1 AND occurred_at < $2
      AND ($5::text[] IS NULL OR payload->'collections' ?| $5::text[])
),
totals AS (
    SELECT
        count(*) FILTER (WHERE event_type = 'search.completed') AS searches,
        count(*) FILTER (WHERE event_type = 'answer.completed') AS answers,
        count(*) FILTER (WHERE event_type = 'search.completed' AND hit_count = 0)
            AS zero_hit_searches,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
            FILTER (WHERE event_type = 'search.completed') AS search_p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
            FILTER (WHERE event_type = 'search.completed') AS search_p95,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
            FILTER (WHERE event_type = 'answer.completed') AS answer_p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
            FILTER (WHERE event_type = 'answer.completed') AS answer_p95
    FROM w
),
per_day AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'day', day, 'searches', searches, 'answers', answers,
               'zero_hit_searches', zero_hit_searches) ORDER BY day), '[]') AS rows
    FROM (
        SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day,
               count(*) FILTER (WHERE event_type = 'search.completed') AS searches,
               count(*) FILTER (WHERE event_type = 'answer.completed') AS answers,
               count(*) FILTER (WHERE event_type = 'search.completed' AND hit_count = 0)
                   AS zero_hit_searches
        FROM w GROUP BY 1
    ) d
),
top AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object('query', query, 'count', n)
                              ORDER BY n DESC, query), '[]') AS rows
    FROM (
        SELECT query, count(*) AS n FROM w
        WHERE event_type = 'search.completed' AND query <> ''
        GROUP BY query ORDER BY n DESC, query LIMIT $3
    ) t
),
failed AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'document_id', document_id, 'collection', collection, 'version', version,
               'reason', failure_reason, 'failed_at', updated_at)
               ORDER BY updated_at DESC), '[]') AS rows
    FROM (
        SELECT collection, document_id, version, failure_reason, updated_at FROM documents
        WHERE status = 'failed' AND updated_at >= $1 AND updated_at < $2
          AND ($5::text[] IS NULL OR collection = ANY($5::text[]))
        ORDER BY updated_at DESC LIMIT $4
    ) f
)
SELECT totals.*, per_day.rows AS per_day, top.rows AS top_queries,
       failed.rows AS failed_documents
FROM totals, per_day, top, failed
"""
"""$1/$2 the window [since, until), $3 top queries, $4 failed documents at most, $5 the
collections (``NULL``: every one; else only searches and answers whose ``collections``
name one of them, so a search over every collection counts in the unfiltered summary
only)."""

FEEDBACK_SUMMARY = """
WITH answers AS MATERIALIZED (
    SELECT occurred_at, payload->>'answer_id' AS answer_id,
           payload->>'question' AS question, payload->>'answer' AS answer,
           payload->>'generator' AS generator
    FROM events
    WHERE event_type = 'answer.completed' AND occurred_at >= $1 AND occurred_at < $2
      AND ($5::text[] IS NULL OR payload->'collections' ?| $5::text[])
),
rated AS MATERIALIZED (
    SELECT a.*, f.rating, f.comment, f.rated_at
    FROM answers a
    JOIN LATERAL (
        SELECT payload->>'rating' AS rating, payload->>'comment' AS comment,
               occurred_at AS rated_at
        FROM events
        WHERE event_type = 'feedback.given' AND payload->>'answer_id' = a.answer_id
          AND occurred_at >= a.occurred_at - $4::interval
        ORDER BY occurred_at DESC, event_id DESC
        LIMIT 1
    ) f ON true
    WHERE a.answer_id IS NOT NULL
),
down AS (
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'answer_id', answer_id, 'question', question, 'answer', answer,
               'generator', generator, 'comment', comment,
               'answered_at', occurred_at, 'rated_at', rated_at)
               ORDER BY rated_at DESC, answer_id), '[]') AS rows
    FROM (
        SELECT * FROM rated WHERE rating = 'down' ORDER BY rated_at DESC, answer_id LIMIT $3
    ) d
),
orphans AS (
    SELECT count(DISTINCT f.payload->>'answer_id') AS n
    FROM events f
    WHERE f.event_type = 'feedback.given' AND f.occurred_at >= $1 AND f.occurred_at < $2
      AND NOT EXISTS (
          SELECT 1 FROM events a
          WHERE a.event_type = 'answer.completed'
            AND a.payload->>'answer_id' = f.payload->>'answer_id'
      )
)
SELECT (SELECT count(*) FROM answers) AS answers,
       count(*) AS rated_answers,
       count(*) FILTER (WHERE rating = 'up') AS rated_up,
       count(*) FILTER (WHERE rating = 'down') AS rated_down,
       (SELECT n FROM orphans) AS orphaned,
       (SELECT rows FROM down) AS rated_down_answers
FROM rated
"""
"""$1/$2 the window [since, until) of the answers (and of the orphaned ratings), $3 rated-down
answers listed at most, $4 how much earlier than its answer a rating may be stamped
(clock skew between gateway replicas; bounds the partitions searched for ratings), $5 the
collections (``NULL``: every answer; else only answers whose ``collections`` name one of
them, as in :data:`ANALYTICS_SUMMARY`; orphaned ratings are counted over every collection,
having no answer to name one)."""
