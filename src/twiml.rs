//! TwiML: the voice XML the provider executes, as a small typed tree rendered with quick-xml.
//!
//! Only the verbs the flows use are modelled. Every text node and attribute goes through quick-xml's
//! escaping, so prompt text taken from configuration or a case system can never break the document.

use quick_xml::Writer;
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
    pub verbs: Vec<Verb>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, verb: Verb) -> &mut Self {
        self.verbs.push(verb);
        self
    }

    /// The document as XML text, with its declaration.
    pub fn to_xml(&self) -> String {
        let mut writer = Writer::new(Vec::with_capacity(2048));
        // Writing into a Vec cannot fail; the results are discarded on purpose.
        let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let _ = writer.create_element("Response").write_inner_content(|w| {
            for verb in &self.verbs {
                write_verb(w, verb)?;
            }
            Ok(())
        });
        let xml = String::from_utf8(writer.into_inner()).unwrap_or_default();
        // XML 1.0 cannot carry most control characters, nor U+FFFE and U+FFFF, not even escaped: a document
        // with one is refused whole. The markup has none, so any here came from a text or value: drop them.
        if !needs_cleaning(xml.as_bytes()) {
            xml
        } else {
            xml.chars().filter(|c| is_xml_char(*c)).collect()
        }
    }
}

/// True when the UTF-8 text holds a character XML 1.0 cannot carry: a control character other than tab, line
/// feed and carriage return, or U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`). A byte scan: no decoding.
fn needs_cleaning(bytes: &[u8]) -> bool {
    // Almost every document has neither kind of byte: this first scan is the whole cost.
    if !bytes.iter().any(|&b| b < 0x20 || b == 0xEF) {
        return false;
    }
    bytes.iter().enumerate().any(|(i, &b)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || (b == 0xEF && bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)))
    })
}

/// XML 1.0's `Char` production (Rust strings hold no surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

type XmlResult = std::io::Result<()>;

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> XmlResult {
    match verb {
        Verb::Say { text, voice } => {
            w.create_element("Say")
                .with_attribute(("voice", voice.name.as_str()))
                .with_attribute(("language", voice.language.as_str()))
                .write_text_content(BytesText::new(text))?;
        }
        Verb::Pause { seconds } => {
            w.create_element("Pause")
                .with_attribute(("length", seconds.to_string().as_str()))
                .write_empty()?;
        }
        Verb::Gather(gather) => {
            let mut element = w
                .create_element("Gather")
                .with_attribute(("input", "dtmf"))
                .with_attribute(("action", gather.action.as_str()))
                .with_attribute(("method", "POST"))
                .with_attribute(("timeout", gather.timeout_secs.to_string().as_str()));
            let finish = gather.finish_on_key.map(String::from);
            if let Some(key) = &finish {
                element = element.with_attribute(("finishOnKey", key.as_str()));
            }
            let digits = gather.num_digits.map(|n| n.to_string());
            if let Some(n) = &digits {
                element = element.with_attribute(("numDigits", n.as_str()));
            }
            if gather.action_on_empty_result {
                element = element.with_attribute(("actionOnEmptyResult", "true"));
            }
            element.write_inner_content(|w| {
                for verb in &gather.prompt {
                    write_verb(w, verb)?;
                }
                Ok(())
            })?;
        }
        Verb::Redirect { url } => {
            w.create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(BytesText::new(url))?;
        }
        Verb::Hangup => {
            w.create_element("Hangup").write_empty()?;
        }
        Verb::Dial(dial) => {
            w.create_element("Dial")
                .with_attribute(("action", dial.action.as_str()))
                .with_attribute(("method", "POST"))
                .with_attribute(("callerId", dial.caller_id.as_str()))
                .with_attribute(("timeout", dial.timeout_secs.to_string().as_str()))
                .with_attribute(("timeLimit", dial.time_limit_secs.to_string().as_str()))
                .write_inner_content(|w| {
                    for number in &dial.numbers {
                        w.create_element("Number")
                            .with_attribute(("url", number.url.as_str()))
                            .with_attribute(("method", "POST"))
                            .write_text_content(BytesText::new(&number.phone))?;
                    }
                    Ok(())
                })?;
        }
        Verb::Record(record) => {
            w.create_element("Record")
                .with_attribute(("action", record.action.as_str()))
                .with_attribute(("method", "POST"))
                .with_attribute(("maxLength", record.max_length_secs.to_string().as_str()))
                .with_attribute(("finishOnKey", record.finish_on_key.to_string().as_str()))
                .with_attribute(("timeout", record.timeout_secs.to_string().as_str()))
                .with_attribute(("playBeep", "true"))
                .write_empty()?;
        }
    }
    Ok(())
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
