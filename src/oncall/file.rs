//! The rotation file: engineers, rotations, overrides and escalation policies in one TOML file, which
//! `afterhours rotation import FILE.toml` reads and `afterhours rotation export` writes.
//!
//! ```toml
//! [[engineers]]
//! id = "alice"
//! name = "Alice Martin"
//! phone = "+15550100001"            # E.164
//! time_zone = "America/New_York"    # IANA name
//!
//! [[rotations]]
//! id = "primary"
//! name = "Primary on-call"
//! time_zone = "America/New_York"
//! start = "2026-01-05T10:00:00"     # local wall time of the first handoff, no offset
//! shift = "7d"                      # "Nd": calendar days, same local handoff time; "Nh": exact hours
//! participants = ["alice", "bob"]   # may be empty: the rotation then has nobody on call
//!
//! [[overrides]]                     # optional
//! id = "xmas"                       # optional: "<rotation>-<start as UTC, 20261224T230000Z>" when absent
//! rotation = "primary"
//! engineer = "bob"
//! start = "2026-12-24T18:00:00-05:00"   # RFC 3339 with an offset
//! end = "2026-12-26T09:00:00-05:00"
//!
//! [[policies]]
//! id = "default"
//! repeat = 1                        # further passes over all the tiers; default 0
//! [[policies.tiers]]                # at least one per policy
//! rotations = ["primary"]           # whoever is on call in these, rung together with `engineers`
//! engineers = []
//! ring_timeout_secs = 20            # default 20; 5 to 120
//! ```
//!
//! Times may also be written as TOML date-times, unquoted.
//!
//! Reading runs in two stages, like the other configuration files. First the TOML itself: a syntax error, an
//! unknown key or a value of the wrong type stops there, as one error with the line and the key. Then the
//! meaning: every problem is collected (unknown engineers and rotations, duplicate ids, phone numbers, time
//! zones, shifts, times, ring timeouts, policies without tiers), each as a [`ConfigError`] with the file,
//! the line of the offending value (or of its entry's `[[...]]` header when the key is missing) and a key
//! such as `rotations[0].participants[2]`.
//!
//! What the file does not carry:
//! - Rotation versions: a store bumps them on every write; an imported rotation has version 0.
//! - When an override was created. On import an override's `created` is its place in the file: the Unix
//!   epoch plus its index among the file's `[[overrides]]`, in seconds. So where overrides overlap, "the
//!   latest created wins" means "the one later in the file wins". (An explicit `created = "<RFC 3339>"` is
//!   accepted and used instead, but never written.) Export writes overrides oldest created first, so
//!   export then import keeps which override wins, though not the creation times themselves.
//! - The order of a tier's targets beyond "rotations, then engineers": export lists a tier's rotations
//!   before its engineers, as import reads them.
//!
//! With those three provisos, `parse(to_toml(data)) == data`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::{Range, RangeInclusive};
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::model::{DEFAULT_RING_TIMEOUT_SECS, Engineer, OnCallData, Override, Policy, Rotation, Shift, Target, Tier};
use crate::config::{ConfigError, line_of, toml_file};
use crate::phone::PhoneNumber;

/// The ring timeouts a tier may have, in seconds: Twilio's `<Dial timeout>` takes 5 to 600, Telnyx 5 to 120.
pub const RING_TIMEOUT_SECS: RangeInclusive<u32> = 5..=120;

/// Further passes over a policy's tiers: bounded, so that a call's escalation is too (toll fraud, cost).
pub const MAX_REPEAT: u32 = 5;

/// The rotation file as written. Values that need checking (phone numbers, zones, shifts, times) stay text
/// here, so that all their problems are reported together, each with its line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnCallFile {
    #[serde(default)]
    pub engineers: Vec<EngineerEntry>,
    #[serde(default)]
    pub rotations: Vec<RotationEntry>,
    #[serde(default)]
    pub overrides: Vec<OverrideEntry>,
    #[serde(default)]
    pub policies: Vec<PolicyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineerEntry {
    pub id: String,
    pub name: String,
    /// E.164.
    pub phone: String,
    /// An IANA zone name.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationEntry {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    /// The local wall time of the first handoff, without an offset.
    pub start: DateText,
    /// `"7d"` or `"12h"`.
    pub shift: String,
    /// Engineer ids in the order they take shifts; may be empty.
    pub participants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideEntry {
    /// Generated from the rotation and the start when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub rotation: String,
    pub engineer: String,
    /// RFC 3339 with an offset.
    pub start: DateText,
    pub end: DateText,
    /// RFC 3339; the place in the file when absent (see the module documentation). Never exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    pub id: String,
    #[serde(default)]
    pub repeat: u32,
    #[serde(default)]
    pub tiers: Vec<TierEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierEntry {
    #[serde(default)]
    pub rotations: Vec<String>,
    #[serde(default)]
    pub engineers: Vec<String>,
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u32,
}

fn default_ring_timeout() -> u32 {
    DEFAULT_RING_TIMEOUT_SECS
}

/// A date-time as written: a string, or a TOML date-time (kept as its text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DateText(pub String);

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(text) => Ok(DateText(text)),
            toml::Value::Datetime(t) => Ok(DateText(t.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "invalid type: {}, expected a date and time such as \"2026-01-05T10:00:00\"",
                other.type_str()
            ))),
        }
    }
}

