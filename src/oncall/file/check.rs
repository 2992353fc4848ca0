//! Checking the rotation file's meaning: cross references, duplicate ids, phone numbers, time zones, shifts,
//! times and ranges. Every problem is collected with its key (`rotations[0].participants[2]`); the model is
//! built only when there are none.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::parse::{OnCallFile, parse_instant, parse_local, parse_shift, parse_time_zone};
use super::span::Locator;
use crate::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation, Target, Tier};
use crate::phone::PhoneNumber;
use crate::settings::ConfigError;

/// The ring timeouts a tier may have, in seconds: Twilio's `<Dial timeout>` takes 5 to 600, Telnyx 5 to 120.
const RING_TIMEOUT_SECS: RangeInclusive<u32> = 5..=120;

/// Further passes over a policy's tiers: bounded, so that a call's escalation is too (toll fraud, cost).
const MAX_REPEAT: u32 = 5;

/// Checks `file`, read from `path` as `text`, and builds the model; or every problem found, in line order,
/// each with the file, the line and the key.
pub(super) fn check(file: &OnCallFile, path: &Path, text: &str) -> Result<OnCallData, Vec<ConfigError>> {
    let locator = Locator::new(text);
    to_data(file, &locator).map_err(|problems| {
        let mut located: Vec<(Option<usize>, Problem)> =
            problems.into_iter().map(|p| (locator.line(&p.key), p)).collect();
        located.sort_by_key(|(line, _)| *line);
        located
            .into_iter()
            .map(|(line, p)| ConfigError::in_file(path, line, p.key, p.message))
            .collect()
    })
}

/// One problem with the file's meaning: the key (`rotations[0].shift`) and what is wrong.
struct Problem {
    key: String,
    message: String,
}

/// Ids seen so far of one kind, with the key of their first definition.
struct Ids<'l> {
    kind: &'static str,
    first: HashMap<String, String>,
    locator: &'l Locator<'l>,
}

impl<'l> Ids<'l> {
    fn new(kind: &'static str, locator: &'l Locator<'l>) -> Self {
        Self {
            kind,
            first: HashMap::new(),
            locator,
        }
    }

    /// Records `id`, defined at `key`; what is wrong when it is empty or was seen before.
    fn add(&mut self, id: &str, key: &str) -> Result<(), String> {
        if id.is_empty() {
            return Err(format!("the {} id is empty", self.kind));
        }
        match self.first.get(id) {
            Some(first) => {
                let at = match self.locator.line(first) {
                    Some(line) => format!("line {line}"),
                    None => first.clone(),
                };
                Err(format!("duplicate {} id {id:?}: first defined at {at}", self.kind))
            }
            None => {
                self.first.insert(id.to_owned(), key.to_owned());
                Ok(())
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.first.contains_key(id)
    }
}

/// The id of an override written without one.
fn generated_override_id(rotation: &str, start: DateTime<Utc>) -> String {
    format!("{rotation}-{}", start.format("%Y%m%dT%H%M%SZ"))
}

/// The creation time of the override at `index` in a file that does not say: file order.
fn file_order(index: usize) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::seconds(index as i64)
}

/// Checks the file's meaning and builds the model; every problem found.
fn to_data(file: &OnCallFile, locator: &Locator<'_>) -> Result<OnCallData, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut report = |key: String, result: Result<(), String>| {
        if let Err(message) = result {
            problems.push(Problem { key, message });
        }
    };
    let mut data = OnCallData::default();

