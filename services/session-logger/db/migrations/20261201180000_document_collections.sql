-- migrate:up

-- Collections: a document id is unique within its collection. Existing rows belong to
-- `default` (events without a `collection` field do too). The status index leads with
-- the collection, as every document list is per collection.
ALTER TABLE documents ADD COLUMN collection text NOT NULL DEFAULT 'default';
ALTER TABLE documents DROP CONSTRAINT documents_pkey;
ALTER TABLE documents ADD CONSTRAINT documents_pkey PRIMARY KEY (collection, document_id);
DROP INDEX documents_status_idx;
CREATE INDEX documents_status_idx ON documents (collection, status, document_id);

-- migrate:down

DROP INDEX documents_status_idx;
DELETE FROM documents WHERE collection <> 'default';
ALTER TABLE documents DROP CONSTRAINT documents_pkey;
ALTER TABLE documents ADD CONSTRAINT documents_pkey PRIMARY KEY (document_id);
ALTER TABLE documents DROP COLUMN collection;
CREATE INDEX documents_status_idx ON documents (status, document_id);
