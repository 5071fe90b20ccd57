-- Receipts and tracking: each recipient's latest business status, links between a letter and the
-- recall, update or replacement that refers to it, and overdue bookkeeping.

ALTER TABLE deliveries
    ADD COLUMN business_status     text,
    ADD COLUMN business_status_at  timestamptz,
    ADD COLUMN overdue_logged_at   timestamptz;

CREATE TABLE document_links (
    from_document  uuid NOT NULL REFERENCES documents (id),
    to_document    uuid NOT NULL REFERENCES documents (id),
    kind           text NOT NULL CHECK (kind IN ('recall', 'update', 'replace')),
    PRIMARY KEY (from_document, to_document)
);
CREATE INDEX document_links_to ON document_links (to_document);

-- A legacy letter is stored as the axis sealed it; de-duplication compares the bytes as received.
ALTER TABLE documents ADD COLUMN received_sha256 text;

-- A status package is identified by its bytes: the same one posted twice is answered once.
CREATE UNIQUE INDEX documents_status_identity
    ON documents (sender, responds_to, COALESCE(received_sha256, content_sha256)) WHERE kind = 'status';
