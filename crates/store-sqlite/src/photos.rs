//! [`PhotoStore`] on SQLite: the `photos` table of migration `0003_photos`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use talaka_store::elections::{ElectionError, ElectionResult, receipt_fingerprint};
use talaka_store::photos::{NewPhoto, PhotoId, PhotoRecord, PhotoStore, PhotoSubject, check_photo};

use crate::{SqliteStore, corrupt, db, get, is_unique_violation};

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
}
