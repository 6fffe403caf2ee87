-- Per-tool call limits (SPEC §20): space-separated `SERVER_ID=N` (all the server's
-- tools) and `SERVER_ID:TOOL=N`, calls per minute; empty: no limit.
ALTER TABLE credentials ADD COLUMN call_limits TEXT NOT NULL DEFAULT '';
