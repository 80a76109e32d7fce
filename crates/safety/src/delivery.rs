//! The delivery worker: sends alerts, stand-downs and check-in warnings over Telegram and
//! e-mail, with retries, back-off and Telegram's rate limits.
//!
//! [`Deliverer::run_once`] claims the due delivery rows with a lease
//! ([`SafetyStore::claim_deliveries`](talaka_store::SafetyStore::claim_deliveries)), opens each
//! sealed address, composes the text ([`crate::texts`]), sends a bounded number at once, and
//! records each result:
//!
//! | result | what is recorded |
//! |---|---|
//! | accepted | `delivery_sent` |
//! | Telegram `429` (`retry_after`) | `delivery_retry` at `now + retry_after`, **not** counted as an attempt; every Telegram send pauses for as long |
//! | transient: Telegram 5xx, timeout, transport; SMTP 4xx, timeout, connection | `delivery_retry` after the back-off ([`talaka_core::jobs::backoff`]) while attempts remain, else `delivery_escalate` |
//! | permanent: Telegram 4xx (chat not found, bot blocked, wrong token); SMTP 5xx; an address that does not open; a channel not configured | `delivery_escalate` at once |
//!
//! An escalated delivery shows on the case for staff to reach that recipient another way.
//!
//! # Delivery guarantees
//!
//! - **At least once.** A row is marked sent only after the channel accepted the message. A
//!   worker that dies (or hangs) before recording loses its lease, and the row is claimed
//!   again once the lease lapses; every claim counts an attempt, so a row that keeps killing
//!   workers is escalated in the end rather than retried forever.
//! - **One row per message.** There is exactly one delivery row per (alert, kind, channel,
//!   recipient): its idempotency key is under a unique constraint, so re-raising an alert or
//!   re-running a transaction cannot queue a second copy.
//! - **A duplicate only in one window.** A recipient can get a message twice only when the
//!   worker dies (or its lease lapses) between the channel accepting the message and the row
//!   being marked sent. Every send is bounded by a timeout well inside the lease (a third of
//!   it), so an ordinary slow send cannot outlive its lease and be sent again by another
//!   worker.
//! - **Duplicates are recognisable.** An e-mail's `Message-ID` is made from the idempotency
//!   key ([`message_id`]), so mail systems and clients drop the copy. Each Telegram message
//!   carries the alert's reference (`A-17`), so a human sees it is the same alert again.
//!
//! # What is logged and stored
//!
//! Errors stored on a delivery (`last_error`, shown to staff) and log lines hold ids, the
//! channel and the kind of failure (`telegram: rate limited`, `smtp: 451 at RCPT`), never an
//! address, a name or a message's text.
//!
//! # Clocks
//!
//! Every stored time (claims, leases, retry times) comes from `safety.clock`, so tests drive the
//! worker with a manual clock. Real waiting (the rate limiter, send timeouts, the idle sleep)
//! uses tokio's timers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use talaka_core::Timestamp;
use talaka_core::config::SafetyConfig;
use talaka_mail::{EmailAddress, MailError, SmtpClient};
use talaka_store::safety::{Channel, ClaimedDelivery, MessageKind, Trigger};
use talaka_telegram::{BotApi, RetryPolicy, SendMessage, TelegramError};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::alerts::{Safety, SafetyError};
use crate::details::{Address, PersonDetails};
use crate::ratelimit::RateLimiter;
use crate::texts::{self, Audience, Composed};

/// How the worker paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliverySettings {
    /// How long a claimed delivery is this worker's. Each send is cut off at a third of it.
    pub lease: Duration,
    /// Most deliveries claimed at once.
    pub batch: u32,
    /// Most sends in flight at once.
    pub concurrency: usize,
    /// Longest idle sleep between looks at the queue (a wake-up or a due time comes sooner).
    pub idle_poll: Duration,
    /// Back-off after a transient failure: doubles from `retry_base` up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
}

impl DeliverySettings {
    pub fn from_config(config: &SafetyConfig) -> Self {
        DeliverySettings {
            lease: Duration::from_secs(config.delivery_lease_seconds.clamp(3, 3600)),
            batch: 50,
            concurrency: 8,
            idle_poll: Duration::from_secs(30),
            retry_base: Duration::from_secs(config.retry_base_seconds.max(1)),
            retry_cap: Duration::from_secs(
                config
                    .retry_cap_seconds
                    .max(config.retry_base_seconds.max(1)),
            ),
        }
    }

