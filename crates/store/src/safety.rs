//! The Safety module's storage: people registered with the safety bot, their trusted contacts,
//! check-in schedules (the dead man's switch), alerts with one delivery row per recipient, and
//! the detention cases staff work on.
//!
//! # What the store sees
//!
//! Every piece of personal data arrives here already sealed ([`Sealed`]: XChaCha20-Poly1305
//! under the safety key, which lives in a key file outside the database; see `talaka-safety`).
//! The store keeps bytes it cannot read. What it can read is only what it must query on:
//! keyed pseudonyms (HMAC of a Telegram user id), fingerprints of invite codes and check-in
//! codes, states, times, and counts. The database file alone therefore reveals no name, phone
//! number, Telegram id or e-mail address.
//!
//! # Alerts and delivery
//!
//! [`SafetyStore::raise_alert`] writes, in one transaction, the alert, the person's case (a new
//! one, or the open one when someone already reported the same person), a timeline event and
//! one delivery row per recipient. Each delivery row has an idempotency key (alert, kind,
//! recipient, channel) under a unique constraint, so no retry of the raise can create a second
//! delivery. A worker then claims due rows with a lease ([`SafetyStore::claim_deliveries`]),
//! sends, and only afterwards marks them sent; a worker killed between sending and marking
//! loses its lease and the row is claimed again (at least once; see the safety docs for how
//! duplicates are kept rare and recognisable).
//!
//! # Deadlines
//!
//! A check-in schedule keeps one indexed `due_at`: the time of its next event (the warning,
//! then the firing). Finding due schedules is one index range scan, so its cost depends on how
//! many are due, not on how many are armed.

use async_trait::async_trait;
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;

use crate::Result;

macro_rules! id_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);
    )*};
}

id_type! {
    /// A person registered with the safety bot.
    PersonId,
    /// One of a person's trusted contacts.
    ContactId,
    /// One raised alert (several alerts may belong to one case).
    AlertId,
    /// A detention case: one per detained person and episode.
    CaseId,
    /// One message to one recipient over one channel.
    DeliveryId,
}

/// Ciphertext the store keeps but cannot read (see the module docs). `Debug` shows only its
/// length.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored (and URL/form) name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)* _ => None }
            }
        }
    };
}

str_enum! {
    /// What raised an alert.
    Trigger {
        /// The person pressed "I am detained" (or sent `/detained`).
        SelfReport => "self",
        /// A trusted contact reported the person detained.
        Contact => "contact",
        /// The person missed a check-in deadline and its grace period.
        MissedCheckIn => "missed_checkin",
        /// The person checked in with the duress code.
        Duress => "duress",
    }
}

str_enum! {
    /// Where an alert is in its life.
    AlertState {
        /// Inside its cancel window: deliveries wait until `deliver_at`.
        Pending => "pending",
        /// Being (or been) delivered.
        Active => "active",
        /// Cancelled inside the window: nobody was told.
        Cancelled => "cancelled",
        /// The person said they are safe; recipients are being told.
        StoodDown => "stood_down",
    }
}

str_enum! {
    /// A delivery channel.
    Channel {
        Telegram => "telegram",
        Email => "email",
    }
}

str_enum! {
    /// What a delivery says.
    MessageKind {
        /// The alert itself.
        Alert => "alert",
        /// "Stand down: the person is safe", to everyone the alert reached or was reaching.
        StandDown => "stand_down",
        /// To the person: their check-in deadline is near.
        CheckInWarning => "checkin_warning",
    }
}

str_enum! {
    /// A delivery row's state.
    DeliveryStatus {
        /// Waiting for `next_attempt_at`.
        Pending => "pending",
        /// Claimed by a worker until `lease_until`; a lapsed lease makes it claimable again.
        Sending => "sending",
        /// The channel accepted the message.
        Sent => "sent",
        /// Withdrawn before it was sent (the alert was cancelled or stood down).
        Cancelled => "cancelled",
        /// Every attempt failed: staff must reach this recipient another way.
        Escalated => "escalated",
    }
}

