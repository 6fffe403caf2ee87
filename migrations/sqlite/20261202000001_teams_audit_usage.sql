-- People, teams and roles (SPEC §12), the audit log and per-day usage (§13).

-- A disabled person cannot sign in, their sessions end and the credentials they own
-- personally are suspended (not revoked) until they are enabled again.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- role: 'owner', 'admin' or 'member'. A team always keeps at least one owner.
CREATE TABLE team_members (
    team_id   INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT   NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

-- One-time invitation links: only a SHA-256 of the link's token is stored.
CREATE TABLE team_invites (
    id         INTEGER PRIMARY KEY,
    team_id    INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    role       TEXT   NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    INTEGER REFERENCES users (id) ON DELETE SET NULL
);

-- A credential belongs to its creator's Personal workspace (team_id NULL) or to a team.
-- user_id stays its creator. Existing credentials are their creators' personal ones.
ALTER TABLE credentials ADD COLUMN team_id INTEGER REFERENCES teams (id);
CREATE INDEX credentials_by_team ON credentials (team_id, created_at DESC, id DESC);
-- The client address of the last successful token request (written with the usage flush).
ALTER TABLE credentials ADD COLUMN last_used_address TEXT;

-- Append-only record of every change and sign-in. personal_user_id / team_id say whose
-- workspace an event belongs to (who may read it); actor_user_id is the person who
-- acted (NULL for the CLI or a credential).
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    at               BIGINT NOT NULL,
    actor            TEXT   NOT NULL,
    actor_user_id    INTEGER,
    action           TEXT   NOT NULL,
    target           TEXT   NOT NULL,
    address          TEXT,
    personal_user_id INTEGER,
    team_id          INTEGER
);
CREATE INDEX audit_log_by_time ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_by_person ON audit_log (personal_user_id, id DESC);
CREATE INDEX audit_log_by_team ON audit_log (team_id, id DESC);

-- Tokens issued per credential per UTC day (the usage chart), written by the usage
-- flush: one row per credential per day, never one per token.
CREATE TABLE credential_day_usage (
    client_id TEXT   NOT NULL,
    day       BIGINT NOT NULL,
    tokens    BIGINT NOT NULL,
    PRIMARY KEY (client_id, day)
);
