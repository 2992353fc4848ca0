//! Who is on call: engineers, rotations, overrides and escalation policies, and the chain of people to ring
//! at an instant. Pure: every function takes the time it is asked about.
//!
//! A rotation hands over every `shift` from its `start` (a local time in the rotation's zone). A shift in
//! days keeps the handoff at the same local wall time across daylight-saving changes ("Monday 10:00 New
//! York" stays 10:00); a shift in hours is an exact duration. Overrides put another engineer on a rotation
//! for a while and win over it; where overrides overlap, the one created last wins.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::phone::PhoneNumber;

/// The ring timeout of a tier when none is given.
pub(crate) const DEFAULT_RING_TIMEOUT_SECS: u32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Engineer {
    pub id: String,
    pub name: String,
    pub phone: PhoneNumber,
    #[serde(with = "tz_name")]
    pub time_zone: Tz,
    /// How a case system may name them (as a customer's Technical Account Manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// How long a shift lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// Calendar days: the handoff stays at the same local wall time.
    Days(u32),
    /// An exact number of hours.
    Hours(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rotation {
    pub id: String,
    pub name: String,
    #[serde(with = "tz_name")]
    pub time_zone: Tz,
    /// The first handoff, in local time of the rotation's zone.
    pub start: NaiveDateTime,
    #[serde(with = "shift_text")]
    pub shift: Shift,
    /// Engineer ids, in the order they take shifts.
    pub participants: Vec<String>,
    /// An outside calendar the shifts are taken from instead of the participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CalendarSource>,
    /// Bumped by every write; a write that names an older version is refused.
    #[serde(default)]
    pub version: u64,
}

/// An iCalendar feed (PagerDuty, Opsgenie, Grafana OnCall, any calendar) whose events are a rotation's
/// shifts, fetched in the background ([`crate::oncall::import`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CalendarSource {
    /// An `http` or `https` URL; it may carry a secret token, so it is never logged whole.
    pub url: String,
    /// Seconds between fetches.
    pub refresh_secs: u64,
}

/// One shift of a rotation taken from its outside calendar: an event matched to an engineer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportedShift {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub engineer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Override {
    pub id: String,
    pub rotation: String,
    pub engineer: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When it was created; the latest created wins where overrides overlap.
    pub created: DateTime<Utc>,
}

/// Who a tier rings: whoever is on call in a rotation, one engineer, or the Technical Account Manager of
/// the case the call is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Rotation(String),
    Engineer(String),
    /// The case's TAM, when the call has a verified case whose TAM is an engineer of the on-call data and
    /// whose package includes one; nobody otherwise.
    CaseTam,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tier {
    /// Rung at the same time.
    pub targets: Vec<Target>,
    pub ring_timeout_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub id: String,
    pub tiers: Vec<Tier>,
    /// How many more times the whole list of tiers is tried after the first pass.
    pub repeat: u32,
}

/// Everything needed to answer "who is on call": what a store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnCallData {
    pub engineers: BTreeMap<String, Engineer>,
    pub rotations: BTreeMap<String, Rotation>,
    /// By rotation id.
    pub overrides: BTreeMap<String, Vec<Override>>,
    pub policies: BTreeMap<String, Policy>,
    /// The shifts of the rotations with an outside calendar, by rotation id, in order: from the last good
    /// copy of each calendar.
    pub imported: BTreeMap<String, Vec<ImportedShift>>,
}

/// One person to ring, and until when they are the one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OnCall {
    pub engineer: Engineer,
    /// The end of the shift or override that puts them here; `None` for an engineer named directly.
    pub(crate) until: Option<DateTime<Utc>>,
    /// The rotation they are on call for, if any.
    pub(crate) rotation: Option<String>,
}

/// The people of one tier, rung together.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TierOnCall {
    pub people: Vec<OnCall>,
    pub(crate) ring_timeout_secs: u32,
    /// Whether the tier rings the case's TAM (who is in `people` only when the call's case named one).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) case_tam: bool,
}

/// The whole escalation chain at an instant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Chain {
    pub(crate) policy: String,
    pub tiers: Vec<TierOnCall>,
    pub(crate) repeat: u32,
}

impl Chain {
    /// The tiers in the order they are tried, repeats included, empty tiers skipped.
    pub(crate) fn attempts(&self) -> Vec<&TierOnCall> {
        let rung: Vec<&TierOnCall> = self.tiers.iter().filter(|t| !t.people.is_empty()).collect();
        (0..=self.repeat).flat_map(|_| rung.iter().copied()).collect()
    }

