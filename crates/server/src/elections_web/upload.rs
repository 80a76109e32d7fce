//! Coordinators' uploads: a CSV in one of the importers' formats, parsed by `talaka-import` and
//! stored in one transaction with its audit entry. A bad row rejects the whole file with the
//! importer's message (file, line, column, what is wrong) and stores nothing.
//!
//! The form is `multipart/form-data` and works without JavaScript: its first field is the CSRF
//! token, which the guard reads from the start of the body (see `guard.rs`).

use std::io::{Cursor, Read};

use askama::Template;
use axum::body::to_bytes;
use axum::extract::{Extension, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use talaka_core::audit::{AuditAction, NewAudit};
use talaka_elections::{
    Area, AreaKind, BallotOption, ElectionDataset, ElectionInfo, OptionKind, Protocol,
    ProtocolFigures, ProtocolSource, Station,
};
use talaka_forensics::Election;
use talaka_import::ImportError;
use talaka_store::ElectionError;

use super::{compute, forensics, url_part};
use crate::AppState;
use crate::error::{AppError, render};
use crate::guard::{Visitor, multipart_boundary};
use crate::views::Chrome;

/// The formats offered, as (form value, i18n key of the name).
pub const FORMATS: [(&str, &str); 4] = [
    ("generic", "elections.import.format_generic"),
    ("voice2020", "elections.import.format_voice2020"),
    ("cec", "elections.import.format_cec"),
    ("exitpoll", "elections.import.format_exitpoll"),
];

#[derive(Template, Debug)]
#[template(path = "elections/import.html")]
pub struct ImportPage {
    pub chrome: Chrome,
    pub max_mb: usize,
    pub format: String,
    pub code: String,
    pub name: String,
    pub date: String,
    /// An i18n key of a problem with the form.
    pub error_key: Option<&'static str>,
    /// The importer's or the store's message about the file (line, column, reason).
    pub error_detail: Option<String>,
    pub done: Option<Done>,
}

#[derive(Clone, Debug)]
pub struct Done {
    pub name: String,
    pub href: String,
    pub summary: String,
    pub unchanged: bool,
}

impl ImportPage {
    pub fn formats(&self) -> [(&'static str, &'static str); 4] {
        FORMATS
    }
}

fn blank(visitor: &Visitor, state: &AppState) -> ImportPage {
    ImportPage {
        chrome: visitor.chrome(),
        max_mb: state.settings().max_import_bytes / (1024 * 1024),
        format: "generic".into(),
        code: String::new(),
        name: String::new(),
        date: String::new(),
        error_key: None,
        error_detail: None,
        done: None,
    }
}

/// `GET /elections/import`.
pub async fn form(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Response {
    render(StatusCode::OK, &blank(&visitor, &state))
}

/// One part of a `multipart/form-data` body.
struct Part<'a> {
    name: String,
    filename: Option<String>,
    data: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = 0;
    while let Some(i) = haystack.get(at..)?.iter().position(|&b| b == first) {
        let start = at + i;
        if haystack
            .get(start + 1..start + 1 + rest.len())
            .is_some_and(|w| w == rest)
        {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// A parameter of a `Content-Disposition` header: `name="file"`.
fn disposition_param(line: &str, param: &str) -> Option<String> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Splits a buffered multipart body into its parts (RFC 7578). `None` when it is malformed.
fn parse_multipart<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let close = format!("\r\n--{boundary}");
    let mut pos = find(body, delimiter.as_bytes())? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") || parts.len() >= 32 {
            return None;
        }
        pos += 2;
        let head_len = find(body.get(pos..)?, b"\r\n\r\n")?;
        let head = std::str::from_utf8(body.get(pos..pos + head_len)?).ok()?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let data_start = pos + head_len + 4;
        let data_len = find(body.get(data_start..)?, close.as_bytes())?;
        parts.push(Part {
            name: disposition_param(disposition, "name")?,
            filename: disposition_param(disposition, "filename"),
            data: body.get(data_start..data_start + data_len)?,
        });
        pos = data_start + data_len + close.len();
    }
}

fn text(parts: &[Part<'_>], name: &str) -> String {
    parts
        .iter()
        .find(|p| p.name == name && p.filename.is_none())
        .map(|p| {
            String::from_utf8_lossy(p.data)
                .trim()
                .chars()
                .take(200)
                .collect()
        })
        .unwrap_or_default()
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_date(date: &str) -> bool {
    let b = date.as_bytes();
    date.is_empty()
        || (b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()))
}

/// What went wrong with an upload, as the page shows it.
enum Refusal {
    /// An i18n key.
    Key(StatusCode, &'static str),
    /// A message about the file from the importer or the store.
    Detail(StatusCode, String),
}

/// An ASCII code for a name: lower-case letters and digits, other runs become `-`.
fn ascii_code(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out.truncate(64);
    out
}

/// A generic-CSV election (`talaka-import`'s `FORMAT.md`) as an elections dataset: one official
/// protocol per station with V as `registered`, G as `issued_at_station` and R (ballots cast)
/// as `voters`, the options' votes; regions as areas. Option codes are the names made ASCII
/// (`option-N` where that gives nothing or repeats).
pub fn dataset_from_generic(e: &Election, code: &str, name: &str, date: &str) -> ElectionDataset {
    let mut codes: Vec<String> = Vec::with_capacity(e.options.len());
    for (i, o) in e.options.iter().enumerate() {
        let c = ascii_code(o);
        codes.push(if c.is_empty() || codes.contains(&c) {
            format!("option-{}", i + 1)
        } else {
            c
        });
    }
    let mut ds = ElectionDataset::new(ElectionInfo {
        code: code.to_owned(),
        name: name.to_owned(),
        date: date.to_owned(),
        options: e
            .options
            .iter()
            .zip(&codes)
            .map(|(n, c)| BallotOption {
                code: c.clone(),
                name: n.clone(),
                kind: OptionKind::Candidate,
            })
            .collect(),
    });
    ds.areas = e
        .regions
        .iter()
        .map(|r| Area {
            code: r.clone(),
            name: r.clone(),
            kind: AreaKind::Region,
            parent: None,
        })
        .collect();
    for s in 0..e.len() {
        let area = e
            .regions
            .get(e.region[s] as usize)
            .filter(|r| !r.is_empty())
            .cloned();
        ds.stations.push(Station {
            code: e.labels[s].clone(),
            name: String::new(),
            area,
            abroad: false,
            registered: Some(e.registered[s]),
            coordinates: None,
        });
        ds.protocols.push(Protocol {
            station: e.labels[s].clone(),
            source: ProtocolSource::Official,
            figures: ProtocolFigures {
                registered: Some(e.registered[s]),
                issued_at_station: Some(e.issued[s]),
                voters: Some(e.cast[s]),
                votes: codes
                    .iter()
                    .zip(&e.votes)
                    .map(|(c, col)| (c.clone(), col[s]))
                    .collect(),
                ..Default::default()
            },
        });
    }
    ds.areas.retain(|a| !a.code.is_empty());
    ds
}

/// The CSV bytes of an upload: the file itself, or the one CSV in a zip archive.
fn csv_bytes(data: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    if !data.starts_with(b"PK\x03\x04") {
        return Ok(data.to_vec());
    }
    let bad = || Refusal::Key(StatusCode::UNPROCESSABLE_ENTITY, "elections.import.bad_zip");
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).map_err(|_| bad())?;
    let mut csvs = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|_| bad())?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if !name.starts_with("__MACOSX/") && name.to_ascii_lowercase().ends_with(".csv") {
            csvs.push(i);
        }
    }
    let [one] = csvs[..] else {
        return Err(bad());
    };
    let entry = archive.by_index(one).map_err(|_| bad())?;
    let mut out = Vec::new();
    // Decompressed, a file may be larger than the upload; allow eight times the limit.
    let cap = limit.saturating_mul(8);
    entry
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| bad())?;
    if out.len() > cap {
        return Err(Refusal::Key(
            StatusCode::PAYLOAD_TOO_LARGE,
            "elections.import.too_large",
        ));
    }
    Ok(out)
}

