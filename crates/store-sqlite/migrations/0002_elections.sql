-- The elections module: elections and their ballots, the station hierarchy, protocols
-- (official and observers' copies), imported crowd tallies, exit-poll tallies and
-- participants' ballot reports. Codes are the organisation's stable identifiers; imports match
-- rows by them. People appear only as pseudonyms: 64 lowercase hex characters (a keyed hash
-- under the installation key), never a Telegram id, phone number or name. Counts are INTEGER
-- (64-bit), timestamps INTEGER milliseconds (UTC).
--
-- Rows that belong to an election carry its id, and their references to stations, areas and
-- options are composite foreign keys on (id, election_id): a row can never point into another
-- election.

CREATE TABLE elections (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code       TEXT    NOT NULL UNIQUE CHECK (code <> ''),
    name       TEXT    NOT NULL,
    date       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ballot_options (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id INTEGER NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL
        CHECK (kind IN ('candidate', 'party', 'against_all', 'spoiled', 'other')),
    -- Place on the ballot as last imported.
    position    INTEGER NOT NULL,
    UNIQUE (election_id, code),
    UNIQUE (id, election_id)
) STRICT;

CREATE TABLE areas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id INTEGER NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('region', 'district', 'country', 'city')),
    parent_id   INTEGER CHECK (parent_id <> id),
    UNIQUE (election_id, code),
    UNIQUE (id, election_id),
    FOREIGN KEY (parent_id, election_id) REFERENCES areas (id, election_id)
) STRICT;
CREATE INDEX areas_parent ON areas (parent_id);

CREATE TABLE stations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id INTEGER NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    area_id     INTEGER,
    abroad      INTEGER NOT NULL CHECK (abroad IN (0, 1)),
    registered  INTEGER CHECK (registered >= 0),
    lat         REAL    CHECK (lat BETWEEN -90 AND 90),
    lon         REAL    CHECK (lon BETWEEN -180 AND 180),
    -- Code and name lowercased (Unicode-aware, by Talaka), for text search.
    search_key  TEXT    NOT NULL,
    CHECK ((lat IS NULL) = (lon IS NULL)),
    UNIQUE (election_id, code),
    UNIQUE (id, election_id),
    FOREIGN KEY (area_id, election_id) REFERENCES areas (id, election_id)
) STRICT;
CREATE INDEX stations_area ON stations (area_id);
CREATE INDEX stations_election_abroad ON stations (election_id, abroad);

-- Votes per option live in protocol_votes, one row per option: the foreign key to the ballot
-- and the CHECK keep every vote count attached to a real option, totals per option are a
-- plain GROUP BY on either engine, and the import writes them in batches.
CREATE TABLE protocols (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id         INTEGER NOT NULL,
    station_id          INTEGER NOT NULL,
    -- NULL for the commission's official protocol; an observer's pseudonym for their copy.
    observer            TEXT
        CHECK (observer IS NULL OR (length(observer) = 64 AND observer NOT GLOB '*[^0-9a-f]*')),
    registered          INTEGER CHECK (registered >= 0),
    ballots_received    INTEGER CHECK (ballots_received >= 0),
    issued_early        INTEGER CHECK (issued_early >= 0),
    issued_at_station   INTEGER CHECK (issued_at_station >= 0),
    issued_outside      INTEGER CHECK (issued_outside >= 0),
    cancelled           INTEGER CHECK (cancelled >= 0),
    in_portable_boxes   INTEGER CHECK (in_portable_boxes >= 0),
    in_stationary_boxes INTEGER CHECK (in_stationary_boxes >= 0),
    invalid             INTEGER CHECK (invalid >= 0),
    valid               INTEGER CHECK (valid >= 0),
    lost                INTEGER CHECK (lost >= 0),
    unaccounted         INTEGER CHECK (unaccounted >= 0),
    voters              INTEGER CHECK (voters >= 0),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
) STRICT;
-- One official protocol per station; one copy per observer and station.
CREATE UNIQUE INDEX protocols_official ON protocols (station_id) WHERE observer IS NULL;
CREATE UNIQUE INDEX protocols_observer ON protocols (station_id, observer)
    WHERE observer IS NOT NULL;
CREATE INDEX protocols_election ON protocols (election_id);