    /// True when nobody at all can be rung.
    pub(crate) fn is_empty(&self) -> bool {
        self.tiers.iter().all(|t| t.people.is_empty())
    }
}

impl Rotation {
    /// The shift that contains `t`: its index since `start` (negative before it) and its bounds.
    pub(crate) fn shift_at(&self, t: DateTime<Utc>) -> (i64, DateTime<Utc>, DateTime<Utc>) {
        match self.shift {
            Shift::Hours(hours) => {
                let start = local_to_utc(self.time_zone, self.start);
                let length = Duration::hours(i64::from(hours.max(1)));
                let bound = |i: i64| start + length * i as i32;
                let mut index = (t - start).num_seconds().div_euclid(length.num_seconds());
                // Whole seconds round toward zero: settle the estimate on real instants.
                while bound(index) > t {
                    index -= 1;
                }
                while bound(index + 1) <= t {
                    index += 1;
                }
                (index, bound(index), bound(index + 1))
            }
            Shift::Days(days) => {
                // Count in local wall time, so that the handoff keeps its local hour across DST changes.
                let local = t.with_timezone(&self.time_zone).naive_local();
                let length = Duration::days(i64::from(days.max(1)));
                let mut index = (local - self.start).num_seconds().div_euclid(length.num_seconds());
                // Near a DST change the wall-clock estimate can be one off: settle it on real instants.
                let bound = |i: i64| local_to_utc(self.time_zone, self.start + length * i as i32);
                while bound(index) > t {
                    index -= 1;
                }
                while bound(index + 1) <= t {
                    index += 1;
                }
                (index, bound(index), bound(index + 1))
            }
        }
    }

    /// The participant on shift at `t` (before overrides), with the end of that shift.
    fn scheduled_at(&self, t: DateTime<Utc>) -> Option<(&str, DateTime<Utc>)> {
        if self.participants.is_empty() {
            return None;
        }
        let (index, _, until) = self.shift_at(t);
        let who = &self.participants[index.rem_euclid(self.participants.len() as i64) as usize];
        Some((who.as_str(), until))
    }
}

impl OnCallData {
    /// Who is on call for `rotation` at `t`: the latest-created override covering `t`, else the schedule.
    pub(crate) fn on_call_in(&self, rotation: &str, t: DateTime<Utc>) -> Option<OnCall> {
        let overriding = self
            .overrides
            .get(rotation)
            .into_iter()
            .flatten()
            .filter(|o| o.start <= t && t < o.end)
            .max_by_key(|o| (o.created, o.id.clone()));
        let (engineer, until) = match overriding {
            Some(o) => {
                // On until its end, or until an override created later takes over, whichever is first.
                let taken_over = self
                    .overrides
                    .get(rotation)
                    .into_iter()
                    .flatten()
                    .filter(|p| t < p.start && p.start < o.end && (p.created, &p.id) > (o.created, &o.id))
                    .map(|p| p.start)
                    .min();
                (o.engineer.as_str(), taken_over.unwrap_or(o.end))
            }
            None => {
                let (who, shift_end) = self.scheduled_in(rotation, t)?;
                // The scheduled engineer is on until their shift ends or an override begins, whichever is first.
                let next_override = self
                    .overrides
                    .get(rotation)
                    .into_iter()
                    .flatten()
                    .filter(|o| o.start > t && o.start < shift_end)
                    .map(|o| o.start)
                    .min();
                (who, next_override.unwrap_or(shift_end))
            }
        };
        let engineer = self.engineers.get(engineer)?.clone();
        Some(OnCall {
            engineer,
            until: Some(until),
            rotation: Some(rotation.to_owned()),
        })
    }

    /// Who the schedule of `rotation` puts on call at `t`, before overrides, and until when: its outside
    /// calendar's shift (the earliest starting of those covering `t`) for a rotation with one, else its
    /// participants' turn.
    fn scheduled_in(&self, rotation: &str, t: DateTime<Utc>) -> Option<(&str, DateTime<Utc>)> {
        let rotation = self.rotations.get(rotation)?;
        if rotation.source.is_none() {
            return rotation.scheduled_at(t);
        }
        self.imported
            .get(&rotation.id)?
            .iter()
            .find(|s| s.start <= t && t < s.end)
            .map(|s| (s.engineer.as_str(), s.end))
    }

