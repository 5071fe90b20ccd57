-- The audit trail becomes a hash chain. Business transactions still only INSERT their rows; a
-- background chainer numbers committed rows (chain_seq), links each to the one before (prev_hash)
-- and seals a checkpoint of the chain's head now and then. See axis/audit.py for the hashes.

ALTER TABLE audit_events
    ADD COLUMN chain_seq     bigint UNIQUE,
    ADD COLUMN prev_hash     text,
    ADD COLUMN content_hash  text,
    ADD COLUMN hash          text;

-- The chainer's work list: rows not yet in the chain, oldest id first.
CREATE INDEX audit_events_unchained ON audit_events (id) WHERE chain_seq IS NULL;

CREATE TABLE audit_checkpoints (
    id         bigserial PRIMARY KEY,
    chain_seq  bigint NOT NULL,
    hash       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    sealed     jsonb NOT NULL
);
CREATE INDEX audit_checkpoints_chain ON audit_checkpoints (chain_seq);
