-- migrate:up

-- The principal that owns a session (the gateway's `principal` of its first event:
-- `key:<id>` or `addr:<ip>`). NULL for a session no principal claimed (events older
-- than owners, or only other services' events): every reader may read those.
ALTER TABLE sessions ADD COLUMN principal text;

-- migrate:down

ALTER TABLE sessions DROP COLUMN principal;
