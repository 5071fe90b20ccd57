-- The hot path of a letter (issue 16).
--
-- 1. No NOTIFY inside write transactions: a NOTIFYing commit holds PostgreSQL's cluster-wide
--    notify lock through its WAL flush. The live pages' wake-up per audit row (the trigger of
--    0004_users.sql) now goes out after the commit, from the hub (axis.core.repo.audited).
DROP TRIGGER IF EXISTS audit_events_notify_document ON audit_events;
DROP FUNCTION IF EXISTS axis_notify_document_event();

-- 2. Small packages live here instead of the blob store, so the commit that records a letter
--    also makes its bytes durable (no file, no fsync). Content-addressed like the blob store:
--    the key is the SHA-256 of the bytes, checked again on every read. Bytes are not compressed
--    (a signed package's base64 barely compresses, and pglz would cost CPU on every write).
CREATE TABLE stored_bytes (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size integer NOT NULL CHECK (size >= 0),
    data bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE stored_bytes ALTER COLUMN data SET STORAGE EXTERNAL;
