-- When each revoked token was issued (its `iat`). When a credential's revoked tokens
-- pass the limit, every token issued before the current second is revoked at once and
-- only the rows of tokens issued in that second stay: a token issued right after the
-- cut-off, in the same second, stays valid.
ALTER TABLE revoked_tokens ADD COLUMN issued_at BIGINT NOT NULL DEFAULT 0;
