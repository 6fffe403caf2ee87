-- People who sign in to the dashboard. `email` is stored normalised (trimmed, lower-case),
-- so the UNIQUE constraint makes addresses case-insensitively unique.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);
