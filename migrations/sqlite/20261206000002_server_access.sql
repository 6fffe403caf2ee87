-- Who may grant each MCP server to a credential (SPEC §10): 'everyone' signed in, or
-- 'chosen-teams': administrators and the teams in server_teams. Servers registered
-- before this setting existed keep what they had (everyone); new ones default to
-- 'chosen-teams' (the application sets it).
ALTER TABLE mcp_servers ADD COLUMN access TEXT NOT NULL DEFAULT 'everyone';

CREATE TABLE server_teams (
    server_id INTEGER NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    team_id   INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (server_id, team_id)
);
CREATE INDEX server_teams_by_team ON server_teams (team_id);
