-- Counted reports per station and option, kept by triggers in the same transaction as the
-- reports themselves (as on SQLite, whose table has the same name and columns), so that the
-- crowd counts are read from a few thousand rows instead of aggregating every counted report.
-- `verified` = photo-verified and not a duplicate photo. A row may fall back to zero when its
-- reports are superseded.
--
-- Writers run concurrently here, unlike on SQLite: every change is a relative increment or
-- decrement of a row (`INSERT … ON CONFLICT DO UPDATE SET reported = reported + 1`), which
-- takes the row's lock, so concurrent reports add up exactly. `submit_ballot_reports` locks
-- the rows it will touch in one fixed order first, so two batches never deadlock on them.

-- No report is written while the table is filled and the triggers are created: the counts
-- start exact. (Migrations run in one transaction; the lock lasts until it commits.)
LOCK TABLE ballot_reports IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE crowd_report_counts (
    election_id BIGINT NOT NULL,
    station_id  BIGINT NOT NULL,
    option_id   BIGINT NOT NULL,
    reported    BIGINT NOT NULL CHECK (reported >= 0),
    verified    BIGINT NOT NULL CHECK (verified >= 0 AND verified <= reported),
    PRIMARY KEY (station_id, option_id),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE,
    FOREIGN KEY (option_id, election_id) REFERENCES ballot_options (id, election_id)
        ON DELETE CASCADE
);
CREATE INDEX crowd_report_counts_election
    ON crowd_report_counts (election_id, station_id, option_id);
CREATE INDEX crowd_report_counts_option ON crowd_report_counts (option_id);

INSERT INTO crowd_report_counts (election_id, station_id, option_id, reported, verified)
SELECT election_id, station_id, option_id, COUNT(*),
       COUNT(*) FILTER (WHERE verification = 'photo_verified' AND NOT duplicate_photo)
FROM ballot_reports WHERE counted
GROUP BY election_id, station_id, option_id;

-- One function for the three row triggers: take the old row out of the counts (when it was
-- counted), put the new row in (when it is counted).
CREATE FUNCTION crowd_report_counts_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        IF OLD.counted THEN
            UPDATE crowd_report_counts SET
                reported = reported - 1,
                verified = verified
                    - (OLD.verification = 'photo_verified' AND NOT OLD.duplicate_photo)::INT
            WHERE station_id = OLD.station_id AND option_id = OLD.option_id;
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' OR TG_OP = 'INSERT' THEN
        IF NEW.counted THEN
            INSERT INTO crowd_report_counts AS c
                (election_id, station_id, option_id, reported, verified)
            VALUES (NEW.election_id, NEW.station_id, NEW.option_id, 1,
                    (NEW.verification = 'photo_verified' AND NOT NEW.duplicate_photo)::INT)
            ON CONFLICT (station_id, option_id) DO UPDATE SET
                reported = c.reported + 1,
                verified = c.verified + excluded.verified;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER ballot_reports_count_insert AFTER INSERT ON ballot_reports
    FOR EACH ROW WHEN (NEW.counted) EXECUTE FUNCTION crowd_report_counts_follow();
CREATE TRIGGER ballot_reports_count_update AFTER UPDATE OF counted, election_id, station_id,
    option_id, verification, duplicate_photo ON ballot_reports
    FOR EACH ROW WHEN (OLD.counted OR NEW.counted) EXECUTE FUNCTION crowd_report_counts_follow();
CREATE TRIGGER ballot_reports_count_delete AFTER DELETE ON ballot_reports
    FOR EACH ROW WHEN (OLD.counted) EXECUTE FUNCTION crowd_report_counts_follow();

-- TRUNCATE fires no row triggers: empty the counts with the reports.
CREATE FUNCTION crowd_report_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM crowd_report_counts;
    RETURN NULL;
END
$$;
CREATE TRIGGER ballot_reports_count_truncate AFTER TRUNCATE ON ballot_reports
    FOR EACH STATEMENT EXECUTE FUNCTION crowd_report_counts_clear();