    let mut engineer_ids = Ids::new("engineer", locator);
    for (i, entry) in file.engineers.iter().enumerate() {
        let key = format!("engineers[{i}]");
        let fresh = engineer_ids.add(&entry.id, &format!("{key}.id"));
        let is_fresh = fresh.is_ok();
        report(format!("{key}.id"), fresh);
        let phone = PhoneNumber::parse(&entry.phone).map_err(|e| e.to_string());
        let time_zone = parse_time_zone(&entry.time_zone);
        match (phone, time_zone) {
            (Ok(phone), Ok(time_zone)) if is_fresh => {
                let engineer = Engineer {
                    id: entry.id.clone(),
                    name: entry.name.clone(),
                    phone,
                    time_zone,
                    email: entry.email.clone(),
                };
                data.engineers.insert(entry.id.clone(), engineer);
            }
            (phone, time_zone) => {
                report(format!("{key}.phone"), phone.map(drop));
                report(format!("{key}.time_zone"), time_zone.map(drop));
            }
        }
    }
    let known_engineer = |id: &str| {
        if engineer_ids.contains(id) {
            Ok(())
        } else {
            Err(format!("unknown engineer {id:?}"))
        }
    };

    let mut rotation_ids = Ids::new("rotation", locator);
    for (i, entry) in file.rotations.iter().enumerate() {
        let key = format!("rotations[{i}]");
        let fresh = rotation_ids.add(&entry.id, &format!("{key}.id"));
        let is_fresh = fresh.is_ok();
        report(format!("{key}.id"), fresh);
        let mut participants_ok = true;
        for (j, participant) in entry.participants.iter().enumerate() {
            let known = known_engineer(participant);
            participants_ok &= known.is_ok();
            report(format!("{key}.participants[{j}]"), known);
        }
        let source = crate::oncall::import::parse_source(
            entry.source.as_deref(),
            entry.refresh_secs,
            !entry.participants.is_empty(),
        );
        let source_ok = source.is_ok();
        let source = source.unwrap_or_else(|(field, message)| {
            report(format!("{key}.{field}"), Err(message));
            None
        });
        let time_zone = parse_time_zone(&entry.time_zone);
        // A rotation that follows an outside calendar has no handoffs of its own: any start and shift do.
        let sourced = entry.source.is_some();
        let start = match &entry.start {
            Some(text) => parse_local(&text.0),
            None if sourced => parse_local(crate::oncall::import::SOURCED_START),
            None => {
                Err("missing field `start`: the first handoff, a local time such as \"2026-01-05T10:00:00\"".to_owned())
            }
        };
        let shift = match &entry.shift {
            Some(text) => parse_shift(text),
            None if sourced => parse_shift(crate::oncall::import::SOURCED_SHIFT),
            None => Err("missing field `shift`: \"7d\" or \"12h\"".to_owned()),
        };
        match (time_zone, start, shift) {
            (Ok(time_zone), Ok(start), Ok(shift)) if is_fresh && participants_ok && source_ok => {
                let rotation = Rotation {
                    id: entry.id.clone(),
                    name: entry.name.clone(),
                    time_zone,
                    start,
                    shift,
                    participants: entry.participants.clone(),
                    source,
                    version: 0,
                };
                data.rotations.insert(entry.id.clone(), rotation);
            }
            (time_zone, start, shift) => {
                report(format!("{key}.time_zone"), time_zone.map(drop));
                report(format!("{key}.start"), start.map(drop));
                report(format!("{key}.shift"), shift.map(drop));
            }
        }
    }
    let known_rotation = |id: &str| {
        if rotation_ids.contains(id) {
            Ok(())
        } else {
            Err(format!("unknown rotation {id:?}"))
        }
    };

