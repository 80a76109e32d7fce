-- Photo records: which encrypted blob (a file in the blob folder, named by a random id) backs
-- which ballot report or observer's protocol copy. The photo itself is never in the database.
-- A record names its subject as the elections tables do: a ballot photo by the participant's
-- pseudonym and the photo's fingerprint (equal to the report's photo_sha256), an observer's
-- photo by the observer's pseudonym and the station (the key of their copy). The fingerprint is
-- a keyed hash (HMAC-SHA-256 under the installation key) of the photo's SHA-256, so the file
-- alone cannot confirm that a given photo was sent.

CREATE TABLE photos (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    election_id INTEGER NOT NULL,
    station_id  INTEGER NOT NULL,
    subject     TEXT    NOT NULL CHECK (subject IN ('ballot', 'observer_copy')),
    pseudonym   TEXT    NOT NULL
        CHECK (length(pseudonym) = 64 AND pseudonym NOT GLOB '*[^0-9a-f]*'),
    blob_id     TEXT    NOT NULL UNIQUE
        CHECK (length(blob_id) = 32 AND blob_id NOT GLOB '*[^0-9a-f]*'),
    fingerprint TEXT    NOT NULL
        CHECK (length(fingerprint) = 64 AND fingerprint NOT GLOB '*[^0-9a-f]*'),
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    at          INTEGER NOT NULL,
    FOREIGN KEY (station_id, election_id) REFERENCES stations (id, election_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX photos_station ON photos (station_id);
CREATE INDEX photos_subject ON photos (election_id, pseudonym, fingerprint);
CREATE INDEX photos_at ON photos (at);
