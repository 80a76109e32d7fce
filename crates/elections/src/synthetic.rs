//! A synthetic election for `talaka demo`: made with the fraud model of Klimek et al.
//! ([`talaka_forensics::klimek::simulate`]) so that every page has something true to show.
//! Nothing here is real; names are invented and the figures are drawn from a seeded generator,
//! so the same seed always gives the same election.
//!
//! # What is in it
//! - Five options: the incumbent, the main challenger, a minor candidate, "against all" and
//!   spoiled ballots ([`OptionKind::Spoiled`]).
//! - At home, regions → districts → stations (codes `RR-DDD-SSSS`, as in Belarus), each station
//!   with coordinates scattered around its district's centre, which lies around its region's.
//!   Each district is run one way: **honest**, **incremental fraud** (many stations get a little
//!   ballot stuffing and some votes counted for the incumbent) or **extreme fraud** (most
//!   stations near 100 % turnout and 100 % for the incumbent: stuffing and the vote carousel),
//!   as in the model. The true result and the published one are drawn with the same random
//!   numbers ([`simulate`] is common-random-number), so a station's true votes are known.
//! - Abroad, countries → cities → stations (codes `9001`…, as the Russian UIKs abroad) at
//!   real cities' coordinates. Half of them are falsified in the model's way; each has an exit
//!   poll of its voters, so some stations are consistent with the poll and some are not.
//! - Official protocols with every line (ballots received, issued early / at the station /
//!   outside, cancelled, boxes, valid, invalid, votes) at almost every station; a few sloppy
//!   falsifiers leave protocols that do not balance.
//! - Observer copies (pseudonymous observers) at some stations; where the commission posted
//!   the true count and published another, the copy differs from the published protocol.
//! - Crowd reports (the Golos method): opposition voters report far more often than the
//!   incumbent's, about one voter in five in all, about half of them with a verified ballot
//!   photo. Most stations' reports come as imported [`CrowdTally`] rows; at a few stations they
//!   come as individual participants' [`BallotReport`]s (with a few changed reports and
//!   re-used photos), to be stored through the reports API. Where a station's count was
//!   stolen, verified reports for the challenger exceed the official figure: proven
//!   falsification.
//!
//! Pseudonyms are made by the caller (`talaka demo` uses the installation key's keyed hash), so
//! this module stays pure.

use talaka_forensics::klimek::{KlimekParams, simulate};
use talaka_forensics::rng::Rng;

use crate::model::{
    Area, AreaKind, BallotOption, BallotReport, Coordinates, Count, CrowdTally, ElectionDataset,
    ElectionInfo, ExitPollTally, OptionKind, Protocol, ProtocolFigures, ProtocolSource, Station,
    Verification,
};

/// The options, in ballot order: (code, name, kind).
pub const OPTIONS: [(&str, &str, OptionKind); 5] = [
    ("dubovik", "Ivan Dubovik", OptionKind::Candidate),
    ("sakalova", "Alena Sakalova", OptionKind::Candidate),
    ("mazur", "Piotr Mazur", OptionKind::Candidate),
    ("against", "Against all", OptionKind::AgainstAll),
    ("spoiled", "Spoiled ballots", OptionKind::Spoiled),
];
/// The incumbent, the option the fraud favours.
pub const LEADER: &str = "dubovik";
/// The main challenger, the option whose votes are stolen most.
pub const CHALLENGER: &str = "sakalova";

/// How a station's count was treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fraud {
    /// Counted as cast.
    Honest,
    /// Some ballots stuffed and some votes counted for the incumbent.
    Incremental,
    /// Almost every non-voter "voted" and almost every opponent's vote went to the incumbent.
    Extreme,
}

/// How a district is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DistrictMode {
    Honest,
    Incremental,
    Extreme,
}

/// The generator's knobs. [`Default`] gives about 3,000 stations at home and 50 abroad.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticParams {
    pub seed: u64,
    pub code: String,
    pub name: String,
    pub date: String,
    pub regions: usize,
    pub districts_per_region: usize,
    /// Stations per district: uniform in this range (inclusive).
    pub stations_per_district: (u32, u32),
    /// Roughly how many individual participants' reports to produce (the rest of the crowd
    /// evidence comes as tallies).
    pub individual_reports: usize,
}

