//! `say`: speaks a prompt and goes on.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Transition};
use crate::flow::prompt::Prompt;

pub const OUTCOMES: &[&str] = &["next"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Say {
    pub(crate) text: Prompt,
}

impl Say {
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        ctx.say(&self.text);
        Transition::Next("next")
    }
}
