//! The Safety module's tables. (Being written: every method answers `Unsupported` until
//! the implementation lands.)

use async_trait::async_trait;
use talaka_core::Timestamp;
use talaka_core::audit::NewAudit;
use talaka_core::user::UserId;
use talaka_store::safety::*;
use talaka_store::{Result, StoreError};

use crate::SqliteStore;

const PENDING: &str = "the safety tables are not implemented yet";

#[async_trait]
impl SafetyStore for SqliteStore {
    async fn save_person(&self, _person: &NewPerson) -> Result<Person> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn person(&self, _id: PersonId) -> Result<Option<Person>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn person_by_pseudonym(&self, _pseudonym: &str) -> Result<Option<Person>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn forget_person(&self, _id: PersonId, _at: Timestamp) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn count_people(&self) -> Result<u64> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn add_contact(&self, _person: PersonId, _contact: &NewContact) -> Result<Contact> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn contacts(&self, _person: PersonId) -> Result<Vec<Contact>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn remove_contact(&self, _person: PersonId, _contact: ContactId) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn watched_by(&self, _contact_pseudonym: &str) -> Result<Vec<(Person, ContactId)>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn create_contact_invite(
        &self,
        _person: PersonId,
        _fingerprint: &str,
        _expires_at: Timestamp,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn redeem_contact_invite(
        &self,
        _fingerprint: &str,
        _now: Timestamp,
        _contact: &NewContact,
    ) -> Result<Contact> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn arm_schedule(&self, _schedule: &Schedule) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn disarm_schedule(&self, _person: PersonId) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn schedule(&self, _person: PersonId) -> Result<Option<Schedule>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn due_schedules(&self, _now: Timestamp, _limit: u32) -> Result<Vec<Schedule>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn count_armed_schedules(&self) -> Result<u64> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn warn_schedule(
        &self,
        _person: PersonId,
        _deadline: Timestamp,
        _at: Timestamp,
        _warning: &NewWarning,
    ) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn fire_schedule(
        &self,
        _person: PersonId,
        _deadline: Timestamp,
        _alert: &NewAlert,
    ) -> Result<Option<RaiseOutcome>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn raise_alert(&self, _alert: &NewAlert) -> Result<RaiseOutcome> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn open_alert(&self, _person: PersonId) -> Result<Option<Alert>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn alert(&self, _id: AlertId) -> Result<Option<Alert>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn stand_down(&self, _person: PersonId, _at: Timestamp) -> Result<StandDownOutcome> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn claim_deliveries(
        &self,
        _now: Timestamp,
        _lease_until: Timestamp,
        _limit: u32,
    ) -> Result<Vec<ClaimedDelivery>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn delivery_sent(&self, _id: DeliveryId, _attempt: u32, _at: Timestamp) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn delivery_retry(
        &self,
        _id: DeliveryId,
        _attempt: u32,
        _error: &str,
        _retry_at: Timestamp,
        _count_attempt: bool,
    ) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn delivery_escalate(
        &self,
        _id: DeliveryId,
        _attempt: u32,
        _error: &str,
        _at: Timestamp,
    ) -> Result<bool> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn list_cases(&self, _include_closed: bool, _limit: u32) -> Result<Vec<CaseSummary>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn case(&self, _id: CaseId) -> Result<Option<Case>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn case_alerts(&self, _id: CaseId) -> Result<Vec<Alert>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn case_deliveries(&self, _id: CaseId) -> Result<Vec<DeliveryRecord>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn case_timeline(&self, _id: CaseId) -> Result<Vec<CaseEvent>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn update_case(
        &self,
        _id: CaseId,
        _update: &CaseUpdate,
        _actor: UserId,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn assign_case(
        &self,
        _id: CaseId,
        _lawyer: Option<UserId>,
        _actor: UserId,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn add_case_note(
        &self,
        _id: CaseId,
        _note: &Sealed,
        _actor: UserId,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn merge_cases(
        &self,
        _into: CaseId,
        _from: CaseId,
        _actor: UserId,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn set_public_listing(
        &self,
        _id: CaseId,
        _listed: bool,
        _actor: UserId,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<()> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn public_prisoners(&self) -> Result<Vec<PublicPrisoner>> {
        Err(StoreError::Unsupported(PENDING))
    }

    async fn purge_closed_cases(
        &self,
        _closed_before: Timestamp,
        _at: Timestamp,
        _audit: &NewAudit,
    ) -> Result<u64> {
        Err(StoreError::Unsupported(PENDING))
    }
}
