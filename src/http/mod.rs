//! HTTP: the webhook server. `intake` checks a webhook's size and signature before anything reads it;
//! [`voice`] answers it (shared with `simulate`); `admin` is the JSON admin API; [`server`] puts the routes,
//! middleware and listener together.

mod admin;
mod intake;
pub mod server;
mod throttle;
pub mod voice;
