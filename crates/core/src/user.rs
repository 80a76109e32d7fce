//! Staff accounts: names, passwords, roles and what each role may do.

use std::fmt;
use std::str::FromStr;

use crate::Secret;

/// A staff account's database id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("a user name needs at least 3 characters")]
    TooShort,
    #[error("a user name has at most 32 characters")]
    TooLong,
    #[error("a user name may contain only the letters a-z, digits, '.', '_' and '-'")]
    BadCharacter,
    #[error("a user name must start with a letter or a digit")]
    BadStart,
}

/// A staff login name: 3 to 32 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
/// Upper-case input is folded to lower case, so `Anna` and `anna` are the same account.
/// It is a pseudonym chosen by the organisation, never a person's real name by necessity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        let s = input.trim().to_ascii_lowercase();
        let n = s.chars().count();
        if n < 3 {
            return Err(UsernameError::TooShort);
        }
        if n > 32 {
            return Err(UsernameError::TooLong);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            return Err(UsernameError::BadCharacter);
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(UsernameError::BadStart);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new password that meets the policy: 12 to 256 characters, any characters (ASVS 6.2:
/// length, not composition rules). Kept in a [`Secret`] so it cannot reach a log.
#[derive(Clone, Debug)]
pub struct NewPassword(Secret<String>);

impl NewPassword {
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let n = input.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(Secret::new(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// What a staff member may do is decided by their role alone.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the installation: accounts, invites, the audit log.
    Admin,
    /// Runs a campaign: elections, volunteers, cases (modules add their permissions).
    Coordinator,
    /// Reads results and runs analyses; sees no personal data.
    Analyst,
    /// Reviews crowd reports and community content.
    Moderator,
    /// Works detention cases; the only role that reads lawyers' personal details.
    Lawyer,
    /// A field observer with a staff login; submits, sees little.
    Observer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; the roles are admin, coordinator, analyst, moderator, lawyer, observer"
)]
pub struct RoleError(pub String);

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Coordinator,
        Role::Analyst,
        Role::Moderator,
        Role::Lawyer,
        Role::Observer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Analyst => "analyst",
            Role::Moderator => "moderator",
            Role::Lawyer => "lawyer",
            Role::Observer => "observer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, RoleError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| RoleError(s.to_owned()))
    }

    /// Least privilege: the whole table of who may do what, in one place.
    pub fn can(self, p: Permission) -> bool {
        use Permission::*;
        match p {
            ManageUsers | ViewAudit => self == Role::Admin,
            ImportElections => matches!(self, Role::Admin | Role::Coordinator),
            ModeratePhotos => matches!(self, Role::Admin | Role::Coordinator | Role::Moderator),
            WorkCases => matches!(self, Role::Coordinator | Role::Lawyer),
            ReadPersonalDetails => self == Role::Lawyer,
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capability that some roles have. Modules add their own variants and extend [`Role::can`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create, disable and change the role of staff accounts; issue invites.
    ManageUsers,
    /// Read the audit log.
    ViewAudit,
    /// Upload election data (official protocols, crowd tallies, exit polls) for import.
    ImportElections,
    /// Look at participants' ballot photos and confirm or reject them (the review queue).
    ModeratePhotos,
    /// The detention-case dashboard: the queue of alerts, case statuses, assignment, notes,
    /// delivery status. Lawyers and coordinators; not admins (running the installation is
    /// not working cases).
    WorkCases,
    /// Reveal a detained person's registered details (name, date of birth, relative's phone,
    /// health needs). Lawyers only; every reveal is written to the audit log.
    ReadPersonalDetails,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse(" Anna.K ").unwrap().as_str(), "anna.k");
        assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort));
        assert_eq!(Username::parse("anna k"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("анна"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("-anna"), Err(UsernameError::BadStart));
        assert_eq!(
            Username::parse(&"a".repeat(33)),
            Err(UsernameError::TooLong)
        );
        assert!(Username::parse("anna\nadmin").is_err());
    }

    #[test]
    fn password_policy_is_length() {
        assert_eq!(
            NewPassword::parse("short").unwrap_err(),
            PasswordError::TooShort
        );
        assert!(NewPassword::parse("дванаццаць літар").is_ok());
        assert_eq!(
            NewPassword::parse(&"x".repeat(257)).unwrap_err(),
            PasswordError::TooLong
        );
        let p = NewPassword::parse("correct horse battery").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn roles_round_trip_and_only_admin_manages() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
            assert_eq!(r.can(Permission::ManageUsers), r == Role::Admin);
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn only_moderators_coordinators_and_admins_see_ballot_photos() {
        for r in Role::ALL {
            assert_eq!(
                r.can(Permission::ModeratePhotos),
                matches!(r, Role::Admin | Role::Coordinator | Role::Moderator),
                "{r}"
            );
        }
    }

    #[test]
    fn only_lawyers_read_personal_details_and_only_case_workers_see_cases() {
        for r in Role::ALL {
            assert_eq!(
                r.can(Permission::ReadPersonalDetails),
                r == Role::Lawyer,
                "{r}"
            );
            assert_eq!(
                r.can(Permission::WorkCases),
                matches!(r, Role::Lawyer | Role::Coordinator),
                "{r}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsed_usernames_are_always_safe(s in "\\PC{0,40}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert!(u.as_str().len() >= 3 && u.as_str().len() <= 32);
                prop_assert!(u.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
                prop_assert_eq!(Username::parse(u.as_str()), Ok(u.clone()));
            }
        }
    }
}
