//! [`ElectionStore`] on SQLite. The import reads what is stored for the election inside its
//! IMMEDIATE transaction, lets [`plan_import`] decide, and writes the plan with multi-row
//! `INSERT`s (a few hundred rows per statement, prepared once per shape) and single-row
//! `UPDATE`s for the rows that changed. Any error drops the transaction: nothing is written.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use talaka_core::audit::NewAudit;
use talaka_elections::{
    Area, BallotOption, BallotReport, Coordinates, CrowdTally, ElectionDataset, ElectionInfo,
    ExitPollTally, Protocol, ProtocolFigures, ProtocolSource, Station,
};
use talaka_store::StoreError;
use talaka_store::elections::{
    Change, ElectionError, ElectionResult, ElectionStore, ElectionSummary, ImportSummary,
    PROTOCOL_LINES, ReportReceipt, ReportStatus, ReportsSummary, StationEvidence, StationFilter,
    StationListing, StationPage, area_kind_str, check_report, count_from_parts, count_parts,
    like_contains, new_receipt, observer_of, option_kind_str, parse_area_kind, parse_option_kind,
    parse_verification, plan_import, protocol_lines, receipt_fingerprint, search_key, stored_id,
    verification_str,
};

use crate::{SqliteStore, corrupt, db, get, insert_audit};

/// Most rows in one multi-row `INSERT`.
const MAX_BATCH_ROWS: usize = 500;
/// SQLite's default limit on bound parameters per statement is 32766.
const MAX_BATCH_PARAMS: usize = 30_000;

fn u32_of(table: &'static str, col: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("{col} out of range: {v}")))
}

fn opt_u32(table: &'static str, col: &str, v: Option<i64>) -> Result<Option<u32>, StoreError> {
    v.map(|v| u32_of(table, col, v)).transpose()
}

fn u64_of(v: i64) -> u64 {
    v.unsigned_abs()
}

/// Insert `rows` in chunks with one multi-row `INSERT` each: `head` is `INSERT INTO t (a, b) `,
/// `push` binds one row's `cols` values, `tail` may add `RETURNING …` (its rows come back).
async fn insert_batch<T>(
    conn: &mut SqliteConnection,
    head: &str,
    cols: usize,
    rows: &[T],
    tail: &str,
    mut push: impl FnMut(&mut Separated<'_, 'static, Sqlite, &'static str>, &T),
) -> Result<Vec<SqliteRow>, StoreError> {
    let per = (MAX_BATCH_PARAMS / cols.max(1)).clamp(1, MAX_BATCH_ROWS);
    let mut out = Vec::new();
    for chunk in rows.chunks(per) {
        let mut qb: QueryBuilder<'static, Sqlite> = QueryBuilder::new(head);
        qb.push_values(chunk, |mut b, row| push(&mut b, row));
        qb.push(tail);
        if tail.is_empty() {
            qb.build().execute(&mut *conn).await.map_err(db)?;
        } else {
            out.extend(qb.build().fetch_all(&mut *conn).await.map_err(db)?);
        }
    }
    Ok(out)
}

/// `code → id` for one kind of row of an election.
async fn id_map(
    conn: &mut SqliteConnection,
    table: &'static str,
    election: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT code, id FROM {table} WHERE election_id = ?"
    ))
    .bind(election)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| Ok((get::<String>(r, "code")?, get::<i64>(r, "id")?)))
        .collect()
}

struct ElectionRow {
    id: i64,
    info: ElectionInfo,
}

