-- migrate:up

-- Answers and their ratings by answer id, for the analytics summary's feedback figures
-- (FeedbackGiven joined to AnswerCompleted). Partial: only the two event types that
-- carry an answer_id. Partitions attached later get it too (ATTACH PARTITION builds it).
CREATE INDEX events_answer_idx ON events ((payload->>'answer_id'), event_type, occurred_at)
    WHERE event_type IN ('answer.completed', 'feedback.given');

-- migrate:down

DROP INDEX events_answer_idx;
