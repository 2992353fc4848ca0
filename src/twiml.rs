//! TwiML: the voice XML the provider executes, as a small typed tree rendered straight into one buffer.
//!
//! Only the verbs the flows use are modelled. Every text node and attribute is escaped as quick-xml escapes
//! (a test holds it to that crate's), so prompt text taken from configuration or a case system can never
//! break the document.

use std::fmt::Write as _;

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
        let mut xml = Xml(String::with_capacity(2048));
        xml.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
        for verb in &self.verbs {
            xml.verb(verb);
        }
        xml.0.push_str("</Response>");
        // XML 1.0 cannot carry most control characters, nor U+FFFE and U+FFFF, not even escaped: a document
        // with one is refused whole. The markup has none, so any here came from a text or value: drop them.
        if !needs_cleaning(xml.0.as_bytes()) {
            xml.0
        } else {
            xml.0.chars().filter(|c| is_xml_char(*c)).collect()
        }
    }
}

/// True when the UTF-8 text holds a character XML 1.0 cannot carry: a control character other than tab, line
/// feed and carriage return, or U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`). A byte scan: no decoding.
fn needs_cleaning(bytes: &[u8]) -> bool {
    // Almost every document has neither kind of byte: this first scan is the whole cost (a fold over chunks,
    // without a branch per byte, so the compiler can compare 32 bytes at a time).
    let suspect = |chunk: &[u8]| chunk.iter().fold(false, |seen, &b| seen | (b < 0x20) | (b == 0xEF));
    if !bytes.chunks(64).any(suspect) {
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

/// Appends `value` escaped: `<`, `>`, `&`, `'`, `"` and carriage return as quick-xml's `escape` writes them,
/// and in an attribute also tabs and line feeds as character references, which a parser would otherwise turn
/// into spaces (attribute-value normalisation). Unescaped runs are copied whole, into the document itself:
/// no string of its own per value.
fn push_escaped(out: &mut String, value: &str, in_attribute: bool) {
    let mut from = 0;
    for (at, byte) in value.bytes().enumerate() {
        let reference = match byte {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            b'\r' => "&#13;",
            b'\t' if in_attribute => "&#9;",
            b'\n' if in_attribute => "&#10;",
            _ => continue,
        };
        // Every byte matched is ASCII, so `at` is a character boundary.
        out.push_str(&value[from..at]);
        out.push_str(reference);
        from = at + 1;
    }
    out.push_str(&value[from..]);
}

/// The document being written: the markup is ours and fixed, and every text and attribute value is escaped
/// ([`push_escaped`]). Written straight into one buffer: building each element as an event first allocated
/// for every attribute.
struct Xml(String);

impl Xml {
    fn verb(&mut self, verb: &Verb) {
        match verb {
            Verb::Say { text, voice } => {
                self.open("Say", &[("voice", &voice.name), ("language", &voice.language)]);
                self.text(text);
                self.close("Say");
            }
            Verb::Pause { seconds } => {
                self.start("Pause", &[]);
                self.number("length", *seconds);
                self.0.push_str("/>");
            }
            Verb::Gather(gather) => {
                self.start(
                    "Gather",
                    &[("input", "dtmf"), ("action", &gather.action), ("method", "POST")],
                );
                self.number("timeout", gather.timeout_secs);
                if let Some(key) = gather.finish_on_key {
                    self.key("finishOnKey", key);
                }
                if let Some(n) = gather.num_digits {
                    self.number("numDigits", n);
                }
                if gather.action_on_empty_result {
                    self.attributes(&[("actionOnEmptyResult", "true")]);
                }
                self.0.push('>');
                for verb in &gather.prompt {
                    self.verb(verb);
                }
                self.close("Gather");
            }
            Verb::Redirect { url } => {
                self.open("Redirect", &[("method", "POST")]);
                self.text(url);
                self.close("Redirect");
            }
            Verb::Hangup => self.empty("Hangup", &[]),
            Verb::Dial(dial) => {
                self.start(
                    "Dial",
                    &[
                        ("action", &dial.action),
                        ("method", "POST"),
                        ("callerId", &dial.caller_id),
                    ],
                );
                self.number("timeout", dial.timeout_secs);
                self.number("timeLimit", dial.time_limit_secs);
                self.0.push('>');
                for number in &dial.numbers {
                    self.open("Number", &[("url", &number.url), ("method", "POST")]);
                    self.text(&number.phone);
                    self.close("Number");
                }
                self.close("Dial");
            }
            Verb::Record(record) => {
                self.start("Record", &[("action", &record.action), ("method", "POST")]);
                self.number("maxLength", record.max_length_secs);
                self.key("finishOnKey", record.finish_on_key);
                self.number("timeout", record.timeout_secs);
                self.attributes(&[("playBeep", "true")]);
                self.0.push_str("/>");
            }
        }
    }

    /// `<name a="v"...` without the end of the tag.
    fn start(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.0.push('<');
        self.0.push_str(name);
        self.attributes(attributes);
    }

    fn attributes(&mut self, attributes: &[(&str, &str)]) {
        for (key, value) in attributes {
            self.0.push(' ');
            self.0.push_str(key);
            self.0.push_str("=\"");
            push_escaped(&mut self.0, value, true);
            self.0.push('"');
        }
    }

    /// A number attribute, written in place: no string of its own.
    fn number(&mut self, key: &str, value: u32) {
        let _ = write!(self.0, " {key}=\"{value}\"");
    }

    /// A key of the keypad as an attribute (`finishOnKey`).
    fn key(&mut self, key: &str, value: char) {
        let mut buffer = [0; 4];
        self.attributes(&[(key, value.encode_utf8(&mut buffer))]);
    }

    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start(name, attributes);
        self.0.push('>');
    }

    fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start(name, attributes);
        self.0.push_str("/>");
    }

    fn text(&mut self, text: &str) {
        push_escaped(&mut self.0, text, false);
    }

    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }
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
    fn escapes_as_quick_xml_does() {
        let texts = [
            "",
            "plain text",
            "Tom & Jerry <b>'quoted'</b> \"x\"",
            "a\r\nb\tc",
            "&&<<>>",
            "é日\u{1f4de} & é",
            "https://x.example/voice/step/a?line=us&v.customer=ACME+Corp&v.case=1",
        ];
        for text in texts {
            let mut out = String::new();
            push_escaped(&mut out, text, false);
            assert_eq!(out, quick_xml::escape::escape(text), "text {text:?}");
            let mut out = String::new();
            push_escaped(&mut out, text, true);
            let attribute = quick_xml::escape::escape(text)
                .replace('\t', "&#9;")
                .replace('\n', "&#10;");
            assert_eq!(out, attribute, "attribute {text:?}");
        }
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