struct Upload {
    format: String,
    code: String,
    name: String,
    date: String,
    source: String,
    csv: Vec<u8>,
}

/// Parses the file with the chosen importer. `stored` is the election the code names, if any
/// (an exit-poll file brings no options of its own).
fn parse(u: &Upload, stored: Option<ElectionInfo>) -> Result<ElectionDataset, Refusal> {
    let detail = |e: ImportError| Refusal::Detail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    let reader = Cursor::new(&u.csv[..]);
    match u.format.as_str() {
        "generic" => talaka_import::read_generic_csv(&u.source, reader, None)
            .map(|e| dataset_from_generic(&e, &u.code, &u.name, &u.date))
            .map_err(detail),
        "cec" => talaka_import::cec_dataset::read_cec_dataset_csv(
            &u.source, reader, &u.code, &u.name, &u.date,
        )
        .map_err(detail),
        "voice2020" => {
            talaka_import::voice2020::read_voice_csv(&u.source, reader, None::<(&str, &[u8])>)
                .map_err(detail)
        }
        "exitpoll" => {
            let imp =
                talaka_import::exitpoll::read_exit_poll_csv(&u.source, reader).map_err(detail)?;
            let info = stored.unwrap_or_else(|| {
                let mut options: Vec<BallotOption> = Vec::new();
                for t in &imp.tallies {
                    for (o, _) in &t.answers {
                        if !options.iter().any(|x| x.code == *o) {
                            options.push(BallotOption {
                                code: o.clone(),
                                name: o.clone(),
                                kind: OptionKind::Candidate,
                            });
                        }
                    }
                }
                ElectionInfo {
                    code: u.code.clone(),
                    name: u.name.clone(),
                    date: u.date.clone(),
                    options,
                }
            });
            let mut ds = ElectionDataset::new(info);
            ds.areas = imp.areas;
            ds.stations = imp.stations;
            ds.exit_polls = imp.tallies;
            Ok(ds)
        }
        _ => Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_format",
        )),
    }
}

