-- The elections module: elections and their ballots, the station hierarchy, protocols
-- (official and observers' copies), imported crowd tallies, exit-poll tallies and
-- participants' ballot reports. Codes are the organisation's stable identifiers; imports match
-- rows by them. People appear only as pseudonyms: 64 lowercase hex characters (a keyed hash
-- under the installation key), never a Telegram id, phone number or name. Counts are BIGINT
-- (a u32 does not fit INTEGER), timestamps BIGINT milliseconds (UTC). Table and column names
-- match the SQLite backend's.
--
-- Rows that belong to an election carry its id, and their references to stations, areas and
-- options are composite foreign keys on (id, election_id): a row can never point into another
-- election.

CREATE TABLE elections (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE CHECK (code <> ''),
    name       TEXT    NOT NULL,
    date       TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ballot_options (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id BIGINT NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL
        CHECK (kind IN ('candidate', 'party', 'against_all', 'spoiled', 'other')),
    -- Place on the ballot as last imported.
    position    BIGINT NOT NULL,
    UNIQUE (election_id, code),
    UNIQUE (id, election_id)
);

CREATE TABLE areas (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id BIGINT NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('region', 'district', 'country', 'city')),
    parent_id   BIGINT CHECK (parent_id <> id),
    UNIQUE (election_id, code),
    UNIQUE (id, election_id),
    FOREIGN KEY (parent_id, election_id) REFERENCES areas (id, election_id)
);
CREATE INDEX areas_parent ON areas (parent_id);

CREATE TABLE stations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id BIGINT NOT NULL REFERENCES elections (id) ON DELETE CASCADE,
    code        TEXT    NOT NULL CHECK (code <> ''),
    name        TEXT    NOT NULL,
    area_id     BIGINT,
    abroad      BOOLEAN NOT NULL,
    registered  BIGINT CHECK (registered >= 0),
    lat         DOUBLE PRECISION CHECK (lat BETWEEN -90 AND 90),
    lon         DOUBLE PRECISION CHECK (lon BETWEEN -180 AND 180),
    -- Code and name lowercased (Unicode-aware, by Talaka, as on SQLite), for text search.
    search_key  TEXT    NOT NULL,
    CHECK ((lat IS NULL) = (lon IS NULL)),
    UNIQUE (election_id, code),
    UNIQUE (id, election_id),
    FOREIGN KEY (area_id, election_id) REFERENCES areas (id, election_id)
);
CREATE INDEX stations_area ON stations (area_id);
CREATE INDEX stations_election_abroad ON stations (election_id, abroad);

-- Votes per option live in protocol_votes, one row per option: the foreign key to the ballot
-- and the CHECK keep every vote count attached to a real option, totals per option are a
-- plain GROUP BY on either engine, and the import writes them in batches.
CREATE TABLE protocols (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id         BIGINT NOT NULL,
    station_id          BIGINT NOT NULL,
    -- NULL for the commission's official protocol; an observer's pseudonym for their copy.
    observer            TEXT
        CHECK (observer IS NULL OR observer ~ '^[0-9a-f]{64}$'),
    registered          BIGINT CHECK (registered >= 0),
    ballots_received    BIGINT CHECK (ballots_received >= 0),
    issued_early        BIGINT CHECK (issued_early >= 0),
    issued_at_station   BIGINT CHECK (issued_at_station >= 0),
    issued_outside      BIGINT CHECK (issued_outside >= 0),
    cancelled           BIGINT CHECK (cancelled >= 0),
    in_portable_boxes   BIGINT CHECK (in_portable_boxes >= 0),
    in_stationary_boxes BIGINT CHECK (in_stationary_boxes >= 0),
    invalid             BIGINT CHECK (invalid >= 0),
    valid               BIGINT CHECK (valid >= 0),
    lost                BIGINT CHECK (lost >= 0),
    unaccounted         BIGINT CHECK (unaccounted >= 0),
    voters              BIGINT CHECK (voters >= 0),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
);
-- One official protocol per station; one copy per observer and station.
CREATE UNIQUE INDEX protocols_official ON protocols (station_id) WHERE observer IS NULL;
CREATE UNIQUE INDEX protocols_observer ON protocols (station_id, observer)
    WHERE observer IS NOT NULL;
