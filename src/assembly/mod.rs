//! Assembly: everything loaded and wired before the first webhook. `config` loads the lines, their
//! calendars and flows, and the on-call seed on top of the settings; `state` builds the stores and case
//! systems from them into the [`AppState`] that HTTP handlers and commands share, and starts the background
//! tasks.

mod config;
mod state;

pub use config::Config;
pub(crate) use config::DEFAULT_PATH;
pub use state::{AppState, Shared, StartError, store_for};
