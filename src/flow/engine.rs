//! Runs a flow for one webhook: from the step the URL names, step after step within the same response,
//! until a step waits for the caller or ends the call. The TwiML built on the way is the answer.

use chrono::{DateTime, Utc};

use std::sync::Arc;
use std::time::Duration;

use super::Flow;
use super::state::CallState;
use crate::calendar::spoken_datetime;
use crate::calllog::CallEvent;
use crate::cases::{CaseId, CaseSystem};
use crate::flow::line::Line;
use crate::flow::prompt::Prompt;
use crate::store::Store;
use crate::store::cache::OnCallCache;
use crate::twiml::{Response, Verb, Voice};

/// Placeholders every prompt may use, besides the variables that gather steps store.
pub(crate) const PLACEHOLDERS: &[&str] = &[
    "line_name",
    "support_channel",
    "opening_hours",
    "time_zone",
    "deadline",
    "next_opening",
];

/// The longest a webhook may take before the caller hears an apology instead (the provider gives up at 15 s).
pub(crate) const WEBHOOK_DEADLINE: Duration = Duration::from_secs(12);

/// More steps than this in one response means a loop that validation should have caught.
const MAX_STEPS_PER_RESPONSE: usize = 64;

/// What a step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Go on to the step this outcome leads to, in the same response.
    Next(&'static str),
    /// The provider takes over and calls back a URL of ours later.
    Wait,
    /// The call ends here.
    End,
}

/// A webhook's form fields, in the order they came (a name may repeat).
pub(crate) type Params = Arc<Vec<(String, String)>>;

/// The fields of a provider webhook that the flow reads, shared with the request, not copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallInput {
    /// Every field of the webhook: the common ones have their own accessors; steps read the others
    /// (`DialCallStatus`, `RecordingUrl` ...) with [`CallInput::param`].
    params: Params,
}

impl CallInput {
    /// The fields of a webhook.
    pub fn from_params(params: &[(String, String)]) -> Self {
        Self::from_shared(Arc::new(params.to_vec()))
    }

    /// The fields of a webhook, as the signature check decoded them.
    pub(crate) fn from_shared(params: Params) -> Self {
        Self { params }
    }

