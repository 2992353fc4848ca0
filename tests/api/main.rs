//! Integration tests: the real server on a loopback port, driven with Twilio-shaped, signed webhooks; case
//! systems faked by local HTTP servers that answer in their documented formats.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod admin;
mod alerts;
mod bridge;
mod calllog;
mod carriers;
mod cases;
mod connections;
mod feeds;
mod helpers;
mod intake;
mod jira;
mod night_line;
mod operations;
mod outage;
mod replay;
mod salesforce;
mod same_decision;
mod spoofing;
mod status;
mod sticky;
mod tam;
mod zendesk;