CREATE INDEX protocols_election ON protocols (election_id);

CREATE TABLE protocol_votes (
    protocol_id BIGINT NOT NULL REFERENCES protocols (id) ON DELETE CASCADE,
    option_id   BIGINT NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    votes       BIGINT NOT NULL CHECK (votes >= 0),
    PRIMARY KEY (protocol_id, option_id)
);
CREATE INDEX protocol_votes_option ON protocol_votes (option_id);

-- A source's published crowd totals (Golos: registered / photoVoices), per station and option.
CREATE TABLE crowd_tallies (
    election_id BIGINT NOT NULL,
    station_id  BIGINT NOT NULL,
    option_id   BIGINT NOT NULL,
    reported    BIGINT CHECK (reported >= 0),
    verified    BIGINT CHECK (verified >= 0),
    CHECK (reported IS NOT NULL OR verified IS NOT NULL),
    PRIMARY KEY (station_id, option_id),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE,
    FOREIGN KEY (option_id, election_id) REFERENCES ballot_options (id, election_id)
        ON DELETE CASCADE
);
CREATE INDEX crowd_tallies_election ON crowd_tallies (election_id);
CREATE INDEX crowd_tallies_option ON crowd_tallies (option_id);

CREATE TABLE exit_poll_tallies (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id        BIGINT NOT NULL,
    station_id         BIGINT NOT NULL,
    time_window        TEXT    NOT NULL,
    surveyed           BIGINT NOT NULL CHECK (surveyed >= 0),
    declined           BIGINT NOT NULL CHECK (declined >= 0),
    spoiled_or_unknown BIGINT NOT NULL CHECK (spoiled_or_unknown >= 0),
    counted_kind       TEXT    CHECK (counted_kind IN ('exact', 'about', 'at_least')),
    counted_value      BIGINT CHECK (counted_value >= 0),
    CHECK ((counted_kind IS NULL) = (counted_value IS NULL)),
    UNIQUE (station_id, time_window),
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
);
CREATE INDEX exit_poll_tallies_election ON exit_poll_tallies (election_id);

CREATE TABLE exit_poll_answers (
    tally_id  BIGINT NOT NULL REFERENCES exit_poll_tallies (id) ON DELETE CASCADE,
    option_id BIGINT NOT NULL REFERENCES ballot_options (id) ON DELETE CASCADE,
    answers   BIGINT NOT NULL CHECK (answers >= 0),
    PRIMARY KEY (tally_id, option_id)
);
CREATE INDEX exit_poll_answers_option ON exit_poll_answers (option_id);

-- Every report a participant sends is kept; `counted` marks each participant's latest one per
-- election, and the partial unique index below makes "at most one counted" a database rule.
-- Only the SHA-256 fingerprint of the receipt code is stored.
CREATE TABLE ballot_reports (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id         BIGINT NOT NULL,
    participant         TEXT    NOT NULL
        CHECK (participant ~ '^[0-9a-f]{64}$'),
    station_id          BIGINT NOT NULL,
    option_id           BIGINT NOT NULL,
    verification        TEXT    NOT NULL CHECK (verification IN ('unverified', 'photo_verified')),
    photo_sha256        TEXT
        CHECK (photo_sha256 IS NULL
               OR photo_sha256 ~ '^[0-9a-f]{64}$'),
    duplicate_photo     BOOLEAN NOT NULL,
    at                  BIGINT NOT NULL,
    receipt_fingerprint TEXT    NOT NULL UNIQUE,
    counted             BOOLEAN NOT NULL,
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE,
    FOREIGN KEY (option_id, election_id) REFERENCES ballot_options (id, election_id)
        ON DELETE CASCADE
);
CREATE UNIQUE INDEX ballot_reports_one_counted ON ballot_reports (election_id, participant)
    WHERE counted;
CREATE INDEX ballot_reports_participant ON ballot_reports (election_id, participant);
CREATE INDEX ballot_reports_counted ON ballot_reports (election_id, station_id, option_id)
    WHERE counted;
CREATE INDEX ballot_reports_station ON ballot_reports (station_id);
CREATE INDEX ballot_reports_option ON ballot_reports (option_id);
CREATE INDEX ballot_reports_photo ON ballot_reports (election_id, photo_sha256)
    WHERE photo_sha256 IS NOT NULL;