async fn election_row(
    conn: &mut SqliteConnection,
    code: &str,
) -> Result<Option<ElectionRow>, StoreError> {
    let Some(row) = sqlx::query("SELECT id, code, name, date FROM elections WHERE code = ?")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let id: i64 = get(&row, "id")?;
    let options = sqlx::query(
        "SELECT code, name, kind FROM ballot_options WHERE election_id = ? ORDER BY position, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        let kind: String = get(r, "kind")?;
        Ok(BallotOption {
            code: get(r, "code")?,
            name: get(r, "name")?,
            kind: parse_option_kind(&kind)
                .ok_or_else(|| corrupt("ballot_options", format!("unknown kind {kind:?}")))?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ElectionRow {
        id,
        info: ElectionInfo {
            code: get(&row, "code")?,
            name: get(&row, "name")?,
            date: get(&row, "date")?,
            options,
        },
    }))
}

/// An election's options in ballot order, from `id, code` rows already in that order.
struct BallotOrder {
    rank: HashMap<i64, usize>,
    codes: Vec<String>,
}

impl BallotOrder {
    fn from_rows(rows: &[SqliteRow]) -> Result<Self, StoreError> {
        let mut rank = HashMap::with_capacity(rows.len());
        let mut codes = Vec::with_capacity(rows.len());
        for row in rows {
            rank.insert(get(row, "id")?, codes.len());
            codes.push(get(row, "code")?);
        }
        Ok(Self { rank, codes })
    }

    /// A `group_concat(option_id || ' ' || …, ' ')` of `table` read back: each option's code
    /// with the `N` integers after its id, in ballot order.
    fn groups<const N: usize>(
        &self,
        table: &'static str,
        text: &str,
    ) -> Result<Vec<(&str, [i64; N])>, StoreError> {
        let bad = || corrupt(table, format!("unreadable list: {text}"));
        let numbers: Vec<i64> = text
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if !numbers.len().is_multiple_of(N + 1) {
            return Err(bad());
        }
        let mut out = numbers
            .chunks_exact(N + 1)
            .map(|g| {
                let rank = *self
                    .rank
                    .get(&g[0])
                    .ok_or_else(|| corrupt(table, format!("unknown option {}", g[0])))?;
                let values: [i64; N] = g[1..].try_into().map_err(|_| bad())?;
                Ok((rank, values))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_unstable_by_key(|(rank, _)| *rank);
        Ok(out
            .into_iter()
            .map(|(rank, values)| (self.codes[rank].as_str(), values))
            .collect())
    }
}

/// Which rows a loader reads: a whole election's or one station's.
#[derive(Clone, Copy)]
enum Scope {
    Election(i64),
    Station(i64),
}

impl Scope {
    /// The condition on a table aliased `alias` that has `election_id` and `station_id`.
    fn cond(self, alias: &str) -> String {
        match self {
            Scope::Election(_) => format!("{alias}.election_id = ?"),
            Scope::Station(_) => format!("{alias}.station_id = ?"),
        }
    }

    fn id(self) -> i64 {
        match self {
            Scope::Election(id) | Scope::Station(id) => id,
        }
    }
}

const STATION_SELECT: &str = "SELECT s.id, s.code, s.name, a.code AS area, s.abroad, \
     s.registered, s.lat, s.lon FROM stations s LEFT JOIN areas a ON a.id = s.area_id";

fn station_from_row(row: &SqliteRow) -> Result<Station, StoreError> {
    const T: &str = "stations";
    let lat: Option<f64> = get(row, "lat")?;
    let lon: Option<f64> = get(row, "lon")?;
    Ok(Station {
        code: get(row, "code")?,
        name: get(row, "name")?,
        area: get(row, "area")?,
        abroad: get(row, "abroad")?,
        registered: opt_u32(T, "registered", get(row, "registered")?)?,
        coordinates: match (lat, lon) {
            (Some(lat), Some(lon)) => Some(Coordinates { lat, lon }),
            _ => None,
        },
    })
}

fn area_from_row(row: &SqliteRow) -> Result<Area, StoreError> {
    let kind: String = get(row, "kind")?;
    Ok(Area {
        code: get(row, "code")?,
        name: get(row, "name")?,
        kind: parse_area_kind(&kind)
            .ok_or_else(|| corrupt("areas", format!("unknown kind {kind:?}")))?,
        parent: get(row, "parent")?,
    })
}

async fn load_protocols(
    conn: &mut SqliteConnection,
    scope: Scope,
) -> Result<Vec<Protocol>, StoreError> {
    const T: &str = "protocols";
    let lines = PROTOCOL_LINES
        .iter()
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT p.id, s.code AS station, p.observer, {lines} \
         FROM protocols p JOIN stations s ON s.id = p.station_id \
         WHERE {} ORDER BY p.station_id, p.observer IS NOT NULL, p.id",
        scope.cond("p")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut index = HashMap::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut l = [None; 13];
        for (slot, col) in l.iter_mut().zip(PROTOCOL_LINES) {
            *slot = opt_u32(T, col, get(row, col)?)?;
        }
        let observer: Option<String> = get(row, "observer")?;
        index.insert(get::<i64>(row, "id")?, out.len());
        out.push(Protocol {
            station: get(row, "station")?,
            source: match observer {
                None => ProtocolSource::Official,
                Some(observer) => ProtocolSource::ObserverCopy { observer },
            },
            figures: ProtocolFigures::from_lines(l, Vec::new()),
        });
    }
    if out.is_empty() {
        return Ok(out);
    }
    // The ballot's options of the election these protocols belong to.
    let order = BallotOrder::from_rows(
        &sqlx::query(&format!(
            "SELECT o.id, o.code FROM ballot_options o WHERE o.election_id = \
               (SELECT p.election_id FROM protocols p WHERE {} LIMIT 1) \
             ORDER BY o.position, o.id",
            scope.cond("p")
        ))
        .bind(scope.id())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?,
    )?;
    // One row per protocol, its votes as `option votes …` (a fifth of the rows of one per
    // vote: every row costs a hand-over from SQLite's thread).
    let votes = sqlx::query(&format!(
        "SELECT v.protocol_id, group_concat(v.option_id || ' ' || v.votes, ' ') AS votes \
         FROM protocol_votes v JOIN protocols p ON p.id = v.protocol_id \
         WHERE {} GROUP BY v.protocol_id",
        scope.cond("p")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for row in &votes {
        let id: i64 = get(row, "protocol_id")?;
        let i = *index
            .get(&id)
            .ok_or_else(|| corrupt("protocol_votes", format!("votes of missing protocol {id}")))?;
        let text: String = get(row, "votes")?;
        out[i].figures.votes = order
            .groups::<1>("protocol_votes", &text)?
            .into_iter()
            .map(|(code, [n])| Ok((code.to_owned(), u32_of("protocol_votes", "votes", n)?)))
            .collect::<Result<_, StoreError>>()?;
    }
    Ok(out)
}

async fn load_crowd(
    conn: &mut SqliteConnection,
    scope: Scope,
) -> Result<Vec<CrowdTally>, StoreError> {
    const T: &str = "crowd_tallies";
    let rows = sqlx::query(&format!(
        "SELECT s.code AS station, o.code AS option, c.reported, c.verified \
         FROM crowd_tallies c JOIN stations s ON s.id = c.station_id \
         JOIN ballot_options o ON o.id = c.option_id \
         WHERE {} ORDER BY c.station_id, o.position, o.id",
        scope.cond("c")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut out: Vec<CrowdTally> = Vec::new();
    for row in &rows {
        let station: String = get(row, "station")?;
        let option: String = get(row, "option")?;
        if out.last().is_none_or(|t| t.station != station) {
            out.push(CrowdTally {
                station,
                ..CrowdTally::default()
            });
        }
        let t = out.last_mut().ok_or_else(|| corrupt(T, "no tally"))?;
        if let Some(n) = opt_u32(T, "reported", get(row, "reported")?)? {
            t.reported.push((option.clone(), n));
        }
        if let Some(n) = opt_u32(T, "verified", get(row, "verified")?)? {
            t.verified.push((option, n));
        }
    }
    Ok(out)
}

async fn load_exit_polls(
    conn: &mut SqliteConnection,
    scope: Scope,
) -> Result<Vec<ExitPollTally>, StoreError> {
    const T: &str = "exit_poll_tallies";
    let rows = sqlx::query(&format!(
        "SELECT t.id, s.code AS station, t.time_window, t.surveyed, t.declined, \
                t.spoiled_or_unknown, t.counted_kind, t.counted_value \
         FROM exit_poll_tallies t JOIN stations s ON s.id = t.station_id \
         WHERE {} ORDER BY t.station_id, t.id",
        scope.cond("t")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut index = HashMap::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: Option<String> = get(row, "counted_kind")?;
        let value = opt_u32(T, "counted_value", get(row, "counted_value")?)?;
        let counted_at_exit = match (kind, value) {
            (Some(k), Some(v)) => Some(
                count_from_parts(&k, v)
                    .ok_or_else(|| corrupt(T, format!("unknown count kind {k:?}")))?,
            ),
            _ => None,
        };
        index.insert(get::<i64>(row, "id")?, out.len());
        out.push(ExitPollTally {
            station: get(row, "station")?,
            window: get(row, "time_window")?,
            surveyed: u32_of(T, "surveyed", get(row, "surveyed")?)?,
            answers: Vec::new(),
            declined: u32_of(T, "declined", get(row, "declined")?)?,
            spoiled_or_unknown: u32_of(T, "spoiled_or_unknown", get(row, "spoiled_or_unknown")?)?,
            counted_at_exit,
        });
    }
    let answers = sqlx::query(&format!(
        "SELECT a.tally_id, o.code, a.answers FROM exit_poll_answers a \
         JOIN exit_poll_tallies t ON t.id = a.tally_id JOIN ballot_options o ON o.id = a.option_id \
         WHERE {} ORDER BY a.tally_id, o.position, o.id",
        scope.cond("t")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for row in &answers {
        let id: i64 = get(row, "tally_id")?;
        let i = *index.get(&id).ok_or_else(|| {
            corrupt(
                "exit_poll_answers",
                format!("answers of missing tally {id}"),
            )
        })?;
        out[i].answers.push((
            get(row, "code")?,
            u32_of("exit_poll_answers", "answers", get(row, "answers")?)?,
        ));
    }
    Ok(out)
}

async fn load_dataset(
    conn: &mut SqliteConnection,
    election: ElectionRow,
) -> Result<ElectionDataset, StoreError> {
    let id = election.id;
    let mut d = ElectionDataset::new(election.info);
    d.areas = sqlx::query(
        "SELECT a.code, a.name, a.kind, p.code AS parent FROM areas a \
         LEFT JOIN areas p ON p.id = a.parent_id WHERE a.election_id = ? ORDER BY a.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(area_from_row)
    .collect::<Result<_, _>>()?;
    d.stations = sqlx::query(&format!(
        "{STATION_SELECT} WHERE s.election_id = ? ORDER BY s.id"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(station_from_row)
    .collect::<Result<_, _>>()?;
    d.protocols = load_protocols(conn, Scope::Election(id)).await?;
    d.crowd = load_crowd(conn, Scope::Election(id)).await?;
    d.exit_polls = load_exit_polls(conn, Scope::Election(id)).await?;
    Ok(d)
}

/// Distinct codes per `IN (…)` list, well under SQLite's parameter limit.
const MAX_IN_LIST: usize = 10_000;

/// `code → id` for the distinct `codes`, with `select` = `SELECT code, id FROM t WHERE
/// election_id = ` (the election and the code list are appended). Unknown codes are left out.
async fn ids_by_code<'a>(
    conn: &mut SqliteConnection,
    select: &'static str,
    election: i64,
    codes: impl Iterator<Item = &'a str>,
) -> ElectionResult<HashMap<String, i64>> {
    let mut distinct: Vec<&str> = codes.collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut out = HashMap::with_capacity(distinct.len());
    for chunk in distinct.chunks(MAX_IN_LIST) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(select);
        qb.push_bind(election).push(" AND code IN (");
        let mut list = qb.separated(", ");
        for code in chunk {
            list.push_bind(*code);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await.map_err(db)? {
            out.insert(get::<String>(&row, "code")?, get::<i64>(&row, "id")?);
        }
    }
    Ok(out)
}

/// A participant's report as it will be inserted.
struct ReportRow {
    participant: String,
    station: i64,
    option: i64,
    verification: &'static str,
    photo: Option<String>,
    duplicate_photo: bool,
    at: i64,
    fingerprint: String,
    counted: bool,
}

/// For each of `photos` already stored in the election: each participant who sent it, with the
/// duplicate flag of their first sending, in the order they first sent it.
async fn photos_seen<'a>(
    conn: &mut SqliteConnection,
    election: i64,
    photos: impl Iterator<Item = &'a str>,
) -> ElectionResult<HashMap<String, Vec<(String, bool)>>> {
    let mut distinct: Vec<&str> = photos.collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut out: HashMap<String, Vec<(String, bool)>> = HashMap::new();
    for chunk in distinct.chunks(MAX_IN_LIST) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "SELECT photo_sha256, participant, duplicate_photo FROM ballot_reports \
             WHERE election_id = ",
        );
        qb.push_bind(election).push(" AND photo_sha256 IN (");
        let mut list = qb.separated(", ");
        for h in chunk {
            list.push_bind(*h);
        }
        qb.push(") ORDER BY id");
        for row in qb.build().fetch_all(&mut *conn).await.map_err(db)? {
            let list = out.entry(get::<String>(&row, "photo_sha256")?).or_default();
            let who: String = get(&row, "participant")?;
            if !list.iter().any(|(p, _)| *p == who) {
                list.push((who, get::<bool>(&row, "duplicate_photo")?));
            }
        }
    }
    Ok(out)
}

/// Each participant's counted report in the election: `participant → (id, at)`.
async fn counted_reports<'a>(
    conn: &mut SqliteConnection,
    election: i64,
    participants: impl Iterator<Item = &'a str>,
) -> ElectionResult<HashMap<&'a str, (i64, i64)>> {
    let mut distinct: Vec<&'a str> = participants.collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut out = HashMap::with_capacity(distinct.len());
    for chunk in distinct.chunks(MAX_IN_LIST) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "SELECT participant, id, at FROM ballot_reports WHERE election_id = ",
        );
        qb.push_bind(election)
            .push(" AND counted = 1 AND participant IN (");
        let mut list = qb.separated(", ");
        for p in chunk {
            list.push_bind(*p);
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await.map_err(db)? {
            let p: String = get(&row, "participant")?;
            // Borrow the caller's string, not the row's.
            if let Ok(i) = chunk.binary_search(&p.as_str()) {
                out.insert(chunk[i], (get::<i64>(&row, "id")?, get::<i64>(&row, "at")?));
            }
        }
    }
    Ok(out)
}

fn i64_of(v: u32) -> i64 {
    i64::from(v)
}

async fn write_plan(
    conn: &mut SqliteConnection,
    existing: Option<i64>,
    plan: &talaka_store::elections::ImportPlan<'_>,
    audit: &NewAudit,
) -> ElectionResult<()> {
    let info = plan.info;
    // ---- election ----
    let eid = match existing {
        Some(id) => {
            if plan.election == Change::Update {
                sqlx::query("UPDATE elections SET name = ?, date = ? WHERE id = ?")
                    .bind(&info.name)
                    .bind(&info.date)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
            }
            id
        }
        None => sqlx::query(
            "INSERT INTO elections (code, name, date, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&info.code)
        .bind(&info.name)
        .bind(&info.date)
        .bind(audit.at.0)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get::<i64, _>(0))
        .map_err(db)?,
    };

    // ---- options ----
    insert_batch(
        conn,
        "INSERT INTO ballot_options (election_id, code, name, kind, position) ",
        5,
        &plan.options.insert,
        "",
        |b, (pos, o)| {
            b.push_bind(eid)
                .push_bind(o.code.clone())
                .push_bind(o.name.clone())
                .push_bind(option_kind_str(o.kind))
                .push_bind(*pos);
        },
    )
    .await?;
    for (pos, o) in &plan.options.update {
        sqlx::query(
            "UPDATE ballot_options SET name = ?, kind = ?, position = ? \
             WHERE election_id = ? AND code = ?",
        )
        .bind(&o.name)
        .bind(option_kind_str(o.kind))
        .bind(*pos)
        .bind(eid)
        .bind(&o.code)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }

    // ---- areas ----
    insert_batch(
        conn,
        "INSERT INTO areas (election_id, code, name, kind) ",
        4,
        &plan.areas.insert,
        "",
        |b, a| {
            b.push_bind(eid)
                .push_bind(a.code.clone())
                .push_bind(a.name.clone())
                .push_bind(area_kind_str(a.kind));
        },
    )
    .await?;
    for a in &plan.areas.update {
        sqlx::query("UPDATE areas SET name = ?, kind = ? WHERE election_id = ? AND code = ?")
            .bind(&a.name)
            .bind(area_kind_str(a.kind))
            .bind(eid)
            .bind(&a.code)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    let needs_areas = !plan.parents.is_empty()
        || plan
            .stations
            .insert
            .iter()
            .chain(&plan.stations.update)
            .any(|s| s.area.is_some());
    let areas = if needs_areas {
        id_map(conn, "areas", eid).await?
    } else {
        HashMap::new()
    };
    for (code, parent) in &plan.parents {
        sqlx::query("UPDATE areas SET parent_id = ? WHERE id = ?")
            .bind(stored_id(&areas, "area", parent)?)
            .bind(stored_id(&areas, "area", code)?)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }

    // ---- stations ----
    let area_id = |s: &Station| -> ElectionResult<Option<i64>> {
        s.area
            .as_deref()
            .map(|a| stored_id(&areas, "area", a))
            .transpose()
    };
    let inserts = plan
        .stations
        .insert
        .iter()
        .map(|s| Ok((s, area_id(s)?)))
        .collect::<ElectionResult<Vec<_>>>()?;
    insert_batch(
        conn,
        "INSERT INTO stations (election_id, code, name, area_id, abroad, registered, lat, lon, \
         search_key) ",
        9,
        &inserts,
        "",
        |b, (s, area)| {
            b.push_bind(eid)
                .push_bind(s.code.clone())
                .push_bind(s.name.clone())
                .push_bind(*area)
                .push_bind(s.abroad)
                .push_bind(s.registered.map(i64_of))
                .push_bind(s.coordinates.map(|c| c.lat))
                .push_bind(s.coordinates.map(|c| c.lon))
                .push_bind(search_key(&s.code, &s.name));
        },
    )
    .await?;
    for s in &plan.stations.update {
        sqlx::query(
            "UPDATE stations SET name = ?, area_id = ?, abroad = ?, registered = ?, lat = ?, \
             lon = ?, search_key = ? WHERE election_id = ? AND code = ?",
        )
        .bind(&s.name)
        .bind(area_id(s)?)
        .bind(s.abroad)
        .bind(s.registered.map(i64_of))
        .bind(s.coordinates.map(|c| c.lat))
        .bind(s.coordinates.map(|c| c.lon))
        .bind(search_key(&s.code, &s.name))
        .bind(eid)
        .bind(&s.code)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }

    let needs_refs = [
        plan.protocols.insert.len() + plan.protocols.update.len(),
        plan.crowd.insert.len() + plan.crowd.update.len(),
        plan.exit_polls.insert.len() + plan.exit_polls.update.len(),
    ]
    .iter()
    .any(|n| *n > 0);
    if !needs_refs {
        insert_audit(conn, audit).await?;
        return Ok(());
    }
    let stations = id_map(conn, "stations", eid).await?;
    let options = id_map(conn, "ballot_options", eid).await?;

    // ---- protocols ----
    let inserts = plan
        .protocols
        .insert
        .iter()
        .map(|p| Ok((stored_id(&stations, "station", &p.station)?, *p)))
        .collect::<ElectionResult<Vec<_>>>()?;
    let cols = PROTOCOL_LINES.join(", ");
    let returned = insert_batch(
        conn,
        &format!("INSERT INTO protocols (election_id, station_id, observer, {cols}) "),
        3 + PROTOCOL_LINES.len(),
        &inserts,
        " RETURNING id, station_id, observer",
        |b, (station, p)| {
            b.push_bind(eid)
                .push_bind(*station)
                .push_bind(observer_of(p).map(str::to_owned));
            for v in protocol_lines(&p.figures) {
                b.push_bind(v.map(i64_of));
            }
        },
    )
    .await?;
    let mut ids: HashMap<(i64, Option<String>), i64> = HashMap::with_capacity(returned.len());
    for row in &returned {
        ids.insert(
            (get(row, "station_id")?, get(row, "observer")?),
            get(row, "id")?,
        );
    }
    let mut votes: Vec<(i64, i64, i64)> = Vec::new();
    for (station, p) in &inserts {
        let id = *ids
            .get(&(*station, observer_of(p).map(str::to_owned)))
            .ok_or_else(|| corrupt("protocols", "an inserted protocol was not returned"))?;
        for (o, n) in &p.figures.votes {
            votes.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    let sets = PROTOCOL_LINES
        .iter()
        .map(|c| format!("{c} = ?"))
        .collect::<Vec<_>>()
        .join(", ");
    let update_sql =
        format!("UPDATE protocols SET {sets} WHERE station_id = ? AND observer IS ? RETURNING id");
    for p in &plan.protocols.update {
        let station = stored_id(&stations, "station", &p.station)?;
        let mut q = sqlx::query(&update_sql);
        for v in protocol_lines(&p.figures) {
            q = q.bind(v.map(i64_of));
        }
        let id: i64 = q
            .bind(station)
            .bind(observer_of(p))
            .fetch_one(&mut *conn)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;
        sqlx::query("DELETE FROM protocol_votes WHERE protocol_id = ?")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        for (o, n) in &p.figures.votes {
            votes.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    insert_batch(
        conn,
        "INSERT INTO protocol_votes (protocol_id, option_id, votes) ",
        3,
        &votes,
        "",
        |b, (p, o, n)| {
            b.push_bind(*p).push_bind(*o).push_bind(*n);
        },
    )
    .await?;

    // ---- crowd ----
    let crowd = plan
        .crowd
        .insert
        .iter()
        .map(|r| {
            Ok((
                stored_id(&stations, "station", &r.station)?,
                stored_id(&options, "option", &r.option)?,
                r,
            ))
        })
        .collect::<ElectionResult<Vec<_>>>()?;
    insert_batch(
        conn,
        "INSERT INTO crowd_tallies (election_id, station_id, option_id, reported, verified) ",
        5,
        &crowd,
        "",
        |b, (s, o, r)| {
            b.push_bind(eid)
                .push_bind(*s)
                .push_bind(*o)
                .push_bind(r.reported.map(i64_of))
                .push_bind(r.verified.map(i64_of));
        },
    )
    .await?;
    for r in &plan.crowd.update {
        sqlx::query(
            "UPDATE crowd_tallies SET reported = ?, verified = ? \
             WHERE station_id = ? AND option_id = ?",
        )
        .bind(r.reported.map(i64_of))
        .bind(r.verified.map(i64_of))
        .bind(stored_id(&stations, "station", &r.station)?)
        .bind(stored_id(&options, "option", &r.option)?)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }

    // ---- exit polls ----
    let inserts = plan
        .exit_polls
        .insert
        .iter()
        .map(|t| Ok((stored_id(&stations, "station", &t.station)?, *t)))
        .collect::<ElectionResult<Vec<_>>>()?;
    let returned = insert_batch(
        conn,
        "INSERT INTO exit_poll_tallies (election_id, station_id, time_window, surveyed, declined, \
         spoiled_or_unknown, counted_kind, counted_value) ",
        8,
        &inserts,
        " RETURNING id, station_id, time_window",
        |b, (station, t)| {
            let counted = t.counted_at_exit.map(count_parts);
            b.push_bind(eid)
                .push_bind(*station)
                .push_bind(t.window.clone())
                .push_bind(i64_of(t.surveyed))
                .push_bind(i64_of(t.declined))
                .push_bind(i64_of(t.spoiled_or_unknown))
                .push_bind(counted.map(|c| c.0))
                .push_bind(counted.map(|c| i64_of(c.1)));
        },
    )
    .await?;
    let mut ids: HashMap<(i64, String), i64> = HashMap::with_capacity(returned.len());
    for row in &returned {
        ids.insert(
            (get(row, "station_id")?, get(row, "time_window")?),
            get(row, "id")?,
        );
    }
    let mut answers: Vec<(i64, i64, i64)> = Vec::new();
    for (station, t) in &inserts {
        let id = *ids
            .get(&(*station, t.window.clone()))
            .ok_or_else(|| corrupt("exit_poll_tallies", "an inserted tally was not returned"))?;
        for (o, n) in &t.answers {
            answers.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    for t in &plan.exit_polls.update {
        let counted = t.counted_at_exit.map(count_parts);
        let id: i64 = sqlx::query(
            "UPDATE exit_poll_tallies SET surveyed = ?, declined = ?, spoiled_or_unknown = ?, \
             counted_kind = ?, counted_value = ? WHERE station_id = ? AND time_window = ? \
             RETURNING id",
        )
        .bind(i64_of(t.surveyed))
        .bind(i64_of(t.declined))
        .bind(i64_of(t.spoiled_or_unknown))
        .bind(counted.map(|c| c.0))
        .bind(counted.map(|c| i64_of(c.1)))
        .bind(stored_id(&stations, "station", &t.station)?)
        .bind(&t.window)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db)?;
        sqlx::query("DELETE FROM exit_poll_answers WHERE tally_id = ?")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        for (o, n) in &t.answers {
            answers.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    insert_batch(
        conn,
        "INSERT INTO exit_poll_answers (tally_id, option_id, answers) ",
        3,
        &answers,
        "",
        |b, (t, o, n)| {
            b.push_bind(*t).push_bind(*o).push_bind(*n);
        },
    )
    .await?;

    insert_audit(conn, audit).await?;
    Ok(())
}

/// Push the `WHERE` of a station list (the `sub` CTE must be in front when `area` is set).
fn push_station_filter(qb: &mut QueryBuilder<'static, Sqlite>, election: i64, f: &StationFilter) {
    qb.push(" WHERE s.election_id = ").push_bind(election);
    if f.area.is_some() {
        qb.push(" AND s.area_id IN (SELECT id FROM sub)");
    }
    if let Some(prefix) = &f.code_prefix {
        let n = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        qb.push(" AND substr(s.code, 1, ")
            .push_bind(n)
            .push(") = ")
            .push_bind(prefix.clone());
    }
    if let Some(abroad) = f.abroad {
        qb.push(" AND s.abroad = ").push_bind(abroad);
    }
    if let Some(has) = f.has_protocol {
        qb.push(if has {
            " AND EXISTS"
        } else {
            " AND NOT EXISTS"
        })
        .push(" (SELECT 1 FROM protocols p WHERE p.station_id = s.id AND p.observer IS NULL)");
    }
    if let Some(text) = f.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        qb.push(" AND s.search_key LIKE ")
            .push_bind(like_contains(text))
            .push(" ESCAPE '\\'");
    }
}

fn push_area_cte(qb: &mut QueryBuilder<'static, Sqlite>, election: i64, f: &StationFilter) {
    if let Some(area) = &f.area {
        qb.push("WITH RECURSIVE sub(id) AS (SELECT id FROM areas WHERE election_id = ")
            .push_bind(election)
            .push(" AND code = ")
            .push_bind(area.clone())
            .push(" UNION SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id) ");
    }
}

async fn reports_summary(
    conn: &mut SqliteConnection,
    station_id: i64,
    station: &str,
) -> Result<ReportsSummary, StoreError> {
    // From the counters the reports' triggers keep (migrations 0004 and 0006), not the reports.
    const T: &str = "crowd_report_counts";
    let rows = sqlx::query(
        "SELECT o.code, c.reported, c.verified, c.duplicates, c.superseded \
         FROM stations s \
         JOIN crowd_report_counts c ON c.election_id = s.election_id AND c.station_id = s.id \
         JOIN ballot_options o ON o.id = c.option_id \
         WHERE s.id = ? ORDER BY o.position, o.id",
    )
    .bind(station_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut summary = ReportsSummary {
        counted: 0,
        superseded: 0,
        duplicate_photos: 0,
        tally: CrowdTally {
            station: station.to_owned(),
            ..CrowdTally::default()
        },
    };
    for row in &rows {
        let reported = u32_of(T, "reported", get(row, "reported")?)?;
        summary.counted += reported;
        summary.superseded += u32_of(T, "superseded", get(row, "superseded")?)?;
        summary.duplicate_photos += u32_of(T, "duplicates", get(row, "duplicates")?)?;
        if reported > 0 {
            let code: String = get(row, "code")?;
            summary.tally.reported.push((code.clone(), reported));
            summary
                .tally
                .verified
                .push((code, u32_of(T, "verified", get(row, "verified")?)?));
        }
    }
    Ok(summary)
}

#[async_trait]
impl ElectionStore for SqliteStore {
    async fn import_dataset(
        &self,
        dataset: &ElectionDataset,
        audit: &NewAudit,
    ) -> ElectionResult<ImportSummary> {
        let mut tx = self.write_tx().await?;
        let existing = election_row(&mut tx, &dataset.info.code).await?;
        let id = existing.as_ref().map(|e| e.id);
        let stored = match existing {
            Some(e) => Some(load_dataset(&mut tx, e).await?),
            None => None,
        };
        let plan = plan_import(stored.as_ref(), dataset)?;
        if plan.summary.is_unchanged() {
            // Nothing to write and nothing to audit; dropping `tx` ends it.
            return Ok(plan.summary);
        }
        write_plan(&mut tx, id, &plan, audit).await?;
        tx.commit().await.map_err(db)?;
        tracing::info!(
            election = %dataset.info.code,
            changed = plan.summary.changed(),
            "election dataset imported"
        );
        Ok(plan.summary)
    }

    async fn elections(&self) -> ElectionResult<Vec<ElectionSummary>> {
        let rows = sqlx::query(
            "SELECT e.code, e.name, e.date, \
               (SELECT COUNT(*) FROM ballot_options x WHERE x.election_id = e.id) AS options, \
               (SELECT COUNT(*) FROM areas x WHERE x.election_id = e.id) AS areas, \
               (SELECT COUNT(*) FROM stations x WHERE x.election_id = e.id) AS stations, \
               (SELECT COUNT(*) FROM protocols x WHERE x.election_id = e.id \
                  AND x.observer IS NULL) AS official, \
               (SELECT COUNT(*) FROM protocols x WHERE x.election_id = e.id \
                  AND x.observer IS NOT NULL) AS copies, \
               (SELECT COUNT(*) FROM crowd_tallies x WHERE x.election_id = e.id) AS crowd, \
               (SELECT COUNT(*) FROM exit_poll_tallies x WHERE x.election_id = e.id) AS polls, \
               (SELECT COUNT(*) FROM ballot_reports x WHERE x.election_id = e.id) AS reports, \
               (SELECT COUNT(*) FROM ballot_reports x WHERE x.election_id = e.id \
                  AND x.counted = 1) AS counted \
             FROM elections e ORDER BY e.date DESC, e.id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| get::<i64>(r, c).map(u64_of);
                Ok(ElectionSummary {
                    code: get(r, "code")?,
                    name: get(r, "name")?,
                    date: get(r, "date")?,
                    options: n("options")?,
                    areas: n("areas")?,
                    stations: n("stations")?,
                    official_protocols: n("official")?,
                    observer_copies: n("copies")?,
                    crowd_rows: n("crowd")?,
                    exit_polls: n("polls")?,
                    reports: n("reports")?,
                    counted_reports: n("counted")?,
                })
            })
            .collect()
    }

    async fn election(&self, code: &str) -> ElectionResult<Option<ElectionInfo>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        Ok(election_row(&mut conn, code).await?.map(|e| e.info))
    }

    async fn dataset(&self, code: &str) -> ElectionResult<Option<ElectionDataset>> {
        // One read transaction: a consistent snapshot even while an import runs.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(e) = election_row(&mut tx, code).await? else {
            return Ok(None);
        };
        let d = load_dataset(&mut tx, e).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(d))
    }

    async fn stations(
        &self,
        election: &str,
        filter: &StationFilter,
    ) -> ElectionResult<StationPage> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(e) = election_row(&mut tx, election).await? else {
            return Ok(StationPage {
                total: 0,
                stations: Vec::new(),
            });
        };
        let mut qb = QueryBuilder::new("");
        push_area_cte(&mut qb, e.id, filter);
        qb.push("SELECT COUNT(*) FROM stations s");
        push_station_filter(&mut qb, e.id, filter);
        let total: i64 = qb
            .build()
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db)?;

        let mut qb = QueryBuilder::new("");
        push_area_cte(&mut qb, e.id, filter);
        qb.push(
            "SELECT s.id, s.code, s.name, a.code AS area, s.abroad, s.registered, s.lat, s.lon, \
               EXISTS (SELECT 1 FROM protocols p WHERE p.station_id = s.id \
                 AND p.observer IS NULL) AS official, \
               (SELECT COUNT(*) FROM protocols p WHERE p.station_id = s.id \
                 AND p.observer IS NOT NULL) AS copies, \
               (SELECT COUNT(*) FROM exit_poll_tallies t WHERE t.station_id = s.id) AS polls, \
               (SELECT COALESCE(SUM(c.reported), 0) FROM crowd_report_counts c \
                 WHERE c.election_id = s.election_id AND c.station_id = s.id) AS reports \
             FROM stations s LEFT JOIN areas a ON a.id = s.area_id",
        );
        push_station_filter(&mut qb, e.id, filter);
        qb.push(" ORDER BY s.id LIMIT ")
            .push_bind(filter.limit.map_or(-1, i64::from))
            .push(" OFFSET ")
            .push_bind(i64::from(filter.offset));
        let rows = qb.build().fetch_all(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        const T: &str = "stations";
        let stations = rows
            .iter()
            .map(|r| {
                Ok(StationListing {
                    station: station_from_row(r)?,
                    official_protocol: get(r, "official")?,
                    observer_copies: u32_of(T, "copies", get(r, "copies")?)?,
                    exit_polls: u32_of(T, "polls", get(r, "polls")?)?,
                    counted_reports: u32_of(T, "reports", get(r, "reports")?)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(StationPage {
            total: u64_of(total),
            stations,
        })
    }

    async fn station_evidence(
        &self,
        election: &str,
        station: &str,
    ) -> ElectionResult<Option<StationEvidence>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(e) = election_row(&mut tx, election).await? else {
            return Ok(None);
        };
        let Some(row) = sqlx::query(&format!(
            "{STATION_SELECT} WHERE s.election_id = ? AND s.code = ?"
        ))
        .bind(e.id)
        .bind(station)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        else {
            return Ok(None);
        };
        let sid: i64 = get(&row, "id")?;
        let station = station_from_row(&row)?;
        let areas = sqlx::query(
            "WITH RECURSIVE up(id, depth) AS ( \
               SELECT area_id, 0 FROM stations WHERE id = ? AND area_id IS NOT NULL \
               UNION ALL SELECT a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.id \
                 WHERE a.parent_id IS NOT NULL AND up.depth < 64) \
             SELECT a.code, a.name, a.kind, p.code AS parent FROM up \
             JOIN areas a ON a.id = up.id LEFT JOIN areas p ON p.id = a.parent_id \
             ORDER BY up.depth DESC",
        )
        .bind(sid)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(area_from_row)
        .collect::<Result<_, _>>()?;
        let protocols = load_protocols(&mut tx, Scope::Station(sid)).await?;
        let crowd = load_crowd(&mut tx, Scope::Station(sid)).await?.pop();
        let exit_polls = load_exit_polls(&mut tx, Scope::Station(sid)).await?;
        let reports = reports_summary(&mut tx, sid, &station.code).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(StationEvidence {
            station,
            areas,
            protocols,
            crowd,
            exit_polls,
            reports,
        }))
    }

    async fn submit_ballot_reports(
        &self,
        election: &str,
        reports: &[BallotReport],
    ) -> ElectionResult<Vec<ReportReceipt>> {
        for r in reports {
            check_report(r)?;
        }
        let mut tx = self.write_tx().await?;
        let eid: i64 = sqlx::query("SELECT id FROM elections WHERE code = ?")
            .bind(election)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .ok_or_else(|| ElectionError::UnknownElection(election.to_owned()))?;
        // One query each for the batch's stations, options and participants' counted reports,
        // instead of one per report: the group-commit writer hands over hundreds at a time.
        let stations = ids_by_code(
            &mut tx,
            "SELECT code, id FROM stations WHERE election_id = ",
            eid,
            reports.iter().map(|r| r.station.as_str()),
        )
        .await?;
        let options = ids_by_code(
            &mut tx,
            "SELECT code, id FROM ballot_options WHERE election_id = ",
            eid,
            reports.iter().map(|r| r.option.as_str()),
        )
        .await?;
        let mut current =
            counted_reports(&mut tx, eid, reports.iter().map(|r| r.participant.as_str())).await?;
        let stored_photos = photos_seen(
            &mut tx,
            eid,
            reports.iter().filter_map(|r| r.photo_sha256.as_deref()),
        )
        .await?;

        // Decide every report in memory, in order, as if they came one by one; the database
        // then gets one multi-row INSERT per few hundred reports instead of a round trip each.
        let mut rows: Vec<ReportRow> = Vec::with_capacity(reports.len());
        let mut receipts = Vec::with_capacity(reports.len());
        // Participant → index in `rows` of their counted report from this batch.
        let mut counted_here: HashMap<&str, usize> = HashMap::new();
        // Photo → (participant, duplicate flag) of each participant's first sending in this batch.
        let mut photos_here: HashMap<&str, Vec<(&str, bool)>> = HashMap::new();
        let mut superseded: Vec<i64> = Vec::new();
        for r in reports {
            let sid = *stations.get(r.station.as_str()).ok_or_else(|| {
                ElectionError::invalid(format!(
                    "report: station {:?} is not in election {election:?}",
                    r.station
                ))
            })?;
            let oid = *options.get(r.option.as_str()).ok_or_else(|| {
                ElectionError::invalid(format!(
                    "report: option {:?} is not on the ballot of {election:?}",
                    r.option
                ))
            })?;
            // A photo is a duplicate when another participant sent it before this one first
            // did; re-sending one's own photo keeps the verdict of the first sending.
            let duplicate_photo = match r.photo_sha256.as_deref() {
                None => false,
                Some(h) => {
                    let stored = stored_photos.get(h);
                    let here = photos_here.get(h);
                    let own_first = stored
                        .and_then(|v| v.iter().find(|(p, _)| *p == r.participant))
                        .map(|(_, d)| *d)
                        .or_else(|| {
                            here.and_then(|v| v.iter().find(|(p, _)| *p == r.participant))
                                .map(|(_, d)| *d)
                        });
                    let dup = own_first.unwrap_or_else(|| {
                        stored.is_some_and(|v| v.iter().any(|(p, _)| *p != r.participant))
                            || here.is_some_and(|v| v.iter().any(|(p, _)| *p != r.participant))
                    });
                    let list = photos_here.entry(h).or_default();
                    if !list.iter().any(|(p, _)| *p == r.participant) {
                        list.push((r.participant.as_str(), dup));
                    }
                    dup
                }
            };
            let in_batch = counted_here.get(r.participant.as_str()).copied();
            let (counted, replaced_previous) = match (in_batch, current.get(r.participant.as_str()))
            {
                (Some(i), _) if r.at >= rows[i].at => {
                    rows[i].counted = false;
                    (true, true)
                }
                (Some(_), _) => (false, false),
                (None, None) => (true, false),
                (None, Some(&(id, at))) if r.at >= at => {
                    superseded.push(id);
                    current.remove(r.participant.as_str());
                    (true, true)
                }
                (None, Some(_)) => (false, false),
            };
            if counted {
                counted_here.insert(r.participant.as_str(), rows.len());
            }
            let (receipt, fingerprint) = new_receipt()?;
            rows.push(ReportRow {
                participant: r.participant.clone(),
                station: sid,
                option: oid,
                verification: verification_str(r.verification),
                photo: r.photo_sha256.clone(),
                duplicate_photo,
                at: r.at,
                fingerprint,
                counted,
            });
            receipts.push(ReportReceipt {
                receipt,
                counted,
                replaced_previous,
                duplicate_photo,
            });
        }
        // Uncount the replaced reports first: at most one counted report per participant.
        for chunk in superseded.chunks(MAX_IN_LIST) {
            let mut qb: QueryBuilder<'_, Sqlite> =
                QueryBuilder::new("UPDATE ballot_reports SET counted = 0 WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await.map_err(db)?;
        }
        insert_batch(
            &mut tx,
            "INSERT INTO ballot_reports (election_id, participant, station_id, option_id, \
             verification, photo_sha256, duplicate_photo, at, receipt_fingerprint, counted) ",
            10,
            &rows,
            "",
            |b, row| {
                b.push_bind(eid)
                    .push_bind(row.participant.clone())
                    .push_bind(row.station)
                    .push_bind(row.option)
                    .push_bind(row.verification)
                    .push_bind(row.photo.clone())
                    .push_bind(row.duplicate_photo)
                    .push_bind(row.at)
                    .push_bind(row.fingerprint.clone())
                    .push_bind(row.counted);
            },
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(receipts)
    }

    async fn ballot_report_by_receipt(
        &self,
        election: &str,
        receipt: &str,
    ) -> ElectionResult<Option<ReportStatus>> {
        let row = sqlx::query(
            "SELECT s.code AS station, o.code AS option, r.verification, r.at, r.counted, \
                    r.duplicate_photo \
             FROM ballot_reports r JOIN elections e ON e.id = r.election_id \
             JOIN stations s ON s.id = r.station_id JOIN ballot_options o ON o.id = r.option_id \
             WHERE e.code = ? AND r.receipt_fingerprint = ?",
        )
        .bind(election)
        .bind(receipt_fingerprint(receipt))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let v: String = get(&row, "verification")?;
        Ok(Some(ReportStatus {
            station: get(&row, "station")?,
            option: get(&row, "option")?,
            verification: parse_verification(&v)
                .ok_or_else(|| corrupt("ballot_reports", format!("unknown verification {v:?}")))?,
            at: get(&row, "at")?,
            counted: get(&row, "counted")?,
            duplicate_photo: get(&row, "duplicate_photo")?,
        }))
    }

    async fn crowd_counts(&self, election: &str) -> ElectionResult<Vec<CrowdTally>> {
        const T: &str = "crowd_report_counts";
        // `crowd_report_counts` is kept by triggers in the reports' own transactions (see
        // migration 0004): a few thousand rows to read instead of every counted report, from a
        // covering index in station order; codes are joined here rather than in SQL.
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let Some(eid) = sqlx::query("SELECT id FROM elections WHERE code = ?")
            .bind(election)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()
            .map_err(db)?
        else {
            return Ok(Vec::new());
        };
        let order = BallotOrder::from_rows(
            &sqlx::query(
                "SELECT id, code FROM ballot_options WHERE election_id = ? ORDER BY position, id",
            )
            .bind(eid)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?,
        )?;
        // One row per station (5,000 rather than 25,000: every row costs a hand-over from
        // SQLite's thread), its counters as `option reported verified …`, in station order.
        let counts = sqlx::query(
            "SELECT s.code, group_concat(c.option_id || ' ' || c.reported || ' ' || c.verified, \
                    ' ') AS counts \
             FROM crowd_report_counts c JOIN stations s ON s.id = c.station_id \
             WHERE c.election_id = ? AND c.reported > 0 \
             GROUP BY c.election_id, c.station_id ORDER BY c.election_id, c.station_id",
        )
        .bind(eid)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut out: Vec<CrowdTally> = Vec::with_capacity(counts.len());
        for row in &counts {
            let text: String = get(row, "counts")?;
            let mut tally = CrowdTally {
                station: get(row, "code")?,
                ..CrowdTally::default()
            };
            for (code, [n, v]) in order.groups::<2>(T, &text)? {
                tally
                    .reported
                    .push((code.to_owned(), u32_of(T, "reported", n)?));
                tally
                    .verified
                    .push((code.to_owned(), u32_of(T, "verified", v)?));
            }
            out.push(tally);
        }
        Ok(out)
    }
}
