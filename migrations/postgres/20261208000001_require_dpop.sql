-- A credential that requires DPoP (SPEC §19): its token requests must carry a DPoP
-- proof, and so all its tokens are bound to a key.
ALTER TABLE credentials ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
