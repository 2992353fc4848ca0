//! Assembly: everything loaded and wired before the first webhook. [`config`] loads the lines, their
//! calendars and flows, and the on-call seed on top of the settings; [`state`] builds the stores and case
//! systems from them into the [`AppState`] that HTTP handlers and commands share, and starts the background
//! tasks.

pub mod config;
pub mod state;

pub use config::{Config, DEFAULT_PATH};
pub use state::{AppState, Background, StartError, store_for};
