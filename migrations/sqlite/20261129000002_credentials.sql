-- OAuth client credentials. Only an HMAC-SHA-256 of each secret is stored.
-- Usage (last_used_at, tokens_issued) is counted in memory and flushed in batches.
CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id     TEXT    NOT NULL UNIQUE,
    secret_hash   BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    scopes        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    last_used_at  BIGINT,
    tokens_issued BIGINT  NOT NULL DEFAULT 0
);

-- The dashboard lists a user's credentials newest first, a page at a time.
CREATE INDEX credentials_by_owner ON credentials (user_id, created_at DESC, id DESC);

-- Server-side keys that must survive restarts and be shared by every instance
-- (the key client secrets are hashed with).
CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    value      BLOB   NOT NULL,
    created_at BIGINT NOT NULL
);
