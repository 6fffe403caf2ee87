-- Tokens issued per credential per UTC hour, summed over every instance, for the
-- credentials that have a "Tokens per hour" quota (SPEC §11.3). Written by the usage
-- flush, never per request; hours before the current one are deleted.
CREATE TABLE credential_hour_usage (
    client_id TEXT   NOT NULL,
    hour      BIGINT NOT NULL,
    tokens    BIGINT NOT NULL,
    PRIMARY KEY (client_id, hour)
);
