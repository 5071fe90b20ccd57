-- A voting member's position on an agenda item before the meeting (changeable until it starts).
CREATE TABLE meeting_positions (
    meeting_id uuid NOT NULL REFERENCES meetings (id),
    item_id    uuid NOT NULL REFERENCES meeting_items (id),
    person_id  uuid NOT NULL REFERENCES cabinet_people (person_id),
    position   text NOT NULL CHECK (position IN ('agree', 'object', 'comment')),
    comment    text,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_id, person_id),
    CHECK (position = 'agree' OR comment IS NOT NULL)
);
CREATE INDEX meeting_positions_meeting ON meeting_positions (meeting_id);
