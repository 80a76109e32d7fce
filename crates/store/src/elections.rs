//! The elections module's storage seam: [`ElectionStore`], a second small trait next to
//! [`Store`](crate::Store), implemented by each backend in its own SQL.
//!
//! # One handle for both traits
//!
//! [`Stores`] is `Store + ElectionStore` with a blanket impl, so a backend that implements both
//! is a `Stores` without further code. Code that needs both holds an `Arc<dyn Stores>`; it still
//! hands `&dyn Store` (or `Arc<dyn Store>`) to code that only knows `Store`, by trait upcasting.
//! The existing `Store` trait is untouched, and nothing that uses only `Store` has to change.
//!
//! # Imports
//!
//! [`ElectionStore::import_dataset`] stores an [`ElectionDataset`] in ONE transaction. Rows are
//! matched by their codes: the election by its code, options, areas and stations by code within
//! the election, the official protocol by station, an observer's copy by station and observer
//! pseudonym, crowd tallies by station and option, exit-poll tallies by station and window.
//! A matched row is replaced when it differs and left alone when equal, so re-importing the same
//! dataset changes nothing and reports [`ImportSummary::is_unchanged`].
//!
//! An import adds and corrects; it never erases. Rows the dataset does not mention stay as they
//! are (an exit-poll file that brings 300 stations abroad does not delete the 97,000 others), and
//! in a station or area a value the dataset leaves out (an empty name, no area or parent, no
//! registered voters, no coordinates) keeps the stored one. Protocols, crowd rows and exit-poll
//! tallies are replaced whole.
//!
//! References may point into the dataset or at rows stored before: a file of observer copies
//! may bring only protocols for stations imported earlier. Anything that names a code found in
//! neither, a duplicate key, an area cycle or a malformed pseudonym rejects the whole dataset
//! with [`ElectionError::Invalid`], naming the row, and nothing is written.
//!
//! [`plan_import`] does the matching (pure, shared by the backends so that both decide alike);
//! the backends only read the stored dataset and execute the plan.
//!
//! # Participants' reports
//!
//! Every report is kept (the history is evidence too), and at most one per participant and
//! election is *counted*: the one with the latest `at` (on a tie, the later submission). The
//! database enforces the "at most one" with a partial unique index. A report whose photo hash
//! another participant had sent before this participant first did is flagged `duplicate_photo`,
//! and it does not count as photo-verified in [`ElectionStore::crowd_counts`] (it still counts
//! as reported). Re-sending one's own photo keeps the flag of its first sending.

use std::collections::{HashMap, HashSet};
use std::fmt;

use async_trait::async_trait;
use talaka_core::Secret;
use talaka_core::audit::NewAudit;
use talaka_elections::{
    Area, BallotOption, BallotReport, Count, CrowdTally, ElectionDataset, ElectionInfo,
    ExitPollTally, Protocol, ProtocolFigures, ProtocolSource, Station, Verification,
};

use crate::{Store, StoreError};

pub type ElectionResult<T> = std::result::Result<T, ElectionError>;

#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// No election has this code.
    #[error("no election with code {0:?}")]
    UnknownElection(String),
    /// The data breaks a rule (an unknown code, a duplicate, a malformed pseudonym); the message
    /// names the row by kind and code and says what is wrong. Nothing was written.
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ElectionError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        ElectionError::Invalid(msg.into())
    }
}

/// How many rows of one kind an import inserted, changed, or found already equal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Changes {
    pub fn changed(&self) -> u64 {
        self.inserted + self.updated
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} new, {} updated, {} unchanged",
            self.inserted, self.updated, self.unchanged
        )
    }
}

/// What an import did, per kind of row. Crowd rows are counted per station and option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub elections: Changes,
    pub options: Changes,
    pub areas: Changes,
    pub stations: Changes,
    pub protocols: Changes,
    pub crowd: Changes,
    pub exit_polls: Changes,
}

impl ImportSummary {
    fn parts(&self) -> [(&'static str, Changes); 7] {
        [
            ("elections", self.elections),
            ("options", self.options),
            ("areas", self.areas),
            ("stations", self.stations),
            ("protocols", self.protocols),
            ("crowd rows", self.crowd),
            ("exit-poll tallies", self.exit_polls),
        ]
    }

    /// Rows inserted or updated, all kinds together.
    pub fn changed(&self) -> u64 {
        self.parts().iter().map(|(_, c)| c.changed()).sum()
    }

    pub fn is_unchanged(&self) -> bool {
        self.changed() == 0
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, c) in self.parts() {
            if c == Changes::default() {
                continue;
            }
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{name}: {c}")?;
        }
        if first {
            f.write_str("nothing")?;
        }
        Ok(())
    }
}