impl Default for SyntheticParams {
    fn default() -> Self {
        Self {
            seed: 2025,
            code: "demo-2025-president".into(),
            name: "Presidential election in Demoland, 10 August 2025 (synthetic demo data)".into(),
            date: "2025-08-10".into(),
            regions: 7,
            districts_per_region: 9,
            stations_per_district: (30, 65),
            individual_reports: 3_000,
        }
    }
}

/// What a station was, in truth: for tests and for telling the demo's user what to look for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationTruth {
    pub station: String,
    pub fraud: Fraud,
    /// The votes as cast, by option code in ballot order.
    pub true_votes: Vec<(String, u32)>,
}

/// The synthetic election.
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    pub dataset: ElectionDataset,
    /// Participants' own reports, to be stored one by one (only the latest of each counts).
    pub reports: Vec<BallotReport>,
    pub truth: Vec<StationTruth>,
    /// How each home district was run, by district code.
    pub districts: Vec<(String, DistrictMode)>,
}

impl Synthetic {
    pub fn count(&self, fraud: Fraud) -> usize {
        self.truth.iter().filter(|t| t.fraud == fraud).count()
    }
}

const REGION_NAMES: [&str; 10] = [
    "Capital",
    "Lakeland",
    "Forest March",
    "River Valley",
    "Eastern Plains",
    "Southern Marshes",
    "Western Hills",
    "Northern Heights",
    "Amber Coast",
    "Birch Country",
];
const DISTRICT_STEMS: [&str; 16] = [
    "Oak", "Linden", "Stone", "Mill", "Heron", "Willow", "Clay", "Meadow", "Pine", "Elk", "Ash",
    "Flax", "Beaver", "Rye", "Stork", "Alder",
];
const PLACES: [&str; 8] = [
    "School No. {}",
    "House of Culture No. {}",
    "Library No. {}",
    "Gymnasium No. {}",
    "Hospital No. {}",
    "College No. {}",
    "Community centre No. {}",
    "Sports school No. {}",
];

/// Countries abroad: (code, name, [(city code, city name, lat, lon, stations)]).
type City = (&'static str, &'static str, f64, f64, u32);
const ABROAD: [(&str, &str, &[City]); 10] = [
    (
        "pl",
        "Poland",
        &[
            ("warsaw", "Warsaw", 52.2297, 21.0122, 5),
            ("krakow", "Kraków", 50.0647, 19.9450, 2),
            ("bialystok", "Białystok", 53.1325, 23.1688, 3),
        ],
    ),
    (
        "lt",
        "Lithuania",
        &[("vilnius", "Vilnius", 54.6872, 25.2797, 5)],
    ),
    (
        "de",
        "Germany",
        &[
            ("berlin", "Berlin", 52.5200, 13.4050, 3),
            ("munich", "Munich", 48.1351, 11.5820, 2),
        ],
    ),
    (
        "cz",
        "Czechia",
        &[("prague", "Prague", 50.0755, 14.4378, 3)],
    ),
    ("lv", "Latvia", &[("riga", "Riga", 56.9496, 24.1052, 3)]),
    (
        "ge",
        "Georgia",
        &[("tbilisi", "Tbilisi", 41.7151, 44.8271, 3)],
    ),
    (
        "gb",
        "United Kingdom",
        &[("london", "London", 51.5074, -0.1278, 4)],
    ),
    ("fr", "France", &[("paris", "Paris", 48.8566, 2.3522, 3)]),
    (
        "us",
        "United States",
        &[
            ("new-york", "New York", 40.7128, -74.0060, 3),
            ("washington", "Washington", 38.9072, -77.0369, 2),
        ],
    ),
    (
        "il",
        "Israel",
        &[("tel-aviv", "Tel Aviv", 32.0853, 34.7818, 3)],
    ),
];

/// 06:00 local (03:00 UTC) on 10 August 2025, ms since the epoch; reports arrive after it.
const POLLS_OPEN_MS: i64 = 1_754_794_800_000;

/// The fair model at home: turnout about 62 %, the incumbent's true share about 38 %.
fn home_params(mode: DistrictMode) -> KlimekParams {
    let fair = KlimekParams::fair(0.62, 0.38, 0.07, 0.09);
    match mode {
        DistrictMode::Honest => fair,
        DistrictMode::Incremental => KlimekParams {
            theta: 0.25,
            f_i: 0.85,
            f_e: 0.0,
            alpha: 0.6,
            ..fair
        },
        DistrictMode::Extreme => KlimekParams {
            theta: 0.25,
            f_i: 0.3,
            f_e: 0.55,
            alpha: 0.6,
            ..fair
        },
    }
}

