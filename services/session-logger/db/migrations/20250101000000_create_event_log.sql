-- migrate:up

-- The event log: append-only, one row per event_id, partitioned by day on occurred_at.
-- Daily partitions (events_pYYYYMMDD) are created ahead by the service (partitions.py);
-- the default partition catches anything outside them, so no insert is ever rejected.
-- Retention drops whole partitions older than RETENTION_DAYS.
CREATE TABLE events (
    event_id        uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    correlation_id  text,
    session_id      text,
    document_id     text,
    payload         jsonb       NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

-- A session's interactions in order (session_history).
CREATE INDEX events_session_idx ON events (session_id, occurred_at, event_id)
    WHERE session_id IS NOT NULL;
-- Analytics over a time window by type (analytics_summary).
CREATE INDEX events_type_time_idx ON events (event_type, occurred_at);
-- A document's history.
CREATE INDEX events_document_idx ON events (document_id, occurred_at)
    WHERE document_id IS NOT NULL;

-- Projection: each document's latest state. updated_at is the occurred_at of the event
-- that set the state; (updated_at, last_event_id) orders events so an older one never
-- overwrites a newer state. title, source and format come from the newest
-- document.accepted event (described_at is its occurred_at).
CREATE TABLE documents (
    document_id     text        PRIMARY KEY,
    status          text        NOT NULL
        CHECK (status IN ('accepted', 'indexed', 'failed', 'deleted')),
    version         text,
    title           text,
    source          text,
    format          text,
    chunk_count     integer,
    failure_reason  text,
    described_at    timestamptz,
    first_seen_at   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_event_id   uuid        NOT NULL
);

-- document_list with a status filter, keyset on document_id; failed documents by time.
CREATE INDEX documents_status_idx ON documents (status, document_id);
CREATE INDEX documents_status_time_idx ON documents (status, updated_at);

-- Projection: one row per session with counters (updated only by newly stored events).
CREATE TABLE sessions (
    session_id      text        PRIMARY KEY,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    search_count    bigint      NOT NULL DEFAULT 0,
    answer_count    bigint      NOT NULL DEFAULT 0,
    event_count     bigint      NOT NULL DEFAULT 0
);

CREATE INDEX sessions_last_seen_idx ON sessions (last_seen_at);

-- migrate:down

DROP TABLE sessions;
DROP TABLE documents;
DROP TABLE events;
