//! Integration tests: the real server on a loopback port, driven with Twilio-shaped, signed webhooks; case
//! systems faked by local HTTP servers that answer in their documented formats.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod admin;
mod bridge;
mod calllog;
mod cases;
mod helpers;
mod intake;
mod night_line;
mod operations;
mod outage;
mod replay;
mod status;
mod zendesk;
