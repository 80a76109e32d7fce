//! Election forensics: the statistical fingerprints that falsification leaves in
//! polling-station results, each with its number and a plain-words reading of what it does and
//! does not show. A statistical anomaly is not proof of fraud; Talaka's proof comes from
//! verified ballots and protocols (the elections module). These tests say where to look.
//!
//! Invariant: pure computation. No I/O, no async, no clock; randomness only from the seeded
//! generator in [`rng`], so every result is reproducible from its inputs and seed.
//!
//! Definitions follow Kobak, Shpilkin & Pshenichnikov (Annals of Applied Statistics 2016):
//! V = registered voters, G = ballots issued, R = ballots cast (valid + invalid),
//! L = votes for the leader; turnout t = G/V, leader share s = L/R.

pub mod analysis;
pub mod digits;
pub mod distributions;
pub mod election;
pub mod integer;
pub mod klimek;
pub mod reading;
pub mod rng;
pub mod shpilkin;
pub mod sobyanin;
pub mod special;

pub use election::{Election, ElectionBuilder, ElectionError, Station};
pub use reading::Reading;
