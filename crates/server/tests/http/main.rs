//! The web tier driven over real HTTP: one integration-test binary.

mod access;
mod api;
mod auth;
mod cases;
mod elections;
mod logs;
mod moderation;
mod participate;
mod postgres;
mod safety_bot;
mod shell;
mod support;
mod telegram;
mod views;
