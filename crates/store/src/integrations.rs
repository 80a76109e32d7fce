//! Integrations: programs (a partner's bot, a call-centre tool, a volunteer's form) that send
//! participants' reports through the JSON API, each with its own bearer token.
//!
//! The token is 256 random bits, shown once when the integration is created; the store keeps
//! only its SHA-256 fingerprint (like session and invite tokens), so a stolen database yields no
//! usable token. An integration is scoped to all elections or to a list of election codes, and
//! is revoked, never deleted: its reports stay attributable to it. Creation and revocation are
//! written together with their audit entry in one transaction.

use async_trait::async_trait;
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;

use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntegrationId(pub i64);

/// Which elections an integration may report to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenScope {
    /// Every election, including ones imported later.
    All,
    /// Only these elections, by code (sorted, without duplicates when stored).
    Elections(Vec<String>),
}

impl TokenScope {
    pub fn allows(&self, election: &str) -> bool {
        match self {
            TokenScope::All => true,
            TokenScope::Elections(codes) => codes.iter().any(|c| c == election),
        }
    }

    /// The election codes, sorted and without duplicates (what the store keeps).
    pub fn normalised(&self) -> TokenScope {
        match self {
            TokenScope::All => TokenScope::All,
            TokenScope::Elections(codes) => {
                let mut codes: Vec<String> = codes.iter().map(|c| c.trim().to_owned()).collect();
                codes.retain(|c| !c.is_empty());
                codes.sort();
                codes.dedup();
                TokenScope::Elections(codes)
            }
        }
    }
}

/// A stored integration. The token is not here: only its fingerprint is kept, and not returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub id: IntegrationId,
    pub name: String,
    pub scope: TokenScope,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl Integration {
    /// Whether the integration's token may report to `election` now.
    pub fn may_report_to(&self, election: &str) -> bool {
        self.revoked_at.is_none() && self.scope.allows(election)
    }
}

#[derive(Clone, Debug)]
pub struct NewIntegration {
    pub name: String,
    /// `talaka_core::crypto::token_fingerprint` of the token shown once.
    pub token_fingerprint: String,
    pub scope: TokenScope,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
}

/// Storage for integrations and their tokens' fingerprints.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Store a new integration and `audit` in one transaction. When `audit` has no target, the
    /// store sets it to `integration:{id}`. `Conflict("integration token")` if the fingerprint
    /// is already used; an empty `Elections` scope is refused with `Conflict("scope")`.
    async fn create_integration(
        &self,
        integration: &NewIntegration,
        audit: &NewAudit,
    ) -> Result<Integration>;

    /// Every integration, newest first, revoked ones included.
    async fn integrations(&self) -> Result<Vec<Integration>>;

    async fn integration(&self, id: IntegrationId) -> Result<Option<Integration>>;

    /// The integration whose token has this fingerprint, revoked or not (the caller checks).
    async fn integration_by_fingerprint(&self, fingerprint: &str) -> Result<Option<Integration>>;

    /// Revoke at `at`, with `audit` (target set to `integration:{id}` when it has none), in one
    /// transaction. `NotFound` if there is no such integration or it is already revoked.
    async fn revoke_integration(
        &self,
        id: IntegrationId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
}

/// The audit entry with its target filled in when the caller left it empty.
pub fn audit_with_target(audit: &NewAudit, id: IntegrationId) -> NewAudit {
    let mut a = audit.clone();
    if a.target.is_none() {
        a.target = Some(format!("integration:{}", id.0));
    }
    a
}

/// Longest integration name accepted (characters).
pub const MAX_NAME_CHARS: usize = 100;
