//! Plivo's voice XML, written from the engine's verbs: `<Speak>` for `<Say>`, `<Wait>` for `<Pause>`,
//! `<GetDigits>` for `<Gather>`, and `<Dial>` with Plivo's own whisper-and-accept.
//!
//! Plivo has no whisper URL per `<Number>`: a `<Dial>` has one `confirmSound` (a document of `<Speak>`,
//! `<Play>` and `<Wait>` only, played to whoever answers) and one `confirmKey` (the key that bridges them).
//! So the per-number whisper URLs become one confirm document, the first number's whisper (it names the
//! case, not the engineer), with the confirm key 1; and the `<Dial callbackUrl>`, which Plivo calls when a
//! leg is bridged, is the whisper's accept URL, carrying which engineer each number is (`e.NUMBER=ID`), so
//! that the acceptance is recorded as Twilio's is (see `fields`).

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};

use super::Document;
use crate::flow::steps::bridge::{ACCEPT, WHISPER};
use crate::twiml::{Dial, Response, Verb, attribute, text};

/// The call-state variable, as the query spells it, that names the engineer a whisper is for.
pub(super) const ENGINEER_VAR: &str = "v.engineer";
/// The prefix of the callback URL's `e.NUMBER=ID` pairs (ignored by the call state).
pub(super) const ENGINEER_BY_NUMBER: &str = "e.";

/// The key an engineer presses to accept the call.
const CONFIRM_KEY: &str = "1";

