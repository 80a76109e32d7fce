-- One index fewer per report, twice. `ballot_reports_station` and `ballot_reports_option` put
-- every report at one of thousands of places (a station's end of its run), so each transaction of
-- a few hundred reports rewrote a few hundred more index pages into the WAL: at 200,000 reports
-- the two indexes were a third of all bytes written, and dropping them took the store from about
-- 15,000 to 20,000 reports per second in groups of 256 (bench/RESULTS.md, 2026-11-29).
--
-- What they served now comes from the counters:
-- - the station page's summary (counted, superseded, duplicate photos, and per option reported
--   and verified), so the counters gain `superseded` and `duplicates`;
-- - `ON DELETE CASCADE` from stations and options. Neither is ever deleted on its own (an import
--   only adds and updates; nothing deletes an election). Whoever adds that must delete the
--   election's reports first (`DELETE FROM ballot_reports WHERE election_id = ?`, one scan)
--   before its stations and options; otherwise each deleted station scans the reports.
DROP INDEX ballot_reports_station;
DROP INDEX ballot_reports_option;

-- Every report now counts somewhere: a counted one in `reported` (and `verified`,
-- `duplicates`), a superseded one in `superseded`. The counters become a table clustered by
-- election and station (WITHOUT ROWID): a trigger's update touches one b-tree instead of an
-- index and a table, and an election's counters are one range of pages to read, so the crowd
-- counts at 1.26 million reports read a few hundred pages instead of 25,000 scattered rows.
DROP TRIGGER ballot_reports_count_insert;
DROP TRIGGER ballot_reports_count_update;
DROP TRIGGER ballot_reports_count_delete;
DROP TABLE crowd_report_counts;

CREATE TABLE crowd_report_counts (
    election_id INTEGER NOT NULL,
    station_id  INTEGER NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    option_id   INTEGER NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    reported    INTEGER NOT NULL CHECK (reported >= 0),
    verified    INTEGER NOT NULL CHECK (verified >= 0 AND verified <= reported),
    duplicates  INTEGER NOT NULL CHECK (duplicates >= 0 AND duplicates <= reported),
    superseded  INTEGER NOT NULL CHECK (superseded >= 0),
    PRIMARY KEY (election_id, station_id, option_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX crowd_report_counts_option ON crowd_report_counts (option_id);

INSERT INTO crowd_report_counts
    (election_id, station_id, option_id, reported, verified, duplicates, superseded)
SELECT election_id, station_id, option_id,
       SUM(counted),
       SUM(counted AND verification = 'photo_verified' AND duplicate_photo = 0),
       SUM(counted AND duplicate_photo = 1),
       SUM(1 - counted)
FROM ballot_reports
GROUP BY election_id, station_id, option_id;

-- A report's share of its station's and option's counters: (counted, counted and verified,
-- counted and a duplicate photo, superseded). Inserting adds it; deleting subtracts it; an
-- update subtracts the old share and adds the new one.
CREATE TRIGGER ballot_reports_count_insert AFTER INSERT ON ballot_reports
BEGIN
    INSERT INTO crowd_report_counts
        (election_id, station_id, option_id, reported, verified, duplicates, superseded)
    VALUES (NEW.election_id, NEW.station_id, NEW.option_id, NEW.counted,
            NEW.counted AND NEW.verification = 'photo_verified' AND NEW.duplicate_photo = 0,
            NEW.counted AND NEW.duplicate_photo = 1, 1 - NEW.counted)
    ON CONFLICT (election_id, station_id, option_id) DO UPDATE SET
        reported = reported + excluded.reported,
        verified = verified + excluded.verified,
        duplicates = duplicates + excluded.duplicates,
        superseded = superseded + excluded.superseded;
END;

CREATE TRIGGER ballot_reports_count_update AFTER UPDATE OF counted, station_id, option_id,
    verification, duplicate_photo ON ballot_reports
BEGIN
    UPDATE crowd_report_counts SET
        reported = reported - OLD.counted,
        verified = verified
            - (OLD.counted AND OLD.verification = 'photo_verified' AND OLD.duplicate_photo = 0),
        duplicates = duplicates - (OLD.counted AND OLD.duplicate_photo = 1),
        superseded = superseded - (1 - OLD.counted)
    WHERE election_id = OLD.election_id AND station_id = OLD.station_id
      AND option_id = OLD.option_id;
    INSERT INTO crowd_report_counts
        (election_id, station_id, option_id, reported, verified, duplicates, superseded)
    VALUES (NEW.election_id, NEW.station_id, NEW.option_id, NEW.counted,
            NEW.counted AND NEW.verification = 'photo_verified' AND NEW.duplicate_photo = 0,
            NEW.counted AND NEW.duplicate_photo = 1, 1 - NEW.counted)
    ON CONFLICT (election_id, station_id, option_id) DO UPDATE SET
        reported = reported + excluded.reported,
        verified = verified + excluded.verified,
        duplicates = duplicates + excluded.duplicates,
        superseded = superseded + excluded.superseded;
END;

CREATE TRIGGER ballot_reports_count_delete AFTER DELETE ON ballot_reports
BEGIN
    UPDATE crowd_report_counts SET
        reported = reported - OLD.counted,
        verified = verified
            - (OLD.counted AND OLD.verification = 'photo_verified' AND OLD.duplicate_photo = 0),
        duplicates = duplicates - (OLD.counted AND OLD.duplicate_photo = 1),
        superseded = superseded - (1 - OLD.counted)
    WHERE election_id = OLD.election_id AND station_id = OLD.station_id
      AND option_id = OLD.option_id;
END;
