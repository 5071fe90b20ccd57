-- VDXP (the national axis's client protocol): each agency's shared secret, kept encrypted with
-- AXIS_SECRET_KEY because checking the SDK's HMAC needs the secret itself, and the sub-units a hub
-- system registers under its own code with registerAgency.

ALTER TABLE agencies
    ADD COLUMN vdxp_secret      text,
    ADD COLUMN parent_organ_id  text REFERENCES agencies (organ_id),
    ADD COLUMN contact          jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE INDEX agencies_parent ON agencies (parent_organ_id) WHERE parent_organ_id IS NOT NULL;
