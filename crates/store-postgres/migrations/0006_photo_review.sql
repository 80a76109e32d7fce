-- Review of ballot photos (talaka_store::moderation), as SQLite's 0007_photo_review. A report
-- with a photo (`photo_sha256` set) is pending while `review` is NULL; a reviewer confirms or
-- rejects it once, and their user id and the time are kept. A rejection also sets
-- `verification` to 'unverified' in the same transaction, so the counters of 0005 follow
-- through their update trigger (it fires on `verification`). Adding nullable columns without
-- a default rewrites no rows.
ALTER TABLE ballot_reports
    ADD COLUMN review TEXT CHECK (review IN ('confirmed', 'rejected')),
    ADD COLUMN reviewed_by BIGINT REFERENCES users (id),
    ADD COLUMN reviewed_at BIGINT;

-- The queue (pending, oldest first) and the counts by state, over counted photo reports only.
CREATE INDEX ballot_reports_review ON ballot_reports (election_id, review, id)
    WHERE counted AND photo_sha256 IS NOT NULL;