    /// Decodes a form body (`application/x-www-form-urlencoded`); never fails: what is not valid is decoded
    /// as browsers do.
    pub fn decode(body: &[u8]) -> Params {
        Arc::new(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of the field `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// `CallSid`, empty when the webhook has none.
    pub(crate) fn call_sid(&self) -> &str {
        self.param("CallSid").unwrap_or_default()
    }

    /// `From`: the caller's number, empty when the webhook has none.
    pub(crate) fn from(&self) -> &str {
        self.param("From").unwrap_or_default()
    }

    /// `To`: the number dialled, empty when the webhook has none.
    pub(crate) fn to(&self) -> &str {
        self.param("To").unwrap_or_default()
    }

    /// `Digits`: the keys pressed, if the webhook reports any.
    pub(crate) fn digits(&self) -> Option<&str> {
        self.param("Digits")
    }
}

/// One entry of what happened while answering a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// Text spoken to the caller (gather prompts included).
    Say(String),
    /// A decision, in words.
    Decision(String),
}

/// The call variable that holds the name of the caller's support package (a `[packages.NAME]`), once the
/// case is known.
pub(crate) const PACKAGE_VAR: &str = "package";

/// The call variable that holds the name of the case's support package (a `[packages.NAME]`) whoever calls:
/// what the bridge reads to know whether the case comes with a TAM, which does not depend on the caller.
pub(crate) const CASE_PACKAGE_VAR: &str = "case_package";

/// The call variable that holds the case's Technical Account Manager as the case system names them (an
/// engineer's id or email), once the case is known.
pub(crate) const TAM_VAR: &str = "tam";

/// What every call shares beyond its line: how to speak, where our URLs start, the case system.
#[derive(Debug, Default)]
pub struct Services {
    pub voice: Voice,
    /// The public base URL that step URLs are built from.
    pub base_url: String,
    pub cases: Option<Arc<dyn CaseSystem>>,
    /// A case lookup slower than this counts as unavailable.
    pub case_timeout: Duration,
    /// `cases.after_hours_packages`: the only packages entitled to after-hours phone support; `None`: any.
    pub entitled_packages: Option<Vec<String>>,
    /// The names (and spellings) of the `[packages]` without after-hours phone support.
    pub refused_packages: Vec<String>,
    /// The support packages: the channel each one's customers are told to use once their case is known.
    pub packages: crate::settings::Packages,
    /// On-call data and call records.
    pub store: Option<Arc<dyn Store>>,
    /// The status page's announcement, refreshed in the background; none without `[status_page]`.
    pub status: Option<crate::status::StatusCache>,
    /// The last on-call data read, for when the store is down.
    pub oncall_cache: OnCallCache,
    /// The guess limit and how long a registered caller stays trusted (`[limits]`), for the `rate_limit` and
    /// `verify_case` steps.
    pub limits: crate::settings::LimitSettings,
}

/// Work a step asks for that happens after the webhook is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Add a note to a case in the case system, once per call (`call_sid`), however often the webhook that
    /// ends the call is replayed.
    CaseNote {
        call_sid: String,
        case: CaseId,
        body: String,
    },
    /// Add what this webhook decided to the call's record in the call log.
    LogCallEntry {
        call_sid: String,
        /// The webhook's identity (`crate::calllog::webhook_id`): its replays add nothing.
        webhook: String,
        /// When the webhook came: the entry's time, and its events'.
        at: DateTime<Utc>,
        summary: Vec<(String, String)>,
        events: Vec<CallEvent>,
    },
    /// The call hung up: close its record into the log if the status callback does not come first.
    CallEnded { call_sid: String },
    /// Tell the line's alert targets that nobody accepted the call, or that its voicemail came; each event
    /// once per call, however often the webhook is replayed.
    Alert(crate::alerts::Alert),
}

/// Where a webhook enters the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A new call: the flow's start step.
    Start,
    /// `/voice/step/{step}`: the call reaches a step (a `Redirect`).
    Step(&'a str),
    /// `/voice/step/{step}/{event}`: the provider reports on a step (digits gathered, a dial ended ...).
    Event { step: &'a str, event: &'a str },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("flow {flow} has no step {step:?}")]
    UnknownStep { flow: String, step: String },
    #[error("step {step:?} takes no event {event:?}")]
    UnknownEvent { step: String, event: String },
    #[error("more than {MAX_STEPS_PER_RESPONSE} steps in one response, last at {step:?}")]
    Runaway { step: String },
}

/// Everything a step may read or change while it runs.
pub struct Ctx<'a> {
    pub(crate) line: &'a Line,
    pub(crate) services: &'a Services,
    pub(crate) now: DateTime<Utc>,
    pub(crate) input: &'a CallInput,
    /// The step being run.
    pub(crate) step: &'a str,
    pub(crate) state: CallState,
    pub(crate) response: Response,
    /// What was said and decided, in order, for logs and `simulate`.
    pub trace: Vec<Trace>,
    /// What to do once the answer is sent.
    pub(crate) effects: Vec<Effect>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        line: &'a Line,
        services: &'a Services,
        now: DateTime<Utc>,
        input: &'a CallInput,
        state: CallState,
    ) -> Self {
        Self {
            line,
            services,
            now,
            input,
            step: "",
            state,
            response: Response::new(),
            trace: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// The voice every `<Say>` uses.
    pub(crate) fn voice(&self) -> Voice {
        self.services.voice.clone()
    }

    /// Speaks a prompt.
    pub(crate) fn say(&mut self, prompt: &Prompt) {
        let text = self.render(prompt);
        self.trace.push(Trace::Say(text.clone()));
        self.response.push(Verb::Say {
            text,
            voice: self.voice(),
        });
    }

    /// Records a decision, in words.
    pub(crate) fn trace_decision(&mut self, line: String) {
        self.trace.push(Trace::Decision(line));
    }

    /// A prompt with its placeholders filled from the line, the clock and the call state.
    pub(crate) fn render(&self, prompt: &Prompt) -> String {
        prompt.render(|name| self.placeholder(name))
    }

    /// A prompt with a step's own placeholders (`own`, by name) filled first, then as [`Ctx::render`] does.
    pub(crate) fn render_with(&self, prompt: &Prompt, own: &[(&str, &str)]) -> String {
        prompt.render(|name| match own.iter().find(|(key, _)| *key == name) {
            Some((_, value)) => Some((*value).to_owned()),
            None => self.placeholder(name),
        })
    }

    fn placeholder(&self, name: &str) -> Option<String> {
        let line = self.line;
        let zoned = |t: Option<DateTime<chrono_tz::Tz>>| match t {
            Some(t) => format!("{} {}", spoken_datetime(&t), line.zone_name),
            None => "as soon as we are open".to_owned(),
        };
        Some(match name {
            "line_name" => line.name.clone(),
            // The caller's package's channel once the case is known; the line's before, or for a package
            // that is not configured.
            "support_channel" => self
                .state
                .vars
                .get(PACKAGE_VAR)
                .and_then(|package| self.services.packages.get(package))
                .map_or_else(|| line.support_channel.clone(), |p| p.support_channel.clone()),
            "opening_hours" => format!("{} {}", line.calendar.describe_hours(), line.zone_name),
            "time_zone" => line.zone_name.clone(),
            "deadline" => zoned(line.calendar.first_response_deadline(line.tz, self.now)),
            "next_opening" => zoned(line.calendar.next_opening(line.tz, self.now)),
            var => {
                let value = self.state.vars.get(var)?;
                // Numbers are read digit by digit ("1 2 3"); names as they are.
                if value.bytes().all(|b| b.is_ascii_digit()) {
                    spoken_digits(value)
                } else {
                    value.clone()
                }
            }
        })
    }

    /// The URL the provider posts an event of the current step to, carrying the call state.
    pub(crate) fn event_url(&self, event: &str) -> String {
        self.url(&["/voice/step/", self.step, "/", event, "?"], &self.state)
    }

    /// Like [`Ctx::event_url`], with extra variables for that URL only (the engineer a whisper is for).
    pub(crate) fn event_url_with(&self, event: &str, vars: &[(&str, &str)]) -> String {
        let mut state = self.state.clone();
        for (name, value) in vars {
            state.set(name, value);
        }
        self.url(&["/voice/step/", self.step, "/", event, "?"], &state)
    }

    /// Our base URL, then `path` (its pieces), then `state` as the query.
    fn url(&self, path: &[&str], state: &CallState) -> String {
        let mut url = format!("{}{}", self.services.base_url, path.concat());
        state.push_query(&mut url);
        url
    }
}

/// "123" as "1 2 3", so text-to-speech reads a case number digit by digit.
fn spoken_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() * 2);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Runs `flow` from `entry` until a step waits or ends; the answer is in `ctx.response`.
pub async fn run<'a>(flow: &'a Flow, entry: Entry<'_>, ctx: &mut Ctx<'a>) -> Result<(), EngineError> {
    let (mut name, mut transition) = match entry {
        Entry::Start => (flow.start.as_str(), None),
        Entry::Step(step) => (flow.step(step)?.name.as_str(), None),
        Entry::Event { step, event } => {
            let name = flow.step(step)?.name.as_str();
            ctx.step = name;
            let unknown = || EngineError::UnknownEvent {
                step: step.to_owned(),
                event: event.to_owned(),
            };
            let transition = flow.step(name)?.kind.on_event(event, ctx).await.ok_or_else(unknown)?;
            (name, Some(transition))
        }
    };
    for _ in 0..MAX_STEPS_PER_RESPONSE {
        let step = flow.step(name)?;
        let decided = match transition.take() {
            Some(t) => t,
            None => {
                ctx.step = name;
                step.kind.run(ctx).await
            }
        };
        match decided {
            Transition::Next(outcome) => name = flow.next(name, outcome)?,
            Transition::Wait | Transition::End => return Ok(()),
        }
    }
    Err(EngineError::Runaway { step: name.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_spoken_one_by_one() {
        assert_eq!(spoken_digits("123456"), "1 2 3 4 5 6");
        assert_eq!(spoken_digits(""), "");
    }
}
