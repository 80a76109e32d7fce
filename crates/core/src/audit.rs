//! The audit log's vocabulary: who did what to which record. Entries are append-only; the
//! store enforces that with database triggers, and writes each entry in the same transaction
//! as the change it records.

use std::fmt;

use crate::Timestamp;
use crate::user::UserId;

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in staff member.
    User(UserId),
    /// Someone at the server's console (`talaka user …`).
    Cli,
    /// Talaka itself (expiry, retention, jobs).
    System,
    /// Not signed in (a failed login for an unknown name, an invite being redeemed).
    Anonymous,
}

impl Actor {
    pub fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::Cli => "cli",
            Actor::System => "system",
            Actor::Anonymous => "anonymous",
        }
    }

    pub fn user_id(self) -> Option<UserId> {
        match self {
            Actor::User(id) => Some(id),
            _ => None,
        }
    }

    /// Rebuild from the two stored columns.
    pub fn from_parts(kind: &str, user: Option<i64>) -> Self {
        match (kind, user) {
            ("user", Some(id)) => Actor::User(UserId(id)),
            ("cli", _) => Actor::Cli,
            ("system", _) => Actor::System,
            _ => Actor::Anonymous,
        }
    }
}

macro_rules! actions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What happened. The stored form is the dotted name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditAction { $($variant),* }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(AuditAction::$variant => $name),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(AuditAction::$variant),)* _ => None }
            }
        }
    };
}

actions! {
    LoginSucceeded => "login.succeeded",
    LoginFailed => "login.failed",
    LoginThrottled => "login.throttled",
    Logout => "logout",
    SessionEnded => "session.ended",
    PasswordChanged => "password.changed",
    UserCreated => "user.created",
    RoleChanged => "user.role_changed",
    UserDisabled => "user.disabled",
    UserEnabled => "user.enabled",
    InviteCreated => "invite.created",
    InviteRevoked => "invite.revoked",
    InviteRedeemed => "invite.redeemed",
    BackupWritten => "backup.written",
    ElectionImported => "election.imported",
    ElectionCreated => "election.created",
    ReportModerated => "report.moderated",
    ApiTokenCreated => "api_token.created",
    ApiTokenRevoked => "api_token.revoked",
    CaseDetailsViewed => "case.details_viewed",
    CaseStatusChanged => "case.status_changed",
    CaseAssigned => "case.assigned",
    CaseNoteAdded => "case.note_added",
    CaseNotesViewed => "case.notes_viewed",
    CasesMerged => "case.merged",
    CasePublicListing => "case.public_listing",
    CasesPurged => "case.purged",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to append. `target` names the record acted on (`user:12`, `invite:3`); `detail` is
/// a short plain-words note. Neither may hold personal data or secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAudit {
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    pub target: Option<String>,
    pub detail: String,
}

impl NewAudit {
    pub fn new(at: Timestamp, actor: Actor, action: AuditAction) -> Self {
        Self {
            at,
            actor,
            action,
            target: None,
            detail: String::new(),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: Actor,
    /// The acting user's name at read time, when the actor is a user.
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "duplicate {}", a.as_str());
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
    }

    #[test]
    fn actors_round_trip_through_columns() {
        for a in [
            Actor::User(UserId(7)),
            Actor::Cli,
            Actor::System,
            Actor::Anonymous,
        ] {
            assert_eq!(Actor::from_parts(a.kind(), a.user_id().map(|u| u.0)), a);
        }
    }
}