/// An election with the sizes of what is stored for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionSummary {
    pub code: String,
    pub name: String,
    pub date: String,
    pub options: u64,
    pub areas: u64,
    pub stations: u64,
    /// Stations with an official protocol.
    pub official_protocols: u64,
    pub observer_copies: u64,
    /// Imported crowd rows (station × option).
    pub crowd_rows: u64,
    pub exit_polls: u64,
    /// Participants' reports stored, and those counted (one per participant).
    pub reports: u64,
    pub counted_reports: u64,
}

/// Which stations to list. Every `Some` narrows the list; `Default` lists all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StationFilter {
    /// Stations in this area or any area below it (a region takes in its districts).
    pub area: Option<String>,
    /// Station codes starting with this (`01-010-` = a Belarusian district by its code).
    pub code_prefix: Option<String>,
    pub abroad: Option<bool>,
    /// With (`true`) or without (`false`) an official protocol.
    pub has_protocol: Option<bool>,
    /// Case-insensitive substring of the code or the name.
    pub search: Option<String>,
    /// At most this many (all when `None`), after skipping `offset`.
    pub limit: Option<u32>,
    pub offset: u32,
}

/// One station in a list, with how much evidence it has.
#[derive(Clone, Debug, PartialEq)]
pub struct StationListing {
    pub station: Station,
    pub official_protocol: bool,
    pub observer_copies: u32,
    pub exit_polls: u32,
    pub counted_reports: u32,
}

/// A page of stations in import order, and how many match the filter in all.
#[derive(Clone, Debug, PartialEq)]
pub struct StationPage {
    pub total: u64,
    pub stations: Vec<StationListing>,
}

/// What participants' reports say about one station.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportsSummary {
    /// Counted reports (each participant's latest).
    pub counted: u32,
    /// Reports kept but not counted (replaced by the participant's later report).
    pub superseded: u32,
    /// Counted reports whose photo another participant had already sent.
    pub duplicate_photos: u32,
    /// Counted reports per option; `verified` = photo-verified and not a duplicate photo.
    pub tally: CrowdTally,
}

/// Everything known about one station.
#[derive(Clone, Debug, PartialEq)]
pub struct StationEvidence {
    pub station: Station,
    /// The station's area and the areas above it, outermost first.
    pub areas: Vec<Area>,
    /// The official protocol first, then observers' copies in the order they arrived.
    pub protocols: Vec<Protocol>,
    /// The imported crowd tally (a source's published totals), if any.
    pub crowd: Option<CrowdTally>,
    pub exit_polls: Vec<ExitPollTally>,
    pub reports: ReportsSummary,
}

/// What a participant gets back for a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportReceipt {
    /// Show it to the participant once; the store keeps only its fingerprint.
    pub receipt: Secret<String>,
    /// This report is the participant's counted one (false when they had sent a later one).
    pub counted: bool,
    /// It replaced the participant's earlier counted report.
    pub replaced_previous: bool,
    /// Another participant had sent a photo with the same hash before this participant first did.
    pub duplicate_photo: bool,
}

/// A stored report, as its receipt finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportStatus {
    pub station: String,
    pub option: String,
    pub verification: Verification,
    pub at: i64,
    pub counted: bool,
    pub duplicate_photo: bool,
}

/// Storage for elections, stations, protocols, crowd and exit-poll data, and participants'
/// reports. See the module documentation for the import and counting rules.
#[async_trait]
pub trait ElectionStore: Send + Sync {
    /// Store `dataset` in one transaction (see the module documentation). `audit` is appended
    /// in the same transaction when something changed, and not at all otherwise.
    async fn import_dataset(
        &self,
        dataset: &ElectionDataset,
        audit: &NewAudit,
    ) -> ElectionResult<ImportSummary>;

    /// Every election, newest polling day first.
    async fn elections(&self) -> ElectionResult<Vec<ElectionSummary>>;

    async fn election(&self, code: &str) -> ElectionResult<Option<ElectionInfo>>;

    /// Everything stored for the election, in canonical order: options as last imported,
    /// areas, stations and tallies in the order first imported, protocols by station (official
    /// first), votes, answers and crowd counts in option order. A dataset imported in that
    /// order (as the importers write it) comes back equal.
    async fn dataset(&self, code: &str) -> ElectionResult<Option<ElectionDataset>>;

    /// Stations matching `filter`, in import order. An unknown election has no stations.
    async fn stations(&self, election: &str, filter: &StationFilter)
    -> ElectionResult<StationPage>;

    async fn station_evidence(
        &self,
        election: &str,
        station: &str,
    ) -> ElectionResult<Option<StationEvidence>>;

    /// Store a participant's report. `UnknownElection`, or `Invalid` for an unknown station or
    /// option, a participant that is not a pseudonym, or a photo hash that is not SHA-256 hex.
    async fn submit_ballot_report(
        &self,
        election: &str,
        report: &BallotReport,
    ) -> ElectionResult<ReportReceipt> {
        let mut receipts = self
            .submit_ballot_reports(election, std::slice::from_ref(report))
            .await?;
        receipts
            .pop()
            .ok_or_else(|| ElectionError::Store(StoreError::NotFound))
    }

