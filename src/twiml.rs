//! TwiML: the voice XML the provider executes, as a small typed tree of the verbs the flows use, rendered
//! with quick-xml's [`Writer`] as TwiML (Twilio, SignalWire) or as Telnyx's TeXML, which differs in a few
//! attributes. Plivo's XML is another vocabulary: `crate::dialect` writes it from the same tree.
//!
//! quick-xml escapes every text node and attribute value, so prompt text taken from configuration or a case
//! system can never break the document; characters XML 1.0 cannot carry at all are dropped before that.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::escape::escape;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// How `<Say>` speaks: the provider's voice name and the language tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    pub name: String,
    pub language: String,
}

impl Default for Voice {
    fn default() -> Self {
        Self {
            name: "Polly.Joanna".into(),
            language: "en-US".into(),
        }
    }
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say { text: String, voice: Voice },
    Pause { seconds: u32 },
    Gather(Gather),
    Redirect { url: String },
    Hangup,
    Dial(Dial),
    Record(Record),
}

/// `<Dial>`: rings every number at once; the first leg whose whisper ends without hanging up is bridged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// Where the provider posts when the dial ends (nothing after the `<Dial>` runs).
    pub action: String,
    /// Always one of our numbers: the line's.
    pub caller_id: String,
    pub timeout_secs: u32,
    pub time_limit_secs: u32,
    pub numbers: Vec<DialNumber>,
}

/// `<Number url>`: a phone to ring, and the TwiML the answered leg runs before it is bridged (the whisper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialNumber {
    pub phone: String,
    pub url: String,
}

/// `<Record>`: a voicemail, posted to `action` when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub action: String,
    pub max_length_secs: u32,
    pub finish_on_key: char,
    pub timeout_secs: u32,
}

/// `<Gather input="dtmf">`: collects keypad digits and posts them to `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    pub action: String,
    pub finish_on_key: Option<char>,
    pub num_digits: Option<u32>,
    pub timeout_secs: u32,
    /// With `true` the provider posts to `action` even when nothing was pressed.
    pub action_on_empty_result: bool,
    /// What is played while waiting for digits: `Say` and `Pause` only.
    pub prompt: Vec<Verb>,
}

/// A complete `<Response>` document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub(crate) verbs: Vec<Verb>,
}

/// Which TwiML-compatible vocabulary a document is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavour {
    /// Twilio's TwiML, which SignalWire also executes.
    #[default]
    TwiML,
    /// Telnyx's TeXML: `<Say language>` counts only for the voices that take it (`alice`; `man` and `woman`
    /// speak en-US, Polly and the other engines' voices have their own), so it is written only for those; and
    /// `<Record>` records both legs on two channels unless told `channels="single"`, which a voicemail wants.
    TeXML,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, verb: Verb) -> &mut Self {
        self.verbs.push(verb);
        self
    }

    /// The verbs, in order.
    pub fn verbs(&self) -> &[Verb] {
        &self.verbs
    }

    /// The document as TwiML text, with its declaration.
    pub fn to_xml(&self) -> String {
        self.to_xml_as(Flavour::TwiML)
    }

    /// The document as text in `flavour`, with its declaration.
    pub fn to_xml_as(&self, flavour: Flavour) -> String {
        let mut writer = Writer::new(Vec::with_capacity(2048));
        // A `Vec`'s `io::Write` never fails, so there is no error to pass on: the buffer holds the whole
        // document.
        let _: io::Result<()> = self.write(&mut writer, flavour);
        // Every piece written is a `&str` or ASCII markup, so the bytes are UTF-8; the lossy conversion only
        // keeps this function total.
        String::from_utf8(writer.into_inner())
            .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
    }

    fn write<W: io::Write>(&self, writer: &mut Writer<W>, flavour: Flavour) -> io::Result<()> {
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        writer
            .create_element("Response")
            .write_inner_content(|writer| self.verbs.iter().try_for_each(|verb| write_verb(writer, verb, flavour)))?;
        Ok(())
    }
}

/// Whether TeXML's `<Say voice>` takes the `language` attribute.
fn texml_voice_takes_language(voice: &str) -> bool {
    voice == "alice"
}