    /// An override checked against the data it joins: a known rotation and engineer, an end after the start.
    /// Its id is made from the rotation and the start when none is given.
    pub(crate) fn new_override(
        &self,
        rotation: String,
        engineer: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        id: Option<String>,
        created: DateTime<Utc>,
    ) -> Result<Override, String> {
        if !self.rotations.contains_key(&rotation) {
            return Err(format!("unknown rotation {rotation:?}"));
        }
        if !self.engineers.contains_key(&engineer) {
            return Err(format!("unknown engineer {engineer:?}"));
        }
        if end <= start {
            return Err(format!("the override ends ({end}) before it starts ({start})"));
        }
        let id = id
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| format!("{rotation}-{}", start.format("%Y%m%dT%H%M%SZ")));
        Ok(Override {
            id,
            rotation,
            engineer,
            start,
            end,
            created,
        })
    }

    /// The escalation chain of `policy` at `t`, without a case: a tier's case TAM rings nobody. `None` for a
    /// policy that does not exist.
    pub fn on_call(&self, policy: &str, t: DateTime<Utc>) -> Option<Chain> {
        self.on_call_for_case(policy, t, None)
    }

    /// The engineer a case system names (as a TAM): by id, else by email without regard to case.
    pub fn find_engineer(&self, who: &str) -> Option<&Engineer> {
        let who = who.trim();
        self.engineers.get(who).or_else(|| {
            self.engineers
                .values()
                .find(|e| e.email.as_deref().is_some_and(|email| email.eq_ignore_ascii_case(who)))
        })
    }

    /// The escalation chain of `policy` at `t` for a call whose case's TAM is `tam` (already checked: a
    /// verified case, a package with a TAM, an engineer of this data).
    pub fn on_call_for_case(&self, policy: &str, t: DateTime<Utc>, tam: Option<&Engineer>) -> Option<Chain> {
        let policy = self.policies.get(policy)?;
        let tiers = policy
            .tiers
            .iter()
            .map(|tier| {
                let mut people: Vec<OnCall> = Vec::new();
                for target in &tier.targets {
                    let person = match target {
                        Target::Rotation(id) => self.on_call_in(id, t),
                        Target::Engineer(id) => self.engineers.get(id).map(|e| OnCall {
                            engineer: e.clone(),
                            until: None,
                            rotation: None,
                        }),
                        Target::CaseTam => tam.map(|e| OnCall {
                            engineer: e.clone(),
                            until: None,
                            rotation: None,
                        }),
                    };
                    // The same person reached through two targets is rung once.
                    if let Some(person) = person.filter(|p| people.iter().all(|q| q.engineer.id != p.engineer.id)) {
                        people.push(person);
                    }
                }
                TierOnCall {
                    people,
                    ring_timeout_secs: tier.ring_timeout_secs,
                    case_tam: tier.targets.contains(&Target::CaseTam),
                }
            })
            .collect();
        Some(Chain {
            policy: policy.id.clone(),
            tiers,
            repeat: policy.repeat,
        })
    }
}

/// A local wall time as an instant: the earlier of two in a fall-back overlap, the first instant after the
/// gap in a spring-forward gap.
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..(4 * 60) {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&local)
}

impl std::fmt::Display for Shift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shift::Days(n) => write!(f, "{n}d"),
            Shift::Hours(n) => write!(f, "{n}h"),
        }
    }
}

impl std::str::FromStr for Shift {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "invalid shift {text:?}: expected a whole number of days or hours above zero, e.g. \"7d\" or \"12h\""
            )
        };
        let (number, unit) = text.split_at(text.char_indices().last().map_or(0, |(i, _)| i));
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(expected());
        }
        let n: u32 = number.parse().map_err(|_| expected())?;
        match (unit, n) {
            (_, 0) => Err(expected()),
            ("d", n) if n <= 366 => Ok(Shift::Days(n)),
            ("h", n) if n <= 24 * 366 => Ok(Shift::Hours(n)),
            _ => Err(expected()),
        }
    }
}

mod shift_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(shift: &super::Shift, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&shift.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::Shift, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

mod tz_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono_tz::Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone {name:?}: expected an IANA name such as America/New_York"
            ))
        })
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
pub(crate) mod tests;
