-- Status 01 (arrived) leaves the acknowledgement. An acknowledgement commits at once and writes one
-- row in `arrivals` ("to be sealed"); the sealer (axis/workers/sealer.py) later makes each Status
-- package, stores it, seals a whole batch with one signature over a Merkle root of its packages
-- (`status_batches`), and records the status documents with their deliveries to the senders, in
-- one transaction per batch. A status sealed so carries the signature kind 'axis-batch'.

ALTER TABLE documents DROP CONSTRAINT documents_signature_check;
ALTER TABLE documents ADD CONSTRAINT documents_signature_check
    CHECK (signature IN ('xmldsig', 'legacy', 'axis', 'axis-batch')) NOT VALID;
ALTER TABLE documents VALIDATE CONSTRAINT documents_signature_check;

CREATE TABLE status_batches (
    id      bigserial PRIMARY KEY,
    root    text NOT NULL,        -- Merkle root (hex) of the batch's packages
    size    integer NOT NULL CHECK (size > 0),
    sealed  jsonb NOT NULL,       -- {"type": "axis.status.batch", "root", "size", "at"} sealed by the axis
    at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE arrivals (
    delivery_id      uuid PRIMARY KEY REFERENCES deliveries (id),
    acknowledged_at  timestamptz NOT NULL,
    -- Filled together when the batch is sealed; NULL status_id means "to be sealed".
    status_id        uuid UNIQUE REFERENCES documents (id),
    batch_id         bigint REFERENCES status_batches (id),
    leaf             text,         -- SHA-256 of 0x00 and the package (axis/core/audit_proof.py)
    leaf_index       integer,
    path             jsonb,
    CHECK ((status_id IS NULL) = (batch_id IS NULL))
);
-- The sealer's work list stays as small as the work, however many statuses were sealed before.
CREATE INDEX arrivals_to_seal ON arrivals (acknowledged_at) WHERE status_id IS NULL;