CREATE TABLE protocol_votes (
    protocol_id INTEGER NOT NULL REFERENCES protocols (id) ON DELETE CASCADE,
    option_id   INTEGER NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    votes       INTEGER NOT NULL CHECK (votes >= 0),
    PRIMARY KEY (protocol_id, option_id)
) STRICT;
CREATE INDEX protocol_votes_option ON protocol_votes (option_id);

-- A source's published crowd totals (Golos: registered / photoVoices), per station and option.
CREATE TABLE crowd_tallies (
    election_id INTEGER NOT NULL,
    station_id  INTEGER NOT NULL,
    option_id   INTEGER NOT NULL,
    reported    INTEGER CHECK (reported >= 0),
    verified    INTEGER CHECK (verified >= 0),
    CHECK (reported IS NOT NULL OR verified IS NOT NULL),
    PRIMARY KEY (station_id, option_id),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE,
    FOREIGN KEY (option_id, election_id) REFERENCES ballot_options (id, election_id)
        ON DELETE CASCADE
) STRICT;
CREATE INDEX crowd_tallies_election ON crowd_tallies (election_id);
CREATE INDEX crowd_tallies_option ON crowd_tallies (option_id);

CREATE TABLE exit_poll_tallies (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id        INTEGER NOT NULL,
    station_id         INTEGER NOT NULL,
    time_window        TEXT    NOT NULL,
    surveyed           INTEGER NOT NULL CHECK (surveyed >= 0),
    declined           INTEGER NOT NULL CHECK (declined >= 0),
    spoiled_or_unknown INTEGER NOT NULL CHECK (spoiled_or_unknown >= 0),
    counted_kind       TEXT    CHECK (counted_kind IN ('exact', 'about', 'at_least')),
    counted_value      INTEGER CHECK (counted_value >= 0),
    CHECK ((counted_kind IS NULL) = (counted_value IS NULL)),
    UNIQUE (station_id, time_window),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX exit_poll_tallies_election ON exit_poll_tallies (election_id);

CREATE TABLE exit_poll_answers (
    tally_id  INTEGER NOT NULL REFERENCES exit_poll_tallies (id) ON DELETE CASCADE,
    option_id INTEGER NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    answers   INTEGER NOT NULL CHECK (answers >= 0),
    PRIMARY KEY (tally_id, option_id)
) STRICT;
CREATE INDEX exit_poll_answers_option ON exit_poll_answers (option_id);

-- Every report a participant sends is kept; `counted` marks each participant's latest one per
-- election, and the partial unique index below makes "at most one counted" a database rule.
-- Only the SHA-256 fingerprint of the receipt code is stored.
CREATE TABLE ballot_reports (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id         INTEGER NOT NULL,
    participant         TEXT    NOT NULL
        CHECK (length(participant) = 64 AND participant NOT GLOB '*[^0-9a-f]*'),
    station_id          INTEGER NOT NULL,
    option_id           INTEGER NOT NULL,
    verification        TEXT    NOT NULL CHECK (verification IN ('unverified', 'photo_verified')),
    photo_sha256        TEXT
        CHECK (photo_sha256 IS NULL
               OR (length(photo_sha256) = 64 AND photo_sha256 NOT GLOB '*[^0-9a-f]*')),
    duplicate_photo     INTEGER NOT NULL CHECK (duplicate_photo IN (0, 1)),
    at                  INTEGER NOT NULL,
    receipt_fingerprint TEXT    NOT NULL UNIQUE,
    counted             INTEGER NOT NULL CHECK (counted IN (0, 1)),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE,
    FOREIGN KEY (option_id, election_id) REFERENCES ballot_options (id, election_id)
        ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX ballot_reports_one_counted ON ballot_reports (election_id, participant)
    WHERE counted = 1;
CREATE INDEX ballot_reports_participant ON ballot_reports (election_id, participant);
CREATE INDEX ballot_reports_counted ON ballot_reports (election_id, station_id, option_id)
    WHERE counted = 1;
CREATE INDEX ballot_reports_station ON ballot_reports (station_id);
CREATE INDEX ballot_reports_option ON ballot_reports (option_id);
CREATE INDEX ballot_reports_photo ON ballot_reports (election_id, photo_sha256)
    WHERE photo_sha256 IS NOT NULL;