/// One verb as an element; `<Gather>` writes its prompt's verbs inside itself.
fn write_verb<W: io::Write>(writer: &mut Writer<W>, verb: &Verb, flavour: Flavour) -> io::Result<()> {
    match verb {
        Verb::Say { text: said, voice } => {
            let mut element = writer
                .create_element("Say")
                .with_attribute(attribute("voice", &voice.name));
            if flavour == Flavour::TwiML || texml_voice_takes_language(&voice.name) {
                element = element.with_attribute(attribute("language", &voice.language));
            }
            element.write_text_content(text(said))?;
        }
        Verb::Pause { seconds } => {
            writer
                .create_element("Pause")
                .with_attribute(("length", seconds.to_string().as_str()))
                .write_empty()?;
        }
        Verb::Gather(gather) => {
            let mut key = [0; 4];
            let mut element = writer
                .create_element("Gather")
                .with_attribute(("input", "dtmf"))
                .with_attribute(attribute("action", &gather.action))
                .with_attribute(("method", "POST"))
                .with_attribute(("timeout", gather.timeout_secs.to_string().as_str()));
            if let Some(finish) = gather.finish_on_key {
                element = element.with_attribute(attribute("finishOnKey", finish.encode_utf8(&mut key)));
            }
            if let Some(digits) = gather.num_digits {
                element = element.with_attribute(("numDigits", digits.to_string().as_str()));
            }
            if gather.action_on_empty_result {
                element = element.with_attribute(("actionOnEmptyResult", "true"));
            }
            element.write_inner_content(|writer| {
                gather
                    .prompt
                    .iter()
                    .try_for_each(|verb| write_verb(writer, verb, flavour))
            })?;
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
        Verb::Dial(dial) => {
            writer
                .create_element("Dial")
                .with_attribute(attribute("action", &dial.action))
                .with_attribute(("method", "POST"))
                .with_attribute(attribute("callerId", &dial.caller_id))
                .with_attribute(("timeout", dial.timeout_secs.to_string().as_str()))
                .with_attribute(("timeLimit", dial.time_limit_secs.to_string().as_str()))
                .write_inner_content(|writer| {
                    for number in &dial.numbers {
                        writer
                            .create_element("Number")
                            .with_attribute(attribute("url", &number.url))
                            .with_attribute(("method", "POST"))
                            .write_text_content(text(&number.phone))?;
                    }
                    Ok(())
                })?;
        }
        Verb::Record(record) => {
            let mut key = [0; 4];
            let mut element = writer
                .create_element("Record")
                .with_attribute(attribute("action", &record.action))
                .with_attribute(("method", "POST"))
                .with_attribute(("maxLength", record.max_length_secs.to_string().as_str()))
                .with_attribute(attribute("finishOnKey", record.finish_on_key.encode_utf8(&mut key)))
                .with_attribute(("timeout", record.timeout_secs.to_string().as_str()))
                .with_attribute(("playBeep", "true"));
            if flavour == Flavour::TeXML {
                element = element.with_attribute(("channels", "single"));
            }
            element.write_empty()?;
        }
    }
    Ok(())
}

/// An attribute whose value comes from outside: cleaned of what XML cannot carry, then escaped by quick-xml
/// (which also writes tabs and line feeds as references, so attribute-value normalisation keeps them).
pub(crate) fn attribute<'v>(key: &'v str, value: &'v str) -> Attribute<'v> {
    Attribute::from((key, xml_chars(value)))
}

/// A text node from outside: cleaned of what XML cannot carry, then escaped by quick-xml.
pub(crate) fn text(value: &str) -> BytesText<'_> {
    BytesText::from_escaped(escape(xml_chars(value)))
}

/// `value` without the characters XML 1.0 cannot carry: a document with one, even escaped, is refused whole.
fn xml_chars(value: &str) -> Cow<'_, str> {
    if value.chars().all(is_xml_char) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.chars().filter(|c| is_xml_char(*c)).collect())
    }
}