/// Reads and checks the rotation file at `path`.
pub fn load(path: &Path) -> Result<OnCallData, Vec<ConfigError>> {
    let text = crate::config::toml_file::read(path).map_err(|e| vec![e])?;
    parse(path, &text)
}

/// Parses and checks `text`, read from `path`: every problem found, each with the file, line and key.
pub fn parse(path: &Path, text: &str) -> Result<OnCallData, Vec<ConfigError>> {
    let file: OnCallFile = toml_file::parse(path, text).map_err(|e| vec![e])?;
    let locator = Locator::new(text);
    file.to_data(&locator).map_err(|problems| {
        let mut located: Vec<(Option<usize>, Problem)> =
            problems.into_iter().map(|p| (locator.line(&p.key), p)).collect();
        located.sort_by_key(|(line, _)| *line);
        located
            .into_iter()
            .map(|(line, p)| ConfigError::in_file(path, line, p.key, p.message))
            .collect()
    })
}

/// The rotation file of `data` (see the module documentation for what it leaves out).
pub fn to_toml(data: &OnCallData) -> String {
    OnCallFile::from(data).to_toml()
}

/// One problem with the file's meaning: the key (`rotations[0].shift`) and what is wrong.
struct Problem {
    key: String,
    message: String,
}

/// Where keys are in the text, for the lines of the errors.
struct Locator<'a> {
    text: &'a str,
    doc: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            doc: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// The line of the value at `key` (`policies[0].tiers[1].engineers[0]`), or of the closest enclosing
    /// value that exists.
    fn line(&self, key: &str) -> Option<usize> {
        self.span(key).map(|span| line_of(self.text, span.start))
    }

    fn span(&self, key: &str) -> Option<Range<usize>> {
        let mut segments = key.split(['.', '[']).filter(|s| !s.is_empty());
        let first = segments.next()?;
        let mut value = self.doc.as_ref()?.get_ref().get(first)?;
        for segment in segments {
            let next = match segment.strip_suffix(']').map(str::parse::<usize>) {
                Some(Ok(index)) => value.get_ref().get(index),
                _ => value.get_ref().get(segment),
            };
            match next {
                Some(next) => value = next,
                None => break,
            }
        }
        Some(value.span())
    }
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

fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse()
        .map_err(|_| format!("unknown time zone {name:?}: expected an IANA name such as America/New_York"))
}

fn parse_shift(text: &str) -> Result<Shift, String> {
    // No valid shift has a character outside ASCII.
    if text.is_ascii() {
        text.parse()
    } else {
        Err(format!(
            "invalid shift {text:?}: expected a whole number of days or hours above zero, e.g. \"7d\" or \"12h\""
        ))
    }
}

/// A rotation's start: local wall time without an offset (seconds optional, `T` or a space).
pub(crate) fn parse_local(text: &str) -> Result<NaiveDateTime, String> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .ok_or_else(|| {
        format!(
            "invalid start {text:?}: expected a local date and time without an offset (the rotation's \
                 time_zone places it), e.g. \"2026-01-05T10:00:00\""
        )
    })
}

/// An instant in RFC 3339, with its offset.
pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()).map_err(|_| {
        format!("invalid time {text:?}: expected RFC 3339 with an offset, e.g. \"2026-12-24T18:00:00-05:00\"")
    })
}

/// The id of an override written without one.
fn generated_override_id(rotation: &str, start: DateTime<Utc>) -> String {
    format!("{rotation}-{}", start.format("%Y%m%dT%H%M%SZ"))
}

/// The creation time of the override at `index` in a file that does not say: file order.
fn file_order(index: usize) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + Duration::seconds(index as i64)
}

