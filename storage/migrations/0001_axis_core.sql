-- The document axis: agencies, letters, one delivery per recipient, the outbox and the audit trail.

CREATE TABLE agencies (
    organ_id          text PRIMARY KEY,
    name              text NOT NULL,
    delivery_mode     text NOT NULL DEFAULT 'pull' CHECK (delivery_mode IN ('pull', 'push')),
    webhook_url       text,
    token_hash        text NOT NULL UNIQUE,
    signature_policy  text NOT NULL DEFAULT 'strict' CHECK (signature_policy IN ('strict', 'legacy')),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (delivery_mode = 'pull' OR webhook_url IS NOT NULL)
);

CREATE TABLE agency_certificates (
    organ_id     text NOT NULL REFERENCES agencies (organ_id),
    fingerprint  text NOT NULL,
    subject      text NOT NULL,
    not_after    timestamptz NOT NULL,
    pem          text NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organ_id, fingerprint)
);

CREATE TABLE documents (
    id                 uuid PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('letter', 'status')),
    sender             text NOT NULL REFERENCES agencies (organ_id),
    edxml_document_id  text NOT NULL,
    business_type      smallint NOT NULL DEFAULT 0,
    status_code        text,
    content_sha256     text NOT NULL,
    size               bigint NOT NULL,
    code_number        text,
    code_notation      text,
    subject            text,
    type_name          text,
    promulgation_date  date,
    due_date           date,
    signature          text NOT NULL CHECK (signature IN ('xmldsig', 'legacy', 'axis')),
    signer_fingerprint text,
    responds_to        uuid REFERENCES documents (id),
    summary            jsonb NOT NULL,
    receipt            jsonb,
    received_at        timestamptz NOT NULL DEFAULT now()
);
-- A sender's letter is known by its DocumentId and business type (a recall reuses the DocumentId).
CREATE UNIQUE INDEX documents_letter_identity
    ON documents (sender, edxml_document_id, business_type) WHERE kind = 'letter';
CREATE INDEX documents_sender ON documents (sender, received_at DESC);
CREATE INDEX documents_responds_to ON documents (responds_to);

CREATE TABLE document_attachments (
    document_id   uuid NOT NULL REFERENCES documents (id),
    position      integer NOT NULL,
    content_id    text NOT NULL,
    name          text NOT NULL,
    content_type  text NOT NULL,
    description   text,
    size          bigint NOT NULL,
    sha256        text NOT NULL,
    PRIMARY KEY (document_id, position)
);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    seq              bigserial UNIQUE,
    document_id      uuid NOT NULL REFERENCES documents (id),
    recipient        text NOT NULL REFERENCES agencies (organ_id),
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'available', 'acknowledged', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    available_at     timestamptz,
    acknowledged_at  timestamptz,
    failed_at        timestamptz,
    UNIQUE (document_id, recipient)
);
CREATE INDEX deliveries_inbox ON deliveries (recipient, state, seq);

-- Rows written in the same transaction as the deliveries; a relay publishes them to RabbitMQ.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES deliveries (id),
    routing_key   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    event        text NOT NULL,
    organ_id     text,
    document_id  uuid,
    delivery_id  uuid,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_document ON audit_events (document_id);
