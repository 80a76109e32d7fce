//! Talaka's core: domain types that validate on construction, configuration, and the
//! cryptographic primitives every module shares (password hashing, random tokens, keyed hashes).
//!
//! Invariant: no I/O. Nothing here opens a file, a socket or a database; the only outside input
//! is the operating system's random generator and clock, both behind small seams.

pub mod audit;
pub mod config;
pub mod crypto;
pub mod csv;
pub mod jobs;
pub mod secret;
pub mod texts;
pub mod time;
pub mod user;

pub use secret::Secret;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
