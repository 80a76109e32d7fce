//! The elections module's domain: what Golos, Exitpol Abroad and the observers of 2020 collected,
//! and the verdicts Talaka draws from it per polling station, each with its evidence in a
//! sentence a journalist can quote.
//!
//! Invariant: pure. No I/O, no clock, no randomness; storage and channels live elsewhere.

pub mod model;

pub use model::*;
