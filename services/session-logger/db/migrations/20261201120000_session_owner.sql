-- migrate:up

-- The principal that owns a session (the gateway's `principal` of its first event:
-- `key:<id>` or `addr:<ip>`). NULL for sessions stored before owners were recorded:
-- only a caller allowed to read every session (admin) reads those.
ALTER TABLE sessions ADD COLUMN principal text;

-- migrate:down

ALTER TABLE sessions DROP COLUMN principal;
