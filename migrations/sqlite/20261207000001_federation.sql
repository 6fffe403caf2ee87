-- Federated workload identity (SPEC §18): issuers whose tokens Clavis trusts, and the
-- rules by which a workload token of one gets a credential's tokens. Removing an
-- issuer removes its rules; removing a credential removes its rules.
-- AUTOINCREMENT: a removed issuer's id never comes back for another one.
CREATE TABLE trusted_issuers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    issuer     TEXT    NOT NULL UNIQUE,
    jwks_url   TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE federation_rules (
    id            INTEGER PRIMARY KEY,
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    issuer_id     INTEGER NOT NULL REFERENCES trusted_issuers (id) ON DELETE CASCADE,
    audience      TEXT    NOT NULL,
    -- JSON: [{"claim": "...", "pattern": "..."}, ...]
    conditions    TEXT    NOT NULL,
    single_use    BOOLEAN NOT NULL
);
CREATE INDEX federation_rules_by_credential ON federation_rules (credential_id);
CREATE INDEX federation_rules_by_issuer ON federation_rules (issuer_id);

-- The subject of the last workload token a credential's token was issued for.
ALTER TABLE credentials ADD COLUMN last_workload_subject TEXT;
