//! [`ElectionStore`] on PostgreSQL. The import takes a transaction-level advisory lock on the
//! election code (two imports of one election queue instead of colliding), reads what is stored
//! inside its transaction, lets [`plan_import`] decide, and writes the plan with one
//! `INSERT … SELECT FROM UNNEST(arrays)` per kind and chunk, and single-row `UPDATE`s for the
//! rows that changed. Any error drops the transaction: nothing is written.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use talaka_core::audit::NewAudit;
use talaka_elections::{
    Area, BallotOption, BallotReport, Coordinates, CrowdTally, ElectionDataset, ElectionInfo,
    ExitPollTally, Protocol, ProtocolFigures, ProtocolSource, Station,
};
use talaka_store::StoreError;
use talaka_store::elections::{
    Change, ElectionError, ElectionResult, ElectionStore, ElectionSummary, ImportPlan,
    ImportSummary, PROTOCOL_LINES, ReportReceipt, ReportStatus, ReportsSummary, StationEvidence,
    StationFilter, StationListing, StationPage, area_kind_str, check_report, count_from_parts,
    count_parts, like_contains, new_receipt, observer_of, option_kind_str, parse_area_kind,
    parse_option_kind, parse_verification, plan_import, protocol_lines, receipt_fingerprint,
    search_key, stored_id, verification_str,
};

use crate::{PgStore, corrupt, db, get, insert_audit};

/// Rows per `INSERT … UNNEST` statement.
const BATCH: usize = 10_000;
/// First keys of the advisory locks this module takes (the second is a hash of the text).
const IMPORT_LOCK: i32 = 0x456c_6563; // "Elec"
pub(crate) const PARTICIPANT_LOCK: i32 = 0x5061_7274; // "Part"

fn col<'r, T>(row: &'r PgRow, c: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    get(row, "elections", c)
}

fn u32_of(table: &'static str, c: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("{c} out of range: {v}")))
}

fn opt_u32(table: &'static str, c: &str, v: Option<i64>) -> Result<Option<u32>, StoreError> {
    v.map(|v| u32_of(table, c, v)).transpose()
}

fn i64_of(v: u32) -> i64 {
    i64::from(v)
}

async fn id_map(
    conn: &mut PgConnection,
    table: &'static str,
    election: i64,
) -> Result<HashMap<String, i64>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT code, id FROM {table} WHERE election_id = $1"
    ))
    .bind(election)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| Ok((col::<String>(r, "code")?, col::<i64>(r, "id")?)))
        .collect()
}

struct ElectionRow {
    id: i64,
    info: ElectionInfo,
}

