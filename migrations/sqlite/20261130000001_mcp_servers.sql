-- Administrators (SPEC §12): the first account is one; `clavis create-user --admin`
-- makes more. An existing installation's first account becomes its administrator.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE users SET is_admin = TRUE WHERE id = (SELECT MIN(id) FROM users);

-- MCP servers Clavis protects (SPEC §10): a gateway server is served at
-- <issuer>/mcp/<slug> and forwarded to upstream_url; an external one checks tokens
-- itself and is known by its resource_url. The optional upstream header's value is
-- sealed with the master key (never stored in clear).
CREATE TABLE mcp_servers (
    id                  INTEGER PRIMARY KEY,
    slug                TEXT    NOT NULL UNIQUE,
    name                TEXT    NOT NULL,
    mode                TEXT    NOT NULL CHECK (mode IN ('gateway', 'external')),
    upstream_url        TEXT,
    resource_url        TEXT    UNIQUE,
    header_name         TEXT,
    header_value_sealed BLOB,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);

-- Which servers each credential may get tokens for. Removing a server removes its
-- grants, so its tokens stop working at the gateway at once.
CREATE TABLE credential_servers (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    server_id     INTEGER NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    PRIMARY KEY (credential_id, server_id)
);
CREATE INDEX credential_servers_by_server ON credential_servers (server_id);

-- The built-in <issuer>/mcp is granted by default; `allowed_tools` limits a credential
-- to these tool names at the gateway (space-separated; empty: every tool).
ALTER TABLE credentials ADD COLUMN builtin_mcp BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE credentials ADD COLUMN allowed_tools TEXT NOT NULL DEFAULT '';

-- Gateway calls per credential, server, tool and UTC day (`day` = Unix time / 86400),
-- counted in memory and added in batches: one row per combination, never per call.
-- `tool` is the tool name for tools/call and '' for every other request.
CREATE TABLE gateway_usage (
    credential_id INTEGER NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    server_id     INTEGER NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    tool          TEXT    NOT NULL,
    day           BIGINT  NOT NULL,
    calls         BIGINT  NOT NULL DEFAULT 0,
    errors        BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (credential_id, server_id, tool, day)
);
