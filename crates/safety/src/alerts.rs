//! Raising and standing down alerts: what the bot, the check-in ticker and the dashboard share.
//!
//! [`Safety`] holds what every part of the module needs: the stores, the safety keys, the
//! installation key (for pseudonyms and keyed hashes), the configuration and the clock. Raising
//! an alert resolves its recipients (the person's trusted contacts, then the organisation's
//! configured recipients), seals each address to the person, and hands the whole alert to
//! [`SafetyStore::raise_alert`](talaka_store::SafetyStore::raise_alert), which writes it with
//! one delivery row per recipient in one transaction. Then it wakes the delivery worker.

use std::sync::Arc;
use std::time::Duration;

use talaka_core::Clock;
use talaka_core::config::SafetyConfig;
use talaka_core::crypto::SecretKey;
use talaka_store::safety::{
    ContactId, NewAlert, NewRecipient, Person, RaiseOutcome, StandDownOutcome, Trigger,
};
use talaka_store::{StoreError, Stores};
use tokio::sync::Notify;

use crate::details::Address;
use crate::keys::{Keyring, OpenError};

#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Open(#[from] OpenError),
}

/// The Safety module's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Safety {
    pub stores: Arc<dyn Stores>,
    pub keys: Keyring,
    /// The installation key: pseudonyms, address keys and check-in code hashes.
    pub hasher: SecretKey,
    pub config: Arc<SafetyConfig>,
    pub clock: Arc<dyn Clock>,
    /// Notified whenever deliveries were queued, so the worker need not wait for its poll.
    pub wake: Arc<Notify>,
}

impl std::fmt::Debug for Safety {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Safety")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Safety {
    pub fn new(
        stores: Arc<dyn Stores>,
        keys: Keyring,
        hasher: SecretKey,
        config: SafetyConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Safety {
            stores,
            keys,
            hasher,
            config: Arc::new(config),
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The pseudonym of a Telegram user, as a person and as a contact alike.
    pub fn telegram_pseudonym(&self, user_id: i64) -> String {
        self.hasher.keyed_hash(
            "talaka.safety.telegram-user",
            user_id.to_string().as_bytes(),
        )
    }

    /// The keyed hash of an address: the recipient part of idempotency keys.
    pub fn address_key(&self, address: &Address) -> String {
        self.hasher
            .keyed_hash("talaka.safety.address", address.key_material().as_bytes())
    }

    /// The keyed hash of a check-in or duress code, bound to the person.
    pub fn code_hash(&self, person_ref: &str, code: &str) -> String {
        let data = format!("{person_ref}\0{}", code.trim());
        self.hasher
            .keyed_hash("talaka.safety.checkin-code", data.as_bytes())
    }

    /// Everyone an alert about `person` goes to: their contacts, then their organisation's
    /// configured recipients, each sealed to the person. Addresses that appear twice (a lawyer
    /// who is also a contact) are told once.
    pub async fn recipients(&self, person: &Person) -> Result<Vec<NewRecipient>, SafetyError> {
        let mut out: Vec<NewRecipient> = Vec::new();
        for c in self.stores.contacts(person.id).await? {
            out.push(NewRecipient {
                label: format!("contact:{}", c.id.0),
                channel: c.channel,
                address_key: c.address_key.clone(),
                address: c.address.clone(),
            });
        }
        if let Some(org) = self.config.organisation(&person.organisation) {
            let addresses = org
                .telegram_chat_ids
                .iter()
                .map(|&chat_id| Address::Telegram {
                    chat_id,
                    language: org.language.clone(),
                })
                .chain(org.emails.iter().map(|e| Address::Email {
                    address: e.clone(),
                    language: org.language.clone(),
                }));
            for (i, a) in addresses.enumerate() {
                out.push(NewRecipient {
                    label: format!("org:{}:{}", org.key, i + 1),
                    channel: a.channel(),
                    address_key: self.address_key(&a),
                    address: a.seal(&self.keys, &person.person_ref),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| seen.insert((r.channel, r.address_key.clone())));
        Ok(out)
    }

    /// The alert `trigger` raises for `person` now, with its recipients.
    pub async fn new_alert(
        &self,
        person: &Person,
        trigger: Trigger,
        by_contact: Option<ContactId>,
    ) -> Result<NewAlert, SafetyError> {
        let now = self.clock.now();
        // Only the person's own "I am detained" waits for a cancel; a contact has confirmed
        // with a button, and a missed deadline or a duress code must not wait at all.
        let window = match trigger {
            Trigger::SelfReport => Duration::from_secs(self.config.cancel_window_seconds),
            Trigger::Contact | Trigger::MissedCheckIn | Trigger::Duress => Duration::ZERO,
        };
        Ok(NewAlert {
            person: person.id,
            trigger,
            by_contact,
            raised_at: now,
            deliver_at: now.plus(window),
            details_snapshot: person.details.clone(),
            person_ref: person.person_ref.clone(),
            recipients: self.recipients(person).await?,
            max_attempts: self.config.max_delivery_attempts.max(1),
        })
    }

    /// Raise an alert about `person` and wake the delivery worker.
    pub async fn raise(
        &self,
        person: &Person,
        trigger: Trigger,
        by_contact: Option<ContactId>,
    ) -> Result<RaiseOutcome, SafetyError> {
        let alert = self.new_alert(person, trigger, by_contact).await?;
        let outcome = self.stores.raise_alert(&alert).await?;
        tracing::info!(
            alert = outcome.alert().0,
            case = outcome.case().0,
            trigger = trigger.as_str(),
            "safety alert raised"
        );
        self.wake.notify_one();
        Ok(outcome)
    }

    /// "I am safe": cancel or stand down the person's alert, and wake the worker to tell the
    /// recipients.
    pub async fn stand_down(&self, person: &Person) -> Result<StandDownOutcome, SafetyError> {
        let outcome = self.stores.stand_down(person.id, self.clock.now()).await?;
        self.wake.notify_one();
        Ok(outcome)
    }
}
