//! TwiML as the provider reads it: the verbs of a `<Response>`, in order, with what the driver needs to follow
//! them. Anything that is not well-formed XML with a `<Response>` root is an error, as it is for Twilio.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verb {
    Say(String),
    Pause,
    /// Collects digits; its own `<Say>`s are heard while it waits. With `action_on_empty`, a timeout posts
    /// the action with no digits; without, TwiML goes on with the next verb.
    Gather {
        action: String,
        action_on_empty: bool,
        says: Vec<String>,
    },
    Redirect(String),
    Dial {
        action: String,
        numbers: Vec<Number>,
    },
    Record {
        action: String,
    },
    Hangup,
}

/// A `<Number>` of a `<Dial>`: the phone rung and the whisper its leg fetches when answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Number {
    pub(crate) phone: String,
    pub(crate) url: String,
}

/// Parses a TwiML document into its verbs.
pub(crate) fn parse(xml: &str) -> Result<Vec<Verb>, String> {
    let mut reader = Reader::from_str(xml);
    let mut verbs = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut saw_response = false;
    loop {
        let event = reader.read_event().map_err(|e| format!("invalid XML: {e}"))?;
        match event {
            Event::Start(start) => {
                let name = name_of(&start);
                if stack.is_empty() {
                    if name != "Response" || saw_response {
                        return Err(format!("the root is <{name}>, not one <Response>"));
                    }
                    saw_response = true;
                } else {
                    open(&mut verbs, &stack, &name, &start)?;
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(start) => {
                let name = name_of(&start);
                if stack.is_empty() {
                    if name != "Response" {
                        return Err(format!("the root is <{name}>, not <Response>"));
                    }
                    saw_response = true;
                    continue;
                }
                open(&mut verbs, &stack, &name, &start)?;
            }
            Event::Text(t) => {
                // Entities arrive as their own events, so this text has none left to unescape.
                text.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) => {
                let name: &str = r.as_ref();
                let resolved = match name {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => return Err(format!("unknown entity &{other};")),
                };
                text.push_str(resolved);
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                close(&mut verbs, &stack, &name, std::mem::take(&mut text))?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_response {
        return Err("no <Response>".to_owned());
    }
    Ok(verbs)
}

/// The verbs that decide where a call goes next, in order (`<Say>` and `<Pause>` left out: their number
/// follows the prompts, not the path): a replayed webhook that takes the path its template took answers the
/// same shape, e.g. a case lookup `["Dial"]`, a busy case `["Record", "Redirect"]`.
pub(crate) fn shape(verbs: &[Verb]) -> Vec<&'static str> {
    verbs
        .iter()
        .filter_map(|verb| match verb {
            Verb::Say(_) | Verb::Pause => None,
            Verb::Gather { .. } => Some("Gather"),
            Verb::Redirect(_) => Some("Redirect"),
            Verb::Dial { .. } => Some("Dial"),
            Verb::Record { .. } => Some("Record"),
            Verb::Hangup => Some("Hangup"),
        })
        .collect()
}

fn name_of(start: &BytesStart<'_>) -> String {
    start.name().as_ref().to_owned()
}

fn attribute(start: &BytesStart<'_>, key: &str) -> Result<Option<String>, String> {
    let Some(attribute) = start
        .try_get_attribute(key)
        .map_err(|e| format!("invalid attribute: {e}"))?
    else {
        return Ok(None);
    };
    let value = attribute
        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
        .map_err(|e| format!("invalid attribute value: {e}"))?;
    Ok(Some(value.into_owned()))
}

fn required(start: &BytesStart<'_>, key: &str, verb: &str) -> Result<String, String> {
    attribute(start, key)?.ok_or_else(|| format!("<{verb}> without {key}"))
}

/// An element opens: verbs that need no text are complete here.
fn open(verbs: &mut Vec<Verb>, stack: &[String], name: &str, start: &BytesStart<'_>) -> Result<(), String> {
    let parent = stack.last().map(String::as_str);
    match (parent, name) {
        (Some("Response"), "Pause") => verbs.push(Verb::Pause),
        (Some("Response"), "Hangup") => verbs.push(Verb::Hangup),
        (Some("Response"), "Gather") => verbs.push(Verb::Gather {
            action: required(start, "action", "Gather")?,
            action_on_empty: attribute(start, "actionOnEmptyResult")?.as_deref() == Some("true"),
            says: Vec::new(),
        }),
        (Some("Response"), "Dial") => verbs.push(Verb::Dial {
            action: required(start, "action", "Dial")?,
            numbers: Vec::new(),
        }),
        (Some("Response"), "Record") => verbs.push(Verb::Record {
            action: required(start, "action", "Record")?,
        }),
        (Some("Dial"), "Number") => match verbs.last_mut() {
            Some(Verb::Dial { numbers, .. }) => numbers.push(Number {
                phone: String::new(),
                url: required(start, "url", "Number")?,
            }),
            _ => return Err("<Number> outside <Dial>".to_owned()),
        },
        (Some("Response"), "Say" | "Redirect") | (Some("Gather"), "Say" | "Pause") => {}
        (parent, name) => {
            return Err(format!(
                "<{name}> is not expected in <{}>",
                parent.unwrap_or("document")
            ));
        }
    }
    Ok(())
}

/// An element closes with its text: `<Say>`, `<Redirect>` and `<Number>` are complete here.
fn close(verbs: &mut Vec<Verb>, stack: &[String], name: &str, text: String) -> Result<(), String> {
    let parent = stack.last().map(String::as_str);
    match (parent, name) {
        (Some("Response"), "Say") => verbs.push(Verb::Say(text)),
        (Some("Response"), "Redirect") => verbs.push(Verb::Redirect(text.trim().to_owned())),
        (Some("Gather"), "Say") => {
            if let Some(Verb::Gather { says, .. }) = verbs.last_mut() {
                says.push(text);
            }
        }
        (Some("Dial"), "Number") => {
            if let Some(Verb::Dial { numbers, .. }) = verbs.last_mut()
                && let Some(number) = numbers.last_mut()
            {
                number.phone = text.trim().to_owned();
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_gather_with_its_prompt_and_a_redirect_after_it() {
        let verbs = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="x">Hello &amp; welcome</Say><Gather action="http://h/a?x=1&amp;y=2" numDigits="12"><Say>Enter</Say></Gather><Redirect>http://h/r</Redirect></Response>"#,
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Say("Hello & welcome".into()),
                Verb::Gather {
                    action: "http://h/a?x=1&y=2".into(),
                    action_on_empty: false,
                    says: vec!["Enter".into()]
                },
                Verb::Redirect("http://h/r".into()),
            ]
        );
    }

    #[test]
    fn reads_a_dial_with_its_numbers() {
        let verbs = parse(
            r#"<Response><Dial action="http://h/d" callerId="+1"><Number url="http://h/w?e=bob">+15550100002</Number></Dial></Response>"#,
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![Verb::Dial {
                action: "http://h/d".into(),
                numbers: vec![Number {
                    phone: "+15550100002".into(),
                    url: "http://h/w?e=bob".into()
                }]
            }]
        );
    }

    #[test]
    fn refuses_what_twilio_would_not_run() {
        assert!(parse("<Response><Say>unclosed</Response>").is_err());
        assert!(parse("<Html></Html>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<Response><Gather/></Response>").is_err());
    }

    #[test]
    fn the_shape_keeps_the_verbs_that_decide_the_path() {
        let verbs = parse(
            r#"<Response><Say>Connecting</Say><Pause/><Dial action="http://h/d"><Number url="http://h/w">+1</Number></Dial><Redirect>http://h/r</Redirect></Response>"#,
        )
        .unwrap();
        assert_eq!(shape(&verbs), vec!["Dial", "Redirect"]);
        assert_eq!(shape(&[Verb::Say("Goodbye".into()), Verb::Hangup]), vec!["Hangup"]);
    }

    #[test]
    fn an_empty_response_is_no_verbs() {
        assert_eq!(parse("<Response/>").unwrap(), vec![]);
    }
}
