//! afterhours: a software vendor's after-hours critical-incident phone line, as a webhook service for
//! Twilio, SignalWire, Telnyx or Plivo.
//!
//! The crate is five layers. A module imports only from layers below its own, and inside the domain only
//! from the modules listed before it, so each layer can be read and changed without the ones above it.
//! `tests/layers.rs` holds the code to this map; `docs/architecture.md` draws it with a call going through.
//!
//! 1. **Settings**: plain data at the bottom.
//!    - [`phone`]: E.164 numbers and their masked form for logs.
//!    - [`clock`]: the injected time source.
//!    - `metrics`: the names and labels we record, and the Prometheus recorder.
//!    - [`settings`]: `config/afterhours.toml` and the environment as typed sections; secrets; errors that
//!      name file, line and key.
//! 2. **Domain**: what the line decides, each piece with its own I/O edge and the deadline it keeps.
//!    - [`calendar`]: opening hours, holidays, "is it business time", the first-response deadline.
//!    - [`twiml`]: the voice XML we answer with.
//!    - [`signature`]: the providers' request signatures (Twilio's and SignalWire's HMAC-SHA1, Plivo's V3,
//!      Telnyx's Ed25519).
//!    - `fetch`: the shared outgoing HTTP GET: time limit, body cap, redirects, errors without URLs.
//!    - [`alerts`]: missed-call alerts to PagerDuty, Opsgenie and signed webhooks, sent in the background.
//!    - [`cases`]: the case system: adapters (generic HTTP/JSON, Zendesk, Salesforce, Jira Service Management),
//!      the verification decision, notes.
//!    - [`oncall`]: who is on call (rotations, overrides, escalation policies), the rotation file, the
//!      calendar feeds and their tokens, and the rotations that follow an outside calendar.
//!    - [`status`]: status-page announcements: the summary fetched in the background, kept in memory.
//!    - [`calllog`]: one record per call: what it holds.
//!    - [`store`]: where on-call data, per-call state and the call log live (Redis or memory), the cache
//!      that outlives a Redis outage, the call log's writer, the outside calendars' last good copies.
//!    - [`flow`]: voice flows: the step graph, its validation, the step kinds, the engine that runs them, and
//!      the lines that run them.
//!    - [`dialect`]: what differs between Twilio, SignalWire, Telnyx and Plivo: checking a webhook's
//!      signature, reading its fields in the engine's terms, writing the engine's verbs as the provider's XML.
//! 3. **Assembly** ([`assembly`]): loads lines, calendars, flows and the on-call seed; builds the store and
//!    the case system into the [`assembly::AppState`]; starts the background tasks.
//! 4. **HTTP** ([`http`]): webhook intake (body limit, signature), answering a webhook, the admin API, the
//!    dashboard's pages, the server.
//! 5. **CLI** ([`cli`]): the command line, the terminal walk of a call, logging set-up.

pub mod clock;
pub(crate) mod metrics;
pub mod phone;
pub mod settings;

pub mod alerts;
pub mod calendar;
pub mod calllog;
pub mod cases;
pub(crate) mod fetch;
pub mod flow;
pub mod oncall;
pub mod signature;
pub mod status;
pub mod store;
pub mod twiml;

pub mod dialect;

pub mod assembly;

pub mod http;

pub mod cli;

/// A boxed, sendable future: what the adapters behind `dyn` traits (case systems, stores) return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
