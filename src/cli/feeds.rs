//! The feed commands: `feed issue|list|revoke`, the tokens of the calendar feeds (`GET /feeds/TOKEN.ics`).
//! They write to Redis, which the running servers read: the embedded store lives in the server's own memory,
//! where the admin API (`/admin/feeds`) manages its feeds.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;

use super::oncall::{fail, open};
use crate::oncall::feed_tokens::{self, FeedSubject};

#[derive(Debug, Subcommand)]
pub(crate) enum FeedCommand {
    /// Issues a feed of a rotation's shifts, or of one engineer's across every rotation, and prints its
    /// token and path once: the store keeps only the token's digest.
    Issue {
        /// The rotation whose shifts the feed shows.
        #[arg(long, conflicts_with = "engineer", required_unless_present = "engineer")]
        rotation: Option<String>,
        /// The engineer whose shifts the feed shows.
        #[arg(long)]
        engineer: Option<String>,
        /// A note on who the feed is for, shown by `feed list`.
        #[arg(long)]
        label: Option<String>,
    },
    /// Lists the feeds issued and not revoked: id, rotation or engineer, when, label. Never their tokens.
    List,
    /// Revokes a feed by its id (from `feed list`): its URL fetches nothing from then on.
    Revoke { id: String },
}

pub(super) async fn feed(path: &Path, command: FeedCommand) -> ExitCode {
    let (config, store) = match open(path) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if config.settings.redis.configured_url().is_none() {
        return fail(
            "no Redis is configured (redis.url): without Redis the feeds live in the memory of the running server; manage them there with /admin/feeds",
        );
    }
    match command {
        FeedCommand::Issue {
            rotation,
            engineer,
            label,
        } => {
            let subject = match (rotation, engineer) {
                (Some(id), _) => FeedSubject::Rotation(id),
                (None, Some(id)) => FeedSubject::Engineer(id),
                (None, None) => return fail("name a --rotation or an --engineer"),
            };
            let data = match store.load().await {
                Ok(data) => data,
                Err(error) => return fail(error),
            };
            let issued = match feed_tokens::issue(&data, subject, label, Utc::now()) {
                Ok(issued) => issued,
                Err(error) => return fail(error),
            };
            if let Err(error) = store.put_feed(&issued.digest, issued.feed.clone()).await {
                return fail(error);
            }
            let path = feed_tokens::path(&issued.token);
            outln!(
                "issued feed {} ({})",
                issued.feed.id,
                subject_text(&issued.feed.subject)
            );
            outln!("token: {}", issued.token);
            outln!("path:  {path}");
            let settings = &config.settings;
            if settings.feeds.public {
                outln!(
                    "url:   {}{path}",
                    settings.server.public_url.as_str().trim_end_matches('/')
                );
            } else {
                outln!("(served on the operators' listener, {})", settings.server.ops_listen);
            }
            outln!(
                "the token is not shown again: revoke with `afterhours feed revoke {}`",
                issued.feed.id
            );
            ExitCode::SUCCESS
        }
        FeedCommand::List => match store.feeds().await {
            Ok(feeds) => {
                for feed in feeds {
                    outln!(
                        "{}\t{}\t{}\t{}",
                        feed.id,
                        subject_text(&feed.subject),
                        feed.created.to_rfc3339(),
                        feed.label.unwrap_or_default()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(error) => fail(error),
        },
        FeedCommand::Revoke { id } => {
            if !feed_tokens::is_id(&id) {
                return fail(format!(
                    "{id:?} is not a feed id: {} lowercase hex digits, as `feed list` shows",
                    feed_tokens::ID_LEN
                ));
            }
            match store.revoke_feed(&id).await {
                Ok(true) => {
                    outln!("revoked feed {id}");
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(format!("no feed {id:?}")),
                Err(error) => fail(error),
            }
        }
    }
}

fn subject_text(subject: &FeedSubject) -> String {
    match subject {
        FeedSubject::Rotation(id) => format!("rotation {id}"),
        FeedSubject::Engineer(id) => format!("engineer {id}"),
    }
}
