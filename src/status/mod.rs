//! Status announcements: an Atlassian Statuspage v2 `summary.json` fetched in the background every
//! `refresh_secs` and kept in memory, so that the flow's `status` step can tell a caller about a known
//! incident without ever waiting on the network.
//!
//! - `[status_page]` in the configuration is [`crate::settings::StatusPageSettings`].
//! - `cache`: [`StatusCache`], the last announcement and when it was fetched; readers take a short read
//!   lock, never held across an await. A copy older than `max_age_secs` is not announced. And the refresher:
//!   [`start_refresher`], spawned by `serve` only (tests run [`refresh`] or `spawn_refresher` themselves).
//!   A failed fetch is logged and keeps the last good copy, which then ages out.
//! - `fetch`: [`Fetcher`], one capped, time-limited `GET` of the summary.
//! - `summary`: the summary's shape and `summary::announcement`, the pure part: what to announce, an
//!   [`Announcement`] of incidents in our words, or of components out of service for the flow's words.

mod cache;
mod fetch;
mod summary;

pub(crate) use cache::Reading;
pub use cache::{Snapshot, StatusCache, refresh, start_refresher};
pub use fetch::{Fetcher, StatusError};
pub use summary::Announcement;
