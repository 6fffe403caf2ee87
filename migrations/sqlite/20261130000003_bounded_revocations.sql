-- Revoked token ids are kept one row each only up to a limit per credential; beyond it
-- the credential's tokens issued up to this time are all revoked at once instead (and
-- its rows dropped), so revoking tokens one by one cannot grow the database without bound.
ALTER TABLE credentials ADD COLUMN tokens_revoked_before BIGINT;
CREATE INDEX revoked_tokens_by_client ON revoked_tokens (client_id);
