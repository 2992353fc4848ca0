//! `hangup`: ends the call. The only kind with no outcome: every path of a flow ends in one. When the call
//! was about a case, the note for the case system is queued here.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Effect, Transition};
use crate::twiml::Verb;

pub const OUTCOMES: &[&str] = &[];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hangup {}

impl Hangup {
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        ctx.response.push(Verb::Hangup);
        ctx.trace_decision("hang up".to_owned());
        let vars = &ctx.state.vars;
        let outcome = if vars.contains_key("accepted") {
            "answered".to_owned()
        } else if vars.contains_key("recording") {
            "voicemail".to_owned()
        } else {
            vars.get("decision").cloned().unwrap_or_else(|| "ended".to_owned())
        };
        metrics::counter!(crate::metrics::CALLS_ENDED, "line" => ctx.line.key.clone(), "outcome" => outcome)
            .increment(1);
        let call_sid = ctx
            .input
            .param("ParentCallSid")
            .unwrap_or(ctx.input.call_sid())
            .to_owned();
        ctx.effects.push(Effect::CallEnded { call_sid });
        if let Some(note) = super::verify_case::closing_note(ctx) {
            ctx.effects.push(note);
        }
        Transition::End
    }
}
