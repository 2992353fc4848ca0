//! The on-call commands: `oncall` (who is on call), `rotation import|export`, `override add|list|remove`.
//! They work on the configured store: Redis, or, without Redis, the embedded data of `config/oncall.toml`
//! (read-only from here: edit the file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use clap::Subcommand;

use crate::assembly::Config;
use crate::calendar::spoken_datetime;
use crate::oncall::file;
use crate::oncall::model::{Chain, OnCallData};
use crate::settings::ConfigErrors;
use crate::store::{Store, import};

#[derive(Debug, clap::Args)]
pub(crate) struct OncallArgs {
    /// The line whose escalation policy to show; every line when absent.
    #[arg(long)]
    line: Option<String>,
    /// The instant to ask about (RFC 3339); now when absent.
    #[arg(long)]
    at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CallsArgs {
    /// Only calls that started at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<FixedOffset>>,
    /// Only calls about this case.
    #[arg(long)]
    case: Option<String>,
    /// At most this many records.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Every field and decision as JSON lines, instead of one line per call.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RotationCommand {
    /// Reads a rotation file (engineers, rotations, overrides, policies) and writes it to the store. A file
    /// with any problem is refused whole, and the store keeps what it had.
    Import { file: PathBuf },
    /// Prints the store's on-call data as a rotation file.
    Export,
    /// Prints an iCalendar (RFC 5545) feed of a rotation's shifts, or of one engineer's across every
    /// rotation, with overrides, from a week ago for `--weeks` weeks: a file calendar apps can import.
    Calendar {
        /// The rotation whose shifts to print.
        #[arg(long, conflicts_with = "engineer", required_unless_present = "engineer")]
        rotation: Option<String>,
        /// The engineer whose shifts to print.
        #[arg(long)]
        engineer: Option<String>,
        /// How many weeks ahead (1 to 52).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=52))]
        weeks: u16,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OverrideCommand {
    /// Puts an engineer on call in a rotation from START to END (RFC 3339).
    Add {
        #[arg(long)]
        rotation: String,
        #[arg(long)]
        engineer: String,
        #[arg(long)]
        start: DateTime<FixedOffset>,
        #[arg(long)]
        end: DateTime<FixedOffset>,
        /// Its id (to remove it later); made from the rotation and start when absent.
        #[arg(long)]
        id: Option<String>,
    },
    /// Lists the overrides, of one rotation or of all.
    List {
        #[arg(long)]
        rotation: Option<String>,
    },
    /// Removes an override by id.
    Remove {
        #[arg(long)]
        rotation: String,
        id: String,
    },
}

pub(super) fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// The configuration and its store; an error message when either cannot be had.
pub(super) fn open(path: &Path) -> Result<(Config, Arc<dyn Store>), ExitCode> {
    let config = Config::load(path).map_err(|errors| {
        for error in &errors.0 {
            eprintln!("error: {error}");
        }
        ExitCode::FAILURE
    })?;
    let store = crate::assembly::store_for(&config).map_err(fail)?;
    Ok((config, store))
}

/// The rotation file that seeds the embedded store.
fn oncall_file(config: &Config) -> PathBuf {
    config
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&config.settings.paths.oncall)
}

/// Writing commands need Redis: the embedded store lives in one process and is seeded from a file.
fn require_redis(config: &Config) -> Result<(), ExitCode> {
    if config.settings.redis.configured_url().is_some() {
        return Ok(());
    }
    Err(fail(format!(
        "no Redis is configured (redis.url): the embedded store is read from {} at start; edit that file instead",
        config
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&config.settings.paths.oncall)
            .display()
    )))
}

async fn load(store: &dyn Store) -> Result<OnCallData, ExitCode> {
    store.load().await.map_err(fail)
}

pub(super) async fn oncall(path: &Path, args: OncallArgs) -> ExitCode {
    let (config, store) = match open(path) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let data = match load(store.as_ref()).await {
        Ok(data) => data,
        Err(code) => return code,
    };
    if config.settings.redis.configured_url().is_none() {
        eprintln!("(no Redis configured: showing {})", oncall_file(&config).display());
    }
    let at = args.at.map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let lines: Vec<_> = config
        .lines
        .iter()
        .filter(|l| args.line.as_deref().is_none_or(|name| l.key == name))
        .collect();
    if lines.is_empty() {
        return fail(format!("no line {:?}", args.line.unwrap_or_default()));
    }
    for line in lines {
        outln!(
            "line {} ({}), policy {}, at {}",
            line.key,
            line.number,
            line.escalation_policy,
            at.with_timezone(&line.tz).to_rfc3339()
        );
        match data.on_call(&line.escalation_policy, at) {
            Some(chain) => print_chain(&chain, line.tz, &line.zone_name),
            None => outln!("  no escalation policy {:?} in the store", line.escalation_policy),
        }
    }
    ExitCode::SUCCESS
}

fn print_chain(chain: &Chain, tz: chrono_tz::Tz, zone: &str) {
    for (i, tier) in chain.tiers.iter().enumerate() {
        if tier.people.is_empty() && !tier.case_tam {
            outln!("  tier {}: nobody (skipped)", i + 1);
            continue;
        }
        outln!("  tier {} (rings {} s):", i + 1, tier.ring_timeout_secs);
        if tier.case_tam {
            outln!("    the case's TAM (for a verified case whose package has one)");
        }
        for person in &tier.people {
            let until = person.until.map_or_else(
                || "always".to_owned(),
                |u| format!("until {} {zone}", spoken_datetime(&u.with_timezone(&tz))),
            );
            let through = person
                .rotation
                .as_deref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default();
            outln!(
                "    {} {} {until}{through}",
                person.engineer.name,
                person.engineer.phone
            );
        }
    }
    if chain.repeat > 0 {
        outln!("  then the tiers again, {} more time(s)", chain.repeat);
    }
    if chain.is_empty() {
        outln!("  NOBODY is on call: calls go straight to voicemail");
    }
}

pub(super) async fn calls(path: &Path, args: CallsArgs) -> ExitCode {
    let (config, store) = match open(path) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if config.settings.redis.configured_url().is_none() {
        return fail(
            "no Redis is configured (redis.url): without Redis the call log lives in the memory of the running server; read it there with GET /admin/calls",
        );
    }
    let since = args.since.map(|t| t.with_timezone(&Utc));
    match crate::store::call_log::find(store.as_ref(), since, args.case.as_deref(), args.limit).await {
        Ok(records) => {
            for record in records {
                if args.json {
                    outln!("{}", serde_json::to_string(&record).unwrap_or_default());
                } else {
                    outln!("{}", record.one_line());
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(error),
    }
}

pub(super) async fn rotation(path: &Path, command: RotationCommand) -> ExitCode {
    let (config, store) = match open(path) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    match command {
        RotationCommand::Import { file: rotation_file } => {
            if let Err(code) = require_redis(&config) {
                return code;
            }
            let data = match file::load(&rotation_file) {
                Ok(data) => data,
                Err(errors) => {
                    for error in &ConfigErrors(errors).0 {
                        eprintln!("error: {error}");
                    }
                    eprintln!("nothing was imported");
                    return ExitCode::FAILURE;
                }
            };
            match import(store.as_ref(), &data).await {
                Ok(()) => {
                    outln!(
                        "imported {} engineers, {} rotations, {} overrides, {} policies",
                        data.engineers.len(),
                        data.rotations.len(),
                        data.overrides.values().map(Vec::len).sum::<usize>(),
                        data.policies.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            }
        }
        RotationCommand::Calendar {
            rotation,
            engineer,
            weeks,
        } => {
            let data = match load(store.as_ref()).await {
                Ok(data) => data,
                Err(code) => return code,
            };
            let now = chrono::Utc::now();
            let (from, until) = (
                now - chrono::Duration::weeks(1),
                now + chrono::Duration::weeks(weeks.into()),
            );
            let feed = match (&rotation, &engineer) {
                (Some(id), _) => crate::oncall::ical::rotation_feed(&data, id, from, until, now)
                    .ok_or_else(|| format!("no rotation {id:?} in the store")),
                (None, Some(id)) => crate::oncall::ical::engineer_feed(&data, id, from, until, now)
                    .ok_or_else(|| format!("no engineer {id:?} in the store")),
                (None, None) => Err("name a --rotation or an --engineer".to_owned()),
            };
            match feed {
                Ok(text) => {
                    out!("{text}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        RotationCommand::Export => match load(store.as_ref()).await {
            Ok(data) => match file::to_toml(&data) {
                Ok(text) => {
                    out!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            },
            Err(code) => code,
        },
    }
}

pub(super) async fn override_command(path: &Path, command: OverrideCommand) -> ExitCode {
    let (config, store) = match open(path) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let data = match load(store.as_ref()).await {
        Ok(data) => data,
        Err(code) => return code,
    };
    match command {
        OverrideCommand::Add {
            rotation,
            engineer,
            start,
            end,
            id,
        } => {
            if let Err(code) = require_redis(&config) {
                return code;
            }
            let (start, end) = (start.with_timezone(&Utc), end.with_timezone(&Utc));
            let item = match data.new_override(rotation, engineer, start, end, id, Utc::now()) {
                Ok(item) => item,
                Err(message) => return fail(message),
            };
            match store.add_override(item.clone()).await {
                Ok(()) => {
                    outln!(
                        "added override {} ({} on {} from {} to {})",
                        item.id,
                        item.engineer,
                        item.rotation,
                        item.start,
                        item.end
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            }
        }
        OverrideCommand::List { rotation } => {
            for (id, overrides) in &data.overrides {
                if rotation.as_deref().is_some_and(|r| r != id) {
                    continue;
                }
                for o in overrides {
                    outln!(
                        "{}\t{}\t{}\t{}\t{}",
                        o.rotation,
                        o.id,
                        o.engineer,
                        o.start.to_rfc3339(),
                        o.end.to_rfc3339()
                    );
                }
            }
            ExitCode::SUCCESS
        }
        OverrideCommand::Remove { rotation, id } => {
            if let Err(code) = require_redis(&config) {
                return code;
            }
            match store.remove_override(&rotation, &id).await {
                Ok(true) => {
                    outln!("removed override {id} from {rotation}");
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(format!("rotation {rotation:?} has no override {id:?}")),
                Err(error) => fail(error),
            }
        }
    }
}
