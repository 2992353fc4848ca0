//! `business_hours`: decides `open` or `closed` from the line's calendar in its local time, unless the line's
//! mode pins the answer (drills run the night path in daytime).

use serde::Deserialize;

use crate::calendar::spoken_datetime;
use crate::flow::engine::{Ctx, Transition};
use crate::settings::Mode;

pub const OUTCOMES: &[&str] = &["open", "closed"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {}

impl BusinessHours {
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let line = ctx.line;
        let open = match line.mode {
            Mode::Auto => line.calendar.is_business_time(line.tz, ctx.now),
            Mode::AlwaysAfterHours => false,
            Mode::AlwaysBusinessHours => true,
        };
        let outcome = if open { "open" } else { "closed" };
        let local = ctx.now.with_timezone(&line.tz);
        ctx.trace_decision(format!(
            "business hours: {outcome} at {} {} (mode {})",
            spoken_datetime(&local),
            line.zone_name,
            line.mode
        ));
        Transition::Next(outcome)
    }
}