    /// Several reports in one transaction (all or none), in order, one receipt each: for
    /// callers that group reports to save commits.
    async fn submit_ballot_reports(
        &self,
        election: &str,
        reports: &[BallotReport],
    ) -> ElectionResult<Vec<ReportReceipt>>;

    /// The report a receipt was given for.
    async fn ballot_report_by_receipt(
        &self,
        election: &str,
        receipt: &str,
    ) -> ElectionResult<Option<ReportStatus>>;

    /// Counted reports aggregated per station (import order) and option (option order);
    /// `verified` counts photo-verified reports without a duplicate photo. Stations without
    /// counted reports are left out.
    async fn crowd_counts(&self, election: &str) -> ElectionResult<Vec<CrowdTally>>;
}

/// Both storage traits on one handle: hold an `Arc<dyn Stores>`, pass `&dyn Store` or
/// `&dyn ElectionStore` on (trait upcasting).
pub trait Stores:
    Store
    + ElectionStore
    + crate::integrations::IntegrationStore
    + crate::photos::PhotoStore
    + crate::safety::SafetyStore
{
}

impl<
    T: Store
        + ElectionStore
        + crate::integrations::IntegrationStore
        + crate::photos::PhotoStore
        + crate::safety::SafetyStore
        + ?Sized,
> Stores for T
{
}

// ---------------------------------------------------------------------------------------------
// rules shared by the backends

/// A pseudonym is what `SecretKey::keyed_hash` makes: 64 lowercase hex characters. Anything
/// else (a Telegram id, a phone number, a name) is refused, so a raw identifier never reaches
/// the database by mistake.
pub fn is_pseudonym(s: &str) -> bool {
    is_lower_hex(s, 64)
}

