-- Review of ballot photos (talaka_store::moderation). A report with a photo (`photo_sha256`
-- set) is pending while `review` is NULL; a reviewer confirms or rejects it once, and their
-- user id and the time are kept. A rejection also sets `verification` to 'unverified' in the
-- same transaction, so the counters of 0004 follow through their update trigger (it fires on
-- `verification`). Reports without a photo keep NULL here and are never queued.
ALTER TABLE ballot_reports ADD COLUMN review TEXT
    CHECK (review IS NULL OR review IN ('confirmed', 'rejected'));
ALTER TABLE ballot_reports ADD COLUMN reviewed_by INTEGER REFERENCES users (id);
ALTER TABLE ballot_reports ADD COLUMN reviewed_at INTEGER;

-- The queue (pending, oldest first) and the counts by state, over counted photo reports only:
-- reports without a photo, the bulk of them, never enter this index.
CREATE INDEX ballot_reports_review ON ballot_reports (election_id, review, id)
    WHERE counted = 1 AND photo_sha256 IS NOT NULL;