/// Abroad: a diaspora that mostly votes for the challenger; half the stations falsified.
fn abroad_params(falsified: bool) -> KlimekParams {
    let fair = KlimekParams::fair(0.7, 0.12, 0.08, 0.05);
    if falsified {
        KlimekParams {
            theta: 0.6,
            f_i: 0.5,
            f_e: 0.0,
            alpha: 0.5,
            ..fair
        }
    } else {
        fair
    }
}

/// Generate the election. `pseudonym` turns a made-up identifier (`tg:…` for a participant,
/// `observer:…` for an observer) into the pseudonym to store: 64 lowercase hex characters.
pub fn generate(params: &SyntheticParams, pseudonym: &dyn Fn(&str) -> String) -> Synthetic {
    let mut g = Gen {
        rng: Rng::stream(params.seed, 0),
        seed: params.seed,
        pseudonym,
        out: Synthetic {
            dataset: ElectionDataset::new(ElectionInfo {
                code: params.code.clone(),
                name: params.name.clone(),
                date: params.date.clone(),
                options: OPTIONS
                    .iter()
                    .map(|(code, name, kind)| BallotOption {
                        code: (*code).into(),
                        name: (*name).into(),
                        kind: *kind,
                    })
                    .collect(),
            }),
            reports: Vec::new(),
            truth: Vec::new(),
            districts: Vec::new(),
        },
        participants: 0,
        observers: 0,
        report_budget: params.individual_reports,
        photos: Vec::new(),
    };
    g.home(params);
    g.abroad();
    g.out
}

struct Gen<'a> {
    rng: Rng,
    seed: u64,
    pseudonym: &'a dyn Fn(&str) -> String,
    out: Synthetic,
    participants: u64,
    observers: u64,
    report_budget: usize,
    /// Photo hashes already sent, some of which are sent again by someone else.
    photos: Vec<String>,
}

/// One station's votes per option, ballot order.
type Votes = [u32; 5];

