//! HTTP: the webhook server. `intake` checks a webhook's size and signature before anything reads it;
//! [`voice`] answers it (shared with `simulate`); `admin` is the JSON admin API; `dashboard` the operators'
//! pages in the browser, with their login; `feeds` serves the calendar feeds; [`server`] puts the routes,
//! middleware and listeners together; `listener` is their accept loop, which holds every connection to the
//! limits of [`connections`].

mod admin;
pub mod connections;
mod dashboard;
mod feeds;
mod intake;
mod listener;
pub mod server;
mod throttle;
pub mod voice;
