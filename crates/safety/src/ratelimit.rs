//! Pacing of Telegram sends: Telegram allows about one message a second to one chat and about
//! thirty a second in all, and answers more with `429 Too Many Requests` and a `retry_after`.
//! Going over the limit only delays alerts further (and risks the bot being restricted), so
//! the delivery worker paces itself below it.
//!
//! [`RateLimiter`] is a pair of token buckets in their "virtual scheduling" form (GCRA): each
//! bucket keeps the time its next token is free. [`RateLimiter::reserve`] takes a token from
//! both the chat's bucket and the global one when both have one, or says how long to wait; a
//! `429` pauses everything with [`RateLimiter::pause_all`]. Times are tokio's [`Instant`] (monotonic, and
//! pausable in tests); the `*_at` variants take the instant explicitly.
//!
//! Memory stays bounded: a chat whose next token is already free is the same as a chat never
//! seen, so such entries are dropped whenever the table grows past [`PRUNE_AT`] entries.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The chat table is pruned of idle chats when it reaches this size.
pub const PRUNE_AT: usize = 1024;

/// Per-chat and global token buckets for Telegram sends. Not thread-safe by itself: the
/// delivery worker keeps it behind a mutex and holds the lock only to reserve.
pub struct RateLimiter {
    /// Time between two sends to one chat.
    chat_interval: Duration,
    /// Time between two sends in all (the sustained global rate).
    global_interval: Duration,
    /// How far ahead of real time the global schedule may run: a burst of up to one second's
    /// worth of messages goes out at once.
    global_burst: Duration,
    /// When the global bucket's next token is free (its "theoretical arrival time").
    global_tat: Option<Instant>,
    /// Per chat: when its next token is free.
    chats: HashMap<i64, Instant>,
    /// Nothing goes out before this (Telegram's `retry_after`).
    paused_until: Option<Instant>,
}

/// Counts only: the chat ids are whom alerts go to.
impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("chat_interval", &self.chat_interval)
            .field("global_interval", &self.global_interval)
            .field("tracked_chats", &self.chats.len())
            .field("paused_until", &self.paused_until)
            .finish_non_exhaustive()
    }
}

fn interval(per_second: f64) -> Duration {
    if per_second.is_finite() && per_second > 0.0 {
        Duration::from_secs_f64(1.0 / per_second)
    } else {
        // A nonsensical setting must not turn the limiter off: fall back to Telegram's own.
        Duration::from_secs(1)
    }
}

impl RateLimiter {
    /// `per_chat` sends a second to one chat, `global` a second in all.
    pub fn new(per_chat: f64, global: f64) -> Self {
        let global_interval = if global.is_finite() && global > 0.0 {
            Duration::from_secs_f64(1.0 / global)
        } else {
            Duration::from_millis(1000 / 30)
        };
        let burst = (global.max(1.0).floor() - 1.0).max(0.0);
        RateLimiter {
            chat_interval: interval(per_chat),
            global_interval,
            global_burst: global_interval.mul_f64(if burst.is_finite() { burst } else { 0.0 }),
            global_tat: None,
            chats: HashMap::new(),
            paused_until: None,
        }
    }

    /// Take a token for a send to `chat` now. `None`: taken, send at once. `Some(wait)`:
    /// nothing taken; ask again after `wait` (or give the delivery back for later). Nothing is
    /// booked ahead, so a chat waiting for its own slot never holds up the others.
    pub fn reserve(&mut self, chat: i64) -> Option<Duration> {
        self.reserve_at(chat, Instant::now())
    }

    /// [`RateLimiter::reserve`] as of `now`.
    pub fn reserve_at(&mut self, chat: i64, now: Instant) -> Option<Duration> {
        if self.chats.len() >= PRUNE_AT {
            self.chats.retain(|_, next| *next > now);
        }
        let mut ready = now;
        match self.paused_until {
            Some(p) if p > now => ready = p,
            Some(_) => self.paused_until = None,
            None => {}
        }
        if let Some(&next) = self.chats.get(&chat) {
            ready = ready.max(next);
        }
        if let Some(tat) = self.global_tat {
            // GCRA: a send conforms once the schedule is at most `burst` ahead of it.
            if let Some(earliest) = tat.checked_sub(self.global_burst) {
                ready = ready.max(earliest);
            }
        }
        if ready > now {
            return Some(ready - now);
        }
        self.chats.insert(chat, now + self.chat_interval);
        let tat = self.global_tat.map_or(now, |t| t.max(now));
        self.global_tat = Some(tat + self.global_interval);
        None
    }

