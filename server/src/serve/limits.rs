//! Per-tenant token-bucket rate limits and daily quotas.
//!
//! Both are kept in memory: a restart refills the bucket and restarts the day's
//! count (documented in `docs/server.md`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a request was refused, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The token bucket is empty.
    Rate(Duration),
    /// The day's quota is used up.
    Quota(Duration),
}

impl Refusal {
    /// Whole seconds for `Retry-After` (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        let d = match self {
            Refusal::Rate(d) | Refusal::Quota(d) => d,
        };
        d.as_secs_f64().ceil().max(1.0) as u64
    }
}

struct State {
    tokens: f64,
    last: Instant,
    day: u64,
    used: u64,
}

/// One tenant's limiter.
pub struct Limiter {
    rate: f64,
    burst: f64,
    quota: u64,
    state: Mutex<State>,
}

const DAY: u64 = 86_400;

impl Limiter {
    /// `rate` per second (0: unlimited), bucket of `burst`, `quota` per UTC day (0: unlimited).
    pub fn new(rate: f64, burst: f64, quota: u64) -> Limiter {
        Limiter {
            rate,
            burst,
            quota,
            state: Mutex::new(State { tokens: burst, last: Instant::now(), day: 0, used: 0 }),
        }
    }

    /// Takes one request from the token bucket at `now` (done first, before the body
    /// is read).
    pub fn check_rate(&self, now: Instant) -> Result<(), Refusal> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut s = self.state.lock().unwrap();
        let elapsed = now.saturating_duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
        if s.tokens < 1.0 {
            return Err(Refusal::Rate(Duration::from_secs_f64((1.0 - s.tokens) / self.rate)));
        }
        s.tokens -= 1.0;
        Ok(())
    }

    /// Counts one authenticated submission against the day's quota (`unix_secs` for
    /// the UTC day). Only records whose signature passed are charged (SPEC §6).
    pub fn charge_quota(&self, unix_secs: u64) -> Result<(), Refusal> {
        if self.quota == 0 {
            return Ok(());
        }
        let mut s = self.state.lock().unwrap();
        let day = unix_secs / DAY;
        if s.day != day {
            s.day = day;
            s.used = 0;
        }
        if s.used >= self.quota {
            return Err(Refusal::Quota(Duration::from_secs((day + 1) * DAY - unix_secs)));
        }
        s.used += 1;
        Ok(())
    }

    /// [`Limiter::check_rate`] then [`Limiter::charge_quota`].
    pub fn check(&self, now: Instant, unix_secs: u64) -> Result<(), Refusal> {
        self.check_rate(now)?;
        self.charge_quota(unix_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let l = Limiter::new(2.0, 3.0, 0);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check(t0, 1000).unwrap();
        }
        let r = l.check(t0, 1000).unwrap_err();
        assert_eq!(r, Refusal::Rate(Duration::from_secs_f64(0.5)));
        assert_eq!(r.retry_after_secs(), 1);
        l.check(t0 + Duration::from_millis(500), 1000).unwrap();
        assert!(l.check(t0 + Duration::from_millis(500), 1000).is_err());
    }

    #[test]
    fn quota_resets_at_utc_midnight() {
        let l = Limiter::new(0.0, 0.0, 2);
        let t = Instant::now();
        let noon = 10 * DAY + DAY / 2;
        l.check(t, noon).unwrap();
        l.check(t, noon).unwrap();
        let r = l.check(t, noon).unwrap_err();
        assert_eq!(r, Refusal::Quota(Duration::from_secs(DAY / 2)));
        assert_eq!(r.retry_after_secs(), DAY / 2);
        l.check(t, 11 * DAY).unwrap();
    }

    #[test]
    fn the_rate_check_never_charges_the_quota() {
        let l = Limiter::new(0.0, 0.0, 1);
        for _ in 0..100 {
            l.check_rate(Instant::now()).unwrap();
        }
        l.charge_quota(5 * DAY).unwrap();
        assert!(matches!(l.charge_quota(5 * DAY), Err(Refusal::Quota(_))));
    }

    #[test]
    fn unlimited_never_refuses() {
        let l = Limiter::new(0.0, 0.0, 0);
        for _ in 0..10_000 {
            l.check(Instant::now(), 5).unwrap();
        }
    }
}
