//! The web tier driven over real HTTP: one integration-test binary.

mod access;
mod auth;
mod logs;
mod postgres;
mod shell;
mod support;
mod views;