/// A SHA-256 in lowercase hex.
pub fn is_sha256_hex(s: &str) -> bool {
    is_lower_hex(s, 64)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Characters of a receipt code's time prefix: the server's clock in milliseconds since 1970,
/// base32hex (`0-9a-v`, which sorts like the number), good until the year 3084.
pub const RECEIPT_TIME_CHARS: usize = 9;
/// Characters of a receipt code's random part: URL-safe base64 of a 256-bit random token, 132
/// bits, far beyond guessing.
pub const RECEIPT_RANDOM_CHARS: usize = 22;
// At least 128 random bits (6 per base64 character), checked when compiling.
const _: () = assert!(RECEIPT_RANDOM_CHARS * 6 >= 128);
/// Characters of a receipt code: the time prefix, then the random part.
pub const RECEIPT_CHARS: usize = RECEIPT_TIME_CHARS + RECEIPT_RANDOM_CHARS;
/// Receipt codes issued before the time prefix: 16 random characters, stored as the bare
/// SHA-256; still looked up that way.
const LEGACY_RECEIPT_CHARS: usize = 16;

/// The database id stored for `code`, or `Invalid` naming what is missing: how both backends
/// resolve a row's reference to an option, area or station of the election.
pub fn stored_id(map: &HashMap<String, i64>, kind: &str, code: &str) -> ElectionResult<i64> {
    map.get(code)
        .copied()
        .ok_or_else(|| ElectionError::invalid(format!("{kind} {code:?} is not stored")))
}

/// A new receipt code and the fingerprint the store keeps instead of it.
///
/// The stored fingerprint is the code's time prefix followed by the SHA-256 (hex) of the whole
/// code, so that the unique index on it grows at its end, in time order, instead of taking each
/// new report at a random place (at a million reports every commit would otherwise rewrite
/// thousands of index pages). The prefix tells only when the report arrived, which the report
/// row says anyway; the random part, whose hash alone is stored, keeps a stolen database from
/// yielding a usable receipt.
pub fn new_receipt() -> Result<(Secret<String>, String), StoreError> {
    let token = talaka_core::crypto::random_token().map_err(StoreError::backend)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut code = time_prefix(now_ms);
    code.extend(token.expose().chars().take(RECEIPT_RANDOM_CHARS));
    let fingerprint = receipt_fingerprint(&code);
    Ok((Secret::new(code), fingerprint))
}

/// `ms` as [`RECEIPT_TIME_CHARS`] base32hex digits (the low 45 bits).
fn time_prefix(ms: u128) -> String {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    (0..RECEIPT_TIME_CHARS)
        .rev()
        .map(|i| DIGITS[((ms >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The fingerprint under which a receipt code is stored: its time prefix and the SHA-256 of the
/// whole code (see [`new_receipt`]).
pub fn receipt_fingerprint(receipt: &str) -> String {
    let code = receipt.trim();
    let hash = talaka_core::crypto::token_fingerprint(code);
    if code.chars().count() == LEGACY_RECEIPT_CHARS {
        return hash;
    }
    let mut out: String = code.chars().take(RECEIPT_TIME_CHARS).collect();
    out.push_str(&hash);
    out
}

/// What station text search matches: code and name, lowercased (Unicode-aware, so that
/// Cyrillic and Belarusian names match whatever the case, on both engines alike).
pub fn search_key(code: &str, name: &str) -> String {
    format!("{}\n{}", code.to_lowercase(), name.to_lowercase())
}

/// A `LIKE` pattern for "contains `needle`" (lowercased), with `\` as the escape character.
pub fn like_contains(needle: &str) -> String {
    format!("%{}%", like_escape(&needle.to_lowercase()))
}

/// A `LIKE` pattern for "starts with `prefix`", with `\` as the escape character.
pub fn like_prefix(prefix: &str) -> String {
    format!("{}%", like_escape(prefix))
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Check one participant's report before it is stored (codes are checked by the backend).
pub fn check_report(report: &BallotReport) -> ElectionResult<()> {
    if !is_pseudonym(&report.participant) {
        return Err(ElectionError::invalid(
            "report: the participant must be a pseudonym (64 lowercase hex characters), never an identifier",
        ));
    }
    if let Some(h) = &report.photo_sha256
        && !is_sha256_hex(h)
    {
        return Err(ElectionError::invalid(format!(
            "report at station {:?}: the photo hash is not SHA-256 hex",
            report.station
        )));
    }
    if report.station.is_empty() || report.option.is_empty() {
        return Err(ElectionError::invalid(
            "report: empty station or option code",
        ));
    }
    Ok(())
}

/// Stored names of verification levels.
pub fn verification_str(v: Verification) -> &'static str {
    match v {
        Verification::Unverified => "unverified",
        Verification::PhotoVerified => "photo_verified",
    }
}

pub fn parse_verification(s: &str) -> Option<Verification> {
    match s {
        "unverified" => Some(Verification::Unverified),
        "photo_verified" => Some(Verification::PhotoVerified),
        _ => None,
    }
}

/// Stored names of the enums, matching their serde names and the migrations' CHECKs.
pub fn option_kind_str(k: talaka_elections::OptionKind) -> &'static str {
    use talaka_elections::OptionKind::*;
    match k {
        Candidate => "candidate",
        Party => "party",
        AgainstAll => "against_all",
        Spoiled => "spoiled",
        Other => "other",
    }
}

pub fn parse_option_kind(s: &str) -> Option<talaka_elections::OptionKind> {
    use talaka_elections::OptionKind::*;
    [Candidate, Party, AgainstAll, Spoiled, Other]
        .into_iter()
        .find(|k| option_kind_str(*k) == s)
}

pub fn area_kind_str(k: talaka_elections::AreaKind) -> &'static str {
    use talaka_elections::AreaKind::*;
    match k {
        Region => "region",
        District => "district",
        Country => "country",
        City => "city",
    }
}

pub fn parse_area_kind(s: &str) -> Option<talaka_elections::AreaKind> {
    use talaka_elections::AreaKind::*;
    [Region, District, Country, City]
        .into_iter()
        .find(|k| area_kind_str(*k) == s)
}

/// A count as two columns: kind (`exact`, `about`, `at_least`) and value.
pub fn count_parts(c: Count) -> (&'static str, u32) {
    match c {
        Count::Exact(v) => ("exact", v),
        Count::About(v) => ("about", v),
        Count::AtLeast(v) => ("at_least", v),
    }
}

pub fn count_from_parts(kind: &str, value: u32) -> Option<Count> {
    match kind {
        "exact" => Some(Count::Exact(value)),
        "about" => Some(Count::About(value)),
        "at_least" => Some(Count::AtLeast(value)),
        _ => None,
    }
}

/// The protocol figures as the 13 stored lines, in the migrations' column order
/// ([`PROTOCOL_LINES`]).
pub fn protocol_lines(f: &ProtocolFigures) -> [Option<u32>; 13] {
    [
        f.registered,
        f.ballots_received,
        f.issued_early,
        f.issued_at_station,
        f.issued_outside,
        f.cancelled,
        f.in_portable_boxes,
        f.in_stationary_boxes,
        f.invalid,
        f.valid,
        f.lost,
        f.unaccounted,
        f.voters,
    ]
}

/// Column names of [`protocol_lines`].
pub const PROTOCOL_LINES: [&str; 13] = [
    "registered",
    "ballots_received",
    "issued_early",
    "issued_at_station",
    "issued_outside",
    "cancelled",
    "in_portable_boxes",
    "in_stationary_boxes",
    "invalid",
    "valid",
    "lost",
    "unaccounted",
    "voters",
];

/// The observer pseudonym of a protocol, `None` for the official one.
pub fn observer_of(p: &Protocol) -> Option<&str> {
    match &p.source {
        ProtocolSource::Official => None,
        ProtocolSource::ObserverCopy { observer } => Some(observer),
    }
}

// ---------------------------------------------------------------------------------------------
// the import plan

/// Insert, update or leave one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Insert,
    Update,
    Unchanged,
}

/// Rows to insert and rows to replace, of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Upserts<T> {
    pub insert: Vec<T>,
    pub update: Vec<T>,
}

impl<T> Default for Upserts<T> {
    fn default() -> Self {
        Self {
            insert: Vec::new(),
            update: Vec::new(),
        }
    }
}

/// (reported, verified) of one crowd row.
type CrowdCounts = (Option<u32>, Option<u32>);

/// One imported crowd row: a station's reports for one option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrowdRow {
    pub station: String,
    pub option: String,
    pub reported: Option<u32>,
    pub verified: Option<u32>,
}

/// What an import must write, decided by [`plan_import`]. Options carry their position in the
/// ballot; areas and stations are the merged rows to write (stored values kept where the
/// dataset leaves them out). Areas are inserted without parents; `parents` then sets every
/// parent that differs from the stored one (new areas included), so an area may name a parent
/// that comes later in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportPlan<'a> {
    pub election: Change,
    pub info: &'a ElectionInfo,
    pub options: Upserts<(i64, &'a BallotOption)>,
    pub areas: Upserts<Area>,
    /// (area code, parent code).
    pub parents: Vec<(String, String)>,
    pub stations: Upserts<Station>,
    pub protocols: Upserts<&'a Protocol>,
    pub crowd: Upserts<CrowdRow>,
    pub exit_polls: Upserts<&'a ExitPollTally>,
    pub summary: ImportSummary,
}

fn dup(kind: &str, key: impl fmt::Display) -> ElectionError {
    ElectionError::invalid(format!("{kind} {key} appears twice in the dataset"))
}

fn count<T>(changes: &mut Changes, upserts: &mut Upserts<T>, change: Change, row: T) {
    match change {
        Change::Insert => {
            changes.inserted += 1;
            upserts.insert.push(row);
        }
        Change::Update => {
            changes.updated += 1;
            upserts.update.push(row);
        }
        Change::Unchanged => changes.unchanged += 1,
    }
}

fn change_of<T: PartialEq>(stored: Option<&T>, new: &T) -> Change {
    match stored {
        None => Change::Insert,
        Some(s) if s == new => Change::Unchanged,
        Some(_) => Change::Update,
    }
}

fn sorted_pairs(v: &[(String, u32)]) -> Vec<(&str, u32)> {
    let mut out: Vec<(&str, u32)> = v.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    out.sort_unstable();
    out
}

fn check_pairs(
    what: &dyn Fn() -> String,
    pairs: &[(String, u32)],
    options: &HashSet<&str>,
) -> ElectionResult<()> {
    let mut seen = HashSet::new();
    for (code, _) in pairs {
        if !options.contains(code.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{}: option {code:?} is not on the ballot",
                what()
            )));
        }
        if !seen.insert(code.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{}: option {code:?} is listed twice",
                what()
            )));
        }
    }
    Ok(())
}