/// `POST /elections/import`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    req: Request,
) -> Result<Response, AppError> {
    let mut page = blank(&visitor, &state);
    match import(&state, &visitor, req, &mut page).await? {
        Ok(done) => {
            page.done = Some(done);
            Ok(render(StatusCode::OK, &page))
        }
        Err(Refusal::Key(status, key)) => {
            page.error_key = Some(key);
            Ok(render(status, &page))
        }
        Err(Refusal::Detail(status, detail)) => {
            page.error_key = Some("elections.import.rejected");
            page.error_detail = Some(detail);
            Ok(render(status, &page))
        }
    }
}

async fn import(
    state: &AppState,
    visitor: &Visitor,
    req: Request,
    page: &mut ImportPage,
) -> Result<Result<Done, Refusal>, AppError> {
    let limit = state.settings().max_import_bytes;
    let Some(boundary) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart_boundary)
    else {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_form",
        )));
    };
    // The file plus room for the other fields.
    let Ok(body) = to_bytes(req.into_body(), limit.saturating_add(64 * 1024)).await else {
        return Ok(Err(Refusal::Key(
            StatusCode::PAYLOAD_TOO_LARGE,
            "elections.import.too_large",
        )));
    };
    let Some(parts) = parse_multipart(&body, &boundary) else {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_form",
        )));
    };
    page.format = text(&parts, "format");
    page.code = text(&parts, "code");
    page.name = text(&parts, "name");
    page.date = text(&parts, "date");
    let Some(file) = parts
        .iter()
        .find(|p| p.name == "file" && !p.data.is_empty())
    else {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.no_file",
        )));
    };
    if file.data.len() > limit {
        return Ok(Err(Refusal::Key(
            StatusCode::PAYLOAD_TOO_LARGE,
            "elections.import.too_large",
        )));
    }
    if !FORMATS.iter().any(|(f, _)| *f == page.format) {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_format",
        )));
    }
    let needs_code = page.format != "voice2020";
    if needs_code && !valid_code(&page.code) {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_code",
        )));
    }
    if !valid_date(&page.date) {
        return Ok(Err(Refusal::Key(
            StatusCode::BAD_REQUEST,
            "elections.import.bad_date",
        )));
    }
    let source = file
        .filename
        .as_deref()
        .and_then(|f| f.rsplit(['/', '\\']).next())
        .filter(|f| !f.is_empty())
        .unwrap_or("upload.csv")
        .chars()
        .take(100)
        .collect::<String>();
    let csv = match csv_bytes(file.data, limit) {
        Ok(csv) => csv,
        Err(r) => return Ok(Err(r)),
    };
    drop(parts);
    drop(body);
    let stored = if page.format == "exitpoll" {
        state
            .elections()
            .election(&page.code)
            .await
            .map_err(compute::store_error)?
    } else {
        None
    };
    let upload = Upload {
        format: page.format.clone(),
        code: page.code.clone(),
        name: if page.name.is_empty() {
            page.code.clone()
        } else {
            page.name.clone()
        },
        date: page.date.clone(),
        source,
        csv,
    };
    let parsed = tokio::task::spawn_blocking(move || {
        let r = parse(&upload, stored);
        (upload.format, r)
    })
    .await
    .map_err(|e| AppError::Internal(format!("import: {e}")))?;
    let (format, dataset) = match parsed {
        (f, Ok(ds)) => (f, ds),
        (_, Err(r)) => return Ok(Err(r)),
    };
    let code = dataset.info.code.clone();
    let audit = NewAudit::new(state.now(), visitor.actor(), AuditAction::ElectionImported)
        .target(format!("election:{code}"))
        .detail(format!(
            "{format} upload: {} stations, {} protocols, {} crowd tallies, {} exit-poll tallies",
            dataset.stations.len(),
            dataset.protocols.len(),
            dataset.crowd.len(),
            dataset.exit_polls.len()
        ));
    let summary = match state.elections().import_dataset(&dataset, &audit).await {
        Ok(s) => s,
        Err(ElectionError::Invalid(msg)) => {
            return Ok(Err(Refusal::Detail(StatusCode::UNPROCESSABLE_ENTITY, msg)));
        }
        Err(ElectionError::UnknownElection(_)) => {
            return Ok(Err(Refusal::Key(
                StatusCode::UNPROCESSABLE_ENTITY,
                "elections.import.unknown_election",
            )));
        }
        Err(ElectionError::Store(e)) => return Err(AppError::Store(e)),
    };
    compute::invalidate(state, &code);
    forensics::invalidate(state, &code);
    tracing::info!(
        user = visitor.user_id().map(|u| u.0),
        format = %format,
        changed = summary.changed(),
        "election data imported"
    );
    Ok(Ok(Done {
        name: dataset.info.name.clone(),
        href: format!("/elections/{}", url_part(&code, false)),
        summary: summary.to_string(),
        unchanged: summary.is_unchanged(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_are_split_into_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nx,y\r\n1,2\r\n\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].data, b"tok");
        assert_eq!(parts[1].filename.as_deref(), Some("a.csv"));
        assert_eq!(parts[1].data, b"x,y\r\n1,2\r\n");
        assert!(parse_multipart(b"--XyZ\r\nno end", "XyZ").is_none());
        assert!(parse_multipart(b"garbage", "XyZ").is_none());
    }

    #[test]
    fn codes_and_dates() {
        assert!(valid_code("by-2020_x.1"));
        assert!(!valid_code(""));
        assert!(!valid_code("a b"));
        assert!(valid_date(""));
        assert!(valid_date("2024-03-17"));
        assert!(!valid_date("17.03.2024"));
        assert_eq!(ascii_code("Alice Smith!"), "alice-smith");
        assert_eq!(ascii_code("Лукашенко"), "");
    }
}