/// XML 1.0's `Char` production (Rust strings hold no surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(text: &str) -> Verb {
        Verb::Say {
            text: text.into(),
            voice: Voice::default(),
        }
    }

    #[test]
    fn renders_say_then_hangup() {
        let mut response = Response::new();
        response.push(say("Hello.")).push(Verb::Hangup);
        assert_eq!(
            response.to_xml(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="Polly.Joanna" language="en-US">Hello.</Say><Hangup/></Response>"#
        );
    }

    #[test]
    fn escapes_text_and_attributes() {
        let mut response = Response::new();
        response.push(say("Tom & Jerry <b>'quoted'</b>")).push(Verb::Redirect {
            url: "https://x.example/voice/step/a?line=us&attempt=2".into(),
        });
        let xml = response.to_xml();
        assert!(xml.contains("Tom &amp; Jerry &lt;b&gt;"), "{xml}");
        assert!(xml.contains("/voice/step/a?line=us&amp;attempt=2</Redirect>"), "{xml}");
    }

    #[test]
    fn escapes_quotes_and_carriage_returns_in_text_and_attributes() {
        let mut response = Response::new();
        response.push(Verb::Say {
            text: "\"x\" 'y'\r\nz".into(),
            voice: Voice {
                name: "a\"b'c".into(),
                language: "en<US>".into(),
            },
        });
        assert!(
            response.to_xml().contains(
                "<Say voice=\"a&quot;b&apos;c\" language=\"en&lt;US&gt;\">&quot;x&quot; &apos;y&apos;&#13;\nz</Say>"
            ),
            "{}",
            response.to_xml()
        );
    }

    #[test]
    fn attribute_values_keep_their_tabs_and_line_feeds() {
        let mut response = Response::new();
        response
            .push(Verb::Redirect { url: "u".into() })
            .push(Verb::Record(Record {
                action: "https://x.example/r?a=1\t2\n3\r4\"'".into(),
                max_length_secs: 1,
                finish_on_key: '#',
                timeout_secs: 1,
            }));
        let xml = response.to_xml();
        assert!(
            xml.contains(r#"action="https://x.example/r?a=1&#9;2&#10;3&#13;4&quot;&apos;""#),
            "{xml}"
        );
    }

    #[test]
    fn drops_characters_xml_cannot_carry() {
        let mut response = Response::new();
        response.push(say("a\u{1}b\u{FFFE}c\u{FFFF}d\te\u{FFFD}"));
        assert!(
            response.to_xml().contains(">abcd\te\u{FFFD}</Say>"),
            "{}",
            response.to_xml()
        );
    }

    #[test]
    fn drops_characters_xml_cannot_carry_from_attributes_and_keys() {
        let mut response = Response::new();
        response.push(Verb::Record(Record {
            action: "https://x.example/r?a=\u{0}1\u{FFFF}".into(),
            max_length_secs: 1,
            finish_on_key: '\u{1b}',
            timeout_secs: 1,
        }));
        let xml = response.to_xml();
        assert!(
            xml.contains(r#"action="https://x.example/r?a=1" method="POST" maxLength="1" finishOnKey="""#),
            "{xml}"
        );
    }

    #[test]
    fn renders_dial_with_a_whisper_url_per_number() {
        let mut response = Response::new();
        response.push(Verb::Dial(Dial {
            action: "https://x.example/voice/step/bridge/dialed?line=us".into(),
            caller_id: "+18005550100".into(),
            timeout_secs: 20,
            time_limit_secs: 14400,
            numbers: vec![
                DialNumber {
                    phone: "+15550100001".into(),
                    url: "https://x.example/w?e=alice&line=us".into(),
                },
                DialNumber {
                    phone: "+15550100002".into(),
                    url: "https://x.example/w?e=bob".into(),
                },
            ],
        }));
        assert_eq!(
            response.to_xml(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r#"<Dial action="https://x.example/voice/step/bridge/dialed?line=us" method="POST" callerId="+18005550100" timeout="20" timeLimit="14400">"#,
                r#"<Number url="https://x.example/w?e=alice&amp;line=us" method="POST">+15550100001</Number>"#,
                r#"<Number url="https://x.example/w?e=bob" method="POST">+15550100002</Number></Dial></Response>"#
            )
        );
    }

    #[test]
    fn texml_names_the_language_only_for_the_voices_that_take_it_and_records_one_channel() {
        let mut response = Response::new();
        response
            .push(say("Hello."))
            .push(Verb::Say {
                text: "Hi.".into(),
                voice: Voice {
                    name: "alice".into(),
                    language: "en-GB".into(),
                },
            })
            .push(Verb::Record(Record {
                action: "https://x.example/r".into(),
                max_length_secs: 120,
                finish_on_key: '#',
                timeout_secs: 5,
            }));
        let xml = response.to_xml_as(Flavour::TeXML);
        assert!(xml.contains(r#"<Say voice="Polly.Joanna">Hello.</Say>"#), "{xml}");
        assert!(
            xml.contains(r#"<Say voice="alice" language="en-GB">Hi.</Say>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"playBeep="true" channels="single"/>"#), "{xml}");
        assert!(
            !response.to_xml().contains("channels"),
            "TwiML records one channel already"
        );
    }

    #[test]
    fn renders_record() {
        let mut response = Response::new();
        response.push(Verb::Record(Record {
            action: "https://x.example/r".into(),
            max_length_secs: 120,
            finish_on_key: '#',
            timeout_secs: 5,
        }));
        assert!(response.to_xml().contains(
            r##"<Record action="https://x.example/r" method="POST" maxLength="120" finishOnKey="#" timeout="5" playBeep="true"/>"##
        ));
    }

    #[test]
    fn renders_gather_with_nested_prompt() {
        let mut response = Response::new();
        response.push(Verb::Gather(Gather {
            action: "https://x.example/voice/step/case/digits?a=1&b=2".into(),
            finish_on_key: Some('#'),
            num_digits: None,
            timeout_secs: 7,
            action_on_empty_result: true,
            prompt: vec![say("Enter your case number."), Verb::Pause { seconds: 1 }],
        }));
        assert_eq!(
            response.to_xml(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
                r##"<Gather input="dtmf" action="https://x.example/voice/step/case/digits?a=1&amp;b=2" method="POST" timeout="7" finishOnKey="#" actionOnEmptyResult="true">"##,
                r#"<Say voice="Polly.Joanna" language="en-US">Enter your case number.</Say><Pause length="1"/></Gather></Response>"#
            )
        );
    }
}
