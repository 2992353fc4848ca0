//! Failed admin authentications, counted per client address in fixed windows: past the allowed failures in a
//! window (`admin.failed_logins_per_minute`), an address is refused (429) until the window ends, whatever token it sends, so a guesser gets a
//! handful of tries a minute instead of thousands a second. Each address's failures are logged once per
//! window, with the count of the window before, instead of once per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The length of a window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The most addresses tracked at once; past that, the addresses not yet tracked share one count, so a flood
/// from many addresses is throttled as one.
const MAX_ADDRESSES: usize = 4096;

#[derive(Debug, Clone)]
pub(crate) struct FailedLogins {
    /// Failures an address may make in a window before it is refused.
    allowed: u64,
    windows: Arc<Mutex<HashMap<Option<IpAddr>, Window>>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u64,
}

impl FailedLogins {
    pub(crate) fn new(allowed: u64) -> Self {
        Self {
            allowed,
            windows: Arc::default(),
        }
    }

    /// How long `address` must wait before it may try again; `None` when it may try now.
    pub(crate) fn refused_for(&self, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().ok()?;
        let window = windows.get(&self.key(&windows, address))?;
        let ends = window.started + WINDOW;
        (window.failures >= self.allowed && now < ends).then(|| ends - now)
    }

    /// Counts a failed authentication from `address`, and logs the first of each window.
    pub(crate) fn failed(&self, address: Option<IpAddr>, reason: &str, now: Instant) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, w| now < w.started + WINDOW);
        }
        let key = self.key(&windows, address);
        let window = windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started + WINDOW {
            let before = window.failures;
            *window = Window {
                started: now,
                failures: 0,
            };
            if before > 1 {
                tracing::warn!(client = ?key, failures = before, "failed admin authentications in the last window");
            }
        }
        window.failures += 1;
        if window.failures == 1 {
            tracing::warn!(client = ?key, reason, "admin request refused (further failures this minute are counted, not logged)");
        }
    }

    /// The key `address` is counted under: its own, or the shared one when too many addresses are tracked.
    fn key(&self, windows: &HashMap<Option<IpAddr>, Window>, address: Option<IpAddr>) -> Option<IpAddr> {
        if windows.contains_key(&address) || windows.len() < MAX_ADDRESSES {
            address
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_allowed_failures_until_the_window_ends() {
        let logins = FailedLogins::new(10);
        let (guesser, operator) = (Some("192.0.2.7".parse().unwrap()), Some("192.0.2.8".parse().unwrap()));
        let start = Instant::now();
        for _ in 0..10 {
            assert_eq!(logins.refused_for(guesser, start), None);
            logins.failed(guesser, "wrong token", start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(logins.refused_for(guesser, later), Some(Duration::from_secs(40)));
        assert_eq!(
            logins.refused_for(operator, later),
            None,
            "another address is not held back"
        );
        assert_eq!(logins.refused_for(guesser, start + WINDOW), None, "a new window");
    }
}