/// Decide what importing `new` over `stored` (what the database holds for the same election
/// code, read inside the import's transaction; `None` for a new election) must write. Refuses
/// the dataset with [`ElectionError::Invalid`] on the first broken rule.
pub fn plan_import<'a>(
    stored: Option<&ElectionDataset>,
    new: &'a ElectionDataset,
) -> ElectionResult<ImportPlan<'a>> {
    let info = &new.info;
    if info.code.trim().is_empty() || info.code.trim() != info.code {
        return Err(ElectionError::invalid(format!(
            "election code {:?} is empty or has surrounding spaces",
            info.code
        )));
    }
    let mut summary = ImportSummary::default();

    // ---- election ----
    let election = match stored {
        None => Change::Insert,
        Some(s) if s.info.name == info.name && s.info.date == info.date => Change::Unchanged,
        Some(_) => Change::Update,
    };
    match election {
        Change::Insert => summary.elections.inserted = 1,
        Change::Update => summary.elections.updated = 1,
        Change::Unchanged => summary.elections.unchanged = 1,
    }

    // ---- options ----
    let empty: &[BallotOption] = &[];
    let stored_options: HashMap<&str, (usize, &BallotOption)> = stored
        .map_or(empty, |s| s.info.options.as_slice())
        .iter()
        .enumerate()
        .map(|(i, o)| (o.code.as_str(), (i, o)))
        .collect();
    let mut options = Upserts::default();
    let mut option_codes: HashSet<&str> = stored_options.keys().copied().collect();
    let mut seen = HashSet::new();
    for (i, o) in info.options.iter().enumerate() {
        if o.code.is_empty() {
            return Err(ElectionError::invalid("an option has an empty code"));
        }
        if !seen.insert(o.code.as_str()) {
            return Err(dup("option", format_args!("{:?}", o.code)));
        }
        option_codes.insert(&o.code);
        let change = match stored_options.get(o.code.as_str()) {
            None => Change::Insert,
            Some((pos, s)) if *s == o && *pos == i => Change::Unchanged,
            Some(_) => Change::Update,
        };
        let position = i64::try_from(i).unwrap_or(i64::MAX);
        count(&mut summary.options, &mut options, change, (position, o));
    }

    // ---- areas ----
    let empty: &[Area] = &[];
    let stored_areas: HashMap<&str, &Area> = stored
        .map_or(empty, |s| s.areas.as_slice())
        .iter()
        .map(|a| (a.code.as_str(), a))
        .collect();
    // Final parent of every area, stored and new, for the reference and cycle checks.
    let mut parent_of: HashMap<&str, Option<&str>> = stored_areas
        .iter()
        .map(|(c, a)| (*c, a.parent.as_deref()))
        .collect();
    let mut areas = Upserts::default();
    let mut parents = Vec::new();
    let mut seen = HashSet::new();
    for a in &new.areas {
        if a.code.is_empty() {
            return Err(ElectionError::invalid("an area has an empty code"));
        }
        if !seen.insert(a.code.as_str()) {
            return Err(dup("area", format_args!("{:?}", a.code)));
        }
        let old = stored_areas.get(a.code.as_str()).copied();
        let merged = Area {
            code: a.code.clone(),
            name: match old {
                Some(o) if a.name.is_empty() => o.name.clone(),
                _ => a.name.clone(),
            },
            kind: a.kind,
            parent: a
                .parent
                .clone()
                .or_else(|| old.and_then(|o| o.parent.clone())),
        };
        if let Some(p) = &merged.parent
            && old.and_then(|o| o.parent.as_ref()) != Some(p)
        {
            parents.push((merged.code.clone(), p.clone()));
        }
        parent_of.insert(
            &a.code,
            a.parent
                .as_deref()
                .or(old.and_then(|o| o.parent.as_deref())),
        );
        let change = change_of(old, &merged);
        count(&mut summary.areas, &mut areas, change, merged);
    }
    for (code, parent) in &parent_of {
        if let Some(p) = parent
            && !parent_of.contains_key(p)
        {
            return Err(ElectionError::invalid(format!(
                "area {code:?}: parent area {p:?} is neither in the dataset nor stored"
            )));
        }
    }
    for start in parent_of.keys() {
        let mut at = *start;
        let mut steps = 0usize;
        while let Some(Some(p)) = parent_of.get(at) {
            at = p;
            steps += 1;
            if at == *start || steps > parent_of.len() {
                return Err(ElectionError::invalid(format!(
                    "area {start:?} is its own ancestor (the parent links form a cycle)"
                )));
            }
        }
    }

    // ---- stations ----
    let empty: &[Station] = &[];
    let stored_stations: HashMap<&str, &Station> = stored
        .map_or(empty, |s| s.stations.as_slice())
        .iter()
        .map(|s| (s.code.as_str(), s))
        .collect();
    let mut station_codes: HashSet<&str> = stored_stations.keys().copied().collect();
    let mut stations = Upserts::default();
    let mut seen = HashSet::new();
    for s in &new.stations {
        if s.code.is_empty() {
            return Err(ElectionError::invalid("a station has an empty code"));
        }
        if !seen.insert(s.code.as_str()) {
            return Err(dup("station", format_args!("{:?}", s.code)));
        }
        station_codes.insert(&s.code);
        if let Some(a) = &s.area
            && !parent_of.contains_key(a.as_str())
        {
            return Err(ElectionError::invalid(format!(
                "station {:?}: area {a:?} is neither in the dataset nor stored",
                s.code
            )));
        }
        if let Some(c) = s.coordinates
            && !(c.lat.is_finite()
                && c.lon.is_finite()
                && (-90.0..=90.0).contains(&c.lat)
                && (-180.0..=180.0).contains(&c.lon))
        {
            return Err(ElectionError::invalid(format!(
                "station {:?}: coordinates out of range",
                s.code
            )));
        }
        let old = stored_stations.get(s.code.as_str()).copied();
        let merged = match old {
            None => s.clone(),
            Some(o) => Station {
                code: s.code.clone(),
                name: if s.name.is_empty() {
                    o.name.clone()
                } else {
                    s.name.clone()
                },
                area: s.area.clone().or_else(|| o.area.clone()),
                abroad: s.abroad,
                registered: s.registered.or(o.registered),
                coordinates: s.coordinates.or(o.coordinates),
            },
        };
        let change = change_of(old, &merged);
        count(&mut summary.stations, &mut stations, change, merged);
    }

    // ---- protocols ----
    let empty: &[Protocol] = &[];
    let stored_protocols: HashMap<(&str, Option<&str>), &Protocol> = stored
        .map_or(empty, |s| s.protocols.as_slice())
        .iter()
        .map(|p| ((p.station.as_str(), observer_of(p)), p))
        .collect();
    let mut protocols = Upserts::default();
    let mut seen = HashSet::new();
    for p in &new.protocols {
        let observer = observer_of(p);
        let what = || match observer {
            None => format!("official protocol of station {:?}", p.station),
            Some(_) => format!("observer copy of the protocol of station {:?}", p.station),
        };
        if !station_codes.contains(p.station.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{}: the station is neither in the dataset nor stored",
                what()
            )));
        }
        if let Some(o) = observer
            && !is_pseudonym(o)
        {
            return Err(ElectionError::invalid(format!(
                "{}: the observer must be a pseudonym (64 lowercase hex characters)",
                what()
            )));
        }
        if !seen.insert((p.station.as_str(), observer)) {
            return Err(ElectionError::invalid(format!(
                "{} appears twice in the dataset",
                what()
            )));
        }
        check_pairs(&what, &p.figures.votes, &option_codes)?;
        let change = match stored_protocols.get(&(p.station.as_str(), observer)) {
            None => Change::Insert,
            Some(old)
                if protocol_lines(&old.figures) == protocol_lines(&p.figures)
                    && sorted_pairs(&old.figures.votes) == sorted_pairs(&p.figures.votes) =>
            {
                Change::Unchanged
            }
            Some(_) => Change::Update,
        };
        count(&mut summary.protocols, &mut protocols, change, p);
    }

    // ---- crowd ----
    let mut stored_crowd: HashMap<(&str, &str), CrowdCounts> = HashMap::new();
    for t in stored.map_or(&[][..], |s| s.crowd.as_slice()) {
        for (o, n) in &t.reported {
            stored_crowd.entry((&t.station, o)).or_default().0 = Some(*n);
        }
        for (o, n) in &t.verified {
            stored_crowd.entry((&t.station, o)).or_default().1 = Some(*n);
        }
    }
    let mut crowd = Upserts::default();
    let mut seen = HashSet::new();
    for t in &new.crowd {
        let what = || format!("crowd tally of station {:?}", t.station);
        if !station_codes.contains(t.station.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{}: the station is neither in the dataset nor stored",
                what()
            )));
        }
        if !seen.insert(t.station.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{} appears twice in the dataset",
                what()
            )));
        }
        check_pairs(&what, &t.reported, &option_codes)?;
        check_pairs(&what, &t.verified, &option_codes)?;
        // Rows in option order of first mention: reported, then verified-only options.
        let mut rows: Vec<CrowdRow> = Vec::new();
        for (o, n) in &t.reported {
            rows.push(CrowdRow {
                station: t.station.clone(),
                option: o.clone(),
                reported: Some(*n),
                verified: None,
            });
        }
        for (o, n) in &t.verified {
            match rows.iter_mut().find(|r| &r.option == o) {
                Some(r) => r.verified = Some(*n),
                None => rows.push(CrowdRow {
                    station: t.station.clone(),
                    option: o.clone(),
                    reported: None,
                    verified: Some(*n),
                }),
            }
        }
        for row in rows {
            let old = stored_crowd.get(&(row.station.as_str(), row.option.as_str()));
            let change = change_of(old, &(row.reported, row.verified));
            count(&mut summary.crowd, &mut crowd, change, row);
        }
    }

    // ---- exit polls ----
    let empty: &[ExitPollTally] = &[];
    let stored_polls: HashMap<(&str, &str), &ExitPollTally> = stored
        .map_or(empty, |s| s.exit_polls.as_slice())
        .iter()
        .map(|t| ((t.station.as_str(), t.window.as_str()), t))
        .collect();
    let mut exit_polls = Upserts::default();
    let mut seen = HashSet::new();
    for t in &new.exit_polls {
        let what = || {
            format!(
                "exit-poll tally of station {:?}, window {:?}",
                t.station, t.window
            )
        };
        if !station_codes.contains(t.station.as_str()) {
            return Err(ElectionError::invalid(format!(
                "{}: the station is neither in the dataset nor stored",
                what()
            )));
        }
        if !seen.insert((t.station.as_str(), t.window.as_str())) {
            return Err(ElectionError::invalid(format!(
                "{} appears twice in the dataset",
                what()
            )));
        }
        check_pairs(&what, &t.answers, &option_codes)?;
        let change = match stored_polls.get(&(t.station.as_str(), t.window.as_str())) {
            None => Change::Insert,
            Some(old)
                if old.surveyed == t.surveyed
                    && old.declined == t.declined
                    && old.spoiled_or_unknown == t.spoiled_or_unknown
                    && old.counted_at_exit == t.counted_at_exit
                    && sorted_pairs(&old.answers) == sorted_pairs(&t.answers) =>
            {
                Change::Unchanged
            }
            Some(_) => Change::Update,
        };
        count(&mut summary.exit_polls, &mut exit_polls, change, t);
    }

    Ok(ImportPlan {
        election,
        info,
        options,
        areas,
        parents,
        stations,
        protocols,
        crowd,
        exit_polls,
        summary,
    })
}

