-- At most one current (unretired) signing key: instances starting at once on a new
-- database cannot both create a first key (the loser's insert fails and it reads the
-- winner's). Rotation retires the old key before inserting the new one.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
