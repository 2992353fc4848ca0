//! afterhours: a software vendor's after-hours critical-incident phone line, as a webhook service for Twilio.
//!
//! Map of the crate, domain first, I/O last:
//! - [`phone`]: E.164 numbers and their masked form for logs.
//! - [`calendar`]: opening hours, holidays, "is it business time", the first-response deadline.
//! - [`flow`]: voice flows: the step graph, its validation, the step kinds, and the engine that runs them.
//! - [`cases`]: the case system: adapters (generic HTTP/JSON, Zendesk), the verification decision, notes.
//! - [`twiml`]: the voice XML we answer with.
//! - [`signature`]: Twilio's request signature.
//! - [`config`]: the configuration files, environment overrides and secrets, loaded once.
//! - [`lines`]: the support lines as served: dialled number → time zone, calendar, flow.
//! - [`clock`]: the injected time source.
//! - [`fetch`]: the shared outgoing HTTP exchange: time limit, body cap, redirects, errors without URLs.
//! - [`status`]: status-page announcements: the summary fetched in the background, kept in memory.
//! - [`calllog`]: one record per call, in a Redis stream.
//! - [`voice`]: answering one webhook (shared by the server and `simulate`).
//! - [`oncall`]: who is on call (rotations, overrides, escalation policies), the rotation file, the stores.
//! - [`webhook`], [`server`], [`admin`]: HTTP intake (body limit, signature), the axum application, the admin API.
//! - [`cli`], [`simulate`], [`telemetry`], [`metrics`]: the command line, the terminal walk of a call, logs,
//!   metrics.

pub mod admin;
pub mod calendar;
pub mod calllog;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod config;
pub mod fetch;
pub mod flow;
pub mod lines;
pub mod metrics;
pub mod oncall;
pub mod phone;
pub mod server;
pub mod signature;
pub mod simulate;
pub mod status;
pub mod telemetry;
pub mod twiml;
pub mod voice;
pub mod webhook;

/// A boxed, sendable future: what the adapters behind `dyn` traits (case systems, stores) return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
