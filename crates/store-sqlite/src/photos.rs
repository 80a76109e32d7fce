//! [`PhotoStore`] on SQLite: the `photos` table of migration `0003_photos`, and the review of
//! ballot photos (the `review` columns of `ballot_reports`, migration `0007_photo_review`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_elections::CrowdTally;
use talaka_store::StoreError;
use talaka_store::elections::{ElectionError, ElectionResult, receipt_fingerprint};
use talaka_store::moderation::{PendingPhoto, ReportId, ReviewCounts, ReviewDecision};
use talaka_store::photos::{NewPhoto, PhotoId, PhotoRecord, PhotoStore, PhotoSubject, check_photo};

use crate::{SqliteStore, corrupt, db, get, insert_audit, is_unique_violation};

async fn election_id(conn: &mut SqliteConnection, code: &str) -> ElectionResult<i64> {
    sqlx::query("SELECT id FROM elections WHERE code = ?")
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

fn photo_from_row(row: &SqliteRow) -> Result<PhotoRecord, ElectionError> {
    let kind: String = get(row, "subject")?;
    let subject = PhotoSubject::from_parts(&kind, get(row, "pseudonym")?)
        .ok_or_else(|| corrupt(T, format!("unknown subject {kind:?}")))?;
    let bytes: i64 = get(row, "bytes")?;
    Ok(PhotoRecord {
        id: PhotoId(get(row, "id")?),
        election: get(row, "election")?,
        station: get(row, "station")?,
        subject,
        blob: get(row, "blob_id")?,
        fingerprint: get(row, "fingerprint")?,
        bytes: u64::try_from(bytes).map_err(|_| corrupt(T, "negative size"))?,
        at: get(row, "at")?,
    })
}

#[async_trait]
impl PhotoStore for SqliteStore {
    async fn record_photo(&self, photo: &NewPhoto) -> ElectionResult<PhotoRecord> {
        check_photo(photo)?;
        let mut tx = self.write_tx().await?;
        let eid: i64 = sqlx::query("SELECT id FROM elections WHERE code = ?")
            .bind(&photo.election)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .ok_or_else(|| ElectionError::UnknownElection(photo.election.clone()))?;
        let sid: i64 = sqlx::query("SELECT id FROM stations WHERE election_id = ? AND code = ?")
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
             fingerprint, bytes, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        let done = sqlx::query("DELETE FROM photos WHERE id = ?")
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
            "{PHOTO_SELECT} WHERE e.code = ? AND s.code = ? ORDER BY p.id"
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
             WHERE p.subject = 'ballot' AND e.code = ? AND r.receipt_fingerprint = ? \
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
            "{PHOTO_SELECT} WHERE p.at < ? AND ( \
               (p.subject = 'ballot' AND NOT EXISTS (SELECT 1 FROM ballot_reports r \
                  WHERE r.election_id = p.election_id AND r.station_id = p.station_id \
                  AND r.participant = p.pseudonym AND r.photo_sha256 = p.fingerprint)) \
               OR (p.subject = 'observer_copy' AND NOT EXISTS (SELECT 1 FROM protocols x \
                  WHERE x.station_id = p.station_id AND x.observer = p.pseudonym))) \
             ORDER BY p.id LIMIT ?"
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
            "{PHOTO_SELECT} WHERE p.id = ? AND e.code = ? AND p.subject = 'ballot'"
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
             WHERE r.election_id = ? AND r.counted = 1 AND r.photo_sha256 IS NOT NULL \
               AND r.review IS NULL AND r.id > ? \
             ORDER BY r.id LIMIT ?",
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
                    report: ReportId(get(row, "id")?),
                    photo: get::<Option<i64>>(row, "photo_id")?.map(PhotoId),
                    station: get(row, "station")?,
                    option: get(row, "option")?,
                    at: get(row, "at")?,
                    duplicate_photo: get::<i64>(row, "duplicate_photo")? != 0,
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
        let mut tx = self.write_tx().await?;
        let eid = election_id(&mut tx, election).await?;
        let row = sqlx::query(
            "SELECT review FROM ballot_reports \
             WHERE id = ? AND election_id = ? AND photo_sha256 IS NOT NULL",
        )
        .bind(report.0)
        .bind(eid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        if get::<Option<String>>(&row, "review")?.is_some() {
            return Err(StoreError::Conflict("photo review").into());
        }
        // Setting `verification` fires the counters' update trigger (0004), which takes the
        // report out of `verified` in the same transaction.
        let sql = match decision {
            ReviewDecision::Confirm => {
                "UPDATE ballot_reports SET review = ?, reviewed_by = ?, reviewed_at = ? \
                 WHERE id = ? AND review IS NULL"
            }
            ReviewDecision::Reject => {
                "UPDATE ballot_reports SET review = ?, reviewed_by = ?, reviewed_at = ?, \
                 verification = 'unverified' WHERE id = ? AND review IS NULL"
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
        // By station through its index; for the whole election through the review index.
        let scope = if station.is_some() {
            "r.station_id = (SELECT s.id FROM stations s WHERE s.election_id = r.election_id \
             AND s.code = ?)"
        } else {
            "? IS NULL"
        };
        let row = sqlx::query(&format!(
            "SELECT COALESCE(SUM(r.review IS NULL), 0) AS pending, \
                    COALESCE(SUM(r.review = 'confirmed'), 0) AS confirmed, \
                    COALESCE(SUM(r.review = 'rejected'), 0) AS rejected \
             FROM ballot_reports r \
             WHERE r.election_id = (SELECT id FROM elections WHERE code = ?) \
               AND r.counted = 1 AND r.photo_sha256 IS NOT NULL AND {scope}"
        ))
        .bind(election)
        .bind(station)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(ReviewCounts {
            pending: count(get(&row, "pending")?)?,
            confirmed: count(get(&row, "confirmed")?)?,
            rejected: count(get(&row, "rejected")?)?,
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
             AND s2.code = ?)"
        } else {
            "? IS NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT s.code AS station, o.code AS option, COUNT(*) AS n \
             FROM ballot_reports r \
             JOIN stations s ON s.id = r.station_id \
             JOIN ballot_options o ON o.id = r.option_id \
             WHERE r.election_id = (SELECT id FROM elections WHERE code = ?) \
               AND r.counted = 1 AND r.photo_sha256 IS NOT NULL AND r.review = 'confirmed' \
               AND r.verification = 'photo_verified' AND r.duplicate_photo = 0 AND {scope} \
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
            let station: String = get(row, "station")?;
            let option: String = get(row, "option")?;
            let n = u32::try_from(count(get(row, "n")?)?)
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
