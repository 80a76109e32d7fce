-- Integrations: programs that send participants' reports through the JSON API, each with its
-- own bearer token. Only the token's SHA-256 fingerprint is stored. Revoked, never deleted.
CREATE TABLE integrations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL CHECK (name <> ''),
    token_fingerprint TEXT    NOT NULL UNIQUE
        CHECK (length(token_fingerprint) = 64 AND token_fingerprint NOT GLOB '*[^0-9a-f]*'),
    all_elections     INTEGER NOT NULL CHECK (all_elections IN (0, 1)),
    created_by        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    revoked_at        INTEGER
) STRICT;

-- The elections an integration without `all_elections` may report to, by code (an election
-- imported later under a listed code is covered).
CREATE TABLE integration_elections (
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    election_code  TEXT    NOT NULL CHECK (election_code <> ''),
    PRIMARY KEY (integration_id, election_code)
) STRICT;

-- Counted reports per station and option, kept by triggers in the same transaction as the
-- reports themselves, so that the crowd counts of 1.26 million reports are read from a few
-- thousand rows instead of aggregated each time. `verified` = photo-verified and not a
-- duplicate photo. A row may fall back to zero when its reports are superseded.
CREATE TABLE crowd_report_counts (
    election_id INTEGER NOT NULL,
    station_id  INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    option_id   INTEGER NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    reported    INTEGER NOT NULL CHECK (reported >= 0),
    verified    INTEGER NOT NULL CHECK (verified >= 0 AND verified <= reported),
    PRIMARY KEY (station_id, option_id)
) STRICT;
CREATE INDEX crowd_report_counts_election
    ON crowd_report_counts (election_id, station_id, option_id, reported, verified);
CREATE INDEX crowd_report_counts_option ON crowd_report_counts (option_id);

INSERT INTO crowd_report_counts (election_id, station_id, option_id, reported, verified)
SELECT election_id, station_id, option_id, COUNT(*),
       SUM(verification = 'photo_verified' AND duplicate_photo = 0)
FROM ballot_reports WHERE counted = 1
GROUP BY station_id, option_id;

CREATE TRIGGER ballot_reports_count_insert AFTER INSERT ON ballot_reports
WHEN NEW.counted = 1
BEGIN
    INSERT INTO crowd_report_counts (election_id, station_id, option_id, reported, verified)
    VALUES (NEW.election_id, NEW.station_id, NEW.option_id, 1,
            NEW.verification = 'photo_verified' AND NEW.duplicate_photo = 0)
    ON CONFLICT (station_id, option_id) DO UPDATE SET
        reported = reported + 1,
        verified = verified + excluded.verified;
END;

CREATE TRIGGER ballot_reports_count_update AFTER UPDATE OF counted, station_id, option_id,
    verification, duplicate_photo ON ballot_reports
BEGIN
    UPDATE crowd_report_counts SET
        reported = reported - 1,
        verified = verified - (OLD.verification = 'photo_verified' AND OLD.duplicate_photo = 0)
    WHERE OLD.counted = 1 AND station_id = OLD.station_id AND option_id = OLD.option_id;
    INSERT INTO crowd_report_counts (election_id, station_id, option_id, reported, verified)
    SELECT NEW.election_id, NEW.station_id, NEW.option_id, 1,
           NEW.verification = 'photo_verified' AND NEW.duplicate_photo = 0
    WHERE NEW.counted = 1
    ON CONFLICT (station_id, option_id) DO UPDATE SET
        reported = reported + 1,
        verified = verified + excluded.verified;
END;

CREATE TRIGGER ballot_reports_count_delete AFTER DELETE ON ballot_reports
WHEN OLD.counted = 1
BEGIN
    UPDATE crowd_report_counts SET
        reported = reported - 1,
        verified = verified - (OLD.verification = 'photo_verified' AND OLD.duplicate_photo = 0)
    WHERE station_id = OLD.station_id AND option_id = OLD.option_id;
END;
