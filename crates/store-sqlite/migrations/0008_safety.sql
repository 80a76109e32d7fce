-- The Safety module (talaka_store::safety). Personal data arrives sealed (BLOB columns the
-- database cannot read); what is readable is only what is queried on: keyed pseudonyms,
-- fingerprints, states and times.

-- People registered with the safety bot.
CREATE TABLE safety_people (
    id                INTEGER PRIMARY KEY,
    pseudonym         TEXT    NOT NULL UNIQUE,
    person_ref        TEXT    NOT NULL UNIQUE,
    details           BLOB    NOT NULL,
    reach             BLOB    NOT NULL,
    organisation      TEXT    NOT NULL,
    checkin_code_hash TEXT    NOT NULL,
    duress_code_hash  TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Trusted contacts; one per address per person. `/forget` deletes them with the person.
CREATE TABLE safety_contacts (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES safety_people (id) ON DELETE CASCADE,
    channel     TEXT    NOT NULL CHECK (channel IN ('telegram', 'email')),
    pseudonym   TEXT,
    address_key TEXT    NOT NULL,
    address     BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (person_id, address_key)
) STRICT;
-- Whom a Telegram user watches over.
CREATE INDEX safety_contacts_pseudonym ON safety_contacts (pseudonym) WHERE pseudonym IS NOT NULL;

-- At most one live invite per person (the primary key), found by its code's fingerprint.
CREATE TABLE safety_contact_invites (
    person_id   INTEGER PRIMARY KEY REFERENCES safety_people (id) ON DELETE CASCADE,
    fingerprint TEXT    NOT NULL UNIQUE,
    expires_at  INTEGER NOT NULL
) STRICT;

-- Check-in schedules. `due_at` is the next event (warning, then firing), NULL once fired.
CREATE TABLE safety_schedules (
    person_id      INTEGER PRIMARY KEY REFERENCES safety_people (id) ON DELETE CASCADE,
    interval_ms    INTEGER NOT NULL,
    warn_before_ms INTEGER NOT NULL,
    grace_ms       INTEGER NOT NULL,
    deadline       INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('armed', 'warned', 'fired')),
    due_at         INTEGER
) STRICT;
-- Due schedules are one range scan over this index: fired schedules are not in it, and the
-- cost depends on how many are due, not on how many are armed.
CREATE INDEX safety_schedules_due ON safety_schedules (due_at) WHERE due_at IS NOT NULL;

-- Detention cases. Forgetting a person keeps the case (its snapshot) and unlinks it.
CREATE TABLE safety_cases (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER REFERENCES safety_people (id) ON DELETE SET NULL,
    person_ref    TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('reported', 'confirmed', 'in_custody',
                      'court', 'sentenced', 'released', 'closed')),
    details       BLOB,
    custody       BLOB,
    court_date    TEXT,
    sentence      BLOB,
    assigned_to   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    merged_into   INTEGER REFERENCES safety_cases (id),
    public_listed INTEGER NOT NULL DEFAULT 0 CHECK (public_listed IN (0, 1)),
    opened_at     INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    purged_at     INTEGER
) STRICT;
CREATE INDEX safety_cases_person ON safety_cases (person_id) WHERE person_id IS NOT NULL;
CREATE INDEX safety_cases_activity ON safety_cases (updated_at);
CREATE INDEX safety_cases_retention ON safety_cases (closed_at)
    WHERE closed_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX safety_cases_public ON safety_cases (id) WHERE public_listed = 1;

CREATE TABLE safety_alerts (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES safety_cases (id),
    person_id    INTEGER REFERENCES safety_people (id) ON DELETE SET NULL,
    trigger_kind TEXT    NOT NULL
        CHECK (trigger_kind IN ('self', 'contact', 'missed_checkin', 'duress')),
    by_contact   INTEGER REFERENCES safety_contacts (id) ON DELETE SET NULL,
    state        TEXT    NOT NULL
        CHECK (state IN ('pending', 'active', 'cancelled', 'stood_down')),
    raised_at    INTEGER NOT NULL,
    deliver_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX safety_alerts_person ON safety_alerts (person_id, state) WHERE person_id IS NOT NULL;
CREATE INDEX safety_alerts_case ON safety_alerts (case_id);
CREATE INDEX safety_alerts_contact ON safety_alerts (by_contact) WHERE by_contact IS NOT NULL;

-- One message to one recipient. Alert and stand-down rows belong to an alert; check-in
-- warnings to a person (and go with them on `/forget`). `due_at` is the one indexed time the
-- worker claims by: next_attempt_at while pending, lease_until while sending, NULL otherwise.
CREATE TABLE safety_deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER REFERENCES safety_alerts (id) ON DELETE CASCADE,
    person_id       INTEGER REFERENCES safety_people (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN ('alert', 'stand_down', 'checkin_warning')),
    channel         TEXT    NOT NULL CHECK (channel IN ('telegram', 'email')),
    label           TEXT    NOT NULL,
    address_key     TEXT    NOT NULL,
    address         BLOB    NOT NULL,
    -- What `address` is sealed to (an alert's person_ref stays right after a case merge).
    person_ref      TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL
        CHECK (status IN ('pending', 'sending', 'sent', 'cancelled', 'escalated')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    due_at          INTEGER,
    last_error      TEXT,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    CHECK ((alert_id IS NULL) <> (person_id IS NULL))
) STRICT;
CREATE INDEX safety_deliveries_due ON safety_deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX safety_deliveries_alert ON safety_deliveries (alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX safety_deliveries_person ON safety_deliveries (person_id) WHERE person_id IS NOT NULL;

-- A case's timeline. Summaries carry no personal data; a note's text is sealed.
CREATE TABLE safety_case_events (
    id       INTEGER PRIMARY KEY,
    case_id  INTEGER NOT NULL REFERENCES safety_cases (id),
    at       INTEGER NOT NULL,
    actor    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    kind     TEXT    NOT NULL,
    summary  TEXT    NOT NULL,
    sealed   BLOB
) STRICT;
CREATE INDEX safety_case_events_case ON safety_case_events (case_id, at, id);
