//! Writing the rotation file: the model back into the serde types of `parse`, serialized by the
//! `toml` crate under a comment header that says what the file is.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use super::parse::{DateText, EngineerEntry, OnCallFile, OverrideEntry, PolicyEntry, RotationEntry, TierEntry};
use crate::oncall::model::{OnCallData, Override, Target};

/// The comment at the top of an exported file.
const HEADER: &str = concat!(
    "# On-call data for afterhours: engineers, rotations, overrides and escalation policies.\n",
    "# Read with `afterhours rotation import FILE.toml`. A rotation's start is a local wall time in its\n",
    "# time_zone; override times are RFC 3339 with an offset.\n",
    "\n",
);

/// The file could not be serialized as TOML.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the rotation file: {0}")]
pub(crate) struct WriteError(#[from] toml::ser::Error);

impl OnCallFile {
    /// The file as TOML text, with a header that says what it is.
    pub(crate) fn to_toml(&self) -> Result<String, WriteError> {
        Ok(format!("{HEADER}{}", toml::to_string(self)?))
    }
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
                email: e.email.clone(),
            })
            .collect();
        let rotations = data
            .rotations
            .values()
            .map(|r| RotationEntry {
                id: r.id.clone(),
                name: r.name.clone(),
                time_zone: r.time_zone.name().to_owned(),
                start: Some(DateText(r.start.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
                shift: Some(r.shift.to_string()),
                participants: r.participants.clone(),
                source: r.source.as_ref().map(|s| s.url.clone()),
                refresh_secs: r.source.as_ref().map(|s| s.refresh_secs),
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
                            case_tam: false,
                            ring_timeout_secs: t.ring_timeout_secs,
                        };
                        for target in &t.targets {
                            match target {
                                Target::Rotation(id) => entry.rotations.push(id.clone()),
                                Target::Engineer(id) => entry.engineers.push(id.clone()),
                                Target::CaseTam => entry.case_tam = true,
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
