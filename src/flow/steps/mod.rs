//! The step kinds a voice flow is built from, one module each. A kind declares its settings (parsed from
//! the step's table in the flow file), its outcomes, and what it does when the call reaches it.
//!
//! Adding a kind: a module here, a variant of [`StepKind`], and its arms in the `match`es below.

pub mod bridge;
pub mod business_hours;
mod case_tam;
pub mod gather;
pub mod hangup;
mod missed;
pub mod rate_limit;
pub mod say;
pub mod status;
pub mod verify_case;
pub mod voicemail;

use super::engine::{Ctx, Transition};
use super::prompt::Prompt;

/// A step's behaviour and settings.
#[derive(Debug, Clone)]
pub enum StepKind {
    Say(say::Say),
    Gather(gather::Gather),
    BusinessHours(business_hours::BusinessHours),
    Hangup(hangup::Hangup),
    VerifyCase(verify_case::VerifyCase),
    Bridge(bridge::Bridge),
    Voicemail(voicemail::Voicemail),
    Status(status::Status),
    RateLimit(rate_limit::RateLimit),
}

/// The names accepted for `kind = "..."`.
pub(crate) const KINDS: &[&str] = &[
    "say",
    "gather",
    "business_hours",
    "hangup",
    "verify_case",
    "bridge",
    "voicemail",
    "status",
    "rate_limit",
];

impl StepKind {
    /// Builds a kind from its name and the rest of the step's table.
    pub(crate) fn parse(kind: &str, settings: toml::Table) -> Result<Self, (String, String)> {
        use crate::settings::toml_file::from_table;
        Ok(match kind {
            "say" => StepKind::Say(from_table(settings)?),
            "gather" => StepKind::Gather(from_table::<gather::Gather>(settings)?.checked()?),
            "business_hours" => StepKind::BusinessHours(from_table(settings)?),
            "hangup" => StepKind::Hangup(from_table(settings)?),
            "verify_case" => StepKind::VerifyCase(from_table(settings)?),
            "bridge" => StepKind::Bridge(from_table(settings)?),
            "voicemail" => StepKind::Voicemail(from_table(settings)?),
            "status" => StepKind::Status(from_table(settings)?),
            "rate_limit" => StepKind::RateLimit(from_table(settings)?),
            other => {
                return Err((
                    "kind".into(),
                    format!("unknown step kind {other:?}: expected one of {}", KINDS.join(", ")),
                ));
            }
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            StepKind::Say(_) => "say",
            StepKind::Gather(_) => "gather",
            StepKind::BusinessHours(_) => "business_hours",
            StepKind::Hangup(_) => "hangup",
            StepKind::VerifyCase(_) => "verify_case",
            StepKind::Bridge(_) => "bridge",
            StepKind::Voicemail(_) => "voicemail",
            StepKind::Status(_) => "status",
            StepKind::RateLimit(_) => "rate_limit",
        }
    }

    /// The outcomes the step can end with; each must lead to a step in the flow's `next`.
    pub fn outcomes(&self) -> &'static [&'static str] {
        match self {
            StepKind::Say(_) => say::OUTCOMES,
            StepKind::Gather(_) => gather::OUTCOMES,
            StepKind::BusinessHours(_) => business_hours::OUTCOMES,
            StepKind::Hangup(_) => hangup::OUTCOMES,
            StepKind::VerifyCase(_) => verify_case::OUTCOMES,
            StepKind::Bridge(_) => bridge::OUTCOMES,
            StepKind::Voicemail(_) => voicemail::OUTCOMES,
            StepKind::Status(_) => status::OUTCOMES,
            StepKind::RateLimit(_) => rate_limit::OUTCOMES,
        }
    }

    /// True when the step hands the call to the provider and resumes on a later webhook (so a loop through
    /// it is not a loop within one response).
    pub(crate) fn waits_for_caller(&self) -> bool {
        matches!(self, StepKind::Gather(_) | StepKind::Bridge(_) | StepKind::Voicemail(_))
    }

    /// Every prompt of the step with its key, for checking placeholders at load.
    pub(crate) fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        match self {
            StepKind::Say(s) => vec![("text", &s.text)],
            StepKind::Gather(g) => g.prompts(),
            StepKind::Bridge(b) => b.prompts(),
            StepKind::Voicemail(v) => vec![("prompt", &v.prompt)],
            StepKind::Status(s) => s.prompts(),
            StepKind::BusinessHours(_) | StepKind::Hangup(_) | StepKind::VerifyCase(_) | StepKind::RateLimit(_) => {
                vec![]
            }
        }
    }

    /// The placeholders that only the step's prompt `key` knows (the step fills them itself).
    pub(crate) fn own_placeholders(&self, key: &str) -> &'static [&'static str] {
        match self {
            StepKind::Status(_) => status::Status::own_placeholders(key),
            _ => &[],
        }
    }

    /// Variables the step has stored in the call state when it ends with `outcome` (usable as placeholders
    /// in the steps after it).
    pub(crate) fn stores_on(&self, outcome: &str) -> Vec<&str> {
        match self {
            StepKind::Gather(g) if outcome == "entered" => vec![g.store.as_str()],
            StepKind::VerifyCase(_) => verify_case::VerifyCase::stores_on(outcome),
            StepKind::Bridge(_) if outcome == "accepted" => vec!["accepted"],
            StepKind::Voicemail(_) if outcome == "recorded" => vec!["recording"],
            _ => vec![],
        }
    }

    /// Variables the step reads, which every path to it must have stored.
    pub(crate) fn requires(&self) -> Vec<(&'static str, &str)> {
        match self {
            StepKind::VerifyCase(v) => vec![("case_from", v.case_from.as_str())],
            _ => vec![],
        }
    }

    /// The call reaches the step.
    pub(crate) async fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        match self {
            StepKind::Say(s) => s.run(ctx),
            StepKind::Gather(g) => g.run(ctx),
            StepKind::BusinessHours(b) => b.run(ctx),
            StepKind::Hangup(h) => h.run(ctx),
            StepKind::VerifyCase(v) => v.run(ctx).await,
            StepKind::Bridge(b) => b.run(ctx).await,
            StepKind::Voicemail(v) => v.run(ctx),
            StepKind::Status(s) => s.run(ctx),
            StepKind::RateLimit(r) => r.run(ctx).await,
        }
    }

    /// The provider calls back about the step (`/voice/step/{step}/{event}`); `None` for an event the kind
    /// does not know.
    pub(crate) async fn on_event(&self, event: &str, ctx: &mut Ctx<'_>) -> Option<Transition> {
        match self {
            StepKind::Gather(g) if event == gather::DIGITS_EVENT => Some(g.on_digits(ctx)),
            StepKind::Bridge(b) if event == bridge::DIALED => Some(b.on_dialed(ctx).await),
            StepKind::Bridge(b) if event == bridge::WHISPER => Some(b.on_whisper(ctx)),
            StepKind::Bridge(b) if event == bridge::ACCEPT => Some(b.on_accept(ctx).await),
            StepKind::Voicemail(v) if event == voicemail::RECORDED => Some(v.on_recorded(ctx)),
            _ => None,
        }
    }
}
