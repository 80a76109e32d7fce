//! [`PhotoStore`] on PostgreSQL: the `photos` table of migration `0003_photos`, and the review
//! of ballot photos (the `review` columns of `ballot_reports`, migration `0006_photo_review`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_elections::CrowdTally;
use talaka_store::StoreError;
use talaka_store::elections::{ElectionError, ElectionResult, receipt_fingerprint};
use talaka_store::moderation::{PendingPhoto, ReportId, ReviewCounts, ReviewDecision};
use talaka_store::photos::{NewPhoto, PhotoId, PhotoRecord, PhotoStore, PhotoSubject, check_photo};

use crate::elections::PARTICIPANT_LOCK;
use crate::{PgStore, corrupt, db, get, insert_audit, is_unique_violation};

async fn election_id(conn: &mut PgConnection, code: &str) -> ElectionResult<i64> {
    sqlx::query("SELECT id FROM elections WHERE code = $1")
        .bind(code)
        .fetch_optional(conn)
        .await
        .map_err(db)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db)?
        .ok_or_else(|| ElectionError::UnknownElection(code.to_owned()))
}

fn count(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt("ballot_reports", format!("negative count {v}")))
}

const T: &str = "photos";

const PHOTO_SELECT: &str = "SELECT p.id, e.code AS election, s.code AS station, p.subject, \
     p.pseudonym, p.blob_id, p.fingerprint, p.bytes, p.at \
     FROM photos p JOIN elections e ON e.id = p.election_id JOIN stations s ON s.id = p.station_id";

fn photo_from_row(row: &PgRow) -> Result<PhotoRecord, ElectionError> {
    let kind: String = get(row, T, "subject")?;
    let subject = PhotoSubject::from_parts(&kind, get(row, T, "pseudonym")?)
        .ok_or_else(|| corrupt(T, format!("unknown subject {kind:?}")))?;
    let bytes: i64 = get(row, T, "bytes")?;
    Ok(PhotoRecord {
        id: PhotoId(get(row, T, "id")?),
        election: get(row, T, "election")?,
        station: get(row, T, "station")?,
        subject,
        blob: get(row, T, "blob_id")?,
        fingerprint: get(row, T, "fingerprint")?,
        bytes: u64::try_from(bytes).map_err(|_| corrupt(T, "negative size"))?,
        at: get(row, T, "at")?,
    })
}