impl Gen<'_> {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.rng.f64()
    }

    fn below(&mut self, n: u32) -> u32 {
        ((self.rng.f64() * f64::from(n)) as u32).min(n.saturating_sub(1))
    }

    fn home(&mut self, params: &SyntheticParams) {
        // Region centres on a loose grid over a country of about 6° × 4°.
        let regions = params.regions.clamp(1, REGION_NAMES.len());
        let mut district_no = 0u64;
        for r in 0..regions {
            let region_code = format!("{:02}", r + 1);
            let (rlat, rlon) = (
                51.8 + 3.6 * ((r % 3) as f64 + 0.5) / 3.0 + 0.3 * self.rng.normal(),
                24.0 + 7.0 * ((r / 3) as f64 + 0.5) / regions.div_ceil(3) as f64
                    + 0.3 * self.rng.normal(),
            );
            self.out.dataset.areas.push(Area {
                code: region_code.clone(),
                name: format!("{} Region", REGION_NAMES[r]),
                kind: AreaKind::Region,
                parent: None,
            });
            for d in 0..params.districts_per_region {
                district_no += 1;
                let district_code = format!("{region_code}-{:03}", d + 1);
                let stem = DISTRICT_STEMS[(r * 5 + d) % DISTRICT_STEMS.len()];
                let suffix = if d >= DISTRICT_STEMS.len() {
                    format!(" {}", d / DISTRICT_STEMS.len() + 1)
                } else {
                    String::new()
                };
                self.out.dataset.areas.push(Area {
                    code: district_code.clone(),
                    name: format!("{stem}ville District{suffix}"),
                    kind: AreaKind::District,
                    parent: Some(region_code.clone()),
                });
                let u = self.rng.f64();
                let mode = if u < 0.45 {
                    DistrictMode::Honest
                } else if u < 0.8 {
                    DistrictMode::Incremental
                } else {
                    DistrictMode::Extreme
                };
                self.out.districts.push((district_code.clone(), mode));
                let centre = (
                    rlat + 0.45 * self.rng.normal(),
                    rlon + 0.7 * self.rng.normal(),
                );
                let (lo, hi) = params.stations_per_district;
                let n = lo + self.below(hi.saturating_sub(lo) + 1);
                let stations: Vec<(String, u32, Coordinates)> = (1..=n)
                    .map(|s| {
                        // Towns are bigger stations close to the centre; villages smaller,
                        // farther out.
                        let town = self.rng.f64() < 0.6;
                        let registered = if town {
                            900 + self.below(1900)
                        } else {
                            150 + self.below(750)
                        };
                        let spread = if town { 0.03 } else { 0.15 };
                        let c = Coordinates {
                            lat: (centre.0 + spread * self.rng.normal()).clamp(-89.0, 89.0),
                            lon: (centre.1 + 1.6 * spread * self.rng.normal()).clamp(-179.0, 179.0),
                        };
                        (format!("{district_code}-{s:04}"), registered, c)
                    })
                    .collect();
                let seed = Rng::stream(self.seed, district_no).next_u64();
                self.stations(&stations, &district_code, false, home_params(mode), seed);
            }
        }
    }

    fn abroad(&mut self) {
        let mut number = 9000u32;
        for (i, (country, country_name, cities)) in ABROAD.iter().enumerate() {
            self.out.dataset.areas.push(Area {
                code: (*country).into(),
                name: (*country_name).into(),
                kind: AreaKind::Country,
                parent: None,
            });
            for (city, city_name, lat, lon, n) in cities.iter() {
                let city_code = format!("{country}-{city}");
                self.out.dataset.areas.push(Area {
                    code: city_code.clone(),
                    name: (*city_name).into(),
                    kind: AreaKind::City,
                    parent: Some((*country).into()),
                });
                let stations: Vec<(String, u32, Coordinates)> = (0..*n)
                    .map(|_| {
                        number += 1;
                        let registered = 600 + self.below(3400);
                        let c = Coordinates {
                            lat: lat + 0.02 * self.rng.normal(),
                            lon: lon + 0.03 * self.rng.normal(),
                        };
                        (number.to_string(), registered, c)
                    })
                    .collect();
                // Alternate honest and falsified cities so both kinds are always there.
                let falsified = (i + city.len()) % 2 == 0;
                let seed = Rng::stream(self.seed, 1_000_000 + u64::from(number)).next_u64();
                self.stations(&stations, &city_code, true, abroad_params(falsified), seed);
            }
        }
    }

    /// Simulate one district or city: the true and the published results with the same random
    /// numbers, then protocols, copies, crowd evidence and (abroad) exit polls.
    fn stations(
        &mut self,
        stations: &[(String, u32, Coordinates)],
        area: &str,
        abroad: bool,
        params: KlimekParams,
        seed: u64,
    ) {
        let registered: Vec<u32> = stations.iter().map(|s| s.1).collect();
        let fair = KlimekParams::fair(params.tau, params.nu, params.sigma_tau, params.sigma_nu);
        let truth = simulate(&fair, &registered, seed);
        let published = simulate(&params, &registered, seed);
        // How willing this area's voters are to report (civic activity varies).
        let activity = self.uniform(0.6, 1.5);
        for (i, (code, reg, coordinates)) in stations.iter().enumerate() {
            let name = if abroad {
                format!("Embassy, {}", area_city_name(area))
            } else {
                PLACES[self.below(PLACES.len() as u32) as usize]
                    .replace("{}", &(1 + self.below(60)).to_string())
            };
            self.out.dataset.stations.push(Station {
                code: code.clone(),
                name,
                area: Some(area.to_owned()),
                abroad,
                registered: Some(*reg),
                coordinates: Some(*coordinates),
            });
            let (true_voters, true_leader) = (truth.issued[i], truth.votes[0][i]);
            let (pub_voters, pub_leader) = (published.issued[i], published.votes[0][i]);
            let fraud = if (pub_voters, pub_leader) == (true_voters, true_leader) {
                Fraud::Honest
            } else if f64::from(pub_voters) >= 0.93 * f64::from(*reg)
                && f64::from(pub_leader) >= 0.9 * f64::from(pub_voters)
            {
                Fraud::Extreme
            } else {
                Fraud::Incremental
            };
            let true_votes = self.split_others(true_leader, true_voters - true_leader, abroad);
            let official_votes = steal(&true_votes, pub_voters - pub_leader, pub_leader);
            self.out.truth.push(StationTruth {
                station: code.clone(),
                fraud,
                true_votes: with_codes(&true_votes),
            });

            // Official protocol: all but about 3 % of the stations published one.
            let official = protocol(&mut self.rng, *reg, &official_votes);
            let mut published_figures = official.clone();
            if fraud != Fraud::Honest && self.rng.f64() < 0.02 {
                self.break_arithmetic(&mut published_figures);
            }
            let has_official = abroad || self.rng.f64() >= 0.03;
            if has_official {
                self.out.dataset.protocols.push(Protocol {
                    station: code.clone(),
                    source: ProtocolSource::Official,
                    figures: published_figures.clone(),
                });
            }
            // Observer copies at about 6 % of the stations; where the count was falsified, a
            // third of the observers photographed the true protocol posted at the station.
            if self.rng.f64() < 0.06 {
                let copies = if self.rng.f64() < 0.15 { 2 } else { 1 };
                let honest_copy = if fraud != Fraud::Honest && self.rng.f64() < 0.35 {
                    Some(protocol(&mut self.rng, *reg, &true_votes))
                } else {
                    None
                };
                for _ in 0..copies {
                    self.observers += 1;
                    let observer = (self.pseudonym)(&format!("observer:{}", self.observers));
                    self.out.dataset.protocols.push(Protocol {
                        station: code.clone(),
                        source: ProtocolSource::ObserverCopy { observer },
                        figures: honest_copy.clone().unwrap_or_else(|| official.clone()),
                    });
                }
            }
            self.crowd(code, &true_votes, activity);
            if abroad {
                self.exit_poll(code, &true_votes);
            }
        }
    }

    /// The voters other than the incumbent's, split among the other options.
    fn split_others(&mut self, leader: u32, others: u32, abroad: bool) -> Votes {
        let base = if abroad {
            [0.0, 0.84, 0.06, 0.06, 0.04]
        } else {
            [0.0, 0.70, 0.13, 0.10, 0.07]
        };
        let mut w = [0.0; 5];
        for k in 1..5 {
            w[k] = base[k] * (0.25 * self.rng.normal()).exp();
        }
        let mut left = others;
        let mut rest: f64 = w[1..].iter().sum();
        let mut v = [leader, 0, 0, 0, 0];
        for k in 1..4 {
            let p = if rest > 0.0 { w[k] / rest } else { 0.0 };
            v[k] = self.rng.binomial(left, p.clamp(0.0, 1.0));
            left -= v[k];
            rest -= w[k];
        }
        v[4] = left;
        v
    }

    /// Make a published protocol not balance, as a sloppy falsifier's do.
    fn break_arithmetic(&mut self, f: &mut ProtocolFigures) {
        let extra = 20 + self.below(150);
        match self.below(3) {
            // Votes added to the incumbent without touching the valid ballots.
            0 => {
                if let Some((_, v)) = f.votes.iter_mut().find(|(c, _)| c == LEADER) {
                    *v += extra;
                }
            }
            // Ballots found in the stationary box beyond those issued.
            1 => {
                f.in_stationary_boxes = f.in_stationary_boxes.map(|b| b + extra);
                f.valid = f.valid.map(|v| v + extra);
                if let Some((_, v)) = f.votes.iter_mut().find(|(c, _)| c == LEADER) {
                    *v += extra;
                }
            }
            // The ballot account does not add up.
            _ => f.cancelled = f.cancelled.map(|c| c.saturating_sub(extra.min(c))),
        }
    }

    /// Crowd evidence for one station: opposition voters report far more often. Most stations'
    /// evidence is a tally; while the budget lasts, some stations' evidence is individual
    /// reports.
    fn crowd(&mut self, station: &str, true_votes: &Votes, activity: f64) {
        // Rates of reporting per option, ballot order: the incumbent's voters rarely report.
        const RATE: [f64; 5] = [0.03, 0.34, 0.16, 0.16, 0.12];
        const VERIFIED: f64 = 0.45;
        let mut reported = [0u32; 5];
        let mut verified = [0u32; 5];
        for k in 0..5 {
            reported[k] = self
                .rng
                .binomial(true_votes[k], (RATE[k] * activity).min(1.0));
            verified[k] = self.rng.binomial(reported[k], VERIFIED);
        }
        let total: u32 = reported.iter().sum();
        if total == 0 {
            return;
        }
        let individual = self.report_budget > 0 && self.rng.f64() < 0.01;
        if individual {
            self.report_budget = self.report_budget.saturating_sub(total as usize);
            self.individual_reports(station, &reported, &verified);
            return;
        }
        self.out.dataset.crowd.push(CrowdTally {
            station: station.to_owned(),
            reported: with_codes(&reported),
            verified: with_codes(&verified),
        });
    }

    fn individual_reports(&mut self, station: &str, reported: &Votes, verified: &Votes) {
        for k in 0..5 {
            for j in 0..reported[k] {
                self.participants += 1;
                let participant =
                    (self.pseudonym)(&format!("tg:{}", 100_000_000 + self.participants));
                let at = POLLS_OPEN_MS + i64::from(self.below(14 * 3600)) * 1000;
                let is_verified = j < verified[k];
                // A few verified reports re-use a photo someone else sent before.
                let photo = is_verified.then(|| {
                    if !self.photos.is_empty() && self.rng.f64() < 0.02 {
                        let i = self.below(self.photos.len() as u32) as usize;
                        self.photos[i].clone()
                    } else {
                        let h = self.fake_sha256();
                        self.photos.push(h.clone());
                        h
                    }
                });
                // A few participants first reported something else, then corrected it.
                if self.rng.f64() < 0.03 {
                    let other = (k + 1 + self.below(4) as usize) % 5;
                    self.out.reports.push(BallotReport {
                        participant: participant.clone(),
                        station: station.to_owned(),
                        option: OPTIONS[other].0.into(),
                        verification: Verification::Unverified,
                        photo_sha256: None,
                        at: at - 600_000,
                    });
                }
                self.out.reports.push(BallotReport {
                    participant,
                    station: station.to_owned(),
                    option: OPTIONS[k].0.into(),
                    verification: if is_verified {
                        Verification::PhotoVerified
                    } else {
                        Verification::Unverified
                    },
                    photo_sha256: photo,
                    at,
                });
            }
        }
    }

    /// 64 hex characters standing in for a photo's SHA-256 (there is no photo).
    fn fake_sha256(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.rng.next_u64()))
            .collect()
    }

    /// An exit poll of the day at a station abroad: about 60 % of the voters asked, 8 %
    /// decline, the others answer truthfully; volunteers counted everyone leaving.
    fn exit_poll(&mut self, station: &str, true_votes: &Votes) {
        let mut answers = [0u32; 5];
        let mut declined = 0;
        let mut surveyed = 0;
        for (k, &v) in true_votes.iter().enumerate() {
            let asked = self.rng.binomial(v, 0.6);
            let said_no = self.rng.binomial(asked, 0.08);
            surveyed += asked;
            declined += said_no;
            answers[k] = asked - said_no;
        }
        let voters: u32 = true_votes.iter().sum();
        let counted = if self.rng.f64() < 0.8 {
            Count::Exact(voters)
        } else {
            Count::About((voters + 50) / 100 * 100)
        };
        self.out.dataset.exit_polls.push(ExitPollTally {
            station: station.to_owned(),
            window: String::new(),
            surveyed,
            // Spoiled ballots are not an answer the poll offers: they count as unknown.
            answers: with_codes(&answers)
                .into_iter()
                .filter(|(c, _)| c != "spoiled")
                .collect(),
            declined,
            spoiled_or_unknown: answers[4],
            counted_at_exit: Some(counted),
        });
    }
}