str_enum! {
    /// A case's status, in the order a case usually moves through them.
    CaseStatus {
        Reported => "reported",
        Confirmed => "confirmed",
        InCustody => "in_custody",
        Court => "court",
        Sentenced => "sentenced",
        Released => "released",
        /// Closed without a detention (a false alarm, a stand-down) or merged into another.
        Closed => "closed",
    }
}

impl CaseStatus {
    /// A closed case starts the retention clock for its personal details.
    pub fn is_closed(self) -> bool {
        matches!(self, CaseStatus::Released | CaseStatus::Closed)
    }

    /// Whether the person is behind bars (the public list of political prisoners).
    pub fn is_imprisoned(self) -> bool {
        matches!(
            self,
            CaseStatus::InCustody | CaseStatus::Court | CaseStatus::Sentenced
        )
    }
}

str_enum! {
    /// A check-in schedule's state.
    ScheduleState {
        /// Waiting for the warning time.
        Armed => "armed",
        /// Warned; waiting for the deadline plus grace.
        Warned => "warned",
        /// The alert was raised; disarmed until the person checks in or re-arms.
        Fired => "fired",
    }
}

// ---------------------------------------------------------------- people and contacts

/// A registration, as the bot writes it.
#[derive(Clone, Debug)]
pub struct NewPerson {
    /// Keyed hash of the person's Telegram user id (how the bot finds them again).
    pub pseudonym: String,
    /// A random public handle, also the associated data every seal of this person's data is
    /// bound to (a sealed field moved to another person fails to open).
    pub person_ref: String,
    /// The details lawyers need (name, date of birth, city, relative's phone, health needs,
    /// free text, consent to be named publicly), sealed.
    pub details: Sealed,
    /// How to reach the person (Telegram chat id, language), sealed.
    pub reach: Sealed,
    /// The configured organisation to notify (its key in the configuration).
    pub organisation: String,
    /// Keyed hashes of the ordinary check-in code and the duress code.
    pub checkin_code_hash: String,
    pub duress_code_hash: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: PersonId,
    pub pseudonym: String,
    pub person_ref: String,
    pub details: Sealed,
    pub reach: Sealed,
    pub organisation: String,
    pub checkin_code_hash: String,
    pub duress_code_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewContact {
    pub channel: Channel,
    /// Keyed hash of the contact's Telegram user id (so the bot can find whom a contact
    /// watches over); `None` for e-mail contacts.
    pub pseudonym: Option<String>,
    /// Keyed hash of the address (chat id or e-mail): the recipient part of idempotency keys,
    /// and what stops the same contact being added twice.
    pub address_key: String,
    /// The address (and, for Telegram, the language), sealed.
    pub address: Sealed,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub person: PersonId,
    pub channel: Channel,
    pub pseudonym: Option<String>,
    pub address_key: String,
    pub address: Sealed,
    pub created_at: Timestamp,
}

// ---------------------------------------------------------------- schedules

/// A check-in schedule: check in every `interval_ms`; a warning `warn_before_ms` before the
/// deadline; the alert `grace_ms` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub person: PersonId,
    pub interval_ms: i64,
    pub warn_before_ms: i64,
    pub grace_ms: i64,
    pub deadline: Timestamp,
    pub state: ScheduleState,
    /// The next event: `deadline - warn_before` when armed, `deadline + grace` when warned,
    /// `None` when fired.
    pub due_at: Option<Timestamp>,
}

impl Schedule {
    /// A schedule armed now with its first deadline one interval away.
    pub fn armed(
        person: PersonId,
        now: Timestamp,
        interval_ms: i64,
        warn_before_ms: i64,
        grace_ms: i64,
    ) -> Self {
        let deadline = Timestamp(now.0.saturating_add(interval_ms));
        Schedule {
            person,
            interval_ms,
            warn_before_ms,
            grace_ms,
            deadline,
            state: ScheduleState::Armed,
            due_at: Some(Timestamp(deadline.0.saturating_sub(warn_before_ms))),
        }
    }

