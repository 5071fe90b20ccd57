-- Written consultations of the Government's members (phiếu lấy ý kiến thành viên Chính phủ):
-- what is asked, the signed ballots (every version kept), reminders sent, the sealed tally and the
-- result letter sent through the axis. Papers' bytes are in the blob store.

CREATE TABLE consultations (
    id              uuid PRIMARY KEY,
    title           text NOT NULL,
    summary         text NOT NULL,
    requested_by    text NOT NULL,               -- the requesting ministry's organ id on the axis
    request_letter  uuid,                        -- the axis's id of its request letter, if any
    questions       jsonb NOT NULL,              -- ["…", …], numbered from 1
    members         uuid[],                      -- NULL: every voting member at opening
    deadline        timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'open', 'closed')),
    created_by      uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Frozen at opening.
    rules_version   integer REFERENCES cabinet_rules (version),
    asked           uuid[],
    base            integer,                     -- the majority's base: voting members or the asked
    chair           uuid,                        -- the chair (Prime Minister) at opening, if any
    form            jsonb,                       -- the sealed form
    form_sha256     text,
    opened_at       timestamptz,
    -- At closing.
    closed_at       timestamptz,
    closed_by       text CHECK (closed_by IN ('secretariat', 'deadline')),
    tally           jsonb,                       -- the sealed tally
    tally_sha256    text,
    -- The result letter: its signed bytes are kept before they are submitted, so a retry submits
    -- the same bytes and the axis answers with its first acceptance.
    result_to       text[],
    result_sha256   text,
    result          jsonb,                       -- the axis's acceptance of the result letter
    CHECK (state = 'draft' OR (form IS NOT NULL AND asked IS NOT NULL AND rules_version IS NOT NULL)),
    CHECK (state <> 'closed' OR tally IS NOT NULL)
);
CREATE INDEX consultations_open ON consultations (deadline) WHERE state = 'open';

CREATE TABLE consultation_papers (
    id              uuid PRIMARY KEY,
    consultation_id uuid NOT NULL REFERENCES consultations (id),
    position        integer NOT NULL,
    title           text NOT NULL,
    sha256          text NOT NULL,
    size            bigint NOT NULL,
    name            text NOT NULL,
    content_type    text NOT NULL,
    document_id     uuid,                        -- from a letter of the Government Office: its blob
    attachment      text,
    UNIQUE (consultation_id, position)
);

-- Every version of every member's ballot, as signed. The last version counts.
CREATE TABLE consultation_ballots (
    id              uuid PRIMARY KEY,
    consultation_id uuid NOT NULL REFERENCES consultations (id),
    member          uuid NOT NULL REFERENCES cabinet_people (person_id),
    version         integer NOT NULL CHECK (version >= 1),
    ballot          jsonb NOT NULL,              -- {"payload", "alg", "signature", "certificate", "chain"}
    ballot_sha256   text NOT NULL,               -- SHA-256 of the payload's canonical JSON
    receipt         jsonb NOT NULL,              -- sealed by the axis
    at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consultation_id, member, version),
    UNIQUE (consultation_id, member, ballot_sha256)
);

CREATE TABLE consultation_reminders (
    consultation_id uuid NOT NULL REFERENCES consultations (id),
    before          text NOT NULL,               -- the rule's ISO 8601 duration
    sent_at         timestamptz NOT NULL DEFAULT now(),
    reminded        integer NOT NULL,
    PRIMARY KEY (consultation_id, before)
);

ALTER TABLE cabinet_notifications ADD COLUMN consultation_id uuid REFERENCES consultations (id);
