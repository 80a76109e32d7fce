//! The Safety module's integration tests: one binary, one module per area.

mod bot;
mod checkins;
mod delivery;
mod support;
