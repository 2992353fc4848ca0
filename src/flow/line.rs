//! Support lines as the service runs them: the dialled number picks the line, and the line brings its time
//! zone, calendar, flow and policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;

use crate::calendar::{Calendar, spoken_zone};
use crate::flow::Flow;
use crate::phone::PhoneNumber;
use crate::settings::{LineSettings, Mode, OnUnavailable};

/// One line, resolved: its calendar and flow loaded.
#[derive(Debug)]
pub struct Line {
    /// The line's key in the configuration; carried in step URLs.
    pub(crate) key: String,
    pub(crate) number: PhoneNumber,
    pub(crate) name: String,
    pub tz: Tz,
    /// How the zone is spoken in prompts ("Eastern time").
    pub(crate) zone_name: String,
    pub calendar: Arc<Calendar>,
    pub flow: Arc<Flow>,
    pub(crate) escalation_policy: String,
    pub(crate) mode: Mode,
    pub(crate) support_channel: String,
    pub(crate) on_unavailable: OnUnavailable,
    pub(crate) require_registered_caller: bool,
    pub(crate) require_a_attestation: bool,
    pub(crate) fallback_numbers: Vec<PhoneNumber>,
}

impl Line {
    pub(crate) fn new(key: &str, settings: &LineSettings, calendar: Arc<Calendar>, flow: Arc<Flow>) -> Self {
        let tz = settings.time_zone.0;
        Self {
            key: key.to_owned(),
            number: settings.number.clone(),
            name: settings.name.clone(),
            tz,
            zone_name: settings.time_zone_name.clone().unwrap_or_else(|| spoken_zone(tz)),
            calendar,
            flow,
            escalation_policy: settings.escalation_policy.to_string(),
            mode: settings.mode,
            support_channel: settings.support_channel.clone(),
            on_unavailable: settings.on_unavailable,
            require_registered_caller: settings.require_registered_caller,
            require_a_attestation: settings.require_a_attestation,
            fallback_numbers: settings.fallback_numbers.clone(),
        }
    }
}

/// All lines, by dialled number and by key, and the default line for numbers that match none.
#[derive(Debug, Default)]
pub struct Lines {
    by_key: BTreeMap<String, Arc<Line>>,
    by_number: BTreeMap<String, Arc<Line>>,
    default: Option<Arc<Line>>,
}

impl Lines {
    pub(crate) fn new(lines: Vec<Line>, default_key: Option<&str>) -> Self {
        let mut all = Lines::default();
        for line in lines {
            let line = Arc::new(line);
            if Some(line.key.as_str()) == default_key {
                all.default = Some(line.clone());
            }
            all.by_number.insert(line.number.as_str().to_owned(), line.clone());
            all.by_key.insert(line.key.clone(), line);
        }
        all
    }

    /// The line for a dialled number (`To`), or the default line.
    pub(crate) fn for_dialled(&self, to: &str) -> Option<&Arc<Line>> {
        self.by_number.get(to.trim()).or(self.default.as_ref())
    }

    pub fn by_key(&self, key: &str) -> Option<&Arc<Line>> {
        self.by_key.get(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Line>> {
        self.by_key.values()
    }
}