    /// The limit on one send (Telegram call or SMTP session): a third of the lease, so that a
    /// send, the wait for a rate-limit slot and the recording all fit inside it.
    pub fn send_timeout(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }

    /// The longest wait for a rate-limit slot before the delivery is given back for later
    /// instead (it must not eat the lease).
    fn max_slot_wait(&self) -> Duration {
        self.lease / 3
    }
}

/// The `Message-ID` (without angle brackets) of the e-mail for a delivery: its idempotency
/// key made header-safe, so every retry of one delivery carries the same id and receivers drop
/// duplicates.
pub fn message_id(idempotency_key: &str) -> String {
    let left: String = idempotency_key
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '.'
            }
        })
        .collect();
    let left = left.trim_matches('.');
    let left = if left.is_empty() { "delivery" } else { left };
    format!("{left}@talaka.safety")
}

/// What became of one send.
enum Verdict {
    Sent,
    /// Flood control: try again after the wait, without counting the attempt.
    Wait(Duration, &'static str),
    Transient(String),
    Permanent(String),
}

fn telegram_verdict(e: &TelegramError) -> Verdict {
    match e {
        TelegramError::RateLimited { retry_after } => Verdict::Wait(
            Duration::from_secs((*retry_after).max(1)),
            "telegram: rate limited",
        ),
        TelegramError::Timeout => Verdict::Transient("telegram: timeout".into()),
        TelegramError::Transport(_) => Verdict::Transient("telegram: transport error".into()),
        TelegramError::BadResponse { status } => {
            Verdict::Transient(format!("telegram: unexpected answer (HTTP {status})"))
        }
        TelegramError::Api { code, .. } if *code >= 500 => {
            Verdict::Transient(format!("telegram: {code}"))
        }
        // 400 chat not found, 403 bot blocked, 401 wrong token: trying again cannot help.
        TelegramError::Api { code, .. } => Verdict::Permanent(format!("telegram: {code}")),
        TelegramError::Config(_) => Verdict::Permanent("telegram: bad settings".into()),
        TelegramError::FileTooLarge { .. } => Verdict::Permanent("telegram: too large".into()),
    }
}

fn mail_verdict(e: &MailError) -> Verdict {
    // The variants carry no address or reply text (see talaka-mail), but only their kind is
    // kept here all the same.
    let what = match e {
        MailError::Rejected { code, stage } => {
            format!("smtp: {code} at {}", stage.to_ascii_uppercase())
        }
        MailError::Timeout => "smtp: timeout".into(),
        MailError::Connect(_) => "smtp: cannot connect".into(),
        MailError::Tls(_) => "smtp: TLS failed".into(),
        MailError::Protocol(_) => "smtp: protocol error".into(),
        MailError::Config(_) => "smtp: bad settings".into(),
        MailError::Invalid(what) => format!("smtp: invalid e-mail ({what})"),
        MailError::Unsupported(what) => format!("smtp: server lacks {what}"),
    };
    if e.is_transient() {
        Verdict::Transient(what)
    } else {
        Verdict::Permanent(what)
    }
}

/// What happened to a delivery after the result was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    Retrying {
        at: Timestamp,
    },
    Escalated,
    /// The lease lapsed and another worker holds the delivery: this result was discarded.
    Stale,
}

struct Inner {
    safety: Safety,
    telegram: Option<BotApi>,
    smtp: Option<SmtpClient>,
    settings: DeliverySettings,
    limiter: Mutex<RateLimiter>,
}

