//! The elections module's domain: what Golos, Exitpol Abroad and the observers of 2020 collected,
//! and the verdicts Talaka draws from it per polling station, each with its evidence in a
//! sentence a journalist can quote.
//!
//! Invariant: pure. No I/O, no clock, no randomness but the seeded generator
//! (`talaka_forensics::rng`, in `synthetic`); storage and channels live elsewhere.

pub mod arithmetic;
pub mod crowd;
pub mod estimate;
pub mod exitpoll;
pub mod model;
pub mod observer;
pub mod synthetic;
pub mod verdict;
pub mod words;

pub use model::*;
pub use verdict::{
    StationInput, StationVerdicts, Summary, Verdict, VerdictKind, VerdictOptions, station_verdicts,
    summarize, verdicts, verdicts_with,
};
