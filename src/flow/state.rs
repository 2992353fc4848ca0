//! What a call carries from one webhook to the next: the line, the gathered digits, and attempt counters.
//!
//! It travels in the query string of the URLs we hand to the provider, which signs them back to us, so any
//! replica can answer any step and no process keeps a call in memory.

use std::collections::BTreeMap;

/// The longest value a variable may hold: URLs stay short, and a case system's long text is not carried.
pub const MAX_VALUE_BYTES: usize = 200;

/// The call's progress between webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallState {
    /// The line's name (the dialled number picked it on the first webhook).
    pub line: String,
    /// Attempts made so far, by gather step.
    pub attempts: BTreeMap<String, u32>,
    /// Values stored by steps, by variable name: digits gathered, the case decision, the customer's name.
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the URL names no line")]
    NoLine,
    #[error("invalid value {value:?} for {key}")]
    Invalid { key: String, value: String },
}

impl CallState {
    pub fn new(line: &str) -> Self {
        Self {
            line: line.to_owned(),
            ..Self::default()
        }
    }

    /// Stores a variable, made safe to carry: control characters (and U+FFFE, U+FFFF, which XML cannot carry)
    /// become spaces, and the value is cut to [`MAX_VALUE_BYTES`] on a character boundary.
    pub fn set(&mut self, name: &str, value: &str) {
        let mut clean = String::with_capacity(value.len().min(MAX_VALUE_BYTES));
        for c in value.chars().map(|c| {
            if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') {
                ' '
            } else {
                c
            }
        }) {
            if clean.len() + c.len_utf8() > MAX_VALUE_BYTES {
                break;
            }
            clean.push(c);
        }
        self.vars.insert(name.to_owned(), clean);
    }

    /// The state as a query string (`application/x-www-form-urlencoded`): `line`, then `n.STEP` for each
    /// attempt counter, then `v.NAME` for each variable, each in name order.
    pub fn to_query(&self) -> String {
        let mut query = String::with_capacity(160);
        self.push_query(&mut query);
        query
    }

    /// Appends [`CallState::to_query`] to `out` (a URL being written).
    pub(crate) fn push_query(&self, out: &mut String) {
        let start = out.len();
        let mut query = form_urlencoded::Serializer::for_suffix(out, start);
        query.append_pair("line", &self.line);
        for (step, n) in &self.attempts {
            query.append_pair(&format!("n.{step}"), &n.to_string());
        }
        for (name, value) in &self.vars {
            query.append_pair(&format!("v.{name}"), value);
        }
        query.finish();
    }

    pub fn from_query(query: &str) -> Result<Self, StateError> {
        let mut state = CallState::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (key, value) = (key.as_ref(), value.as_ref());
            let invalid = || StateError::Invalid {
                key: key.to_owned(),
                value: value.to_owned(),
            };
            if key == "line" {
                value.clone_into(&mut state.line);
            } else if let Some(step) = key.strip_prefix("n.") {
                state
                    .attempts
                    .insert(step.to_owned(), value.parse().map_err(|_| invalid())?);
            } else if let Some(name) = key.strip_prefix("v.") {
                if value.len() > MAX_VALUE_BYTES || value.chars().any(char::is_control) {
                    return Err(invalid());
                }
                state.vars.insert(name.to_owned(), value.to_owned());
            }
        }
        if state.line.is_empty() {
            return Err(StateError::NoLine);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_what_a_form_serializer_writes() {
        let mut state = CallState::new("us & uk");
        state.attempts.insert("case_number".into(), 2);
        state.attempts.insert("bridge".into(), 11);
        state.set("customer", "Tom \"Tiger\" O'Brien / ACME + Zürich #1 ?=&");
        state.set("case", "123456");
        let mut expected = form_urlencoded::Serializer::new(String::new());
        expected.append_pair("line", "us & uk");
        expected.append_pair("n.bridge", "11");
        expected.append_pair("n.case_number", "2");
        expected.append_pair("v.case", "123456");
        expected.append_pair("v.customer", "Tom \"Tiger\" O'Brien / ACME + Zürich #1 ?=&");
        assert_eq!(state.to_query(), expected.finish());
        assert_eq!(CallState::from_query(&state.to_query()).unwrap(), state);
    }

    #[test]
    fn the_query_can_follow_a_url() {
        let mut state = CallState::new("us");
        state.set("case", "1 2");
        let mut url = "https://x.example/voice/step/a?".to_owned();
        state.push_query(&mut url);
        assert_eq!(url, "https://x.example/voice/step/a?line=us&v.case=1+2");
    }

    #[test]
    fn round_trips_through_the_query() {
        let mut state = CallState::new("us");
        state.attempts.insert("case_number".into(), 2);
        state.vars.insert("case_number".into(), "123456".into());
        let query = state.to_query();
        assert_eq!(query, "line=us&n.case_number=2&v.case_number=123456");
        assert_eq!(CallState::from_query(&query).unwrap(), state);
    }

    #[test]
    fn stored_values_are_made_safe_to_carry() {
        let mut state = CallState::new("us");
        state.set("customer", &format!("ACME\nCorp\u{FFFF}{}", "é".repeat(150)));
        let value = &state.vars["customer"];
        assert!(value.starts_with("ACME Corp é"));
        assert!(value.len() <= MAX_VALUE_BYTES);
        assert_eq!(CallState::from_query(&state.to_query()).unwrap(), state);
    }

    #[test]
    fn refuses_a_query_without_line_or_with_bad_values() {
        assert_eq!(CallState::from_query("n.a=1"), Err(StateError::NoLine));
        assert!(CallState::from_query("line=us&n.a=x").is_err());
        assert!(
            CallState::from_query("line=us&v.a=12%0Ab").is_err(),
            "control characters"
        );
        assert!(
            CallState::from_query(&format!("line=us&v.a={}", "x".repeat(201))).is_err(),
            "too long"
        );
    }
}
