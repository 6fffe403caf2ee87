-- private_key_jwt credentials (SPEC §11.2): their public keys as a JSON array of JWKs
-- (NULL for client-secret credentials, whose secret_hash is then empty), and the keys
-- the last key rotation replaced, which keep working until previous_secret_expires_at.
ALTER TABLE credentials ADD COLUMN public_keys TEXT;
ALTER TABLE credentials ADD COLUMN previous_public_keys TEXT;

-- Assertion ids accepted, each kept until its assertion expires (at most an hour after
-- it was issued), so that an assertion is accepted once across every instance.
CREATE TABLE assertion_jtis (
    client_id  TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_by_expiry ON assertion_jtis (expires_at);
