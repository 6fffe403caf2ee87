-- Access-token signing keys (Ed25519). The newest unretired key signs; retired keys
-- stay published in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT   PRIMARY KEY,
    private_key BYTEA  NOT NULL,
    public_key  BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- Access tokens revoked before they expire (RFC 7009), kept only until they expire.
CREATE TABLE revoked_tokens (
    jti        TEXT   PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