/// Sort `pairs` (option code, n) by the options' order on the ballot; unknown codes last.
pub fn sort_by_option(pairs: &mut [(String, u32)], order: &HashMap<String, usize>) {
    pairs.sort_by_key(|(c, _)| order.get(c).copied().unwrap_or(usize::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;
    use talaka_elections::{AreaKind, OptionKind};

    fn info() -> ElectionInfo {
        ElectionInfo {
            code: "e".into(),
            name: "E".into(),
            date: "2020-08-09".into(),
            options: vec![
                BallotOption {
                    code: "a".into(),
                    name: "A".into(),
                    kind: OptionKind::Candidate,
                },
                BallotOption {
                    code: "b".into(),
                    name: "B".into(),
                    kind: OptionKind::Candidate,
                },
            ],
        }
    }

    fn area(code: &str, parent: Option<&str>) -> Area {
        Area {
            code: code.into(),
            name: code.to_uppercase(),
            kind: AreaKind::Region,
            parent: parent.map(Into::into),
        }
    }

    fn station(code: &str, area: Option<&str>) -> Station {
        Station {
            code: code.into(),
            name: String::new(),
            area: area.map(Into::into),
            abroad: false,
            registered: None,
            coordinates: None,
        }
    }

    #[test]
    fn same_dataset_twice_changes_nothing() {
        let mut d = ElectionDataset::new(info());
        d.areas = vec![area("r", None), area("d", Some("r"))];
        d.stations = vec![station("1", Some("d"))];
        let first = plan_import(None, &d).expect("plan");
        assert_eq!(first.summary.stations.inserted, 1);
        assert_eq!(first.parents, vec![("d".to_owned(), "r".to_owned())]);
        let again = plan_import(Some(&d), &d).expect("plan");
        assert!(again.summary.is_unchanged(), "{}", again.summary);
        assert!(again.parents.is_empty());
    }

    #[test]
    fn missing_values_keep_the_stored_ones() {
        let mut stored = ElectionDataset::new(info());
        stored.areas = vec![area("r", None)];
        let mut s = station("1", Some("r"));
        s.name = "School 1".into();
        s.registered = Some(900);
        stored.stations = vec![s];
        let mut new = ElectionDataset::new(info());
        new.stations = vec![station("1", None)];
        let plan = plan_import(Some(&stored), &new).expect("plan");
        assert!(plan.summary.is_unchanged(), "{}", plan.summary);
    }

    #[test]
    fn cycles_and_unknown_references_are_refused() {
        let mut d = ElectionDataset::new(info());
        d.areas = vec![area("x", Some("y")), area("y", Some("x"))];
        assert!(
            matches!(plan_import(None, &d), Err(ElectionError::Invalid(m)) if m.contains("cycle"))
        );
        d.areas = vec![area("x", Some("nowhere"))];
        assert!(plan_import(None, &d).is_err());
        d.areas = vec![];
        d.stations = vec![station("1", None), station("1", None)];
        assert!(
            matches!(plan_import(None, &d), Err(ElectionError::Invalid(m)) if m.contains("twice"))
        );
    }

    #[test]
    fn pseudonyms_are_64_lowercase_hex() {
        assert!(is_pseudonym(&"ab".repeat(32)));
        assert!(!is_pseudonym(&"AB".repeat(32)));
        assert!(!is_pseudonym("375291234567"));
        assert!(!is_pseudonym(&"a".repeat(63)));
    }

    #[test]
    fn receipts_are_unguessable_and_fingerprinted() {
        let (a, fa) = new_receipt().expect("receipt");
        let (b, _) = new_receipt().expect("receipt");
        assert_eq!(a.expose().len(), RECEIPT_CHARS);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(receipt_fingerprint(a.expose()), fa);
        assert_eq!(receipt_fingerprint(&format!(" {} ", a.expose())), fa);
        assert!(!format!("{a:?}").contains(a.expose().as_str()));
        // The stored key holds no part of the random part: only the time prefix and a hash.
        let random = &a.expose()[RECEIPT_TIME_CHARS..];
        assert_eq!(random.len(), RECEIPT_RANDOM_CHARS);
        assert!(!fa.contains(random));
        assert_eq!(
            &fa[RECEIPT_TIME_CHARS..],
            talaka_core::crypto::token_fingerprint(a.expose())
        );
        // Receipts issued before the time prefix are still found under their bare hash.
        assert_eq!(
            receipt_fingerprint("abcdefghijklmnop"),
            talaka_core::crypto::token_fingerprint("abcdefghijklmnop")
        );
    }

    #[test]
    fn receipt_keys_sort_by_time() {
        assert_eq!(time_prefix(0), "000000000");
        assert_eq!(time_prefix(31), "00000000v");
        assert_eq!(time_prefix(32), "000000010");
        let times = [
            1_700_000_000_000u128,
            1_700_000_000_001,
            1_700_000_000_999,
            1_800_000_000_000,
        ];
        for w in times.windows(2) {
            assert!(time_prefix(w[0]) < time_prefix(w[1]), "{w:?}");
        }
        let (_, a) = new_receipt().expect("receipt");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (_, b) = new_receipt().expect("receipt");
        assert!(a < b, "{a} then {b}");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("Школа_1%"), "%школа\\_1\\%%");
        assert_eq!(like_prefix("01-010-"), "01-010-%");
    }
}