pub(super) fn render(response: &Response, document: Document) -> String {
    let mut writer = Writer::new(Vec::with_capacity(2048));
    // A `Vec`'s `io::Write` never fails.
    let _: io::Result<()> = write(&mut writer, response, document);
    String::from_utf8(writer.into_inner())
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

fn write<W: io::Write>(writer: &mut Writer<W>, response: &Response, document: Document) -> io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.create_element("Response").write_inner_content(|writer| {
        for verb in response.verbs() {
            match document {
                Document::Call => write_verb(writer, verb)?,
                // What the engineer hears before pressing the key: the prompt, without its `<GetDigits>`
                // (Plivo's confirm key does that) and without the hang-up (Plivo's confirm timeout does).
                Document::Confirm => match verb {
                    Verb::Gather(gather) => {
                        for verb in &gather.prompt {
                            write_verb(writer, verb)?;
                        }
                    }
                    Verb::Say { .. } | Verb::Pause { .. } => write_verb(writer, verb)?,
                    _ => {}
                },
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn write_verb<W: io::Write>(writer: &mut Writer<W>, verb: &Verb) -> io::Result<()> {
    let number = |n: u32| n.to_string();
    match verb {
        Verb::Say { text: said, voice } => {
            writer
                .create_element("Speak")
                .with_attribute(attribute("voice", &voice.name))
                .with_attribute(attribute("language", &voice.language))
                .write_text_content(text(said))?;
        }
        Verb::Pause { seconds } => {
            writer
                .create_element("Wait")
                .with_attribute(("length", number(*seconds).as_str()))
                .write_empty()?;
        }
        Verb::Gather(gather) => {
            let mut key = [0; 4];
            let mut element = writer
                .create_element("GetDigits")
                .with_attribute(attribute("action", &gather.action))
                .with_attribute(("method", "POST"))
                .with_attribute(("inputType", "dtmf"))
                .with_attribute(("timeout", number(gather.timeout_secs).as_str()))
                .with_attribute(("redirect", "true"));
            element = match gather.finish_on_key {
                Some(finish) => element.with_attribute(attribute("finishOnKey", finish.encode_utf8(&mut key))),
                // Plivo ends on `#` unless told otherwise.
                None => element.with_attribute(("finishOnKey", "")),
            };
            if let Some(digits) = gather.num_digits {
                element = element.with_attribute(("numDigits", number(digits).as_str()));
            }
            element.write_inner_content(|writer| gather.prompt.iter().try_for_each(|verb| write_verb(writer, verb)))?;
        }
        Verb::Redirect { url } => {
            writer
                .create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(text(url))?;
        }
        Verb::Hangup => {
            writer.create_element("Hangup").write_empty()?;
        }
        Verb::Dial(dial) => write_dial(writer, dial)?,
        Verb::Record(record) => {
            let mut key = [0; 4];
            writer
                .create_element("Record")
                .with_attribute(attribute("action", &record.action))
                .with_attribute(("method", "POST"))
                .with_attribute(("maxLength", number(record.max_length_secs).as_str()))
                .with_attribute(attribute("finishOnKey", record.finish_on_key.encode_utf8(&mut key)))
                .with_attribute(("timeout", number(record.timeout_secs).as_str()))
                .with_attribute(("playBeep", "true"))
                .with_attribute(("fileFormat", "mp3"))
                .write_empty()?;
        }
    }
    Ok(())
}

fn write_dial<W: io::Write>(writer: &mut Writer<W>, dial: &Dial) -> io::Result<()> {
    let mut element = writer
        .create_element("Dial")
        .with_attribute(attribute("action", &dial.action))
        .with_attribute(("method", "POST"))
        .with_attribute(attribute("callerId", plivo_number(&dial.caller_id)))
        .with_attribute(("timeout", dial.timeout_secs.to_string().as_str()))
        .with_attribute(("timeLimit", dial.time_limit_secs.to_string().as_str()))
        .with_attribute(("redirect", "true"));
    let confirm = dial.numbers.first().map(|n| n.url.as_str());
    let callback = confirm.and_then(|whisper| callback_url(whisper, dial));
    if let (Some(confirm), Some(callback)) = (confirm, callback.as_deref()) {
        element = element
            .with_attribute(attribute("confirmSound", confirm))
            .with_attribute(("confirmKey", CONFIRM_KEY))
            .with_attribute(attribute("callbackUrl", callback))
            .with_attribute(("callbackMethod", "POST"));
    }
    element.write_inner_content(|writer| {
        for number in &dial.numbers {
            writer
                .create_element("Number")
                .write_text_content(text(plivo_number(&number.phone)))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// A number as Plivo dials it: E.164 digits without the `+`.
fn plivo_number(phone: &str) -> &str {
    phone.strip_prefix('+').unwrap_or(phone)
}

/// The whisper's accept URL, with the engineer of each number (`e.NUMBER=ID`); the engineer itself when the
/// dial rings one number. None when the whisper URL is not one of ours.
fn callback_url(whisper: &str, dial: &Dial) -> Option<String> {
    let (path, query) = whisper.split_once('?')?;
    let path = path.strip_suffix(WHISPER)?;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != ENGINEER_VAR || dial.numbers.len() == 1 {
            out.append_pair(&k, &v);
        }
    }
    for number in &dial.numbers {
        let engineer = number
            .url
            .split_once('?')
            .and_then(|(_, q)| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == ENGINEER_VAR))
            .map(|(_, v)| v.into_owned());
        if let Some(engineer) = engineer {
            let digits: String = number.phone.chars().filter(char::is_ascii_digit).collect();
            out.append_pair(&format!("{ENGINEER_BY_NUMBER}{digits}"), &engineer);
        }
    }
    Some(format!("{path}{ACCEPT}?{}", out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twiml::{DialNumber, Gather, Record, Voice};

    fn say(text: &str) -> Verb {
        Verb::Say {
            text: text.into(),
            voice: Voice::default(),
        }
    }

    #[test]
    fn speaks_gets_digits_and_records_in_plivos_words() {
        let mut response = Response::new();
        response
            .push(Verb::Gather(Gather {
                action: "https://x.example/voice/step/case/digits?line=us".into(),
                finish_on_key: Some('#'),
                num_digits: None,
                timeout_secs: 7,
                action_on_empty_result: true,
                prompt: vec![say("Enter your case number."), Verb::Pause { seconds: 1 }],
            }))
            .push(Verb::Redirect {
                url: "https://x.example/voice/step/case/digits?line=us".into(),
            })
            .push(Verb::Record(Record {
                action: "https://x.example/r".into(),
                max_length_secs: 120,
                finish_on_key: '#',
                timeout_secs: 5,
            }))
            .push(Verb::Hangup);
        assert_eq!(
            render(&response, Document::Call),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r##"<GetDigits action="https://x.example/voice/step/case/digits?line=us" method="POST" inputType="dtmf" timeout="7" redirect="true" finishOnKey="#">"##,
                r#"<Speak voice="Polly.Joanna" language="en-US">Enter your case number.</Speak><Wait length="1"/></GetDigits>"#,
                r#"<Redirect method="POST">https://x.example/voice/step/case/digits?line=us</Redirect>"#,
                r##"<Record action="https://x.example/r" method="POST" maxLength="120" finishOnKey="#" timeout="5" playBeep="true" fileFormat="mp3"/>"##,
                r#"<Hangup/></Response>"#
            )
        );
    }

    #[test]
    fn a_dial_has_one_confirm_document_the_confirm_key_and_a_callback_naming_each_engineer() {
        let mut response = Response::new();
        response.push(Verb::Dial(Dial {
            action: "https://x.example/voice/step/bridge/dialed?line=us".into(),
            caller_id: "+18005550100".into(),
            timeout_secs: 30,
            time_limit_secs: 14400,
            numbers: vec![
                DialNumber {
                    phone: "+15550100003".into(),
                    url: "https://x.example/voice/step/bridge/whisper?line=us&v.case=1&v.engineer=carol".into(),
                },
                DialNumber {
                    phone: "+15550100001".into(),
                    url: "https://x.example/voice/step/bridge/whisper?line=us&v.case=1&v.engineer=alice".into(),
                },
            ],
        }));
        assert_eq!(
            render(&response, Document::Call),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Dial action="https://x.example/voice/step/bridge/dialed?line=us" method="POST" callerId="18005550100" timeout="30" timeLimit="14400" redirect="true" "#,
                r#"confirmSound="https://x.example/voice/step/bridge/whisper?line=us&amp;v.case=1&amp;v.engineer=carol" confirmKey="1" "#,
                r#"callbackUrl="https://x.example/voice/step/bridge/accept?line=us&amp;v.case=1&amp;e.15550100003=carol&amp;e.15550100001=alice" callbackMethod="POST">"#,
                r#"<Number>15550100003</Number><Number>15550100001</Number></Dial></Response>"#
            )
        );
    }

    #[test]
    fn a_confirm_document_holds_only_what_plivo_plays() {
        let mut response = Response::new();
        response
            .push(Verb::Gather(Gather {
                action: "https://x.example/voice/step/bridge/accept?line=us".into(),
                finish_on_key: None,
                num_digits: Some(1),
                timeout_secs: 10,
                action_on_empty_result: false,
                prompt: vec![say("Critical case 1. Press 1 to accept.")],
            }))
            .push(Verb::Hangup);
        assert_eq!(
            render(&response, Document::Confirm),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Speak voice="Polly.Joanna" language="en-US">Critical case 1. Press 1 to accept.</Speak></Response>"#
            )
        );
    }
}