/// `pl-warsaw` → `Warsaw` for a station's name.
fn area_city_name(area: &str) -> &'static str {
    ABROAD
        .iter()
        .flat_map(|(country, _, cities)| cities.iter().map(move |c| (*country, c)))
        .find(|(country, c)| {
            area.strip_prefix(country).and_then(|r| r.strip_prefix('-')) == Some(c.0)
        })
        .map_or("", |(_, c)| c.1)
}

fn with_codes(v: &Votes) -> Vec<(String, u32)> {
    OPTIONS
        .iter()
        .zip(v)
        .map(|((code, _, _), n)| ((*code).to_owned(), *n))
        .collect()
}

/// The published votes: the incumbent gets `leader`; the other options keep `others` votes
/// between them, taken from each in proportion to its true votes (largest remainders).
fn steal(true_votes: &Votes, others: u32, leader: u32) -> Votes {
    let true_others: u32 = true_votes[1..].iter().sum();
    let mut out = [leader, 0, 0, 0, 0];
    if true_others == 0 {
        out[1] = others;
        return out;
    }
    let mut rems: Vec<(u64, usize)> = Vec::with_capacity(4);
    let mut given = 0u32;
    for k in 1..5 {
        let num = u64::from(true_votes[k]) * u64::from(others);
        let q = (num / u64::from(true_others)) as u32;
        out[k] = q;
        given += q;
        rems.push((num % u64::from(true_others), k));
    }
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, k) in rems.into_iter().take((others - given) as usize) {
        out[k] += 1;
    }
    out
}

