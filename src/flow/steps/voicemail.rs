//! `voicemail`: nobody accepted; the caller leaves a message. `<Record>` posts the recording's URL, which is
//! kept for the note on the case. Outcomes: `recorded`, or `empty` when no message came.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Transition};
use crate::flow::prompt::Prompt;
use crate::twiml::{Record, Verb};

pub const OUTCOMES: &[&str] = &["recorded", "empty"];

/// The provider posts the recording.
pub(crate) const RECORDED: &str = "recorded";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    pub(crate) prompt: Prompt,
    #[serde(default = "default_max_length")]
    max_length_secs: u32,
    #[serde(default = "hash")]
    finish_on_key: char,
    /// Seconds of silence that end the recording.
    #[serde(default = "five")]
    timeout_secs: u32,
}

fn default_max_length() -> u32 {
    180
}

fn hash() -> char {
    '#'
}

fn five() -> u32 {
    5
}

impl Voicemail {
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        ctx.say(&self.prompt);
        let action = ctx.event_url(RECORDED);
        ctx.response.push(Verb::Record(Record {
            action: action.clone(),
            max_length_secs: self.max_length_secs,
            finish_on_key: self.finish_on_key,
            timeout_secs: self.timeout_secs,
        }));
        // Without a recording some providers run the next verb: come back to the same place.
        ctx.response.push(Verb::Redirect { url: action });
        Transition::Wait
    }

    pub(crate) fn on_recorded(&self, ctx: &mut Ctx<'_>) -> Transition {
        let url = ctx.input.param("RecordingUrl").unwrap_or("").to_owned();
        let seconds = ctx.input.param("RecordingDuration").unwrap_or("").to_owned();
        if url.starts_with("https://") && url.len() <= crate::flow::state::MAX_VALUE_BYTES {
            ctx.trace_decision(format!("voicemail: recorded {seconds} s at {url}"));
            ctx.state.set("recording", &url);
            super::missed::alert_voicemail(ctx, &url);
            Transition::Next("recorded")
        } else {
            ctx.trace_decision("voicemail: no message".into());
            Transition::Next("empty")
        }
    }
}
