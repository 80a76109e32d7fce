-- Photo records: which encrypted blob (a file in the blob folder, named by a random id) backs
-- which ballot report or observer's protocol copy. The photo itself is never in the database.
-- A record names its subject as the elections tables do: a ballot photo by the participant's
-- pseudonym and the photo's fingerprint (equal to the report's photo_sha256), an observer's
-- photo by the observer's pseudonym and the station (the key of their copy). The fingerprint is
-- a keyed hash (HMAC-SHA-256 under the installation key) of the photo's SHA-256, so the
-- database alone cannot confirm that a given photo was sent. Names match the SQLite backend's.

CREATE TABLE photos (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    election_id BIGINT NOT NULL,
    station_id  BIGINT NOT NULL,
    subject     TEXT   NOT NULL CHECK (subject IN ('ballot', 'observer_copy')),
    pseudonym   TEXT   NOT NULL CHECK (pseudonym ~ '^[0-9a-f]{64}$'),
    blob_id     TEXT   NOT NULL UNIQUE CHECK (blob_id ~ '^[0-9a-f]{32}$'),
    fingerprint TEXT   NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    bytes       BIGINT NOT NULL CHECK (bytes >= 0),
    at          BIGINT NOT NULL,
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
);
CREATE INDEX photos_station ON photos (station_id);
CREATE INDEX photos_subject ON photos (election_id, pseudonym, fingerprint);
CREATE INDEX photos_at ON photos (at);
