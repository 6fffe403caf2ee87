-- Enterprise identity (SPEC §21): OpenID Connect providers people sign in with, and
-- which account each provider's subject is. Removing a provider removes its links;
-- removing an account removes its links.
-- AUTOINCREMENT: a removed provider's id never comes back for another one.
CREATE TABLE identity_providers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    issuer        TEXT    NOT NULL UNIQUE,
    client_id     TEXT    NOT NULL,
    -- The client secret, sealed with the master key (never shown again).
    client_secret BLOB    NOT NULL,
    -- JSON: ["example.com", ...]; empty: any domain.
    email_domains TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sso_identities (
    provider_id INTEGER NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject     TEXT    NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX sso_identities_by_user ON sso_identities (user_id);
