//! TwiML as the provider reads it: the verbs of a `<Response>`, in order, with what the driver needs to follow
//! them. Anything that is not well-formed XML with a `<Response>` root is an error, as it is for Twilio.
//! Plivo's XML reads into the same verbs: `<Speak>` is `Say`, `<Wait>` is `Pause`, `<GetDigits>` is `Gather`,
//! and a `<Dial>`'s `confirmSound` is every number's whisper, its `callbackUrl` where a bridged leg is told.

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
        /// Plivo's `callbackUrl`: told when a leg is bridged (the engineer pressed the confirm key).
        callback: Option<String>,
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
    let mut confirm_sound = None;
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
                    open(&mut verbs, &stack, &name, &start, &mut confirm_sound)?;
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
                open(&mut verbs, &stack, &name, &start, &mut confirm_sound)?;
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
fn open(
    verbs: &mut Vec<Verb>,
    stack: &[String],
    name: &str,
    start: &BytesStart<'_>,
    confirm_sound: &mut Option<String>,
) -> Result<(), String> {
    let parent = stack.last().map(String::as_str);
    if name == "Dial" {
        *confirm_sound = attribute(start, "confirmSound")?;
    }
    match (parent, name) {
        (Some("Response"), "Pause" | "Wait") => verbs.push(Verb::Pause),
        (Some("Response"), "Hangup") => verbs.push(Verb::Hangup),
        (Some("Response"), "Gather" | "GetDigits") => verbs.push(Verb::Gather {
            action: required(start, "action", name)?,
            action_on_empty: attribute(start, "actionOnEmptyResult")?.as_deref() == Some("true"),
            says: Vec::new(),
        }),
        (Some("Response"), "Dial") => verbs.push(Verb::Dial {
            action: required(start, "action", "Dial")?,
            numbers: Vec::new(),
            callback: attribute(start, "callbackUrl")?,
        }),
        (Some("Response"), "Record") => verbs.push(Verb::Record {
            action: required(start, "action", "Record")?,
        }),
        (Some("Dial"), "Number") => match verbs.last_mut() {
            Some(Verb::Dial { numbers, callback, .. }) => {
                // Plivo's numbers share the `<Dial confirmSound>`.
                let url = match callback {
                    Some(_) => confirm_sound.clone().ok_or("<Dial callbackUrl> without confirmSound")?,
                    None => required(start, "url", "Number")?,
                };
                numbers.push(Number {
                    phone: String::new(),
                    url,
                })
            }
            _ => return Err("<Number> outside <Dial>".to_owned()),
        },
        (Some("Response"), "Say" | "Speak" | "Redirect")
        | (Some("Gather" | "GetDigits"), "Say" | "Speak" | "Pause" | "Wait") => {}
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
        (Some("Response"), "Say" | "Speak") => verbs.push(Verb::Say(text)),
        (Some("Response"), "Redirect") => verbs.push(Verb::Redirect(text.trim().to_owned())),
        (Some("Gather" | "GetDigits"), "Say" | "Speak") => {
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
                }],
                callback: None,
            }]
        );
    }

    #[test]
    fn reads_plivos_xml_as_the_same_verbs() {
        let verbs = parse(
            r##"<Response><GetDigits action="http://h/a" finishOnKey="#"><Speak>Enter</Speak><Wait length="1"/></GetDigits><Dial action="http://h/d" confirmSound="http://h/w" confirmKey="1" callbackUrl="http://h/c"><Number>15550100002</Number></Dial></Response>"##,
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                Verb::Gather {
                    action: "http://h/a".into(),
                    action_on_empty: false,
                    says: vec!["Enter".into()]
                },
                Verb::Dial {
                    action: "http://h/d".into(),
                    numbers: vec![Number {
                        phone: "15550100002".into(),
                        url: "http://h/w".into()
                    }],
                    callback: Some("http://h/c".into()),
                }
            ]
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
