//! Integration tests: the real server on a loopback port, driven with Twilio-shaped, signed webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod helpers;
mod intake;
mod night_line;