    /// Telegram said "retry after": nothing goes out for `pause` from now.
    pub fn pause_all(&mut self, pause: Duration) {
        self.pause_all_at(pause, Instant::now());
    }

    /// [`RateLimiter::pause_all`] as of `now`.
    pub fn pause_all_at(&mut self, pause: Duration, now: Instant) {
        let until = now + pause;
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// How many chats the limiter currently remembers.
    pub fn tracked_chats(&self) -> usize {
        self.chats.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn one_chat_gets_one_message_a_second() {
        let mut rl = RateLimiter::new(1.0, 30.0);
        let t0 = Instant::now();
        assert_eq!(rl.reserve_at(7, t0), None);
        assert_eq!(rl.reserve_at(7, t0), Some(Duration::from_secs(1)));
        // Asking again takes nothing: the wait is the same.
        assert_eq!(rl.reserve_at(7, t0 + 400 * MS), Some(600 * MS));
        // Another chat is not held up by the first.
        assert_eq!(rl.reserve_at(8, t0), None);
        assert_eq!(rl.reserve_at(7, t0 + Duration::from_secs(1)), None);
        assert_eq!(
            rl.reserve_at(7, t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn the_global_rate_allows_a_burst_then_paces() {
        let mut rl = RateLimiter::new(1.0, 10.0);
        let t0 = Instant::now();
        // Ten different chats at once: the burst.
        for chat in 0..10 {
            assert_eq!(rl.reserve_at(chat, t0), None, "chat {chat}");
        }
        // The eleventh waits for the next global token (100 ms apart).
        let wait = rl.reserve_at(10, t0).unwrap();
        assert!(wait >= 99 * MS && wait <= 101 * MS, "{wait:?}");
        let t1 = t0 + wait;
        assert_eq!(rl.reserve_at(10, t1), None);
        assert!(rl.reserve_at(11, t1).is_some());
        // Sustained: senders that always wait as told get about 10 a second through.
        let mut now = t1;
        let mut sent = 0;
        let mut chat = 100;
        while now < t0 + Duration::from_secs(10) {
            match rl.reserve_at(chat, now) {
                None => {
                    sent += 1;
                    chat += 1;
                }
                Some(w) => now += w,
            }
        }
        // Slots at 200 ms, 300 ms, ... 9.9 s: the burst was paid for by the first second.
        assert!((95..=100).contains(&sent), "{sent}");
    }

    #[test]
    fn pause_all_holds_every_chat_until_it_ends() {
        let mut rl = RateLimiter::new(1.0, 30.0);
        let t0 = Instant::now();
        rl.pause_all_at(Duration::from_secs(5), t0);
        assert_eq!(rl.reserve_at(1, t0), Some(Duration::from_secs(5)));
        assert_eq!(
            rl.reserve_at(2, t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(3))
        );
        // A shorter pause does not shorten a longer one.
        rl.pause_all_at(Duration::from_secs(1), t0);
        assert_eq!(
            rl.reserve_at(3, t0 + Duration::from_secs(4)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(rl.reserve_at(4, t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn idle_chats_are_forgotten() {
        let mut rl = RateLimiter::new(1.0, 1000.0);
        let t0 = Instant::now();
        for i in 0..10_000i64 {
            // Each send one second after the last: every earlier chat is idle by then.
            let now = t0 + Duration::from_secs(u64::try_from(i).unwrap());
            assert_eq!(rl.reserve_at(i, now), None);
            assert!(rl.tracked_chats() <= PRUNE_AT, "{}", rl.tracked_chats());
        }
    }

    #[test]
    fn debug_shows_no_chat_id() {
        let mut rl = RateLimiter::new(1.0, 30.0);
        rl.reserve_at(987_654_321, Instant::now());
        let shown = format!("{rl:?}");
        assert!(
            !shown.contains("987654321") && shown.contains("tracked_chats: 1"),
            "{shown}"
        );
    }

    #[test]
    fn nonsense_settings_still_limit() {
        let mut rl = RateLimiter::new(0.0, f64::NAN);
        let t0 = Instant::now();
        assert_eq!(rl.reserve_at(1, t0), None);
        assert_eq!(rl.reserve_at(1, t0), Some(Duration::from_secs(1)));
    }
}