impl OnCallFile {
    /// Checks the file's meaning and builds the model; every problem found.
    fn to_data(&self, locator: &Locator<'_>) -> Result<OnCallData, Vec<Problem>> {
        let mut problems: Vec<Problem> = Vec::new();
        let mut report = |key: String, result: Result<(), String>| {
            if let Err(message) = result {
                problems.push(Problem { key, message });
            }
        };
        let mut data = OnCallData::default();

        let mut engineer_ids = Ids::new("engineer", locator);
        for (i, entry) in self.engineers.iter().enumerate() {
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
        for (i, entry) in self.rotations.iter().enumerate() {
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
            let time_zone = parse_time_zone(&entry.time_zone);
            let start = parse_local(&entry.start.0);
            let shift = parse_shift(&entry.shift);
            match (time_zone, start, shift) {
                (Ok(time_zone), Ok(start), Ok(shift)) if is_fresh && participants_ok => {
                    let rotation = Rotation {
                        id: entry.id.clone(),
                        name: entry.name.clone(),
                        time_zone,
                        start,
                        shift,
                        participants: entry.participants.clone(),
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
        for (i, entry) in self.overrides.iter().enumerate() {
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
        for (i, entry) in self.policies.iter().enumerate() {
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
                if tier.rotations.is_empty() && tier.engineers.is_empty() {
                    check(
                        key.clone(),
                        Err("a tier needs at least one rotation or engineer to ring".to_owned()),
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

    /// The file as TOML text, with a header that says what it is.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# On-call data for afterhours: engineers, rotations, overrides and escalation policies.\n\
             # Read with `afterhours rotation import FILE.toml`. A rotation's start is a local wall time in its\n\
             # time_zone; override times are RFC 3339 with an offset.\n",
        );
        let mut blocks: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
        for e in &self.engineers {
            let fields = vec![
                ("id", quote(&e.id)),
                ("name", quote(&e.name)),
                ("phone", quote(&e.phone)),
                ("time_zone", quote(&e.time_zone)),
            ];
            blocks.push(("[[engineers]]", fields));
        }
        for r in &self.rotations {
            let fields = vec![
                ("id", quote(&r.id)),
                ("name", quote(&r.name)),
                ("time_zone", quote(&r.time_zone)),
                ("start", quote(&r.start.0)),
                ("shift", quote(&r.shift)),
                ("participants", list(&r.participants)),
            ];
            blocks.push(("[[rotations]]", fields));
        }
        for o in &self.overrides {
            let mut fields = Vec::new();
            if let Some(id) = &o.id {
                fields.push(("id", quote(id)));
            }
            fields.extend([
                ("rotation", quote(&o.rotation)),
                ("engineer", quote(&o.engineer)),
                ("start", quote(&o.start.0)),
                ("end", quote(&o.end.0)),
            ]);
            blocks.push(("[[overrides]]", fields));
        }
        for p in &self.policies {
            blocks.push((
                "[[policies]]",
                vec![("id", quote(&p.id)), ("repeat", p.repeat.to_string())],
            ));
            for t in &p.tiers {
                let fields = vec![
                    ("rotations", list(&t.rotations)),
                    ("engineers", list(&t.engineers)),
                    ("ring_timeout_secs", t.ring_timeout_secs.to_string()),
                ];
                blocks.push(("[[policies.tiers]]", fields));
            }
        }
        // Writing to a String cannot fail.
        for (header, fields) in blocks {
            let _ = write!(out, "\n{header}\n");
            for (key, value) in fields {
                let _ = writeln!(out, "{key} = {value}");
            }
        }
        out
    }
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

impl From<&OnCallData> for OnCallFile {
    /// The file of `data`: overrides oldest created first, times in their rotation's zone.
    fn from(data: &OnCallData) -> Self {
        let engineers = data
            .engineers
            .values()
            .map(|e| EngineerEntry {
                id: e.id.clone(),
                name: e.name.clone(),
                phone: e.phone.to_string(),
                time_zone: e.time_zone.name().to_owned(),
            })
            .collect();
        let rotations = data
            .rotations
            .values()
            .map(|r| RotationEntry {
                id: r.id.clone(),
                name: r.name.clone(),
                time_zone: r.time_zone.name().to_owned(),
                start: DateText(r.start.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
                shift: r.shift.to_string(),
                participants: r.participants.clone(),
            })
            .collect();
        let mut overrides: Vec<&Override> = data.overrides.values().flatten().collect();
        overrides.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        let overrides = overrides
            .into_iter()
            .map(|o| {
                let zone: Tz = data.rotations.get(&o.rotation).map_or(Tz::UTC, |r| r.time_zone);
                let text =
                    |t: DateTime<Utc>| DateText(t.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::AutoSi, true));
                OverrideEntry {
                    id: Some(o.id.clone()),
                    rotation: o.rotation.clone(),
                    engineer: o.engineer.clone(),
                    start: text(o.start),
                    end: text(o.end),
                    created: None,
                }
            })
            .collect();
        let policies = data
            .policies
            .values()
            .map(|p| PolicyEntry {
                id: p.id.clone(),
                repeat: p.repeat,
                tiers: p
                    .tiers
                    .iter()
                    .map(|t| {
                        let mut entry = TierEntry {
                            rotations: Vec::new(),
                            engineers: Vec::new(),
                            ring_timeout_secs: t.ring_timeout_secs,
                        };
                        for target in &t.targets {
                            match target {
                                Target::Rotation(id) => entry.rotations.push(id.clone()),
                                Target::Engineer(id) => entry.engineers.push(id.clone()),
                            }
                        }
                        entry
                    })
                    .collect(),
            })
            .collect();
        OnCallFile {
            engineers,
            rotations,
            overrides,
            policies,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::TimeZone;
    use chrono_tz::America::New_York;

    use super::*;
    use crate::oncall::model::TierOnCall;

    /// A small valid file; the bad cases below each change one thing in it.
    const VALID: &str = r#"[[engineers]]
id = "alice"
name = "Alice Martin"
phone = "+15550100001"
time_zone = "America/New_York"

[[engineers]]
id = "bob"
name = "Bob Okafor"
phone = "+15550100002"
time_zone = "America/Chicago"

[[rotations]]
id = "primary"
name = "Primary on-call"
time_zone = "America/New_York"
start = "2026-01-05T10:00:00"
shift = "7d"
participants = ["alice", "bob"]

[[overrides]]
id = "swap"
rotation = "primary"
engineer = "bob"
start = "2026-01-06T18:00:00-05:00"
end = "2026-01-07T09:00:00-05:00"

[[policies]]
id = "default"
repeat = 1

[[policies.tiers]]
rotations = ["primary"]
engineers = ["alice"]
ring_timeout_secs = 20
"#;

    fn demo_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")
    }

    fn parse_text(text: &str) -> Result<OnCallData, Vec<String>> {
        parse(Path::new("oncall.toml"), text).map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    /// VALID with the first `old` replaced by `new`.
    fn valid_with(old: &str, new: &str) -> String {
        assert!(VALID.contains(old), "VALID has no {old:?}");
        VALID.replacen(old, new, 1)
    }

    fn errors_of(text: &str) -> Vec<String> {
        parse_text(text).expect_err("the file is rejected")
    }

    fn new_york(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        New_York.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().to_utc()
    }

    fn names(tier: &TierOnCall) -> Vec<&str> {
        tier.people.iter().map(|p| p.engineer.id.as_str()).collect()
    }

    #[test]
    fn the_valid_example_parses_into_the_model() {
        let data = parse_text(VALID).unwrap();
        assert_eq!(data.engineers.keys().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(data.engineers["bob"].phone.as_str(), "+15550100002");
        assert_eq!(data.engineers["bob"].time_zone, chrono_tz::America::Chicago);
        let primary = &data.rotations["primary"];
        assert_eq!(
            primary.start,
            NaiveDateTime::parse_from_str("2026-01-05 10:00", "%Y-%m-%d %H:%M").unwrap()
        );
        assert_eq!(primary.shift, Shift::Days(7));
        assert_eq!(primary.version, 0);
        assert_eq!(
            data.overrides["primary"],
            [Override {
                id: "swap".into(),
                rotation: "primary".into(),
                engineer: "bob".into(),
                start: new_york(2026, 1, 6, 18, 0),
                end: new_york(2026, 1, 7, 9, 0),
                created: DateTime::UNIX_EPOCH,
            }]
        );
        assert_eq!(
            data.policies["default"],
            Policy {
                id: "default".into(),
                tiers: vec![Tier {
                    targets: vec![Target::Rotation("primary".into()), Target::Engineer("alice".into())],
                    ring_timeout_secs: 20,
                }],
                repeat: 1,
            }
        );
    }

    #[test]
    fn repeat_and_ring_timeout_have_defaults() {
        let text = valid_with("repeat = 1\n", "\n").replace("ring_timeout_secs = 20\n", "");
        let policy = &parse_text(&text).unwrap().policies["default"];
        assert_eq!((policy.repeat, policy.tiers[0].ring_timeout_secs), (0, 20));
    }

    #[test]
    fn the_demo_file_loads() {
        let data = load(&demo_path()).unwrap_or_else(|e| panic!("{}", crate::config::ConfigErrors(e)));
        assert_eq!(data.engineers.len(), 4);
        assert_eq!(
            data.rotations.keys().collect::<Vec<_>>(),
            ["primary", "secondary", "specialists"]
        );
        assert_eq!(data.rotations["specialists"].shift, Shift::Hours(12));
        assert_eq!(data.policies["default"].tiers.len(), 3);
        assert_eq!(data.policies["default"].repeat, 1);

        // Wednesday of the first week, noon in New York (17:00 in London).
        let chain = data.on_call("default", new_york(2026, 1, 7, 12, 0)).unwrap();
        let tiers: Vec<Vec<&str>> = chain.tiers.iter().map(names).collect();
        assert_eq!(tiers, [vec!["alice"], vec!["bob"], vec!["dave", "alice"]]);
        assert_eq!(chain.attempts().len(), 6);
        // 21:00 in London: Carol's specialist shift.
        let chain = data.on_call("default", new_york(2026, 1, 7, 16, 0)).unwrap();
        assert_eq!(names(&chain.tiers[2]), ["carol", "alice"]);

        // Christmas Day: Carol's primary week, covered by Bob until Boxing Day 09:00.
        let chain = data.on_call("default", new_york(2026, 12, 25, 12, 0)).unwrap();
        assert_eq!(names(&chain.tiers[0]), ["bob"]);
        assert_eq!(chain.tiers[0].people[0].until, Some(new_york(2026, 12, 26, 9, 0)));
        assert_eq!(names(&chain.tiers[1]), ["alice"]);
    }

    #[test]
    fn the_demo_file_survives_export_and_import() {
        let data = load(&demo_path()).unwrap();
        let text = to_toml(&data);
        assert_eq!(parse_text(&text), Ok(data.clone()), "{text}");
        // And the export of the import is the same text.
        assert_eq!(to_toml(&parse_text(&text).unwrap()), text);
    }

    #[test]
    fn export_writes_the_documented_format() {
        let data = parse_text(VALID).unwrap();
        let expected = r#"# On-call data for afterhours: engineers, rotations, overrides and escalation policies.
# Read with `afterhours rotation import FILE.toml`. A rotation's start is a local wall time in its
# time_zone; override times are RFC 3339 with an offset.

[[engineers]]
id = "alice"
name = "Alice Martin"
phone = "+15550100001"
time_zone = "America/New_York"

[[engineers]]
id = "bob"
name = "Bob Okafor"
phone = "+15550100002"
time_zone = "America/Chicago"

[[rotations]]
id = "primary"
name = "Primary on-call"
time_zone = "America/New_York"
start = "2026-01-05T10:00:00"
shift = "7d"
participants = ["alice", "bob"]

[[overrides]]
id = "swap"
rotation = "primary"
engineer = "bob"
start = "2026-01-06T18:00:00-05:00"
end = "2026-01-07T09:00:00-05:00"

[[policies]]
id = "default"
repeat = 1

[[policies.tiers]]
rotations = ["primary"]
engineers = ["alice"]
ring_timeout_secs = 20
"#;
        assert_eq!(to_toml(&data), expected);
        assert_eq!(parse_text(expected), Ok(data));
    }

    #[test]
    fn export_quotes_what_needs_quoting() {
        let mut data = parse_text(VALID).unwrap();
        data.engineers.get_mut("alice").unwrap().name = "Alice \"Al\" O'Neil\\".into();
        data.rotations.get_mut("primary").unwrap().name = "Primary\non-call".into();
        assert_eq!(parse_text(&to_toml(&data)), Ok(data));
    }

    /// Data as a store holds it: versions, real creation times, a tier naming an engineer first.
    #[test]
    fn export_then_import_of_store_data_keeps_who_is_on_call() {
        let mut data = parse_text(VALID).unwrap();
        data.rotations.get_mut("primary").unwrap().version = 7;
        let two = |id: &str, engineer: &str, start, end, created| Override {
            id: id.into(),
            rotation: "primary".into(),
            engineer: engineer.into(),
            start,
            end,
            created,
        };
        // Created in the opposite order to their ids, overlapping: "b-late" wins where they overlap.
        data.overrides.insert(
            "primary".into(),
            vec![
                two(
                    "b-late",
                    "alice",
                    new_york(2026, 2, 2, 12, 0),
                    new_york(2026, 2, 2, 14, 0),
                    new_york(2026, 1, 20, 0, 0),
                ),
                two(
                    "a-early",
                    "bob",
                    new_york(2026, 2, 2, 8, 0),
                    new_york(2026, 2, 2, 20, 0),
                    new_york(2026, 1, 10, 0, 0),
                ),
            ],
        );
        data.policies.get_mut("default").unwrap().tiers[0].targets.reverse();

        let back = parse_text(&to_toml(&data)).unwrap();
        assert_eq!(back.rotations["primary"].version, 0, "versions are not exported");
        let created: Vec<(&str, DateTime<Utc>)> = back.overrides["primary"]
            .iter()
            .map(|o| (o.id.as_str(), o.created))
            .collect();
        assert_eq!(
            created,
            [
                ("a-early", DateTime::UNIX_EPOCH),
                ("b-late", DateTime::UNIX_EPOCH + Duration::seconds(1))
            ],
            "creation times become file order, oldest first"
        );
        assert_eq!(
            back.policies["default"].tiers[0].targets,
            [Target::Rotation("primary".into()), Target::Engineer("alice".into())],
            "rotations are listed before engineers"
        );
        let mut t = new_york(2026, 2, 1, 0, 0);
        while t < new_york(2026, 2, 4, 0, 0) {
            assert_eq!(back.on_call_in("primary", t), data.on_call_in("primary", t), "at {t}");
            t += Duration::minutes(30);
        }
    }

    #[test]
    fn an_override_without_an_id_gets_one_from_its_rotation_and_start() {
        let data = parse_text(&valid_with("id = \"swap\"\n", "\n")).unwrap();
        assert_eq!(data.overrides["primary"][0].id, "primary-20260106T230000Z");
    }

    #[test]
    fn where_overrides_overlap_the_later_in_the_file_wins() {
        let text = format!(
            "{VALID}\n[[overrides]]\nrotation = \"primary\"\nengineer = \"alice\"\n\
             start = \"2026-01-07T08:00:00-05:00\"\nend = \"2026-01-07T08:30:00-05:00\"\n"
        );
        let data = parse_text(&text).unwrap();
        assert_eq!(
            data.overrides["primary"][1].created,
            DateTime::UNIX_EPOCH + Duration::seconds(1)
        );
        let at = |h, m| {
            data.on_call_in("primary", new_york(2026, 1, 7, h, m))
                .unwrap()
                .engineer
                .id
        };
        assert_eq!([at(7, 59), at(8, 0), at(8, 30)], ["bob", "alice", "bob"]);
    }

    #[test]
    fn an_explicit_creation_time_is_used() {
        let text = valid_with(
            "end = \"2026-01-07T09:00:00-05:00\"\n",
            "end = \"2026-01-07T09:00:00-05:00\"\ncreated = \"2026-01-02T12:00:00Z\"\n",
        );
        let data = parse_text(&text).unwrap();
        assert_eq!(
            data.overrides["primary"][0].created,
            Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn times_may_be_toml_date_times() {
        let text = valid_with("start = \"2026-01-05T10:00:00\"", "start = 2026-01-05T10:00:00")
            .replace(
                "start = \"2026-01-06T18:00:00-05:00\"",
                "start = 2026-01-06T18:00:00-05:00",
            )
            .replace("end = \"2026-01-07T09:00:00-05:00\"", "end = 2026-01-07T14:00:00Z");
        assert_eq!(parse_text(&text), parse_text(VALID));
    }

    #[test]
    fn a_rotation_without_participants_is_allowed_and_has_nobody_on_call() {
        let data = parse_text(&valid_with("participants = [\"alice\", \"bob\"]", "participants = []")).unwrap();
        let chain = data.on_call("default", new_york(2026, 1, 12, 12, 0)).unwrap();
        assert_eq!(names(&chain.tiers[0]), ["alice"], "only the named engineer");
    }

    /// Each bad input, with the error it gives (file, line, key, message).
    #[test]
    fn each_bad_value_is_reported_with_its_line_and_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "participants = [\"alice\", \"bob\"]",
                "participants = [\"alice\", \"bob\", \"zed\"]",
                "oncall.toml:19: rotations[0].participants[2]: unknown engineer \"zed\"",
            ),
            (
                "engineer = \"bob\"",
                "engineer = \"zed\"",
                "oncall.toml:24: overrides[0].engineer: unknown engineer \"zed\"",
            ),
            (
                "engineers = [\"alice\"]",
                "engineers = [\"zed\"]",
                "oncall.toml:34: policies[0].tiers[0].engineers[0]: unknown engineer \"zed\"",
            ),
            (
                "phone = \"+15550100002\"",
                "phone = \"555-0100\"",
                "oncall.toml:10: engineers[1].phone: invalid phone number \"555-0100\": expected E.164, a + then 8 \
                 to 15 digits, e.g. +18005550100",
            ),
            (
                "time_zone = \"America/Chicago\"",
                "time_zone = \"Mars/Olympus\"",
                "oncall.toml:11: engineers[1].time_zone: unknown time zone \"Mars/Olympus\": expected an IANA name \
                 such as America/New_York",
            ),
            (
                "time_zone = \"America/New_York\"\nstart",
                "time_zone = \"EST5\"\nstart",
                "oncall.toml:16: rotations[0].time_zone: unknown time zone \"EST5\": expected an IANA name such as \
                 America/New_York",
            ),
            (
                "shift = \"7d\"",
                "shift = \"0d\"",
                "oncall.toml:18: rotations[0].shift: invalid shift \"0d\": expected a whole number of days or hours \
                 above zero, e.g. \"7d\" or \"12h\"",
            ),
            (
                "shift = \"7d\"",
                "shift = \"7w\"",
                "oncall.toml:18: rotations[0].shift: invalid shift \"7w\": expected a whole number of days or hours \
                 above zero, e.g. \"7d\" or \"12h\"",
            ),
            (
                "shift = \"7d\"",
                "shift = \"7日\"",
                "oncall.toml:18: rotations[0].shift: invalid shift \"7日\": expected a whole number of days or hours \
                 above zero, e.g. \"7d\" or \"12h\"",
            ),
            (
                "start = \"2026-01-05T10:00:00\"",
                "start = \"2026-01-05 10am\"",
                "oncall.toml:17: rotations[0].start: invalid start \"2026-01-05 10am\": expected a local date and \
                 time without an offset (the rotation's time_zone places it), e.g. \"2026-01-05T10:00:00\"",
            ),
            (
                "start = \"2026-01-05T10:00:00\"",
                "start = \"2026-01-05T10:00:00-05:00\"",
                "oncall.toml:17: rotations[0].start: invalid start \"2026-01-05T10:00:00-05:00\": expected a local \
                 date and time without an offset (the rotation's time_zone places it), e.g. \"2026-01-05T10:00:00\"",
            ),
            (
                "start = \"2026-01-06T18:00:00-05:00\"",
                "start = \"2026-01-06T18:00:00\"",
                "oncall.toml:25: overrides[0].start: invalid time \"2026-01-06T18:00:00\": expected RFC 3339 with an \
                 offset, e.g. \"2026-12-24T18:00:00-05:00\"",
            ),
            (
                "end = \"2026-01-07T09:00:00-05:00\"",
                "end = \"2026-01-06T17:00:00-05:00\"",
                "oncall.toml:26: overrides[0].end: end \"2026-01-06T17:00:00-05:00\" is not after start \
                 \"2026-01-06T18:00:00-05:00\": an override must last a while",
            ),
            (
                "end = \"2026-01-07T09:00:00-05:00\"",
                "end = \"2026-01-06T23:00:00Z\"",
                "oncall.toml:26: overrides[0].end: end \"2026-01-06T23:00:00Z\" is not after start \
                 \"2026-01-06T18:00:00-05:00\": an override must last a while",
            ),
            (
                "rotation = \"primary\"",
                "rotation = \"tertiary\"",
                "oncall.toml:23: overrides[0].rotation: unknown rotation \"tertiary\"",
            ),
            (
                "rotations = [\"primary\"]",
                "rotations = [\"primary\", \"tertiary\"]",
                "oncall.toml:33: policies[0].tiers[0].rotations[1]: unknown rotation \"tertiary\"",
            ),
            (
                "ring_timeout_secs = 20",
                "ring_timeout_secs = 4",
                "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 4 is out of range: expected 5 \
                 to 120 seconds",
            ),
            (
                "ring_timeout_secs = 20",
                "ring_timeout_secs = 121",
                "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 121 is out of range: expected \
                 5 to 120 seconds",
            ),
            (
                "rotations = [\"primary\"]\nengineers = [\"alice\"]",
                "rotations = []\nengineers = []",
                "oncall.toml:32: policies[0].tiers[0]: a tier needs at least one rotation or engineer to ring",
            ),
            (
                "id = \"default\"",
                "id = \"\"",
                "oncall.toml:29: policies[0].id: the policy id is empty",
            ),
        ];
        for (old, new, expected) in cases {
            assert_eq!(errors_of(&valid_with(old, new)), [*expected], "{new}");
        }
    }

    #[test]
    fn ring_timeouts_of_5_and_120_seconds_are_allowed() {
        for secs in ["5", "120"] {
            let text = valid_with("ring_timeout_secs = 20", &format!("ring_timeout_secs = {secs}"));
            assert!(parse_text(&text).is_ok(), "{secs}");
        }
    }

    /// Entries added at the end of VALID, which has 35 lines: the new entry's header is on line 37.
    #[test]
    fn each_bad_entry_is_reported_with_its_line_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[[engineers]]\nid = \"alice\"\nname = \"Alice Again\"\nphone = \"+15550100009\"\n\
                 time_zone = \"UTC\"\n",
                "oncall.toml:38: engineers[2].id: duplicate engineer id \"alice\": first defined at line 2",
            ),
            (
                "[[rotations]]\nid = \"primary\"\nname = \"Again\"\ntime_zone = \"UTC\"\n\
                 start = \"2026-01-05T10:00:00\"\nshift = \"12h\"\nparticipants = []\n",
                "oncall.toml:38: rotations[1].id: duplicate rotation id \"primary\": first defined at line 14",
            ),
            (
                "[[overrides]]\nid = \"swap\"\nrotation = \"primary\"\nengineer = \"alice\"\n\
                 start = \"2026-02-01T00:00:00Z\"\nend = \"2026-02-02T00:00:00Z\"\n",
                "oncall.toml:38: overrides[1].id: duplicate override id \"swap\": first defined at line 22",
            ),
            (
                "[[policies]]\nid = \"default\"\n[[policies.tiers]]\nengineers = [\"bob\"]\n",
                "oncall.toml:38: policies[1].id: duplicate policy id \"default\": first defined at line 29",
            ),
            (
                "[[policies]]\nid = \"nobody\"\n",
                "oncall.toml:37: policies[1].tiers: a policy needs at least one tier ([[policies.tiers]])",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(errors_of(&format!("{VALID}\n{entry}")), [*expected], "{entry}");
        }
    }

    #[test]
    fn two_overrides_without_ids_at_the_same_start_clash() {
        let one = "[[overrides]]\nrotation = \"primary\"\nengineer = \"alice\"\n\
                   start = \"2026-02-01T00:00:00Z\"\nend = \"2026-02-02T00:00:00Z\"\n";
        assert_eq!(
            errors_of(&format!("{VALID}\n{one}\n{one}")),
            [
                "oncall.toml:43: overrides[2]: duplicate override id \"primary-20260201T000000Z\": first defined at \
                 line 37 (generated from the rotation and the start: give the overrides ids)"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_line_order() {
        let text = valid_with("time_zone = \"America/New_York\"", "time_zone = \"New York\"")
            .replace("ring_timeout_secs = 20", "ring_timeout_secs = 600")
            .replace(
                "participants = [\"alice\", \"bob\"]",
                "participants = [\"zed\", \"bob\", \"yan\"]",
            )
            .replace("shift = \"7d\"", "shift = \"d\"");
        assert_eq!(
            errors_of(&text),
            [
                "oncall.toml:5: engineers[0].time_zone: unknown time zone \"New York\": expected an IANA name such \
                 as America/New_York",
                "oncall.toml:18: rotations[0].shift: invalid shift \"d\": expected a whole number of days or hours \
                 above zero, e.g. \"7d\" or \"12h\"",
                "oncall.toml:19: rotations[0].participants[0]: unknown engineer \"zed\"",
                "oncall.toml:19: rotations[0].participants[2]: unknown engineer \"yan\"",
                "oncall.toml:35: policies[0].tiers[0].ring_timeout_secs: ring timeout 600 is out of range: expected \
                 5 to 120 seconds",
            ]
        );
    }

    #[test]
    fn a_participant_on_its_own_line_is_reported_on_that_line() {
        let text = valid_with(
            "participants = [\"alice\", \"bob\"]",
            "participants = [\n  \"alice\",\n  \"zed\",\n]",
        );
        assert_eq!(
            errors_of(&text),
            ["oncall.toml:21: rotations[0].participants[1]: unknown engineer \"zed\""]
        );
    }

    #[test]
    fn syntax_and_type_errors_stop_at_the_first_with_line_and_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "shift = \"7d\"",
                "shift = \"7d\"\ncolour = \"red\"",
                "oncall.toml:19: rotations[0].colour: unknown field `colour`, expected one of `id`, `name`, \
                 `time_zone`, `start`, `shift`, `participants`",
            ),
            (
                "repeat = 1",
                "repeat = -1",
                "oncall.toml:30: policies[0].repeat: invalid value: integer `-1`, expected u32",
            ),
            (
                "start = \"2026-01-05T10:00:00\"",
                "start = 20260105",
                "oncall.toml:17: rotations[0].start: invalid type: integer, expected a date and time such as \
                 \"2026-01-05T10:00:00\"",
            ),
            (
                "name = \"Primary on-call\"\n",
                "",
                "oncall.toml:13: rotations[0]: missing field `name`",
            ),
            ("repeat = 1", "repeat = = 1", "oncall.toml:30: "),
        ];
        for (old, new, expected) in cases {
            let errors = errors_of(&valid_with(old, new));
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].starts_with(expected), "{new}: {}", errors[0]);
        }
    }

    #[test]
    fn a_missing_file_is_one_error() {
        let errors = load(Path::new("/nonexistent/oncall.toml")).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .starts_with("/nonexistent/oncall.toml: cannot read the file: "),
            "{}",
            errors[0]
        );
    }
}