    let mut override_ids = Ids::new("override", locator);
    for (i, entry) in file.overrides.iter().enumerate() {
        let key = format!("overrides[{i}]");
        let rotation = known_rotation(&entry.rotation);
        let engineer = known_engineer(&entry.engineer);
        let start = parse_instant(&entry.start.0);
        let end = parse_instant(&entry.end.0);
        let created = entry
            .created
            .as_ref()
            .map_or(Ok(file_order(i)), |c| parse_instant(&c.0));
        let order = match (&start, &end) {
            (Ok(start), Ok(end)) if end <= start => Err(format!(
                "end {:?} is not after start {:?}: an override must last a while",
                entry.end.0, entry.start.0
            )),
            _ => Ok(()),
        };
        // An id is needed for the duplicate check even when the start is wrong: fall back to its text.
        let id = match (&entry.id, &start) {
            (Some(id), _) => id.clone(),
            (None, Ok(start)) => generated_override_id(&entry.rotation, *start),
            (None, Err(_)) => format!("{}-{}", entry.rotation, entry.start.0),
        };
        let id_key = if entry.id.is_some() {
            format!("{key}.id")
        } else {
            key.clone()
        };
        let fresh = override_ids.add(&id, &id_key).map_err(|message| {
            let hint = if entry.id.is_none() {
                " (generated from the rotation and the start: give the overrides ids)"
            } else {
                ""
            };
            format!("{message}{hint}")
        });
        match (rotation, engineer, start, end, created, order, fresh) {
            (Ok(()), Ok(()), Ok(start), Ok(end), Ok(created), Ok(()), Ok(())) => {
                let entry = Override {
                    id,
                    rotation: entry.rotation.clone(),
                    engineer: entry.engineer.clone(),
                    start,
                    end,
                    created,
                };
                data.overrides.entry(entry.rotation.clone()).or_default().push(entry);
            }
            (rotation, engineer, start, end, created, order, fresh) => {
                report(id_key, fresh);
                report(format!("{key}.rotation"), rotation);
                report(format!("{key}.engineer"), engineer);
                report(format!("{key}.start"), start.map(drop));
                report(format!("{key}.end"), end.map(drop).and(order));
                report(format!("{key}.created"), created.map(drop));
            }
        }
    }

    let mut policy_ids = Ids::new("policy", locator);
    for (i, entry) in file.policies.iter().enumerate() {
        let key = format!("policies[{i}]");
        let fresh = policy_ids.add(&entry.id, &format!("{key}.id"));
        let mut ok = fresh.is_ok();
        report(format!("{key}.id"), fresh);
        if entry.tiers.is_empty() {
            ok = false;
            report(
                format!("{key}.tiers"),
                Err("a policy needs at least one tier ([[policies.tiers]])".to_owned()),
            );
        }
        if entry.repeat > MAX_REPEAT {
            ok = false;
            report(
                format!("{key}.repeat"),
                Err(format!(
                    "{} is out of range: expected 0 to {MAX_REPEAT} further passes",
                    entry.repeat
                )),
            );
        }
        let mut tiers = Vec::new();
        for (j, tier) in entry.tiers.iter().enumerate() {
            let key = format!("{key}.tiers[{j}]");
            let mut check = |key: String, result: Result<(), String>| {
                ok &= result.is_ok();
                report(key, result);
            };
            if tier.rotations.is_empty() && tier.engineers.is_empty() && !tier.case_tam {
                check(
                    key.clone(),
                    Err("a tier needs at least one rotation or engineer to ring, or case_tam = true".to_owned()),
                );
            }
            for (k, rotation) in tier.rotations.iter().enumerate() {
                check(format!("{key}.rotations[{k}]"), known_rotation(rotation));
            }
            for (k, engineer) in tier.engineers.iter().enumerate() {
                check(format!("{key}.engineers[{k}]"), known_engineer(engineer));
            }
            let timeout = tier.ring_timeout_secs;
            let in_range = if RING_TIMEOUT_SECS.contains(&timeout) {
                Ok(())
            } else {
                Err(format!(
                    "ring timeout {timeout} is out of range: expected {} to {} seconds",
                    RING_TIMEOUT_SECS.start(),
                    RING_TIMEOUT_SECS.end()
                ))
            };
            check(format!("{key}.ring_timeout_secs"), in_range);
            let targets = tier
                .rotations
                .iter()
                .map(|id| Target::Rotation(id.clone()))
                .chain(tier.engineers.iter().map(|id| Target::Engineer(id.clone())))
                .chain(tier.case_tam.then_some(Target::CaseTam))
                .collect();
            tiers.push(Tier {
                targets,
                ring_timeout_secs: timeout,
            });
        }
        if ok {
            let policy = Policy {
                id: entry.id.clone(),
                tiers,
                repeat: entry.repeat,
            };
            data.policies.insert(entry.id.clone(), policy);
        }
    }

    if problems.is_empty() { Ok(data) } else { Err(problems) }
}
