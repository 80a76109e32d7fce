//! What the Safety module seals: a person's details for lawyers, how to reach the person, and a
//! recipient's address. Each type's `Debug` hides its contents, so none of it can reach a log
//! by a stray `{:?}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use talaka_store::safety::Sealed;

use crate::keys::{Keyring, OpenError, Purpose};

/// What lawyers need when a person is detained. Sealed as [`Purpose::Details`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDetails {
    pub full_name: String,
    /// As the person typed it (`YYYY-MM-DD` asked for, not enforced: a lawyer reads it).
    pub date_of_birth: String,
    pub city: String,
    /// A relative's phone number, for lawyers to call.
    pub relative_phone: String,
    /// Medication, conditions, anything the person needs in custody.
    pub health: String,
    /// Anything else the person wants lawyers to know.
    pub notes: String,
    /// Consent to be named on the public list of political prisoners if imprisoned.
    #[serde(default)]
    pub public_consent: bool,
}

impl fmt::Debug for PersonDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonDetails([redacted])")
    }
}

impl PersonDetails {
    pub fn seal(&self, keys: &Keyring, person_ref: &str) -> Sealed {
        keys.seal_json(Purpose::Details, person_ref, self)
    }

    pub fn open(keys: &Keyring, person_ref: &str, sealed: &Sealed) -> Result<Self, OpenError> {
        keys.open_json(Purpose::Details, person_ref, sealed)
    }
}

/// How to reach a registered person: their private chat with the safety bot and the language
/// they use. Sealed as [`Purpose::Reach`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    pub chat_id: i64,
    pub language: String,
}

impl fmt::Debug for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reach([redacted])")
    }
}

impl Reach {
    pub fn seal(&self, keys: &Keyring, person_ref: &str) -> Sealed {
        keys.seal_json(Purpose::Reach, person_ref, self)
    }

    pub fn open(keys: &Keyring, person_ref: &str, sealed: &Sealed) -> Result<Self, OpenError> {
        keys.open_json(Purpose::Reach, person_ref, sealed)
    }
}

/// Where a message goes. Sealed as [`Purpose::Address`], bound to the `person_ref` of the
/// person it concerns.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum Address {
    Telegram { chat_id: i64, language: String },
    Email { address: String, language: String },
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Telegram { .. } => f.write_str("Address::Telegram([redacted])"),
            Address::Email { .. } => f.write_str("Address::Email([redacted])"),
        }
    }
}

impl Address {
    pub fn channel(&self) -> talaka_store::safety::Channel {
        match self {
            Address::Telegram { .. } => talaka_store::safety::Channel::Telegram,
            Address::Email { .. } => talaka_store::safety::Channel::Email,
        }
    }

    pub fn language(&self) -> &str {
        match self {
            Address::Telegram { language, .. } | Address::Email { language, .. } => language,
        }
    }

    /// What the store may see of it: a keyed hash (the recipient part of idempotency keys),
    /// made by the caller's installation key.
    pub fn key_material(&self) -> String {
        match self {
            Address::Telegram { chat_id, .. } => format!("telegram:{chat_id}"),
            Address::Email { address, .. } => format!("email:{}", address.to_lowercase()),
        }
    }

    pub fn seal(&self, keys: &Keyring, person_ref: &str) -> Sealed {
        keys.seal_json(Purpose::Address, person_ref, self)
    }

    pub fn open(keys: &Keyring, person_ref: &str, sealed: &Sealed) -> Result<Self, OpenError> {
        keys.open_json(Purpose::Address, person_ref, sealed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_and_never_print() {
        let keys = Keyring::generate().unwrap();
        let d = PersonDetails {
            full_name: "Ales Bialiatski".into(),
            relative_phone: "+375290000000".into(),
            public_consent: true,
            ..Default::default()
        };
        let sealed = d.seal(&keys, "ref1");
        assert_eq!(PersonDetails::open(&keys, "ref1", &sealed).unwrap(), d);
        assert!(!format!("{d:?}{sealed:?}").contains("Bialiatski"));
        let a = Address::Email {
            address: "Duty@Example.org".into(),
            language: "be".into(),
        };
        assert_eq!(a.key_material(), "email:duty@example.org");
        assert!(!format!("{a:?}").contains("example"));
        // Sealed as an address, it is not a person's details.
        assert!(PersonDetails::open(&keys, "ref1", &a.seal(&keys, "ref1")).is_err());
    }
}
