-- eCabinet (meetings/): the Government's meetings and their paperless packets. Numbered from 1001 so
-- they never meet the axis's own migrations (0001…); these tables belong to meetings/ alone.

-- A cabinet person is an account in `users` with the role `cabinet` (argon2, sessions, lock-out
-- are the axis's, and so is the role: storage/migrations/0008_cabinet_role.sql); the clerks' pages
-- refuse that role.

CREATE TABLE cabinet_people (
    person_id  uuid PRIMARY KEY REFERENCES users (id),
    kind       text NOT NULL CHECK (kind IN ('secretariat', 'member', 'deputy')),
    title      text,
    votes      boolean NOT NULL DEFAULT false,
    chair      boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Only members vote, and the chair (the Prime Minister) is a member.
    CHECK (kind = 'member' OR (NOT votes AND NOT chair))
);
CREATE UNIQUE INDEX cabinet_people_one_chair ON cabinet_people (chair) WHERE chair;

CREATE TABLE cabinet_certificates (
    person_id   uuid NOT NULL REFERENCES cabinet_people (person_id),
    fingerprint text NOT NULL,
    subject     text NOT NULL,
    not_after   timestamptz NOT NULL,
    pem         text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, fingerprint)
);

-- Rules are versioned settings: a new version is a new row, never an update.
CREATE TABLE cabinet_rules (
    version    integer PRIMARY KEY,
    rules      jsonb NOT NULL,
    note       text,
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cabinet_rules (version, rules, note) VALUES
    (1, '{"quorum_fraction": "2/3", "notice_days": 3, "take_back_on_close": true}',
     'Decree 39/2022/ND-CP Art. 24; Law on Government Organization 2015 Art. 46');

-- Files the secretariat uploaded (the bytes are in the blob store under their SHA-256).
CREATE TABLE cabinet_files (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    uploaded_by uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meetings (
    id             uuid PRIMARY KEY,
    title          text NOT NULL,
    kind           text NOT NULL,
    starts_at      timestamptz NOT NULL,
    place          text NOT NULL,
    state          text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'sent', 'closed')),
    rules_version  integer NOT NULL REFERENCES cabinet_rules (version),
    packet_version integer NOT NULL DEFAULT 0,
    created_by     uuid NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz
);

CREATE TABLE meeting_invitees (
    meeting_id  uuid NOT NULL REFERENCES meetings (id),
    person_id   uuid NOT NULL REFERENCES cabinet_people (person_id),
    attendance  text CHECK (attendance IN ('attending', 'absent')),
    reason      text,
    stand_in    uuid REFERENCES cabinet_people (person_id),
    answered_at timestamptz,
    PRIMARY KEY (meeting_id, person_id)
);
CREATE INDEX meeting_invitees_person ON meeting_invitees (person_id);
CREATE INDEX meeting_invitees_stand_in ON meeting_invitees (stand_in) WHERE stand_in IS NOT NULL;

CREATE TABLE meeting_items (
    id         uuid PRIMARY KEY,
    meeting_id uuid NOT NULL REFERENCES meetings (id),
    position   integer NOT NULL,
    title      text NOT NULL,
    presenter  text,
    UNIQUE (meeting_id, position)
);

CREATE TABLE meeting_papers (
    id            uuid PRIMARY KEY,
    meeting_id    uuid NOT NULL REFERENCES meetings (id),
    item_id       uuid NOT NULL REFERENCES meeting_items (id),
    title         text NOT NULL,
    confidential  boolean NOT NULL DEFAULT false,
    audience      uuid[],                      -- NULL: every invitee
    taken_back_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meeting_papers_meeting ON meeting_papers (meeting_id);

CREATE TABLE paper_versions (
    paper_id     uuid NOT NULL REFERENCES meeting_papers (id),
    version      integer NOT NULL,
    sha256       text NOT NULL,
    size         bigint NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    note         text,
    -- A paper taken from a letter the Government Office sent or received: the same blob, no copy.
    document_id  uuid,
    attachment   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (paper_id, version)
);

CREATE TABLE meeting_packets (
    meeting_id     uuid NOT NULL REFERENCES meetings (id),
    packet_version integer NOT NULL,
    urgent         boolean NOT NULL DEFAULT false,
    reason         text,
    contents       jsonb NOT NULL,             -- [{"paper_id", "version"}] sent in this packet
    changes        jsonb NOT NULL,
    sent_by        uuid NOT NULL REFERENCES users (id),
    sent_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, packet_version)
);

-- The sealed manifest each person was given for a packet (kept: they can prove what they were sent).
CREATE TABLE packet_manifests (
    meeting_id     uuid NOT NULL,
    packet_version integer NOT NULL,
    person_id      uuid NOT NULL REFERENCES users (id),
    sealed         jsonb NOT NULL,
    sha256         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, packet_version, person_id),
    FOREIGN KEY (meeting_id, packet_version) REFERENCES meeting_packets (meeting_id, packet_version)
);

CREATE TABLE paper_openings (
    paper_id  uuid NOT NULL,
    version   integer NOT NULL,
    person_id uuid NOT NULL REFERENCES users (id),
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (paper_id, version, person_id),
    FOREIGN KEY (paper_id, version) REFERENCES paper_versions (paper_id, version)
);

CREATE TABLE cabinet_notifications (
    id         bigserial PRIMARY KEY,
    person_id  uuid NOT NULL REFERENCES users (id),
    kind       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    meeting_id uuid REFERENCES meetings (id),
    title_vi   text NOT NULL,
    title_en   text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX cabinet_notifications_person ON cabinet_notifications (person_id, id);