/// The delivery worker. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("telegram", &self.inner.telegram.is_some())
            .field("smtp", &self.inner.smtp.is_some())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// `telegram` is the safety bot's client (`None`: Telegram deliveries are escalated); it
    /// is reconfigured to return flood control at once (the worker reschedules instead of
    /// sleeping in the client) and to time out within the lease. `smtp` is `None` when no relay
    /// is configured.
    pub fn new(
        safety: Safety,
        telegram: Option<BotApi>,
        smtp: Option<SmtpClient>,
        settings: DeliverySettings,
    ) -> Self {
        let telegram = telegram.map(|bot| {
            bot.with_retry(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .with_timeout(settings.send_timeout())
        });
        let limiter = RateLimiter::new(
            safety.config.telegram_per_chat_per_second,
            safety.config.telegram_global_per_second,
        );
        Deliverer {
            inner: Arc::new(Inner {
                safety,
                telegram,
                smtp,
                settings,
                limiter: Mutex::new(limiter),
            }),
        }
    }

    pub fn settings(&self) -> &DeliverySettings {
        &self.inner.settings
    }

    /// Claim the due deliveries, send them (at most `concurrency` at once) and record each
    /// result. Returns how many were claimed. A failure to record one result is logged and left
    /// to the lease (the delivery is claimed again when it lapses).
    pub async fn run_once(&self) -> Result<usize, SafetyError> {
        let s = &self.inner.settings;
        let now = self.inner.safety.clock.now();
        let claimed = self
            .inner
            .safety
            .stores
            .claim_deliveries(now, now.plus(s.lease), s.batch.max(1))
            .await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let permits = Arc::new(Semaphore::new(s.concurrency.max(1)));
        // Dropping the set (this future cancelled) aborts every send in it: what was not
        // recorded is claimed again after the lease.
        let mut tasks = JoinSet::new();
        for d in claimed {
            let this = self.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                this.deliver_logged(d).await;
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                tracing::error!("a delivery task panicked; it is retried after its lease");
            }
        }
        Ok(n)
    }

    /// Send one claimed delivery and record the result.
    pub async fn deliver(&self, d: ClaimedDelivery) -> Result<Recorded, SafetyError> {
        let verdict = self.attempt(&d).await;
        self.record(&d, verdict).await
    }

    async fn attempt(&self, d: &ClaimedDelivery) -> Verdict {
        let safety = &self.inner.safety;
        let Ok(address) = Address::open(&safety.keys, &d.person_ref, &d.address) else {
            return Verdict::Permanent("address: cannot be opened".into());
        };
        if address.channel() != d.channel {
            return Verdict::Permanent("address: wrong channel".into());
        }
        let composed = match self.compose(d, &address).await {
            Ok(c) => c,
            // The store is the trouble, not the recipient: try again.
            Err(e) => {
                tracing::warn!(delivery = d.id.0, error = %e, "could not compose a delivery");
                return Verdict::Transient("storage: cannot compose".into());
            }
        };
        match address {
            Address::Telegram { chat_id, .. } => self.send_telegram(chat_id, composed).await,
            Address::Email { address, .. } => {
                self.send_email(&address, composed, &d.idempotency_key)
                    .await
            }
        }
    }

    async fn compose(
        &self,
        d: &ClaimedDelivery,
        address: &Address,
    ) -> Result<Composed, SafetyError> {
        let safety = &self.inner.safety;
        let store = &safety.stores;
        let bot_name = &safety.config.telegram.bot_name;
        let language = address.language();
        if d.kind == MessageKind::CheckInWarning {
            let reference = format!("W-{}", d.id.0);
            let deadline = match d.person {
                Some(p) => store.schedule(p).await?.map(|s| s.deadline),
                None => None,
            };
            return Ok(match deadline {
                Some(t) => texts::compose_warning(t, &reference, language, bot_name),
                None => texts::compose(
                    d.kind,
                    None,
                    Audience::Person,
                    None,
                    &reference,
                    language,
                    bot_name,
                ),
            });
        }
        let reference = match d.alert {
            Some(a) => format!("A-{}", a.0),
            None => format!("D-{}", d.id.0),
        };
        let trigger: Option<Trigger> = match d.alert {
            Some(a) => store.alert(a).await?.map(|a| a.trigger),
            None => None,
        };
        // The snapshot is sealed to its case's person_ref; after a merge that can differ from
        // the one this delivery's address is sealed to.
        let sealed = match d.case {
            Some(c) => store
                .case(c)
                .await?
                .and_then(|c| c.details.map(|d| (c.person_ref, d))),
            None => None,
        };
        let details = sealed.and_then(|(person_ref, s)| {
            PersonDetails::open(&safety.keys, &person_ref, &s)
                .inspect_err(|_| {
                    tracing::warn!(
                        delivery = d.id.0,
                        "a case's details did not open; sending the alert without them"
                    );
                })
                .ok()
        });
        let audience = if d.label.starts_with("org:") {
            Audience::Organisation
        } else if d.label == "person" {
            Audience::Person
        } else {
            Audience::Contact
        };
        Ok(texts::compose(
            d.kind,
            trigger,
            audience,
            details.as_ref(),
            &reference,
            language,
            bot_name,
        ))
    }

    async fn send_telegram(&self, chat_id: i64, composed: Composed) -> Verdict {
        let Some(bot) = &self.inner.telegram else {
            return Verdict::Permanent("telegram: not configured".into());
        };
        // Wait for a token from the rate limiter, but never so long that the lease is at risk:
        // then the delivery is given back for when the limiter expects a token.
        let mut waited = Duration::ZERO;
        loop {
            let wait = self
                .inner
                .limiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .reserve(chat_id);
            let Some(wait) = wait else { break };
            if waited + wait > self.inner.settings.max_slot_wait() {
                return Verdict::Wait(wait, "telegram: paused by rate limit");
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
        let message = SendMessage::text(chat_id, composed.text);
        let timeout = self.inner.settings.send_timeout();
        match tokio::time::timeout(timeout, bot.send_message(&message)).await {
            Ok(Ok(_)) => Verdict::Sent,
            Ok(Err(e)) => {
                let v = telegram_verdict(&e);
                if let Verdict::Wait(pause, _) = &v {
                    self.inner
                        .limiter
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .pause_all(*pause);
                }
                v
            }
            Err(_) => Verdict::Transient("telegram: timeout".into()),
        }
    }

    async fn send_email(&self, to: &str, composed: Composed, idempotency_key: &str) -> Verdict {
        let Some(smtp) = &self.inner.smtp else {
            return Verdict::Permanent("smtp: not configured".into());
        };
        let Ok(to) = EmailAddress::parse(to) else {
            return Verdict::Permanent("smtp: invalid address".into());
        };
        let email = talaka_mail::Email {
            to,
            subject: composed.subject,
            body: composed.text,
            message_id: message_id(idempotency_key),
        };
        let timeout = self.inner.settings.send_timeout();
        match tokio::time::timeout(timeout, smtp.send(&email)).await {
            Ok(Ok(())) => Verdict::Sent,
            Ok(Err(e)) => mail_verdict(&e),
            Err(_) => Verdict::Transient("smtp: timeout".into()),
        }
    }

    async fn record(&self, d: &ClaimedDelivery, verdict: Verdict) -> Result<Recorded, SafetyError> {
        let safety = &self.inner.safety;
        let store = &safety.stores;
        let now = safety.clock.now();
        let (id, attempt) = (d.id, d.attempt);
        let channel = d.channel.as_str();
        let kind = d.kind.as_str();
        let result = match verdict {
            Verdict::Sent => {
                if store.delivery_sent(id, attempt, now).await? {
                    tracing::info!(delivery = id.0, attempt, channel, kind, "delivered");
                    Recorded::Sent
                } else {
                    Recorded::Stale
                }
            }
            Verdict::Wait(wait, why) => {
                let at = now.plus(wait);
                if store.delivery_retry(id, attempt, why, at, false).await? {
                    tracing::warn!(delivery = id.0, attempt, channel, error = why, "waiting");
                    Recorded::Retrying { at }
                } else {
                    Recorded::Stale
                }
            }
            Verdict::Transient(why) if attempt < d.max_attempts => {
                let s = &self.inner.settings;
                let at = now.plus(talaka_core::jobs::backoff(
                    attempt,
                    s.retry_base,
                    s.retry_cap,
                ));
                if store.delivery_retry(id, attempt, &why, at, true).await? {
                    tracing::warn!(
                        delivery = id.0,
                        attempt,
                        channel,
                        error = why.as_str(),
                        "delivery failed; will retry"
                    );
                    Recorded::Retrying { at }
                } else {
                    Recorded::Stale
                }
            }
            Verdict::Transient(why) | Verdict::Permanent(why) => {
                if store.delivery_escalate(id, attempt, &why, now).await? {
                    tracing::error!(
                        delivery = id.0,
                        attempt,
                        channel,
                        kind,
                        error = why.as_str(),
                        "delivery escalated to staff"
                    );
                    Recorded::Escalated
                } else {
                    Recorded::Stale
                }
            }
        };
        if result == Recorded::Stale {
            tracing::warn!(
                delivery = id.0,
                attempt,
                "delivery was re-claimed after its lease lapsed; result discarded"
            );
        }
        Ok(result)
    }

    /// Deliver until `shutdown` turns `true` (or its sender is dropped), as a pipeline: due
    /// deliveries are claimed whenever there is room, and each channel has its own
    /// `concurrency` of sends in flight, so a slow SMTP relay never holds up Telegram alerts
    /// (nor the other way round), and a new alert does not wait for an earlier batch to
    /// finish. When nothing is due the worker sleeps until the next due time, a wake-up from
    /// a raise, the idle poll, or shutdown. Sends still in flight at shutdown are cancelled;
    /// their leases lapse and they are sent again.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let s = self.inner.settings;
        let safety = self.inner.safety.clone();
        let per_channel = s.concurrency.max(1);
        let telegram_permits = Arc::new(Semaphore::new(per_channel));
        let email_permits = Arc::new(Semaphore::new(per_channel));
        // Claimed and not yet recorded: at most this many, so leases are not wasted on rows
        // that would only wait for a permit.
        let most_in_flight = 2 * per_channel;
        let mut in_flight: JoinSet<()> = JoinSet::new();
        tracing::info!("safety delivery worker started");
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            // Registered before looking, so a wake-up during the look is not lost.
            let woken = safety.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            while let Some(joined) = in_flight.try_join_next() {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    tracing::error!("a delivery task panicked; it is retried after its lease");
                }
            }
            let room = most_in_flight.saturating_sub(in_flight.len());
            let mut sleep_for = s.idle_poll;
            let mut claimed_any = false;
            if room > 0 {
                let now = safety.clock.now();
                let limit = u32::try_from(room).unwrap_or(u32::MAX).min(s.batch.max(1));
                match safety
                    .stores
                    .claim_deliveries(now, now.plus(s.lease), limit)
                    .await
                {
                    Ok(claimed) => {
                        claimed_any = !claimed.is_empty();
                        for d in claimed {
                            let permits = match d.channel {
                                Channel::Telegram => telegram_permits.clone(),
                                Channel::Email => email_permits.clone(),
                            };
                            let this = self.clone();
                            in_flight.spawn(async move {
                                let _permit = permits.acquire_owned().await;
                                this.deliver_logged(d).await;
                            });
                        }
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "safety delivery: store error, retrying after the idle poll"
                    ),
                }
            }
            if claimed_any && in_flight.len() < most_in_flight {
                // There may be more due right now.
                continue;
            }
            if !claimed_any {
                match safety.stores.next_delivery_at().await {
                    Ok(Some(at)) => {
                        let ms = at.millis().saturating_sub(safety.clock.now().millis());
                        // Due already but not claimable (another worker holds it): look again
                        // soon, not in a busy loop.
                        let ms = u64::try_from(ms).unwrap_or(0).max(50);
                        sleep_for = sleep_for.min(Duration::from_millis(ms));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "safety delivery: store error"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(sleep_for) => {}
                () = &mut woken => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        in_flight.abort_all();
        tracing::info!("safety delivery worker stopped");
    }

    /// [`Deliverer::deliver`], with the outcome logged (ids only).
    async fn deliver_logged(&self, d: ClaimedDelivery) {
        let (id, attempt) = (d.id.0, d.attempt);
        match self.deliver(d).await {
            Ok(r) => tracing::debug!(delivery = id, attempt, result = ?r, "delivery done"),
            Err(e) => tracing::error!(
                delivery = id,
                attempt,
                error = %e,
                "could not record a delivery's result; it is retried after its lease"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_header_safe_and_stable() {
        let key = "alert-7/alert/email/9f86d081884c7d65";
        let id = message_id(key);
        assert_eq!(id, "alert-7.alert.email.9f86d081884c7d65@talaka.safety");
        assert_eq!(id, message_id(key));
        let odd = message_id("a b<c>\r\n@d");
        assert!(
            odd.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        );
        assert_eq!(odd.matches('@').count(), 1);
        assert_eq!(message_id(""), "delivery@talaka.safety");
    }

    #[test]
    fn errors_are_classified_without_personal_data() {
        let v = telegram_verdict(&TelegramError::Api {
            code: 403,
            description: "Forbidden: bot was blocked by the user Ales".into(),
        });
        assert!(matches!(v, Verdict::Permanent(ref m) if m == "telegram: 403"));
        assert!(matches!(
            telegram_verdict(&TelegramError::Api {
                code: 502,
                description: String::new()
            }),
            Verdict::Transient(_)
        ));
        assert!(matches!(
            telegram_verdict(&TelegramError::RateLimited { retry_after: 7 }),
            Verdict::Wait(d, "telegram: rate limited") if d == Duration::from_secs(7)
        ));
        let v = mail_verdict(&MailError::Rejected {
            code: 451,
            stage: "rcpt",
        });
        assert!(matches!(v, Verdict::Transient(ref m) if m == "smtp: 451 at RCPT"));
        let v = mail_verdict(&MailError::Rejected {
            code: 550,
            stage: "rcpt",
        });
        assert!(matches!(v, Verdict::Permanent(ref m) if m == "smtp: 550 at RCPT"));
        assert!(matches!(
            mail_verdict(&MailError::Connect("ales@example.org refused".into())),
            Verdict::Transient(ref m) if m == "smtp: cannot connect"
        ));
    }
}
