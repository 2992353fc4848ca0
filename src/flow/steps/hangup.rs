//! `hangup`: ends the call. The only kind with no outcome: every path of a flow ends in one. When the call
//! was about a case, the note for the case system is queued here.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Transition};
use crate::twiml::Verb;

pub const OUTCOMES: &[&str] = &[];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hangup {}

impl Hangup {
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        ctx.response.push(Verb::Hangup);
        ctx.note("hang up".to_owned());
        if let Some(note) = super::verify_case::closing_note(ctx) {
            ctx.effects.push(note);
        }
        Transition::End
    }
}
