-- Clerks' pages: people who log in for an agency, their sessions, and failed log-ins kept in the
-- database so a lock-out holds whichever hub process answers the next attempt.

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    organ_id       text NOT NULL REFERENCES agencies (organ_id),
    login          text NOT NULL,
    full_name      text,
    password_hash  text NOT NULL,                       -- argon2id, PHC string
    role           text NOT NULL CHECK (role IN ('clerk', 'admin')),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);
-- One login names one person on the whole axis, whatever the case it is typed in.
CREATE UNIQUE INDEX users_login ON users (lower(login));
CREATE INDEX users_organ ON users (organ_id);

CREATE TABLE user_sessions (
    token_hash   text PRIMARY KEY,                      -- SHA-256 of the cookie's 256-bit token
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);

-- Keyed by the login as typed (lower-cased), known or not, so probing unknown names locks too.
CREATE TABLE login_failures (
    login         text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    last_failure  timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz
);

-- Live pages: every audited change about a document (a delivery made available or acknowledged, a
-- status, a recall…) is announced on axis_events with the document's id, at commit, to every hub
-- process; each fans it out to the pages open on that letter. A trigger rather than a line in the
-- code, so no writer of audit rows can forget it.
CREATE FUNCTION axis_notify_document_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('axis_events', NEW.document_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_notify_document
    AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.document_id IS NOT NULL)
    EXECUTE FUNCTION axis_notify_document_event();