/// A protocol that balances: every ballot issued is found in a box; ballots received are the
/// register plus a small reserve; the unused ones are cancelled.
fn protocol(rng: &mut Rng, registered: u32, votes: &Votes) -> ProtocolFigures {
    let cast: u32 = votes.iter().sum();
    let invalid = votes[4];
    let early = rng.binomial(cast, 0.25);
    let outside = rng.binomial(cast - early, 0.03);
    let at_station = cast - early - outside;
    let received = registered.max(cast) + registered / 50;
    ProtocolFigures {
        registered: Some(registered),
        ballots_received: Some(received),
        issued_early: Some(early),
        issued_at_station: Some(at_station),
        issued_outside: Some(outside),
        cancelled: Some(received - cast),
        in_portable_boxes: Some(outside),
        in_stationary_boxes: Some(cast - outside),
        invalid: Some(invalid),
        valid: Some(cast - invalid),
        lost: Some(0),
        unaccounted: Some(0),
        voters: None,
        votes: with_codes(votes),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::crowd::tally_reports;
    use crate::verdict::{VerdictKind, verdicts};

    /// A stand-in for the keyed hash: distinct, 64 lowercase hex characters.
    fn fake_pseudonym(id: &str) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "{h:016x}{:016x}{h:016x}{:016x}",
            h.rotate_left(17),
            h.rotate_left(31)
        )
    }

    fn demo() -> Synthetic {
        generate(&SyntheticParams::default(), &fake_pseudonym)
    }

    #[test]
    fn sizes_are_those_of_a_real_election() {
        let s = demo();
        let ds = &s.dataset;
        let home = ds.stations.iter().filter(|s| !s.abroad).count();
        let abroad = ds.stations.iter().filter(|s| s.abroad).count();
        assert!((2_500..=4_000).contains(&home), "{home}");
        assert!((30..=80).contains(&abroad), "{abroad}");
        assert_eq!(ds.info.options.len(), 5);
        assert!(
            ds.info
                .options
                .iter()
                .any(|o| o.kind == OptionKind::AgainstAll)
        );
        assert!(
            ds.info
                .options
                .iter()
                .any(|o| o.kind == OptionKind::Spoiled)
        );
        assert_eq!(ds.exit_polls.len(), abroad);
        // Reports: about one voter in five, about nine in a hundred verified.
        let voters: u64 = s
            .truth
            .iter()
            .flat_map(|t| &t.true_votes)
            .map(|(_, v)| u64::from(*v))
            .sum();
        let sum = |f: fn(&CrowdTally) -> &Vec<(String, u32)>| -> u64 {
            ds.crowd
                .iter()
                .flat_map(f)
                .map(|(_, v)| u64::from(*v))
                .sum()
        };
        let reported = sum(|t| &t.reported) + s.reports.len() as u64;
        let verified = sum(|t| &t.verified);
        let share = reported as f64 / voters as f64;
        assert!((0.12..0.3).contains(&share), "{share}");
        let vshare = verified as f64 / voters as f64;
        assert!((0.05..0.14).contains(&vshare), "{vshare}");
        assert!(
            (1_000..=6_000).contains(&s.reports.len()),
            "{}",
            s.reports.len()
        );
        for kind in [Fraud::Honest, Fraud::Incremental, Fraud::Extreme] {
            assert!(s.count(kind) > 100, "{kind:?}: {}", s.count(kind));
        }
    }

    #[test]
    fn the_hierarchy_and_codes_are_valid() {
        let s = demo();
        let ds = &s.dataset;
        let areas: HashMap<&str, &Area> = ds.areas.iter().map(|a| (a.code.as_str(), a)).collect();
        assert_eq!(areas.len(), ds.areas.len(), "area codes are unique");
        for a in &ds.areas {
            let parent = a.parent.as_deref().map(|p| areas[p].kind);
            let ok = match a.kind {
                AreaKind::Region | AreaKind::Country => parent.is_none(),
                AreaKind::District => parent == Some(AreaKind::Region),
                AreaKind::City => parent == Some(AreaKind::Country),
            };
            assert!(ok, "{a:?}");
        }
        let mut codes = HashSet::new();
        for st in &ds.stations {
            assert!(codes.insert(st.code.as_str()), "duplicate {}", st.code);
            let area = areas[st.area.as_deref().expect("every station has an area")];
            let expected = if st.abroad {
                AreaKind::City
            } else {
                AreaKind::District
            };
            assert_eq!(area.kind, expected, "{st:?}");
            let c = st.coordinates.expect("coordinates");
            assert!((-90.0..=90.0).contains(&c.lat) && (-180.0..=180.0).contains(&c.lon));
            if !st.abroad {
                assert!(st.code.starts_with(&area.code), "{st:?}");
                assert!(
                    (49.0..58.0).contains(&c.lat) && (20.0..35.0).contains(&c.lon),
                    "{c:?}"
                );
            }
        }
        let options: HashSet<&str> = OPTIONS.iter().map(|o| o.0).collect();
        for p in &ds.protocols {
            assert!(codes.contains(p.station.as_str()));
            assert!(
                p.figures
                    .votes
                    .iter()
                    .all(|(c, _)| options.contains(c.as_str()))
            );
            if let ProtocolSource::ObserverCopy { observer } = &p.source {
                assert_eq!(observer.len(), 64);
            }
        }
        for r in &s.reports {
            assert!(codes.contains(r.station.as_str()));
            assert_eq!(r.participant.len(), 64);
            assert!(options.contains(r.option.as_str()));
        }
        // The published figures of an honest station are its true ones.
        let official: HashMap<&str, &ProtocolFigures> = ds
            .protocols
            .iter()
            .filter(|p| p.source == ProtocolSource::Official)
            .map(|p| (p.station.as_str(), &p.figures))
            .collect();
        for t in s.truth.iter().filter(|t| t.fraud == Fraud::Honest) {
            if let Some(f) = official.get(t.station.as_str()) {
                assert_eq!(f.votes, t.true_votes, "{}", t.station);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_election_and_another_seed_another() {
        let a = demo();
        assert_eq!(a, demo());
        let b = generate(
            &SyntheticParams {
                seed: 7,
                ..SyntheticParams::default()
            },
            &fake_pseudonym,
        );
        assert_ne!(a.dataset.protocols, b.dataset.protocols);
    }

    #[test]
    fn every_kind_of_verdict_appears_and_honest_stations_are_not_accused() {
        let s = demo();
        let mut ds = s.dataset.clone();
        // The individual reports, counted as the store counts them.
        ds.crowd.extend(tally_reports(&s.reports));
        let all = verdicts(&ds);
        let truth: HashMap<&str, Fraud> = s
            .truth
            .iter()
            .map(|t| (t.station.as_str(), t.fraud))
            .collect();
        let mut counts: HashMap<VerdictKind, usize> = HashMap::new();
        for v in &all {
            for k in VerdictKind::ALL {
                if v.has(k) {
                    *counts.entry(k).or_default() += 1;
                    // A verdict is evidence of falsification: never at an honest station
                    // (copies differ and proofs arise only where the count was changed).
                    assert_ne!(truth[v.station.as_str()], Fraud::Honest, "{k:?} at {v:?}");
                }
            }
        }
        for k in VerdictKind::ALL {
            assert!(
                counts.get(&k).copied().unwrap_or(0) > 0,
                "no {k:?}: {counts:?}"
            );
        }
        let proven = counts[&VerdictKind::ProvenFalsification];
        assert!(proven >= 100, "{counts:?}");
        let inconsistent = all
            .iter()
            .filter(|v| v.has(VerdictKind::ExitPollInconsistent))
            .count();
        let polled = all.iter().filter(|v| v.has_exit_poll).count();
        assert!(
            inconsistent < polled,
            "some exit polls agree: {inconsistent} of {polled}"
        );
    }
}