#[async_trait]
impl PhotoStore for PgStore {
    async fn record_photo(&self, photo: &NewPhoto) -> ElectionResult<PhotoRecord> {
        check_photo(photo)?;
        let mut tx = self.begin().await?;
        let eid: i64 = sqlx::query("SELECT id FROM elections WHERE code = $1")
            .bind(&photo.election)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .ok_or_else(|| ElectionError::UnknownElection(photo.election.clone()))?;
        let sid: i64 = sqlx::query("SELECT id FROM stations WHERE election_id = $1 AND code = $2")
            .bind(eid)
            .bind(&photo.station)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .ok_or_else(|| {
                ElectionError::invalid(format!(
                    "photo: station {:?} is not in election {:?}",
                    photo.station, photo.election
                ))
            })?;
        let bytes = i64::try_from(photo.bytes).unwrap_or(i64::MAX);
        let id: i64 = match sqlx::query(
            "INSERT INTO photos (election_id, station_id, subject, pseudonym, blob_id, \
             fingerprint, bytes, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(eid)
        .bind(sid)
        .bind(photo.subject.kind())
        .bind(photo.subject.pseudonym())
        .bind(&photo.blob)
        .bind(&photo.fingerprint)
        .bind(bytes)
        .bind(photo.at)
        .fetch_one(&mut *tx)
        .await
        {
            Ok(row) => row.try_get(0).map_err(db)?,
            Err(e) if is_unique_violation(&e) => {
                return Err(ElectionError::invalid(
                    "photo: this blob is recorded already",
                ));
            }
            Err(e) => return Err(db(e).into()),
        };
        tx.commit().await.map_err(db)?;
        Ok(PhotoRecord {
            id: PhotoId(id),
            election: photo.election.clone(),
            station: photo.station.clone(),
            subject: photo.subject.clone(),
            blob: photo.blob.clone(),
            fingerprint: photo.fingerprint.clone(),
            bytes: photo.bytes,
            at: photo.at,
        })
    }

    async fn delete_photo(&self, id: PhotoId) -> ElectionResult<bool> {
        let done = sqlx::query("DELETE FROM photos WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn station_photos(
        &self,
        election: &str,
        station: &str,
    ) -> ElectionResult<Vec<PhotoRecord>> {
        sqlx::query(&format!(
            "{PHOTO_SELECT} WHERE e.code = $1 AND s.code = $2 ORDER BY p.id"
        ))
        .bind(election)
        .bind(station)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(photo_from_row)
        .collect()
    }

    async fn photo_by_receipt(
        &self,
        election: &str,
        receipt: &str,
    ) -> ElectionResult<Option<PhotoRecord>> {
        sqlx::query(&format!(
            "{PHOTO_SELECT} JOIN ballot_reports r ON r.election_id = p.election_id \
               AND r.station_id = p.station_id AND r.participant = p.pseudonym \
               AND r.photo_sha256 = p.fingerprint \
             WHERE p.subject = 'ballot' AND e.code = $1 AND r.receipt_fingerprint = $2 \
             ORDER BY p.id DESC LIMIT 1"
        ))
        .bind(election)
        .bind(receipt_fingerprint(receipt))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(photo_from_row)
        .transpose()
    }

    async fn unclaimed_photos(&self, before: i64, limit: u32) -> ElectionResult<Vec<PhotoRecord>> {
        sqlx::query(&format!(
            "{PHOTO_SELECT} WHERE p.at < $1 AND ( \
               (p.subject = 'ballot' AND NOT EXISTS (SELECT 1 FROM ballot_reports r \
                  WHERE r.election_id = p.election_id AND r.station_id = p.station_id \
                  AND r.participant = p.pseudonym AND r.photo_sha256 = p.fingerprint)) \
               OR (p.subject = 'observer_copy' AND NOT EXISTS (SELECT 1 FROM protocols x \
                  WHERE x.station_id = p.station_id AND x.observer = p.pseudonym))) \
             ORDER BY p.id LIMIT $2"
        ))
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(photo_from_row)
        .collect()
    }

    async fn ballot_photo(
        &self,
        election: &str,
        id: PhotoId,
    ) -> ElectionResult<Option<PhotoRecord>> {
        sqlx::query(&format!(
            "{PHOTO_SELECT} WHERE p.id = $1 AND e.code = $2 AND p.subject = 'ballot'"
        ))
        .bind(id.0)
        .bind(election)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(photo_from_row)
        .transpose()
    }

    async fn pending_ballot_photos(
        &self,
        election: &str,
        after: Option<ReportId>,
        limit: u32,
    ) -> ElectionResult<Vec<PendingPhoto>> {
        const R: &str = "ballot_reports";
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let eid = election_id(&mut conn, election).await?;
        let rows = sqlx::query(
            "SELECT r.id, s.code AS station, o.code AS option, r.at, r.duplicate_photo, \
               (SELECT p.id FROM photos p WHERE p.election_id = r.election_id \
                  AND p.pseudonym = r.participant AND p.fingerprint = r.photo_sha256 \
                  AND p.station_id = r.station_id AND p.subject = 'ballot' \
                ORDER BY p.id DESC LIMIT 1) AS photo_id \
             FROM ballot_reports r \
             JOIN stations s ON s.id = r.station_id \
             JOIN ballot_options o ON o.id = r.option_id \
             WHERE r.election_id = $1 AND r.counted AND r.photo_sha256 IS NOT NULL \
               AND r.review IS NULL AND r.id > $2 \
             ORDER BY r.id LIMIT $3",
        )
        .bind(eid)
        .bind(after.map_or(0, |r| r.0))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(PendingPhoto {
                    report: ReportId(get(row, R, "id")?),
                    photo: get::<Option<i64>>(row, R, "photo_id")?.map(PhotoId),
                    station: get(row, R, "station")?,
                    option: get(row, R, "option")?,
                    at: get(row, R, "at")?,
                    duplicate_photo: get(row, R, "duplicate_photo")?,
                })
            })
            .collect()
    }

