//! `gather`: asks for digits on the keypad, checks them, and re-prompts up to the step's attempt limit.
//!
//! The digits are stored in the call state under `store`, so later prompts can read them back
//! (`{case_number}` is spoken digit by digit) and later steps can use them. Coming back to the same gather
//! step later in the call (a case that was not found) counts as a further attempt.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Trace, Transition};
use crate::flow::prompt::Prompt;
use crate::settings::Bounded;
use crate::twiml::{self, Verb};

pub const OUTCOMES: &[&str] = &["entered", "failed"];

/// The event the provider posts the digits to.
pub(crate) const DIGITS_EVENT: &str = "digits";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// Spoken on the first attempt.
    pub prompt: Prompt,
    /// Spoken after an entry that was not valid (or silence); the prompt again when absent.
    #[serde(default)]
    reprompt: Option<Prompt>,
    /// Spoken when the flow comes back to this step from a later one (a case that was not found); the prompt
    /// again when absent.
    #[serde(default)]
    return_prompt: Option<Prompt>,
    /// The variable the digits are stored in.
    #[serde(default = "default_store")]
    pub store: VarName,
    #[serde(default = "one")]
    pub min_digits: Bounded<1, 32>,
    #[serde(default = "twelve")]
    pub max_digits: Bounded<1, 32>,
    /// The caller presses it to finish.
    #[serde(default = "hash")]
    pub finish_on_key: FinishKey,
    /// Seconds of silence after which the provider stops waiting.
    #[serde(default = "eight")]
    pub timeout_secs: Bounded<1, 60>,
    /// How many times the caller may try before the step ends with `failed`.
    #[serde(default = "three")]
    pub attempts: Bounded<1, 10>,
}

fn default_store() -> VarName {
    VarName("digits".into())
}
fn one() -> Bounded<1, 32> {
    Bounded::of::<1>()
}
fn twelve() -> Bounded<1, 32> {
    Bounded::of::<12>()
}
fn hash() -> FinishKey {
    FinishKey('#')
}
fn eight() -> Bounded<1, 60> {
    Bounded::of::<8>()
}
fn three() -> Bounded<1, 10> {
    Bounded::of::<3>()
}

/// The name of a call-state variable: lowercase letters and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct VarName(String);

impl VarName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VarName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            Ok(Self(text))
        } else {
            Err(format!(
                "invalid variable name {text:?}: expected lowercase letters and '_'"
            ))
        }
    }
}

/// The key that ends an entry: `#` or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "char")]
pub struct FinishKey(char);

impl FinishKey {
    pub fn get(self) -> char {
        self.0
    }
}

impl TryFrom<char> for FinishKey {
    type Error = String;
    fn try_from(key: char) -> Result<Self, String> {
        if matches!(key, '#' | '*') {
            Ok(Self(key))
        } else {
            Err(format!("invalid key {key:?}: expected \"#\" or \"*\""))
        }
    }
}

impl Gather {
    /// Checks the rule that spans two settings: `min_digits` is at most `max_digits`.
    pub(crate) fn checked(self) -> Result<Self, (String, String)> {
        if self.min_digits.get() > self.max_digits.get() {
            return Err((
                "min_digits".to_owned(),
                format!(
                    "{} is out of range: expected 1 to max_digits ({})",
                    self.min_digits, self.max_digits
                ),
            ));
        }
        Ok(self)
    }

    pub(crate) fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        std::iter::once(("prompt", &self.prompt))
            .chain(self.reprompt.as_ref().map(|r| ("reprompt", r)))
            .collect()
    }

    /// The call reaches the step: ask (again), unless the attempts are used up.
    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        self.ask(ctx, false)
    }

    /// Asks for digits; `after_invalid` when the last entry was refused.
    fn ask(&self, ctx: &mut Ctx<'_>, after_invalid: bool) -> Transition {
        let attempt = ctx.state.attempts.get(ctx.step).copied().unwrap_or(0) + 1;
        if u64::from(attempt) > self.attempts.get() {
            ctx.trace_decision(format!("gather: no attempts left ({} used)", self.attempts));
            return Transition::Next("failed");
        }
        ctx.state.attempts.insert(ctx.step.to_owned(), attempt);
        let prompt = match (attempt, after_invalid) {
            (1, _) => &self.prompt,
            (_, true) => self.reprompt.as_ref().unwrap_or(&self.prompt),
            (_, false) => self.return_prompt.as_ref().unwrap_or(&self.prompt),
        };
        let text = ctx.render(prompt);
        let action = ctx.event_url(DIGITS_EVENT);
        ctx.trace_decision(format!(
            "gather: attempt {attempt} of {}, waiting for digits",
            self.attempts
        ));
        ctx.trace.push(Trace::Say(text.clone()));
        ctx.response.push(Verb::Gather(twiml::Gather {
            action: action.clone(),
            finish_on_key: Some(self.finish_on_key.get()),
            num_digits: None,
            timeout_secs: self.timeout_secs.get_u32(),
            action_on_empty_result: true,
            prompt: vec![Verb::Say {
                text,
                voice: ctx.voice(),
            }],
        }));
        // Providers without actionOnEmptyResult run the next verb on silence: send them to the same place.
        ctx.response.push(Verb::Redirect { url: action });
        Transition::Wait
    }

    /// The provider posts what was pressed (nothing, on a timeout).
    pub(crate) fn on_digits(&self, ctx: &mut Ctx<'_>) -> Transition {
        let raw = ctx.input.digits().unwrap_or("");
        match self.accept(raw) {
            Some(digits) => {
                ctx.trace_decision(format!("gather: got {} digits", digits.len()));
                ctx.state.set(self.store.as_str(), digits);
                Transition::Next("entered")
            }
            None => {
                let shown: String = raw.chars().take(40).collect();
                ctx.trace_decision(format!("gather: not a valid entry ({:?})", shown));
                self.ask(ctx, true)
            }
        }
    }

    /// The digits, when `raw` is an acceptable entry: digits only (a trailing finish key is dropped),
    /// between `min_digits` and `max_digits` long.
    fn accept<'r>(&self, raw: &'r str) -> Option<&'r str> {
        let digits = raw.strip_suffix(self.finish_on_key.get()).unwrap_or(raw);
        let length = self.min_digits.get()..=self.max_digits.get();
        let ok = u64::try_from(digits.len()).is_ok_and(|n| length.contains(&n))
            && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then_some(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather() -> Gather {
        let table: toml::Table = "prompt = \"Enter it.\"\nmin_digits = 3\nmax_digits = 8"
            .parse()
            .unwrap();
        crate::settings::toml_file::from_table::<Gather>(table)
            .unwrap()
            .checked()
            .unwrap()
    }

    #[test]
    fn accepts_digits_within_bounds() {
        let g = gather();
        assert_eq!(g.accept("123456"), Some("123456"));
        assert_eq!(g.accept("123456#"), Some("123456"));
        assert_eq!(g.accept("123"), Some("123"));
    }

    #[test]
    fn refuses_letters_symbols_empty_and_overlong_entries() {
        let g = gather();
        for bad in ["", "12", "12a456", "1*3456", "123456789", &"9".repeat(200), "#", "١٢٣٤"] {
            assert_eq!(g.accept(bad), None, "{bad}");
        }
    }
}