    /// The same schedule after a check-in at `now`: the next deadline one interval on.
    pub fn checked_in(&self, now: Timestamp) -> Self {
        Schedule::armed(
            self.person,
            now,
            self.interval_ms,
            self.warn_before_ms,
            self.grace_ms,
        )
    }

    /// When the alert fires if nobody checks in.
    pub fn fires_at(&self) -> Timestamp {
        Timestamp(self.deadline.0.saturating_add(self.grace_ms))
    }
}

// ---------------------------------------------------------------- alerts and deliveries

/// One recipient of an alert, resolved by the caller from the person's contacts and the
/// organisation's configured recipients.
#[derive(Clone, Debug)]
pub struct NewRecipient {
    /// Who this is, without personal data: `contact:12`, `org:viasna:2`, `person`.
    pub label: String,
    pub channel: Channel,
    /// Keyed hash of the address: part of the idempotency key.
    pub address_key: String,
    pub address: Sealed,
}

#[derive(Clone, Debug)]
pub struct NewAlert {
    pub person: PersonId,
    pub trigger: Trigger,
    /// The contact who triggered it, for [`Trigger::Contact`].
    pub by_contact: Option<ContactId>,
    pub raised_at: Timestamp,
    /// `raised_at` plus the cancel window (or `raised_at` when there is none).
    pub deliver_at: Timestamp,
    /// The person's details, copied into a new case: the organisation's record stays when the
    /// person later uses `/forget` (a seized phone must not be able to erase a detention case).
    pub details_snapshot: Sealed,
    /// The person's `person_ref`, which the snapshot is sealed to.
    pub person_ref: String,
    pub recipients: Vec<NewRecipient>,
    /// Attempts per delivery before it is escalated to staff.
    pub max_attempts: u32,
}

/// What [`SafetyStore::raise_alert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaiseOutcome {
    /// A new alert with its deliveries, in `case` (new or already open).
    Raised { alert: AlertId, case: CaseId },
    /// The person already has a pending or active alert: no new deliveries, a timeline event
    /// on its case instead. A pending alert (inside its cancel window) raised again by
    /// someone else is delivered at once.
    AlreadyRaised { alert: AlertId, case: CaseId },
}

impl RaiseOutcome {
    pub fn alert(self) -> AlertId {
        match self {
            RaiseOutcome::Raised { alert, .. } | RaiseOutcome::AlreadyRaised { alert, .. } => alert,
        }
    }

    pub fn case(self) -> CaseId {
        match self {
            RaiseOutcome::Raised { case, .. } | RaiseOutcome::AlreadyRaised { case, .. } => case,
        }
    }
}

/// What [`SafetyStore::stand_down`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandDownOutcome {
    /// There was no pending or active alert.
    NothingRaised,
    /// Nothing had been sent yet: the alert and its deliveries were cancelled.
    Cancelled(AlertId),
    /// The alert was stood down: unsent deliveries cancelled, and a stand-down delivery made
    /// for every recipient it reached or was reaching (`notified` of them).
    StoodDown { alert: AlertId, notified: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub id: AlertId,
    pub case: CaseId,
    pub person: Option<PersonId>,
    pub trigger: Trigger,
    pub by_contact: Option<ContactId>,
    pub state: AlertState,
    pub raised_at: Timestamp,
    pub deliver_at: Timestamp,
}

/// A delivery the worker claimed: everything needed to compose and send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub alert: Option<AlertId>,
    pub case: Option<CaseId>,
    /// The person a check-in warning is for.
    pub person: Option<PersonId>,
    /// The `person_ref` the address (and the case's details) are sealed to: the case's for an
    /// alert or stand-down, the person's for a warning.
    pub person_ref: String,
    pub kind: MessageKind,
    pub channel: Channel,
    pub label: String,
    pub address: Sealed,
    /// `alert-7/alert/telegram/<address key>`: stable across retries and restarts.
    pub idempotency_key: String,
    /// This attempt's number, counting from 1 (pass it back when recording the result).
    pub attempt: u32,
    pub max_attempts: u32,
}