    async fn review_ballot_photo(
        &self,
        election: &str,
        report: ReportId,
        decision: ReviewDecision,
        reviewer: UserId,
        audit: &NewAudit,
    ) -> ElectionResult<()> {
        const R: &str = "ballot_reports";
        let mut tx = self.begin().await?;
        let eid = election_id(&mut tx, election).await?;
        let row = sqlx::query(
            "SELECT participant, review FROM ballot_reports \
             WHERE id = $1 AND election_id = $2 AND photo_sha256 IS NOT NULL",
        )
        .bind(report.0)
        .bind(eid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        if get::<Option<String>>(&row, R, "review")?.is_some() {
            return Err(StoreError::Conflict("photo review").into());
        }
        // The participant's lock first, as `submit_ballot_reports` takes it: no batch of theirs
        // can then be switching this report's `counted`, and the counter row the trigger
        // updates is taken last, after the report's row, so nothing waits in a cycle.
        let participant: String = get(&row, R, "participant")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(PARTICIPANT_LOCK)
            .bind(&participant)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Setting `verification` fires the counters' update trigger (0005), which takes the
        // report out of `verified` in the same transaction.
        let sql = match decision {
            ReviewDecision::Confirm => {
                "UPDATE ballot_reports SET review = $1, reviewed_by = $2, reviewed_at = $3 \
                 WHERE id = $4 AND review IS NULL"
            }
            ReviewDecision::Reject => {
                "UPDATE ballot_reports SET review = $1, reviewed_by = $2, reviewed_at = $3, \
                 verification = 'unverified' WHERE id = $4 AND review IS NULL"
            }
        };
        let done = sqlx::query(sql)
            .bind(decision.as_str())
            .bind(reviewer.0)
            .bind(audit.at.0)
            .bind(report.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() != 1 {
            // Another reviewer decided in between (the row lock made us wait for them).
            return Err(StoreError::Conflict("photo review").into());
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn photo_review_counts(
        &self,
        election: &str,
        station: Option<&str>,
    ) -> ElectionResult<ReviewCounts> {
        const R: &str = "ballot_reports";
        // By station through its index; for the whole election through the review index.
        let scope = if station.is_some() {
            "r.station_id = (SELECT s.id FROM stations s WHERE s.election_id = r.election_id \
             AND s.code = $2)"
        } else {
            "$2::TEXT IS NULL"
        };
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) FILTER (WHERE r.review IS NULL) AS pending, \
                    COUNT(*) FILTER (WHERE r.review = 'confirmed') AS confirmed, \
                    COUNT(*) FILTER (WHERE r.review = 'rejected') AS rejected \
             FROM ballot_reports r \
             WHERE r.election_id = (SELECT id FROM elections WHERE code = $1) \
               AND r.counted AND r.photo_sha256 IS NOT NULL AND {scope}"
        ))
        .bind(election)
        .bind(station)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(ReviewCounts {
            pending: count(get(&row, R, "pending")?)?,
            confirmed: count(get(&row, R, "confirmed")?)?,
            rejected: count(get(&row, R, "rejected")?)?,
        })
    }

    async fn confirmed_photo_counts(
        &self,
        election: &str,
        station: Option<&str>,
    ) -> ElectionResult<Vec<CrowdTally>> {
        const R: &str = "ballot_reports";
        let scope = if station.is_some() {
            "r.station_id = (SELECT s2.id FROM stations s2 WHERE s2.election_id = r.election_id \
             AND s2.code = $2)"
        } else {
            "$2::TEXT IS NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT s.code AS station, o.code AS option, COUNT(*) AS n \
             FROM ballot_reports r \
             JOIN stations s ON s.id = r.station_id \
             JOIN ballot_options o ON o.id = r.option_id \
             WHERE r.election_id = (SELECT id FROM elections WHERE code = $1) \
               AND r.counted AND r.photo_sha256 IS NOT NULL AND r.review = 'confirmed' \
               AND r.verification = 'photo_verified' AND NOT r.duplicate_photo AND {scope} \
             GROUP BY s.id, s.code, o.id, o.code, o.position \
             ORDER BY s.id, o.position, o.id"
        ))
        .bind(election)
        .bind(station)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut out: Vec<CrowdTally> = Vec::new();
        for row in &rows {
            let station: String = get(row, R, "station")?;
            let option: String = get(row, R, "option")?;
            let n = u32::try_from(count(get(row, R, "n")?)?)
                .map_err(|_| corrupt(R, "count out of range"))?;
            match out.last_mut() {
                Some(t) if t.station == station => t.verified.push((option, n)),
                _ => out.push(CrowdTally {
                    station,
                    reported: Vec::new(),
                    verified: vec![(option, n)],
                }),
            }
        }
        Ok(out)
    }
}
