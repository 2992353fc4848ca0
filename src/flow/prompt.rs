//! Prompt templates: English text with `{placeholders}`, parsed at load so that an unknown placeholder is a
//! configuration error rather than a strange sentence at 3 a.m.

use std::fmt;

use serde::Deserialize;

/// A parsed prompt. `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Prompt {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(String),
}

impl Prompt {
    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    let valid = closed && !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                    if !valid {
                        return Err(format!(
                            "invalid placeholder {{{name}}} in {text:?}: expected {{name}} with lowercase letters and '_', closed by '}}' (write {{{{ for a literal brace)"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(name));
                }
                '}' => return Err(format!("unmatched '}}' in {text:?} (write }}}} for a literal brace)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        if parts.is_empty() {
            return Err("a prompt must not be empty".into());
        }
        Ok(Self { parts })
    }

    /// A prompt of plain text, no placeholders (for defaults written in code).
    pub(crate) fn plain(text: &str) -> Self {
        Self {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    /// The placeholder names, in order of appearance.
    pub(crate) fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Whether the prompt tells the caller that someone will call them back: a promise only an alert target
    /// keeps (see `crate::alerts`), so a line must have one to say it. Matched on the prompt's words, with the
    /// placeholders as they are written.
    pub(crate) fn promises_call_back(&self) -> bool {
        const PROMISES: &[&str] = &[
            "call you back",
            "calls you back",
            "will call back",
            "will be called back",
            "will call you",
            "will contact you",
            "get back to you",
            "reach out to you",
        ];
        let text = self.render(|_| None).to_lowercase();
        let words: String = text
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        PROMISES.iter().any(|promise| words.contains(promise))
    }

    /// The text with each placeholder replaced by `resolve(name)`; a name it does not know stays as written.
    pub(crate) fn render(&self, mut resolve: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Placeholder(name) => match resolve(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                },
            }
        }
        out
    }
}

impl TryFrom<String> for Prompt {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(|_| None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders() {
        let prompt = Prompt::parse("Hours are {opening_hours}. Call {line_name}.").unwrap();
        assert_eq!(
            prompt.placeholders().collect::<Vec<_>>(),
            ["opening_hours", "line_name"]
        );
        let text = prompt.render(|name| Some(name.to_uppercase()));
        assert_eq!(text, "Hours are OPENING_HOURS. Call LINE_NAME.");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(Prompt::parse("a {{b}} c").unwrap().render(|_| None), "a {b} c");
    }

    #[test]
    fn a_call_back_is_a_promise_however_it_is_written() {
        let promise = |text: &str| Prompt::parse(text).unwrap().promises_call_back();
        assert!(promise(
            "An engineer will call you back about case {case_number} as soon as possible."
        ));
        assert!(promise("Someone will CALL\nYOU back."));
        assert!(promise("We will get back to you."));
        assert!(!promise("Your message is attached to case {case_number}. Goodbye."));
        assert!(
            !promise("Please call back later through {support_channel}."),
            "asking the caller is no promise"
        );
    }

    #[test]
    fn rejects_malformed_placeholders() {
        for bad in ["{Line}", "{}", "{line_name", "oops }", ""] {
            assert!(Prompt::parse(bad).is_err(), "{bad}");
        }
    }
}