/// A delivery as staff see it on the case page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub alert: Option<AlertId>,
    pub kind: MessageKind,
    pub channel: Channel,
    pub label: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// A check-in warning for a person, written with the schedule's change.
#[derive(Clone, Debug)]
pub struct NewWarning {
    pub address_key: String,
    pub address: Sealed,
    pub max_attempts: u32,
}

// ---------------------------------------------------------------- cases

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub id: CaseId,
    /// The registration it came from; `None` once the person used `/forget`.
    pub person: Option<PersonId>,
    /// What the sealed fields of this case are bound to.
    pub person_ref: String,
    pub status: CaseStatus,
    /// The details snapshot; `None` once retention deleted it.
    pub details: Option<Sealed>,
    /// Where the person is held, sealed.
    pub custody: Option<Sealed>,
    pub court_date: Option<String>,
    /// The sentence, sealed.
    pub sentence: Option<Sealed>,
    pub assigned_to: Option<UserId>,
    /// The case this one was merged into.
    pub merged_into: Option<CaseId>,
    /// Shown on the public page of political prisoners (only with the person's consent, which
    /// the caller checks in the sealed details).
    pub public_listed: bool,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// When retention deleted its personal details.
    pub purged_at: Option<Timestamp>,
}

/// A row of the case queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSummary {
    pub case: Case,
    /// The trigger of its latest alert.
    pub last_trigger: Option<Trigger>,
    pub alerts: u32,
    /// Deliveries by status over all its alerts.
    pub sent: u32,
    pub waiting: u32,
    pub escalated: u32,
}

/// A change of status with what the new status needs.
#[derive(Clone, Debug)]
pub struct CaseUpdate {
    pub status: CaseStatus,
    /// For [`CaseStatus::InCustody`]: where, sealed.
    pub custody: Option<Sealed>,
    /// For [`CaseStatus::Court`]: the hearing date (`YYYY-MM-DD`).
    pub court_date: Option<String>,
    /// For [`CaseStatus::Sentenced`]: the term, sealed.
    pub sentence: Option<Sealed>,
}

str_enum! {
    /// What a timeline entry records.
    EventKind {
        AlertRaised => "alert_raised",
        ReportedAgain => "reported_again",
        AlertCancelled => "alert_cancelled",
        StoodDown => "stood_down",
        DeliveryEscalated => "delivery_escalated",
        StatusChanged => "status_changed",
        Assigned => "assigned",
        Note => "note",
        Merged => "merged",
        PublicListing => "public_listing",
        PersonForgot => "person_forgot",
        Purged => "purged",
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseEvent {
    pub id: i64,
    pub case: CaseId,
    pub at: Timestamp,
    /// The staff member, or `None` for the person, a contact or the system.
    pub actor: Option<UserId>,
    pub kind: EventKind,
    /// Plain words without personal data: a status name, a trigger, a delivery label.
    pub summary: String,
    /// A note's text, sealed.
    pub sealed: Option<Sealed>,
}

/// A row of the public list of political prisoners.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicPrisoner {
    pub case: CaseId,
    pub person_ref: String,
    pub status: CaseStatus,
    /// The snapshot the caller opens for the name (and checks consent in).
    pub details: Sealed,
    pub since: Timestamp,
}

str_enum! {
    /// Every column that holds a [`Sealed`] value (for key rotation).
    SealedColumn {
        PersonDetails => "person.details",
        PersonReach => "person.reach",
        ContactAddress => "contact.address",
        DeliveryAddress => "delivery.address",
        CaseDetails => "case.details",
        CaseCustody => "case.custody",
        CaseSentence => "case.sentence",
        EventNote => "event.note",
    }
}

/// One stored sealed value, where it lives and whom it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedValue {
    pub column: SealedColumn,
    /// The row's id in its table.
    pub row: i64,
    /// The `person_ref` the value is sealed to.
    pub person_ref: String,
    pub sealed: Sealed,
}

/// Storage for the Safety module. Every write that staff make takes its audit entry and writes
/// both in one transaction.
#[async_trait]
pub trait SafetyStore: Send + Sync {
    // ---- people ----

