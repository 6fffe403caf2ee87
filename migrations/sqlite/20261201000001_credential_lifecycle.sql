-- Secret rotation with overlap (SPEC §11.1): the secret the last rotation replaced keeps
-- working until previous_secret_expires_at; NULL when there is none.
ALTER TABLE credentials ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE credentials ADD COLUMN previous_secret_expires_at BIGINT;
-- SPEC §11.3: the lifetime of its tokens in seconds (NULL: the server's) and how many
-- tokens it may get per hour (NULL: no limit).
ALTER TABLE credentials ADD COLUMN token_lifetime BIGINT;
ALTER TABLE credentials ADD COLUMN tokens_per_hour BIGINT;