async fn election_row(
    conn: &mut PgConnection,
    code: &str,
) -> Result<Option<ElectionRow>, StoreError> {
    let Some(row) = sqlx::query("SELECT id, code, name, date FROM elections WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let id: i64 = col(&row, "id")?;
    let options = sqlx::query(
        "SELECT code, name, kind FROM ballot_options WHERE election_id = $1 ORDER BY position, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        let kind: String = col(r, "kind")?;
        Ok(BallotOption {
            code: col(r, "code")?,
            name: col(r, "name")?,
            kind: parse_option_kind(&kind)
                .ok_or_else(|| corrupt("ballot_options", format!("unknown kind {kind:?}")))?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ElectionRow {
        id,
        info: ElectionInfo {
            code: col(&row, "code")?,
            name: col(&row, "name")?,
            date: col(&row, "date")?,
            options,
        },
    }))
}

/// Which rows a loader reads: a whole election's or one station's.
#[derive(Clone, Copy)]
enum Scope {
    Election(i64),
    Station(i64),
}

impl Scope {
    fn cond(self, alias: &str) -> String {
        match self {
            Scope::Election(_) => format!("{alias}.election_id = $1"),
            Scope::Station(_) => format!("{alias}.station_id = $1"),
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

fn station_from_row(row: &PgRow) -> Result<Station, StoreError> {
    const T: &str = "stations";
    let lat: Option<f64> = get(row, T, "lat")?;
    let lon: Option<f64> = get(row, T, "lon")?;
    Ok(Station {
        code: get(row, T, "code")?,
        name: get(row, T, "name")?,
        area: get(row, T, "area")?,
        abroad: get(row, T, "abroad")?,
        registered: opt_u32(T, "registered", get(row, T, "registered")?)?,
        coordinates: match (lat, lon) {
            (Some(lat), Some(lon)) => Some(Coordinates { lat, lon }),
            _ => None,
        },
    })
}

fn area_from_row(row: &PgRow) -> Result<Area, StoreError> {
    const T: &str = "areas";
    let kind: String = get(row, T, "kind")?;
    Ok(Area {
        code: get(row, T, "code")?,
        name: get(row, T, "name")?,
        kind: parse_area_kind(&kind).ok_or_else(|| corrupt(T, format!("unknown kind {kind:?}")))?,
        parent: get(row, T, "parent")?,
    })
}

async fn load_protocols(
    conn: &mut PgConnection,
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
        for (slot, c) in l.iter_mut().zip(PROTOCOL_LINES) {
            *slot = opt_u32(T, c, get(row, T, c)?)?;
        }
        let observer: Option<String> = get(row, T, "observer")?;
        index.insert(get::<i64>(row, T, "id")?, out.len());
        out.push(Protocol {
            station: get(row, T, "station")?,
            source: match observer {
                None => ProtocolSource::Official,
                Some(observer) => ProtocolSource::ObserverCopy { observer },
            },
            figures: ProtocolFigures::from_lines(l, Vec::new()),
        });
    }
    let votes = sqlx::query(&format!(
        "SELECT v.protocol_id, o.code, v.votes FROM protocol_votes v \
         JOIN protocols p ON p.id = v.protocol_id JOIN ballot_options o ON o.id = v.option_id \
         WHERE {} ORDER BY v.protocol_id, o.position, o.id",
        scope.cond("p")
    ))
    .bind(scope.id())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    const V: &str = "protocol_votes";
    for row in &votes {
        let id: i64 = get(row, V, "protocol_id")?;
        let i = *index
            .get(&id)
            .ok_or_else(|| corrupt(V, format!("votes of missing protocol {id}")))?;
        out[i].figures.votes.push((
            get(row, V, "code")?,
            u32_of(V, "votes", get(row, V, "votes")?)?,
        ));
    }
    Ok(out)
}

async fn load_crowd(conn: &mut PgConnection, scope: Scope) -> Result<Vec<CrowdTally>, StoreError> {
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
        let station: String = get(row, T, "station")?;
        let option: String = get(row, T, "option")?;
        if out.last().is_none_or(|t| t.station != station) {
            out.push(CrowdTally {
                station,
                ..CrowdTally::default()
            });
        }
        let t = out.last_mut().ok_or_else(|| corrupt(T, "no tally"))?;
        if let Some(n) = opt_u32(T, "reported", get(row, T, "reported")?)? {
            t.reported.push((option.clone(), n));
        }
        if let Some(n) = opt_u32(T, "verified", get(row, T, "verified")?)? {
            t.verified.push((option, n));
        }
    }
    Ok(out)
}

async fn load_exit_polls(
    conn: &mut PgConnection,
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
        let kind: Option<String> = get(row, T, "counted_kind")?;
        let value = opt_u32(T, "counted_value", get(row, T, "counted_value")?)?;
        let counted_at_exit = match (kind, value) {
            (Some(k), Some(v)) => Some(
                count_from_parts(&k, v)
                    .ok_or_else(|| corrupt(T, format!("unknown count kind {k:?}")))?,
            ),
            _ => None,
        };
        index.insert(get::<i64>(row, T, "id")?, out.len());
        out.push(ExitPollTally {
            station: get(row, T, "station")?,
            window: get(row, T, "time_window")?,
            surveyed: u32_of(T, "surveyed", get(row, T, "surveyed")?)?,
            answers: Vec::new(),
            declined: u32_of(T, "declined", get(row, T, "declined")?)?,
            spoiled_or_unknown: u32_of(
                T,
                "spoiled_or_unknown",
                get(row, T, "spoiled_or_unknown")?,
            )?,
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
    const A: &str = "exit_poll_answers";
    for row in &answers {
        let id: i64 = get(row, A, "tally_id")?;
        let i = *index
            .get(&id)
            .ok_or_else(|| corrupt(A, format!("answers of missing tally {id}")))?;
        out[i].answers.push((
            get(row, A, "code")?,
            u32_of(A, "answers", get(row, A, "answers")?)?,
        ));
    }
    Ok(out)
}

async fn load_dataset(
    conn: &mut PgConnection,
    election: ElectionRow,
) -> Result<ElectionDataset, StoreError> {
    let id = election.id;
    let mut d = ElectionDataset::new(election.info);
    d.areas = sqlx::query(
        "SELECT a.code, a.name, a.kind, p.code AS parent FROM areas a \
         LEFT JOIN areas p ON p.id = a.parent_id WHERE a.election_id = $1 ORDER BY a.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(area_from_row)
    .collect::<Result<_, _>>()?;
    d.stations = sqlx::query(&format!(
        "{STATION_SELECT} WHERE s.election_id = $1 ORDER BY s.id"
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

/// Insert protocol votes or exit-poll answers: (parent id, option id, n).
async fn insert_triples(
    conn: &mut PgConnection,
    sql: &str,
    rows: &[(i64, i64, i64)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(BATCH) {
        sqlx::query(sql)
            .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Lock, in one fixed order, the `crowd_report_counts` rows a batch of reports may change:
/// those of the reports themselves and those of the participants' counted reports they may
/// replace (creating missing rows with zero counts). The triggers then only touch rows this
/// transaction holds, so concurrent batches wait for each other instead of deadlocking on
/// rows they reach in different orders. Call it holding the participants' locks.
async fn lock_counts(
    conn: &mut PgConnection,
    election: i64,
    reports: &[BallotReport],
    ids: &[(i64, i64)],
) -> Result<(), StoreError> {
    let participants: Vec<&str> = reports.iter().map(|r| r.participant.as_str()).collect();
    let mut pairs: Vec<(i64, i64)> = ids.to_vec();
    for row in sqlx::query(
        "SELECT station_id, option_id FROM ballot_reports \
         WHERE election_id = $1 AND participant = ANY($2) AND counted",
    )
    .bind(election)
    .bind(&participants)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    {
        pairs.push((col(&row, "station_id")?, col(&row, "option_id")?));
    }
    pairs.sort_unstable();
    pairs.dedup();
    sqlx::query(
        "INSERT INTO crowd_report_counts AS c \
           (election_id, station_id, option_id, reported, verified) \
         SELECT $1, t.s, t.o, 0, 0 FROM UNNEST($2::bigint[], $3::bigint[]) AS t(s, o) \
         ORDER BY t.s, t.o \
         ON CONFLICT (station_id, option_id) DO UPDATE SET reported = c.reported",
    )
    .bind(election)
    .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn write_plan(
    conn: &mut PgConnection,
    existing: Option<i64>,
    plan: &ImportPlan<'_>,
    audit: &NewAudit,
) -> ElectionResult<()> {
    let info = plan.info;
    // ---- election ----
    let eid = match existing {
        Some(id) => {
            if plan.election == Change::Update {
                sqlx::query("UPDATE elections SET name = $1, date = $2 WHERE id = $3")
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
            "INSERT INTO elections (code, name, date, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
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
    for chunk in plan.options.insert.chunks(BATCH) {
        sqlx::query(
            "INSERT INTO ballot_options (election_id, code, name, kind, position) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[])",
        )
        .bind(eid)
        .bind(
            chunk
                .iter()
                .map(|(_, o)| o.code.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, o)| o.name.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(_, o)| option_kind_str(o.kind))
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|(p, _)| *p).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    for (pos, o) in &plan.options.update {
        sqlx::query(
            "UPDATE ballot_options SET name = $1, kind = $2, position = $3 \
             WHERE election_id = $4 AND code = $5",
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
    for chunk in plan.areas.insert.chunks(BATCH) {
        sqlx::query(
            "INSERT INTO areas (election_id, code, name, kind) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[])",
        )
        .bind(eid)
        .bind(chunk.iter().map(|a| a.code.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|a| a.name.clone()).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|a| area_kind_str(a.kind))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    for a in &plan.areas.update {
        sqlx::query("UPDATE areas SET name = $1, kind = $2 WHERE election_id = $3 AND code = $4")
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
        sqlx::query("UPDATE areas SET parent_id = $1 WHERE id = $2")
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
    for chunk in plan.stations.insert.chunks(BATCH) {
        let area_ids = chunk
            .iter()
            .map(area_id)
            .collect::<ElectionResult<Vec<_>>>()?;
        sqlx::query(
            "INSERT INTO stations (election_id, code, name, area_id, abroad, registered, lat, \
             lon, search_key) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::boolean[], \
             $6::bigint[], $7::float8[], $8::float8[], $9::text[])",
        )
        .bind(eid)
        .bind(chunk.iter().map(|s| s.code.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
        .bind(area_ids)
        .bind(chunk.iter().map(|s| s.abroad).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|s| s.registered.map(i64_of))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|s| s.coordinates.map(|c| c.lat))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|s| s.coordinates.map(|c| c.lon))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|s| search_key(&s.code, &s.name))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    for s in &plan.stations.update {
        sqlx::query(
            "UPDATE stations SET name = $1, area_id = $2, abroad = $3, registered = $4, \
             lat = $5, lon = $6, search_key = $7 WHERE election_id = $8 AND code = $9",
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
    let cols = PROTOCOL_LINES.join(", ");
    let arrays = (0..PROTOCOL_LINES.len())
        .map(|i| format!("${}::bigint[]", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let insert_sql = format!(
        "INSERT INTO protocols (election_id, station_id, observer, {cols}) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], {arrays}) \
         RETURNING id, station_id, observer"
    );
    let mut votes: Vec<(i64, i64, i64)> = Vec::new();
    for chunk in plan.protocols.insert.chunks(BATCH) {
        let station_ids = chunk
            .iter()
            .map(|p| stored_id(&stations, "station", &p.station))
            .collect::<ElectionResult<Vec<_>>>()?;
        let mut q = sqlx::query(&insert_sql)
            .bind(eid)
            .bind(station_ids.clone())
            .bind(
                chunk
                    .iter()
                    .map(|p| observer_of(p).map(str::to_owned))
                    .collect::<Vec<_>>(),
            );
        let lines: Vec<[Option<u32>; 13]> =
            chunk.iter().map(|p| protocol_lines(&p.figures)).collect();
        for i in 0..PROTOCOL_LINES.len() {
            q = q.bind(lines.iter().map(|l| l[i].map(i64_of)).collect::<Vec<_>>());
        }
        let returned = q.fetch_all(&mut *conn).await.map_err(db)?;
        let mut ids: HashMap<(i64, Option<String>), i64> = HashMap::with_capacity(returned.len());
        for row in &returned {
            ids.insert(
                (col(row, "station_id")?, col(row, "observer")?),
                col(row, "id")?,
            );
        }
        for (p, station) in chunk.iter().zip(&station_ids) {
            let id = *ids
                .get(&(*station, observer_of(p).map(str::to_owned)))
                .ok_or_else(|| corrupt("protocols", "an inserted protocol was not returned"))?;
            for (o, n) in &p.figures.votes {
                votes.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
            }
        }
    }
    let sets = PROTOCOL_LINES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let n = PROTOCOL_LINES.len();
    let update_sql = format!(
        "UPDATE protocols SET {sets} WHERE station_id = ${} AND observer IS NOT DISTINCT FROM ${} \
         RETURNING id",
        n + 1,
        n + 2
    );
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
        sqlx::query("DELETE FROM protocol_votes WHERE protocol_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        for (o, n) in &p.figures.votes {
            votes.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    insert_triples(
        conn,
        "INSERT INTO protocol_votes (protocol_id, option_id, votes) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
        &votes,
    )
    .await?;

    // ---- crowd ----
    for chunk in plan.crowd.insert.chunks(BATCH) {
        let mut s_ids = Vec::with_capacity(chunk.len());
        let mut o_ids = Vec::with_capacity(chunk.len());
        for r in chunk {
            s_ids.push(stored_id(&stations, "station", &r.station)?);
            o_ids.push(stored_id(&options, "option", &r.option)?);
        }
        sqlx::query(
            "INSERT INTO crowd_tallies (election_id, station_id, option_id, reported, verified) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])",
        )
        .bind(eid)
        .bind(s_ids)
        .bind(o_ids)
        .bind(
            chunk
                .iter()
                .map(|r| r.reported.map(i64_of))
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|r| r.verified.map(i64_of))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    for r in &plan.crowd.update {
        sqlx::query(
            "UPDATE crowd_tallies SET reported = $1, verified = $2 \
             WHERE station_id = $3 AND option_id = $4",
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
    let mut answers: Vec<(i64, i64, i64)> = Vec::new();
    for chunk in plan.exit_polls.insert.chunks(BATCH) {
        let station_ids = chunk
            .iter()
            .map(|t| stored_id(&stations, "station", &t.station))
            .collect::<ElectionResult<Vec<_>>>()?;
        let counted: Vec<_> = chunk
            .iter()
            .map(|t| t.counted_at_exit.map(count_parts))
            .collect();
        let returned = sqlx::query(
            "INSERT INTO exit_poll_tallies (election_id, station_id, time_window, surveyed, \
             declined, spoiled_or_unknown, counted_kind, counted_value) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::text[], $8::bigint[]) \
             RETURNING id, station_id, time_window",
        )
        .bind(eid)
        .bind(station_ids.clone())
        .bind(chunk.iter().map(|t| t.window.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|t| i64_of(t.surveyed)).collect::<Vec<_>>())
        .bind(chunk.iter().map(|t| i64_of(t.declined)).collect::<Vec<_>>())
        .bind(
            chunk
                .iter()
                .map(|t| i64_of(t.spoiled_or_unknown))
                .collect::<Vec<_>>(),
        )
        .bind(counted.iter().map(|c| c.map(|c| c.0)).collect::<Vec<_>>())
        .bind(
            counted
                .iter()
                .map(|c| c.map(|c| i64_of(c.1)))
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut ids: HashMap<(i64, String), i64> = HashMap::with_capacity(returned.len());
        for row in &returned {
            ids.insert(
                (col(row, "station_id")?, col(row, "time_window")?),
                col(row, "id")?,
            );
        }
        for (t, station) in chunk.iter().zip(&station_ids) {
            let id = *ids.get(&(*station, t.window.clone())).ok_or_else(|| {
                corrupt("exit_poll_tallies", "an inserted tally was not returned")
            })?;
            for (o, n) in &t.answers {
                answers.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
            }
        }
    }
    for t in &plan.exit_polls.update {
        let counted = t.counted_at_exit.map(count_parts);
        let id: i64 = sqlx::query(
            "UPDATE exit_poll_tallies SET surveyed = $1, declined = $2, spoiled_or_unknown = $3, \
             counted_kind = $4, counted_value = $5 WHERE station_id = $6 AND time_window = $7 \
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
        sqlx::query("DELETE FROM exit_poll_answers WHERE tally_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        for (o, n) in &t.answers {
            answers.push((id, stored_id(&options, "option", o)?, i64_of(*n)));
        }
    }
    insert_triples(
        conn,
        "INSERT INTO exit_poll_answers (tally_id, option_id, answers) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[])",
        &answers,
    )
    .await?;

    insert_audit(conn, audit).await?;
    Ok(())
}

/// Push the `WHERE` of a station list (the `sub` CTE must be in front when `area` is set).
fn push_station_filter(qb: &mut QueryBuilder<'static, Postgres>, election: i64, f: &StationFilter) {
    qb.push(" WHERE s.election_id = ").push_bind(election);
    if f.area.is_some() {
        qb.push(" AND s.area_id IN (SELECT id FROM sub)");
    }
    if let Some(prefix) = &f.code_prefix {
        let n = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
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

fn push_area_cte(qb: &mut QueryBuilder<'static, Postgres>, election: i64, f: &StationFilter) {
    if let Some(area) = &f.area {
        qb.push("WITH RECURSIVE sub(id) AS (SELECT id FROM areas WHERE election_id = ")
            .push_bind(election)
            .push(" AND code = ")
            .push_bind(area.clone())
            .push(" UNION SELECT a.id FROM areas a JOIN sub ON a.parent_id = sub.id) ");
    }
}

async fn reports_summary(
    conn: &mut PgConnection,
    station_id: i64,
    station: &str,
) -> Result<ReportsSummary, StoreError> {
    const T: &str = "ballot_reports";
    let row = sqlx::query(
        "SELECT COUNT(*) FILTER (WHERE counted) AS counted, \
                COUNT(*) FILTER (WHERE NOT counted) AS superseded, \
                COUNT(*) FILTER (WHERE counted AND duplicate_photo) AS dups \
         FROM ballot_reports WHERE station_id = $1",
    )
    .bind(station_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let mut summary = ReportsSummary {
        counted: u32_of(T, "counted", get(&row, T, "counted")?)?,
        superseded: u32_of(T, "superseded", get(&row, T, "superseded")?)?,
        duplicate_photos: u32_of(T, "duplicate_photo", get(&row, T, "dups")?)?,
        tally: CrowdTally {
            station: station.to_owned(),
            ..CrowdTally::default()
        },
    };
    let rows = sqlx::query(
        "SELECT o.code, COUNT(*) AS n, \
                COUNT(*) FILTER (WHERE r.verification = 'photo_verified' \
                  AND NOT r.duplicate_photo) AS v \
         FROM ballot_reports r JOIN ballot_options o ON o.id = r.option_id \
         WHERE r.station_id = $1 AND r.counted \
         GROUP BY o.id ORDER BY o.position, o.id",
    )
    .bind(station_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for row in &rows {
        let code: String = get(row, T, "code")?;
        summary
            .tally
            .reported
            .push((code.clone(), u32_of(T, "n", get(row, T, "n")?)?));
        summary
            .tally
            .verified
            .push((code, u32_of(T, "v", get(row, T, "v")?)?));
    }
    Ok(summary)
}

fn u64_of(v: i64) -> u64 {
    v.unsigned_abs()
}

#[async_trait]
impl ElectionStore for PgStore {
    async fn import_dataset(
        &self,
        dataset: &ElectionDataset,
        audit: &NewAudit,
    ) -> ElectionResult<ImportSummary> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(IMPORT_LOCK)
            .bind(&dataset.info.code)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let existing = election_row(&mut tx, &dataset.info.code).await?;
        let id = existing.as_ref().map(|e| e.id);
        let stored = match existing {
            Some(e) => Some(load_dataset(&mut tx, e).await?),
            None => None,
        };
        let plan = plan_import(stored.as_ref(), dataset)?;
        if plan.summary.is_unchanged() {
            // Nothing to write and nothing to audit; dropping `tx` rolls it back.
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
                  AND x.counted) AS counted \
             FROM elections e ORDER BY e.date COLLATE \"C\" DESC, e.id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| col::<i64>(r, c).map(u64_of);
                Ok(ElectionSummary {
                    code: col(r, "code")?,
                    name: col(r, "name")?,
                    date: col(r, "date")?,
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
        // REPEATABLE READ: every query sees the same snapshot, even while an import commits.
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
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
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
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
               (SELECT COALESCE(SUM(c.reported), 0)::BIGINT FROM crowd_report_counts c \
                 WHERE c.station_id = s.id) AS reports \
             FROM stations s LEFT JOIN areas a ON a.id = s.area_id",
        );
        push_station_filter(&mut qb, e.id, filter);
        qb.push(" ORDER BY s.id LIMIT ")
            .push_bind(filter.limit.map(i64::from))
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
                    official_protocol: get(r, T, "official")?,
                    observer_copies: u32_of(T, "copies", get(r, T, "copies")?)?,
                    exit_polls: u32_of(T, "polls", get(r, T, "polls")?)?,
                    counted_reports: u32_of(T, "reports", get(r, T, "reports")?)?,
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
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let Some(e) = election_row(&mut tx, election).await? else {
            return Ok(None);
        };
        let Some(row) = sqlx::query(&format!(
            "{STATION_SELECT} WHERE s.election_id = $1 AND s.code = $2"
        ))
        .bind(e.id)
        .bind(station)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        else {
            return Ok(None);
        };
        let sid: i64 = col(&row, "id")?;
        let station = station_from_row(&row)?;
        let areas = sqlx::query(
            "WITH RECURSIVE up(id, depth) AS ( \
               SELECT area_id, 0 FROM stations WHERE id = $1 AND area_id IS NOT NULL \
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
        let mut tx = self.begin().await?;
        // Serialise reports of the same participant (a second device, a retry) so that the
        // "latest counts" switch sees the other's result; locks in one fixed order.
        let mut participants: Vec<&str> = reports.iter().map(|r| r.participant.as_str()).collect();
        participants.sort_unstable();
        participants.dedup();
        for p in participants {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(PARTICIPANT_LOCK)
                .bind(p)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let eid: i64 = sqlx::query("SELECT id FROM elections WHERE code = $1")
            .bind(election)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?
            .ok_or_else(|| ElectionError::UnknownElection(election.to_owned()))?;
        let mut stations: HashMap<&str, i64> = HashMap::new();
        let mut options: HashMap<&str, i64> = HashMap::new();
        let mut ids = Vec::with_capacity(reports.len());
        for r in reports {
            let sid = match stations.get(r.station.as_str()) {
                Some(id) => *id,
                None => {
                    let id: i64 =
                        sqlx::query("SELECT id FROM stations WHERE election_id = $1 AND code = $2")
                            .bind(eid)
                            .bind(&r.station)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db)?
                            .map(|row| row.try_get(0))
                            .transpose()
                            .map_err(db)?
                            .ok_or_else(|| {
                                ElectionError::invalid(format!(
                                    "report: station {:?} is not in election {election:?}",
                                    r.station
                                ))
                            })?;
                    stations.insert(&r.station, id);
                    id
                }
            };
            let oid = match options.get(r.option.as_str()) {
                Some(id) => *id,
                None => {
                    let id: i64 = sqlx::query(
                        "SELECT id FROM ballot_options WHERE election_id = $1 AND code = $2",
                    )
                    .bind(eid)
                    .bind(&r.option)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?
                    .map(|row| row.try_get(0))
                    .transpose()
                    .map_err(db)?
                    .ok_or_else(|| {
                        ElectionError::invalid(format!(
                            "report: option {:?} is not on the ballot of {election:?}",
                            r.option
                        ))
                    })?;
                    options.insert(&r.option, id);
                    id
                }
            };
            ids.push((sid, oid));
        }
        lock_counts(&mut tx, eid, reports, &ids).await?;
        let mut receipts = Vec::with_capacity(reports.len());
        for (r, &(sid, oid)) in reports.iter().zip(&ids) {
            // A photo is a duplicate when another participant sent it before this one first
            // did; re-sending one's own photo keeps the verdict of the first sending.
            let duplicate_photo = match &r.photo_sha256 {
                None => false,
                Some(h) => sqlx::query(
                    "SELECT COALESCE( \
                       (SELECT duplicate_photo FROM ballot_reports WHERE election_id = $1 \
                          AND photo_sha256 = $2 AND participant = $3 ORDER BY id LIMIT 1), \
                       EXISTS (SELECT 1 FROM ballot_reports WHERE election_id = $1 \
                          AND photo_sha256 = $2 AND participant <> $3))",
                )
                .bind(eid)
                .bind(h)
                .bind(&r.participant)
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get::<bool, _>(0))
                .map_err(db)?,
            };
            let current = sqlx::query(
                "SELECT id, at FROM ballot_reports WHERE election_id = $1 AND participant = $2 \
                 AND counted",
            )
            .bind(eid)
            .bind(&r.participant)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let (counted, replaced_previous) = match current {
                None => (true, false),
                Some(cur) if r.at >= col::<i64>(&cur, "at")? => {
                    sqlx::query("UPDATE ballot_reports SET counted = FALSE WHERE id = $1")
                        .bind(col::<i64>(&cur, "id")?)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    (true, true)
                }
                Some(_) => (false, false),
            };
            let (receipt, fingerprint) = new_receipt()?;
            sqlx::query(
                "INSERT INTO ballot_reports (election_id, participant, station_id, option_id, \
                 verification, photo_sha256, duplicate_photo, at, receipt_fingerprint, counted) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(eid)
            .bind(&r.participant)
            .bind(sid)
            .bind(oid)
            .bind(verification_str(r.verification))
            .bind(r.photo_sha256.as_deref())
            .bind(duplicate_photo)
            .bind(r.at)
            .bind(&fingerprint)
            .bind(counted)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            receipts.push(ReportReceipt {
                receipt,
                counted,
                replaced_previous,
                duplicate_photo,
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(receipts)
    }

    async fn ballot_report_by_receipt(
        &self,
        election: &str,
        receipt: &str,
    ) -> ElectionResult<Option<ReportStatus>> {
        const T: &str = "ballot_reports";
        let row = sqlx::query(
            "SELECT s.code AS station, o.code AS option, r.verification, r.at, r.counted, \
                    r.duplicate_photo \
             FROM ballot_reports r JOIN elections e ON e.id = r.election_id \
             JOIN stations s ON s.id = r.station_id JOIN ballot_options o ON o.id = r.option_id \
             WHERE e.code = $1 AND r.receipt_fingerprint = $2",
        )
        .bind(election)
        .bind(receipt_fingerprint(receipt))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let v: String = get(&row, T, "verification")?;
        Ok(Some(ReportStatus {
            station: get(&row, T, "station")?,
            option: get(&row, T, "option")?,
            verification: parse_verification(&v)
                .ok_or_else(|| corrupt(T, format!("unknown verification {v:?}")))?,
            at: get(&row, T, "at")?,
            counted: get(&row, T, "counted")?,
            duplicate_photo: get(&row, T, "duplicate_photo")?,
        }))
    }

    async fn crowd_counts(&self, election: &str) -> ElectionResult<Vec<CrowdTally>> {
        const T: &str = "crowd_report_counts";
        // Kept by triggers in the reports' own transactions (migration 0005): a few thousand
        // rows to read instead of every counted report.
        let rows = sqlx::query(
            "SELECT s.code AS station, o.code AS option, c.reported AS n, c.verified AS v \
             FROM crowd_report_counts c JOIN elections e ON e.id = c.election_id \
             JOIN stations s ON s.id = c.station_id JOIN ballot_options o ON o.id = c.option_id \
             WHERE e.code = $1 AND c.reported > 0 ORDER BY c.station_id, o.position, o.id",
        )
        .bind(election)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut out: Vec<CrowdTally> = Vec::new();
        for row in &rows {
            let station: String = get(row, T, "station")?;
            let option: String = get(row, T, "option")?;
            if out.last().is_none_or(|t| t.station != station) {
                out.push(CrowdTally {
                    station,
                    ..CrowdTally::default()
                });
            }
            let t = out.last_mut().ok_or_else(|| corrupt(T, "no tally"))?;
            t.reported
                .push((option.clone(), u32_of(T, "n", get(row, T, "n")?)?));
            t.verified
                .push((option, u32_of(T, "v", get(row, T, "v")?)?));
        }
        Ok(out)
    }
}
