//! The Safety module (see `docs/safety.md` and `../shared/PRODUCT.md`, module 2): a person
//! registers with a neutral-named bot; if they are detained (they say so, a trusted contact
//! says so, they miss a check-in, or they check in with their duress code) an alert goes to
//! their contacts and their organisation, and staff follow the case on the dashboard.
//!
//! - [`alerts`]: [`Safety`], the shared state, and raising and standing down alerts.
//! - [`keys`]: the key file and sealing (XChaCha20-Poly1305) of every personal field.
//! - [`details`]: what is sealed: a person's details, how to reach them, a contact's address.
//! - [`bot`]: the safety bot's commands and registration dialog.
//! - [`checkins`]: the dead man's switch: warnings and firing of due check-in deadlines.
//! - [`delivery`]: the worker that delivers alerts with retries, back-off and rate limits.
//! - [`texts`]: the messages alerts and warnings are made of.
//!
//! Nothing here speaks HTTP to staff or knows SQL: the server crate has the dashboard, the
//! store crates the tables.

pub mod alerts;
pub mod bot;
pub mod checkins;
pub mod delivery;
pub mod details;
pub mod keys;
pub mod rotation;
pub mod texts;

pub use alerts::{Safety, SafetyError};
pub use details::{Address, PersonDetails, Reach};
pub use keys::{KeyFileError, Keyring, OpenError, Purpose};
