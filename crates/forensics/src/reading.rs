//! Plain words for each test: what the number shows and what it does not.

/// One test's result told for a journalist or a lawyer. `caveat` always says what the finding
/// does not show: a statistical anomaly is not proof of fraud.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reading {
    pub test: &'static str,
    pub finding: String,
    pub caveat: String,
}