    /// Register, or replace the registration of the person with this pseudonym (their
    /// contacts and schedule stay). A replacement must keep the stored `person_ref` (the
    /// contacts are sealed to it): `Conflict("person_ref")` if it differs, or if a new
    /// registration's `person_ref` is taken.
    async fn save_person(&self, person: &NewPerson) -> Result<Person>;
    async fn person(&self, id: PersonId) -> Result<Option<Person>>;
    async fn person_by_pseudonym(&self, pseudonym: &str) -> Result<Option<Person>>;
    /// `/forget`: delete the registration, contacts, invites, schedule and unsent check-in
    /// warnings; cancel a pending alert. Cases keep their snapshot (see [`NewAlert`]) but lose
    /// the link to the person, with a timeline event. Returns whether the person existed.
    async fn forget_person(&self, id: PersonId, at: Timestamp) -> Result<bool>;
    /// How many people are registered (for `/metrics`).
    async fn count_people(&self) -> Result<u64>;

    // ---- trusted contacts ----

    /// `Conflict("contact")` if the person already has a contact with this address key.
    async fn add_contact(&self, person: PersonId, contact: &NewContact) -> Result<Contact>;
    async fn contacts(&self, person: PersonId) -> Result<Vec<Contact>>;
    /// Returns whether the contact existed and belonged to the person.
    async fn remove_contact(&self, person: PersonId, contact: ContactId) -> Result<bool>;
    /// The people a Telegram user is a trusted contact of.
    async fn watched_by(&self, contact_pseudonym: &str) -> Result<Vec<(Person, ContactId)>>;
    /// Store an invite code's fingerprint; a person has at most one live invite (a new one
    /// replaces the old).
    async fn create_contact_invite(
        &self,
        person: PersonId,
        fingerprint: &str,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Atomically: check the invite is unexpired, add the contact, delete the invite.
    /// `NotFound` for an unknown or expired code; `Conflict("contact")` if already a contact.
    async fn redeem_contact_invite(
        &self,
        fingerprint: &str,
        now: Timestamp,
        contact: &NewContact,
    ) -> Result<Contact>;

    // ---- check-in schedules ----

    /// Arm (or replace) the person's schedule.
    async fn arm_schedule(&self, schedule: &Schedule) -> Result<()>;
    async fn disarm_schedule(&self, person: PersonId) -> Result<bool>;
    async fn schedule(&self, person: PersonId) -> Result<Option<Schedule>>;
    /// Schedules whose `due_at <= now`, earliest first, at most `limit`.
    async fn due_schedules(&self, now: Timestamp, limit: u32) -> Result<Vec<Schedule>>;
    /// How many schedules are armed or warned.
    async fn count_armed_schedules(&self) -> Result<u64>;
    /// If the schedule is still armed for `deadline`: mark it warned (due at the deadline
    /// plus grace) and queue `warning` to the person, in one transaction. `false` if it
    /// changed meanwhile (a check-in), and nothing is written.
    async fn warn_schedule(
        &self,
        person: PersonId,
        deadline: Timestamp,
        at: Timestamp,
        warning: &NewWarning,
    ) -> Result<bool>;
    /// If the schedule is still armed or warned for `deadline`: mark it fired and raise
    /// `alert`, in one transaction. `None` if it changed meanwhile.
    async fn fire_schedule(
        &self,
        person: PersonId,
        deadline: Timestamp,
        alert: &NewAlert,
    ) -> Result<Option<RaiseOutcome>>;

    // ---- alerts ----

    /// See the module docs and [`RaiseOutcome`]. Also cancels the person's unsent check-in
    /// warnings, and marks a schedule fired (an alert is out; re-arming is the person's
    /// decision).
    async fn raise_alert(&self, alert: &NewAlert) -> Result<RaiseOutcome>;
    /// The person's pending or active alert, if any.
    async fn open_alert(&self, person: PersonId) -> Result<Option<Alert>>;
    async fn alert(&self, id: AlertId) -> Result<Option<Alert>>;
    /// "I am safe" (or "cancel" inside the window). See [`StandDownOutcome`].
    async fn stand_down(&self, person: PersonId, at: Timestamp) -> Result<StandDownOutcome>;

    // ---- delivery ----

    /// Claim up to `limit` deliveries that are due: pending with `next_attempt_at <= now`, or
    /// sending with a lapsed lease. Each claim counts an attempt and sets the lease. Two
    /// workers never hold the same delivery at once.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// The channel accepted it. `false` (and no change) if this attempt no longer holds the
    /// delivery (its lease lapsed and another worker took it).
    async fn delivery_sent(&self, id: DeliveryId, attempt: u32, at: Timestamp) -> Result<bool>;
    /// Try again at `retry_at`. With `count_attempt = false` (flood control: Telegram asked
    /// to wait) the attempt is given back. `false` if this attempt no longer holds it.
    async fn delivery_retry(
        &self,
        id: DeliveryId,
        attempt: u32,
        error: &str,
        retry_at: Timestamp,
        count_attempt: bool,
    ) -> Result<bool>;
    /// Give up: escalated to staff, with a timeline event on the case.
    async fn delivery_escalate(
        &self,
        id: DeliveryId,
        attempt: u32,
        error: &str,
        at: Timestamp,
    ) -> Result<bool>;
    /// The earliest `next_attempt_at` of a pending delivery, or lease end of a sending one,
    /// so the worker can sleep until then.
    async fn next_delivery_at(&self) -> Result<Option<Timestamp>>;
    /// Deliveries by status (for `/metrics` and the dashboard's header).
    async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>>;

    // ---- cases ----

    /// Newest activity first; only open cases unless `include_closed`.
    async fn list_cases(&self, include_closed: bool, limit: u32) -> Result<Vec<CaseSummary>>;
    async fn case(&self, id: CaseId) -> Result<Option<Case>>;
    async fn case_alerts(&self, id: CaseId) -> Result<Vec<Alert>>;
    async fn case_deliveries(&self, id: CaseId) -> Result<Vec<DeliveryRecord>>;
    /// Oldest first.
    async fn case_timeline(&self, id: CaseId) -> Result<Vec<CaseEvent>>;
    /// Change the status (closing sets `closed_at`; reopening clears it).
    async fn update_case(
        &self,
        id: CaseId,
        update: &CaseUpdate,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn assign_case(
        &self,
        id: CaseId,
        lawyer: Option<UserId>,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn add_case_note(
        &self,
        id: CaseId,
        note: &Sealed,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Merge `from` into `into` (two registrations or reports of one person): alerts and
    /// timeline move, `from` is closed as merged. `Conflict("merge")` for a case into itself
    /// or into a merged case.
    async fn merge_cases(
        &self,
        into: CaseId,
        from: CaseId,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn set_public_listing(
        &self,
        id: CaseId,
        listed: bool,
        actor: UserId,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Listed cases whose status is in custody, court or sentenced, with their details.
    async fn public_prisoners(&self) -> Result<Vec<PublicPrisoner>>;
    /// Retention: for cases closed before `closed_before` and not yet purged, delete the
    /// details snapshot, custody, sentence and notes, keeping statuses and times. Returns how
    /// many cases were purged; writes `audit` once if any were.
    async fn purge_closed_cases(
        &self,
        closed_before: Timestamp,
        at: Timestamp,
        audit: &NewAudit,
    ) -> Result<u64>;

    // ---- key rotation ----

    /// Every sealed value in the database (`talaka safety rotate-key` re-seals them all).
    async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        Err(crate::StoreError::Unsupported(
            "this backend cannot list sealed values yet",
        ))
    }

    /// Replace sealed values in one transaction: each `(old, new)` pair's row must still hold
    /// `old.sealed`, or nothing is written and the answer is `Conflict("sealed value")` (the
    /// data changed meanwhile: run the rotation again). Returns how many were replaced.
    async fn replace_sealed(&self, replacements: &[(SealedValue, Sealed)]) -> Result<u64> {
        let _ = replacements;
        Err(crate::StoreError::Unsupported(
            "this backend cannot replace sealed values yet",
        ))
    }
}
