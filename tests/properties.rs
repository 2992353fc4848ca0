//! Hostile input, generated: property tests for what reads outside input (the webhook's form body, its
//! signature, the call state in our URLs, flow files) and for what writes the answer (TwiML).
//!
//! Each property runs a modest number of cases so that the whole file stays fast; `PROPTEST_CASES=N` runs
//! every property N times instead. A failure prints the smallest input proptest could shrink it to, and is
//! kept in `tests/properties.proptest-regressions`. The fuzz targets in `fuzz/` go further (CONTRIBUTING.md, "Hostile
//! input").

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use afterhours::assembly::AppState;
use afterhours::assembly::Config;
use afterhours::cases::CaseSystem;
use afterhours::cases::file::FileCases;
use afterhours::clock::FixedClock;
use afterhours::dialect::{self, Document, Signing};
use afterhours::flow::state::{CallState, MAX_VALUE_BYTES};
use afterhours::flow::{Flow, steps};
use afterhours::http::server::router;
use afterhours::http::voice::{self, Route};
use afterhours::settings::ProviderKind;
use afterhours::signature;
use afterhours::twiml::{Dial, DialNumber, Gather, Record, Response, Verb, Voice};
use axum::body::Body;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://voice.example.com";
const TOKEN: &str = "test-auth-token";
const US_LINE: &str = "+18005550100";
const UK_LINE: &str = "+442079460000";
const CALLER: &str = "+15551234567";

/// `cases` runs per property, unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        // Where a failure is kept, to be tried first on every later run (commit the file).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/properties.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// --- Strategies ------------------------------------------------------------------------------------------

/// Characters that break naive XML, URL, form and TOML handling, besides any character at all.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => prop::sample::select(vec![
            '<', '>', '&', '"', '\'', ']', ';', '#', '=', '+', '%', '?', '/', ':', '{', '}', '[', '\\', ' ',
            '\t', '\n', '\r', '\u{0}', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}',
            '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', '\u{fffd}', '\u{fffe}', '\u{ffff}', 'é', '日',
            '\u{1f4de}', '\u{10ffff}',
        ]),
        3 => prop::char::range('a', 'z'),
    ]
}

/// Any text, biased towards markup, escapes and characters that XML 1.0 cannot carry.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => hostile_char().prop_map(String::from),
        1 => prop::sample::select(vec![
            "]]>", "<![CDATA[", "-->", "<!--", "&amp;", "&#0;", "&#x1F;", "&lt;", "</Say>", "<Hangup/>",
            "\r\n", "%00", "%ZZ", "%", "+", "{line_name}", "{{", "}}", "\"\"\"", "'''",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Form fields as Twilio might send them, or as anyone else might.
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((hostile_text(), hostile_text()), 0..8)
}

/// Fields with distinct names that do not start with a port (`:443...`): with these, the text Twilio signs
/// (URL, then names and values with no separators) changes whenever one value changes.
fn distinct_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,10}", hostile_text(), 1..8)
        .prop_map(|map| map.into_iter().collect())
}

/// URLs of every shape the default-port rule looks at, and text that is no URL at all.
fn url() -> impl Strategy<Value = String> {
    let structured = (
        prop::sample::select(vec!["https://", "http://", "ftp://", "", "HTTPS://"]),
        prop_oneof![
            "[a-z0-9.-]{0,12}",
            Just("[::1]".to_owned()),
            Just("user@host".to_owned())
        ],
        prop::sample::select(vec!["", ":443", ":80", ":8443", ":", ":443:443"]),
        "(/[a-zA-Z0-9._~%-]{0,6}){0,3}",
        prop_oneof![Just(String::new()), "[?#][a-z0-9=&%:/]{0,12}"],
    )
        .prop_map(|(scheme, host, port, path, tail)| format!("{scheme}{host}{port}{path}{tail}"));
    prop_oneof![3 => structured, 1 => hostile_text()]
}

/// A URL with one variant only (an explicit, non-default port), so exactly one signature is right.
fn single_variant_url() -> impl Strategy<Value = String> {
    "https://[a-z]{1,8}\\.example:8443(/[a-z0-9]{0,6}){0,3}(\\?[a-z0-9=&]{0,10})?"
}

// --- XML, read back strictly ----------------------------------------------------------------------------

/// XML 1.0's `Char` production: the only characters a well-formed document may contain, escaped or not.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// What a text must become to fit in an XML 1.0 document: the characters it cannot carry are dropped.
fn xml_safe(text: &str) -> String {
    text.chars().filter(|c| is_xml_char(*c)).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    name: String,
    attributes: BTreeMap<String, String>,
    children: Vec<Node>,
}

impl Element {
    fn new(name: &str, attributes: &[(&str, &str)], children: Vec<Node>) -> Self {
        Self {
            name: name.to_owned(),
            attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            children,
        }
    }

    fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.children.last_mut() {
            Some(Node::Text(last)) => last.push_str(text),
            _ => self.children.push(Node::Text(text.to_owned())),
        }
    }

    /// Every element of the tree, this one first.
    fn walk(&self) -> Vec<&Element> {
        let mut all = vec![self];
        for child in &self.children {
            if let Node::Element(e) = child {
                all.extend(e.walk());
            }
        }
        all
    }

    fn text(&self) -> String {
        self.children
            .iter()
            .map(|c| match c {
                Node::Text(t) => t.as_str(),
                Node::Element(_) => "",
            })
            .collect()
    }
}

fn text_node(text: &str) -> Vec<Node> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Node::Text(text.to_owned())]
    }
}

/// Parses a whole document and checks what quick-xml's reader does not: only XML 1.0 characters (raw or as
/// references), a declaration first, one root, no `]]>` in text, no `<` in attribute values.
fn parse_document(xml: &str) -> Result<Element, String> {
    if let Some((at, c)) = xml.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        return Err(format!("character {c:?} at byte {at} is not allowed in XML 1.0"));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut first = true;
    let open = |e: &quick_xml::events::BytesStart<'_>| -> Result<Element, String> {
        let mut attributes = BTreeMap::new();
        for attribute in e.attributes() {
            let attribute = attribute.map_err(|e| format!("bad attribute: {e}"))?;
            if attribute.value.contains('<') {
                return Err(format!("'<' in the value of {:?}", attribute.key));
            }
            let value = attribute
                .normalized_value(XmlVersion::Explicit1_0)
                .map_err(|e| format!("bad attribute value: {e}"))?;
            if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
                return Err(format!("character reference to {c:?} in an attribute"));
            }
            attributes.insert(attribute.key.as_ref().to_owned(), value.into_owned());
        }
        Ok(Element {
            name: e.name().as_ref().to_owned(),
            attributes,
            children: Vec::new(),
        })
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(decl) => {
                let version = decl.version().map_err(|e| e.to_string())?;
                if !was_first || version.as_ref() != "1.0" {
                    return Err(format!("misplaced or wrong declaration (version {version:?})"));
                }
            }
            Event::Start(e) => stack.push(open(&e)?),
            Event::Empty(e) => {
                let element = open(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None if root.is_none() => root = Some(element),
                    None => return Err("a second root element".into()),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None if root.is_none() => root = Some(element),
                    None => return Err("a second root element".into()),
                }
            }
            Event::Text(text) => {
                if text.contains("]]>") {
                    return Err("']]>' in text".into());
                }
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(parent) => parent.push_text(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(format!("text outside the root: {content:?}")),
                }
            }
            Event::GeneralRef(reference) => {
                let decoded = if reference.is_char_ref() {
                    let c = reference
                        .resolve_char_ref()
                        .map_err(|e| e.to_string())?
                        .ok_or("unresolved character reference")?;
                    if !is_xml_char(c) {
                        return Err(format!("character reference to {c:?}"));
                    }
                    c.to_string()
                } else {
                    match reference.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => return Err(format!("unknown entity &{other};")),
                    }
                    .to_owned()
                };
                stack
                    .last_mut()
                    .ok_or("a reference outside the root")?
                    .push_text(&decoded);
            }
            Event::Eof => break,
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    if !stack.is_empty() {
        return Err(format!("{} element(s) left open", stack.len()));
    }
    root.ok_or_else(|| "no root element".to_owned())
}

/// `actual` has `expected`'s names, texts and children, and every attribute `expected` names, with that value.
fn assert_shape(expected: &Element, actual: &Element, at: &str) -> Result<(), TestCaseError> {
    let at = format!("{at}/{}", expected.name);
    prop_assert_eq!(&expected.name, &actual.name, "{}", at);
    for (key, value) in &expected.attributes {
        prop_assert_eq!(Some(value), actual.attributes.get(key), "{} @{}", at, key);
    }
    prop_assert_eq!(
        expected.children.len(),
        actual.children.len(),
        "{}: children {:?}",
        at,
        actual.children
    );
    for (e, a) in expected.children.iter().zip(&actual.children) {
        match (e, a) {
            (Node::Text(e), Node::Text(a)) => prop_assert_eq!(e, a, "{}: text", at),
            (Node::Element(e), Node::Element(a)) => assert_shape(e, a, &at)?,
            _ => prop_assert!(false, "{}: expected {:?}, found {:?}", at, e, a),
        }
    }
    Ok(())
}

// --- The form body ---------------------------------------------------------------------------------------

fn encode_form(pairs: &[(String, String)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        form.append_pair(name, value);
    }
    form.finish()
}

fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn form_fields_come_back_from_their_urlencoding_unchanged(pairs in pairs()) {
        let body = encode_form(&pairs);
        prop_assert!(body.is_ascii(), "{}", body);
        prop_assert_eq!(parse_form(body.as_bytes()), pairs);
    }

    #[test]
    fn any_bytes_parse_as_a_form_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let pairs = parse_form(&bytes);
        // Parsing is total and lossy only in the UTF-8 sense: what it yields encodes back and parses the same.
        prop_assert_eq!(parse_form(encode_form(&pairs).as_bytes()), pairs);
    }
}

// --- The form ------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// The pairs a provider signs, serialized and decoded again, are the same pairs, and their signature holds.
    #[test]
    fn a_serialized_form_decodes_to_its_pairs_and_its_signature_holds(url in url(), params in pairs()) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let form = afterhours::flow::engine::CallInput::decode(body.as_bytes());
        prop_assert_eq!(form.as_slice(), params.as_slice());
        let signature = signature::compute(b"token", &url, &params);
        prop_assert!(signature::is_valid(b"token", &url, &form, &signature));
    }
}

// --- The signature ---------------------------------------------------------------------------------------

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..80)
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_computed_signature_is_valid(token in token(), url in url(), params in pairs()) {
        let signature = signature::compute(&token, &url, &params);
        prop_assert!(signature::is_valid(&token, &url, &params, &signature));
        // Header values may come with surrounding blanks.
        let padded = format!(" {signature}\t");
        prop_assert!(signature::is_valid(&token, &url, &params, &padded));
    }

    #[test]
    fn the_order_of_the_fields_does_not_matter(
        token in token(),
        url in url(),
        (params, shuffled) in pairs().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
    ) {
        let signature = signature::compute(&token, &url, &params);
        prop_assert_eq!(&signature::compute(&token, &url, &shuffled), &signature);
        prop_assert!(signature::is_valid(&token, &url, &shuffled, &signature));
    }

    #[test]
    fn a_changed_value_is_rejected(
        token in token(),
        url in url(),
        params in distinct_pairs(),
        which in any::<Index>(),
        value in hostile_text(),
    ) {
        let signature = signature::compute(&token, &url, &params);
        let mut changed = params.clone();
        let i = which.index(changed.len());
        prop_assume!(changed[i].1 != value);
        changed[i].1 = value;
        prop_assert!(!signature::is_valid(&token, &url, &changed, &signature));
    }

    #[test]
    fn a_changed_token_is_rejected(token in token(), which in any::<Index>(), flip in 1..=255u8, url in url(), params in pairs()) {
        let signature = signature::compute(&token, &url, &params);
        // Flipped, not extended: HMAC pads short keys with zero bytes, so "k" and "k\0" are the same key.
        let mut other = token.clone();
        let i = which.index(other.len());
        other[i] ^= flip;
        prop_assert!(!signature::is_valid(&other, &url, &params, &signature));
    }

    #[test]
    fn a_changed_url_is_rejected(token in token(), url in url(), suffix in "[a-z0-9/?=&]{1,2}", params in distinct_pairs()) {
        // One or two characters more: never the URL itself with its default port added or removed.
        let signature = signature::compute(&token, &url, &params);
        let changed = format!("{url}{suffix}");
        prop_assert!(!signature::is_valid(&token, &changed, &params, &signature));
    }

    #[test]
    fn any_other_signature_is_rejected(
        token in token(),
        url in single_variant_url(),
        params in pairs(),
        attempt in prop_oneof![
            hostile_text().prop_map(Attempt::Text),
            (any::<Index>(), hostile_char()).prop_map(|(i, c)| Attempt::Replace(i, c)),
            any::<Index>().prop_map(Attempt::Truncate),
            hostile_char().prop_map(Attempt::Append),
        ],
    ) {
        let right = signature::compute(&token, &url, &params);
        let given = attempt.apply(&right);
        let valid = signature::is_valid(&token, &url, &params, &given);
        prop_assert_eq!(valid, given.trim() == right, "{:?} for {:?}", given, right);
    }
}

/// A signature someone might send: anything, or the right one with a character replaced, cut or added.
#[derive(Debug, Clone)]
enum Attempt {
    Text(String),
    Replace(Index, char),
    Truncate(Index),
    Append(char),
}

impl Attempt {
    fn apply(&self, right: &str) -> String {
        let chars: Vec<char> = right.chars().collect();
        match self {
            Attempt::Text(text) => text.clone(),
            Attempt::Replace(i, c) => {
                let mut chars = chars;
                let i = i.index(chars.len());
                chars[i] = *c;
                chars.into_iter().collect()
            }
            Attempt::Truncate(i) => chars[..i.index(chars.len())].iter().collect(),
            Attempt::Append(c) => format!("{right}{c}"),
        }
    }
}

// --- TwiML -----------------------------------------------------------------------------------------------

/// Every verb that carries text or attribute values, each built from the generated strings.
fn response_from(texts: &[String; 6], key: char, seconds: u32) -> Response {
    let [a, b, c, d, e, f] = texts;
    let voice = Voice {
        name: b.clone(),
        language: c.clone(),
    };
    let say = |text: &str| Verb::Say {
        text: text.to_owned(),
        voice: voice.clone(),
    };
    let mut response = Response::new();
    response
        .push(say(a))
        .push(Verb::Gather(Gather {
            action: d.clone(),
            finish_on_key: Some(key),
            num_digits: Some(seconds),
            timeout_secs: seconds,
            action_on_empty_result: true,
            prompt: vec![say(e), Verb::Pause { seconds }, say(f)],
        }))
        .push(Verb::Redirect { url: e.clone() })
        .push(Verb::Dial(Dial {
            action: f.clone(),
            caller_id: a.clone(),
            timeout_secs: seconds,
            time_limit_secs: seconds,
            numbers: vec![
                DialNumber {
                    phone: b.clone(),
                    url: c.clone(),
                },
                DialNumber {
                    phone: d.clone(),
                    url: e.clone(),
                },
            ],
        }))
        .push(Verb::Record(Record {
            action: a.clone(),
            max_length_secs: seconds,
            finish_on_key: key,
            timeout_secs: seconds,
        }))
        .push(Verb::Hangup);
    response
}

/// The document `response_from` must give: its strings intact, less what XML 1.0 cannot carry.
fn expected_document(texts: &[String; 6], key: char) -> Element {
    let [a, b, c, d, e, f] = texts.clone().map(|t| xml_safe(&t));
    let key = xml_safe(&key.to_string());
    let say = |text: &str| {
        Node::Element(Element::new(
            "Say",
            &[("voice", b.as_str()), ("language", c.as_str())],
            text_node(text),
        ))
    };
    let pause = Node::Element(Element::new("Pause", &[], Vec::new()));
    let number = |phone: &str, url: &str| Node::Element(Element::new("Number", &[("url", url)], text_node(phone)));
    Element::new(
        "Response",
        &[],
        vec![
            say(&a),
            Node::Element(Element::new(
                "Gather",
                &[("action", d.as_str()), ("finishOnKey", key.as_str())],
                vec![say(&e), pause, say(&f)],
            )),
            Node::Element(Element::new("Redirect", &[], text_node(&e))),
            Node::Element(Element::new(
                "Dial",
                &[("action", f.as_str()), ("callerId", a.as_str())],
                vec![number(&b, &c), number(&d, &e)],
            )),
            Node::Element(Element::new(
                "Record",
                &[("action", a.as_str()), ("finishOnKey", key.as_str())],
                Vec::new(),
            )),
            Node::Element(Element::new("Hangup", &[], Vec::new())),
        ],
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_renders_as_well_formed_twiml_with_the_text_intact(
        texts in prop::array::uniform6(hostile_text()),
        key in hostile_char(),
        seconds in any::<u32>(),
    ) {
        let xml = response_from(&texts, key, seconds).to_xml();
        let document = parse_document(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml:?}")))?;
        assert_shape(&expected_document(&texts, key), &document, "")?;
    }
}

#[test]
fn characters_xml_cannot_carry_are_dropped_from_twiml() {
    let mut response = Response::new();
    response.push(Verb::Say {
        text: "Case\u{0} for ACME\u{1b}[31m\u{ffff} Corp\u{8}".into(),
        voice: Voice::default(),
    });
    let document = parse_document(&response.to_xml()).unwrap();
    assert_eq!(document.walk()[1].text(), "Case for ACME[31m Corp");
}

// --- Flow files ------------------------------------------------------------------------------------------

const SHIPPED_FLOW: &str = include_str!("../voice-flows/critical-incident.toml");

fn flow_path() -> &'static Path {
    Path::new("voice-flows/generated.toml")
}

/// A loaded flow keeps the promises validation makes: the start and every outcome's target exist.
fn check_loaded(flow: &Flow) -> Result<(), TestCaseError> {
    prop_assert!(flow.steps.contains_key(&flow.start));
    for (name, step) in &flow.steps {
        for outcome in step.kind.outcomes() {
            prop_assert!(flow.next(name, outcome).is_ok(), "{} --{}-->", name, outcome);
        }
    }
    prop_assert!(flow.mermaid().starts_with("flowchart TD"));
    Ok(())
}

/// One step of a generated flow: its kind, the prompt it speaks, and for each outcome (in the kind's order)
/// the index of the step it leads to.
#[derive(Debug, Clone)]
struct StepSpec {
    kind: usize,
    prompt: String,
    targets: Vec<Option<usize>>,
    table_form: bool,
    /// A key a step of its kind must not have, or a value of the wrong type.
    odd: Option<(String, toml::Value)>,
}

/// Every step kind with its outcomes, as the crate declares them, and one kind that does not exist.
const GENERATED_KINDS: &[(&str, &[&str])] = &[
    ("say", steps::say::OUTCOMES),
    ("gather", steps::gather::OUTCOMES),
    ("business_hours", steps::business_hours::OUTCOMES),
    ("hangup", steps::hangup::OUTCOMES),
    ("verify_case", steps::verify_case::OUTCOMES),
    ("bridge", steps::bridge::OUTCOMES),
    ("voicemail", steps::voicemail::OUTCOMES),
    ("status", steps::status::OUTCOMES),
    ("rate_limit", steps::rate_limit::OUTCOMES),
    // No such kind: always last.
    ("transfer", &["next"]),
];

fn kind_index(kind: &str) -> usize {
    GENERATED_KINDS.iter().position(|(k, _)| *k == kind).unwrap()
}

/// Mostly prompts that parse (some with variables that only some paths store), now and then a broken one.
fn prompt() -> impl Strategy<Value = String> {
    let good = prop::sample::select(vec![
        "Hello from {line_name}.",
        "Our hours are {opening_hours} ({time_zone}).",
        "You will hear from us by {deadline}.",
        "Case {case_number}.",
        "Thank you, {customer}.",
        "Literal {{braces}}.",
    ]);
    let bad = prop::sample::select(vec!["{Bad} placeholder", "{unknown}", "unmatched }", ""]);
    prop_oneof![
        40 => good.prop_map(str::to_owned),
        1 => bad.prop_map(str::to_owned),
        1 => hostile_text(),
    ]
}

/// Step `i` of `n`. Left to chance, most graphs would fail on the first rule (a step nobody reaches); so the
/// first outcome usually leads to the next step, and the last step is usually a hangup.
fn step_spec(i: usize, n: usize) -> impl Strategy<Value = StepSpec> {
    let target = prop_oneof![60 => (0..n).prop_map(Some), 1 => Just(None)];
    let first = prop_oneof![5 => Just(Some((i + 1).min(n - 1))), 1 => target.clone()];
    let targets = (first, prop::collection::vec(target, 8)).prop_map(|(first, rest)| {
        let mut targets = vec![first];
        targets.extend(rest);
        targets
    });
    let hangup = kind_index("hangup");
    let kind = prop_oneof![
        if i + 1 == n { 120 } else { 0 } => Just(hangup),
        60 => 0..GENERATED_KINDS.len() - 1,
        1 => Just(GENERATED_KINDS.len() - 1),
    ];
    let odd = prop::option::weighted(
        0.02,
        prop_oneof![
            Just(("unknown_key".to_owned(), toml::Value::Integer(1))),
            Just(("next".to_owned(), toml::Value::Integer(42))),
            Just(("min_digits".to_owned(), toml::Value::Integer(0))),
            Just(("finish_on_key".to_owned(), toml::Value::from("x"))),
            Just(("store".to_owned(), toml::Value::from("Not-A-Name"))),
            Just(("kind".to_owned(), toml::Value::Integer(7))),
        ],
    );
    (kind, prompt(), targets, any::<bool>(), odd).prop_map(|(kind, prompt, targets, table_form, odd)| StepSpec {
        kind,
        prompt,
        targets,
        table_form,
        odd,
    })
}

/// N steps of random kinds, every outcome leading to one of them (or, now and then, nowhere), as TOML.
fn flow_graph() -> impl Strategy<Value = String> {
    (1..=8usize)
        .prop_flat_map(|n| {
            let steps: Vec<_> = (0..n).map(|i| step_spec(i, n)).collect();
            (steps, prop_oneof![30 => Just(0), 1 => 0..=n])
        })
        .prop_map(|(steps, start)| render_flow(&steps, start))
}

fn render_flow(steps: &[StepSpec], start: usize) -> String {
    let name = |i: usize| format!("s{i}");
    let mut tables = toml::Table::new();
    for (i, spec) in steps.iter().enumerate() {
        let (kind, outcomes) = GENERATED_KINDS[spec.kind];
        let mut step = toml::Table::new();
        step.insert("kind".into(), kind.into());
        let prompt_key = match kind {
            "say" => Some("text"),
            "gather" | "voicemail" | "bridge" => Some("prompt"),
            "status" => Some("intro"),
            _ => None,
        };
        if let Some(key) = prompt_key {
            step.insert(key.into(), spec.prompt.clone().into());
        }
        if kind == "gather" {
            step.insert("store".into(), "case_number".into());
        }
        let mut next = toml::Table::new();
        for (outcome, target) in outcomes.iter().zip(&spec.targets) {
            match target {
                Some(target) => {
                    next.insert(outcome.to_string(), name(*target).into());
                }
                // No target: an outcome left out, or one that leads to no step.
                None if spec.table_form => {
                    next.insert(outcome.to_string(), "nowhere".into());
                }
                None => {}
            }
        }
        match next.remove("next") {
            Some(target) if !spec.table_form && next.is_empty() => {
                step.insert("next".into(), target);
            }
            target => {
                next.extend(target.map(|t| ("next".to_owned(), t)));
                if !next.is_empty() {
                    step.insert("next".into(), next.into());
                }
            }
        }
        if let Some((key, value)) = &spec.odd {
            step.insert(key.clone(), value.clone());
        }
        tables.insert(name(i), step.into());
    }
    let mut doc = toml::Table::new();
    doc.insert("start".into(), name(start).into());
    if !tables.is_empty() {
        doc.insert("steps".into(), tables.into());
    }
    toml::to_string(&doc).unwrap_or_default()
}

/// A chain of steps whose outcomes all lead forward and which ends at a hangup: always a valid flow.
fn valid_chain() -> impl Strategy<Value = String> {
    let kinds = prop::sample::select(
        [
            "say",
            "gather",
            "business_hours",
            "bridge",
            "voicemail",
            "status",
            "rate_limit",
        ]
        .map(kind_index)
        .to_vec(),
    );
    prop::collection::vec((kinds, prop::collection::vec(any::<Index>(), 9)), 0..8).prop_map(|middle| {
        let n = middle.len() + 1;
        let mut steps: Vec<StepSpec> = middle
            .into_iter()
            .enumerate()
            .map(|(i, (kind, picks))| StepSpec {
                kind,
                prompt: "Hello from {line_name}, {{ok}}.".into(),
                // The first outcome goes to the next step, so every step is reachable; the others anywhere later.
                targets: picks
                    .iter()
                    .enumerate()
                    .map(|(j, pick)| Some(if j == 0 { i + 1 } else { i + 1 + pick.index(n - i - 1) }))
                    .collect(),
                table_form: true,
                odd: None,
            })
            .collect();
        steps.push(StepSpec {
            kind: kind_index("hangup"),
            prompt: String::new(),
            targets: Vec::new(),
            table_form: true,
            odd: None,
        });
        render_flow(&steps, 0)
    })
}

/// The shipped flow with a few bytes cut and hostile text pasted in.
fn mutated_flow() -> impl Strategy<Value = String> {
    prop::collection::vec((any::<Index>(), 0..40usize, hostile_text()), 1..4).prop_map(|edits| {
        let mut text = SHIPPED_FLOW.to_owned();
        for (at, cut, paste) in edits {
            let mut start = at.index(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(start..end, &paste);
        }
        text
    })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_text_loads_as_a_flow_or_fails_with_errors(text in hostile_text()) {
        if let Err(errors) = Flow::parse(flow_path(), &text) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| !e.to_string().is_empty()));
        }
    }

    #[test]
    fn a_damaged_shipped_flow_loads_or_fails_with_errors(text in mutated_flow()) {
        match Flow::parse(flow_path(), &text) {
            Ok(flow) => check_loaded(&flow)?,
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn generated_flow_graphs_load_or_fail_with_errors(text in flow_graph()) {
        match Flow::parse(flow_path(), &text) {
            Ok(flow) => check_loaded(&flow)?,
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for error in &errors {
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn a_chain_that_ends_at_a_hangup_always_loads(text in valid_chain()) {
        match Flow::parse(flow_path(), &text) {
            Ok(flow) => check_loaded(&flow)?,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                prop_assert!(false, "{}\n{}", errors.join("\n"), text);
            }
        }
    }
}

#[test]
fn the_shipped_flow_loads_through_the_path_the_properties_use() {
    // Keeps the generators honest: the shipped flow loads through the same path the properties use.
    let flow = Flow::parse(flow_path(), SHIPPED_FLOW).unwrap();
    assert_eq!(flow.name, "generated");
    assert!(Flow::parse(flow_path(), &render_flow(&[], 0)).is_err());
}

// --- Call state ------------------------------------------------------------------------------------------

/// A value a call may carry: no control characters, at most [`MAX_VALUE_BYTES`] bytes.
fn carried_value() -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 0..80).prop_map(|chars| {
        let mut value = String::new();
        for c in chars.into_iter().filter(|c| !c.is_control()) {
            if value.len() + c.len_utf8() > MAX_VALUE_BYTES {
                break;
            }
            value.push(c);
        }
        value
    })
}

fn call_state() -> impl Strategy<Value = CallState> {
    let name = prop_oneof![3 => "[a-z0-9_]{1,64}", 1 => hostile_text()];
    (
        hostile_text().prop_filter("a line", |l| !l.is_empty()),
        prop::collection::btree_map(name.clone(), any::<u32>(), 0..4),
        prop::collection::btree_map(name, carried_value(), 0..6),
    )
        .prop_map(|(line, attempts, vars)| CallState { line, attempts, vars })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_call_state_round_trips_through_the_query(state in call_state()) {
        let query = state.to_query();
        prop_assert!(query.is_ascii());
        prop_assert_eq!(CallState::from_query(&query), Ok(state));
    }

    #[test]
    fn the_call_state_is_encoded_as_the_form_urlencoded_crate_encodes(state in call_state()) {
        let mut expected = form_urlencoded::Serializer::new(String::new());
        expected.append_pair("line", &state.line);
        for (step, n) in &state.attempts {
            expected.append_pair(&format!("n.{step}"), &n.to_string());
        }
        for (name, value) in &state.vars {
            expected.append_pair(&format!("v.{name}"), value);
        }
        prop_assert_eq!(state.to_query(), expected.finish());
    }

    #[test]
    fn any_stored_value_is_made_safe_to_carry(mut state in call_state(), name in "[a-z_]{1,12}", value in hostile_text()) {
        state.set(&name, &value);
        prop_assert!(state.vars[&name].len() <= MAX_VALUE_BYTES);
        prop_assert_eq!(CallState::from_query(&state.to_query()), Ok(state));
    }

    #[test]
    fn any_query_string_is_read_or_refused_without_panic(query in prop_oneof![
        hostile_text(),
        (call_state(), hostile_text()).prop_map(|(s, tail)| format!("{}&{tail}", s.to_query())),
    ]) {
        if let Ok(state) = CallState::from_query(&query) {
            prop_assert!(!state.line.is_empty());
            prop_assert!(state.vars.values().all(|v| v.len() <= MAX_VALUE_BYTES && !v.chars().any(char::is_control)));
        }
    }
}

// --- The webhook -----------------------------------------------------------------------------------------

/// The shipped configuration, with cases from the example file.
struct World {
    config: Arc<Config>,
    cases: Arc<dyn CaseSystem>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| World::for_provider(ProviderKind::Twilio));

/// The same world for each provider, in the order of `ProviderKind::ALL`.
static PROVIDER_WORLDS: LazyLock<Vec<World>> =
    LazyLock::new(|| ProviderKind::ALL.into_iter().map(World::for_provider).collect());

/// The seed of the key the properties sign Telnyx webhooks with.
const TELNYX_SEED: [u8; 32] = [7; 32];

fn telnyx_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED)
}

fn provider() -> impl Strategy<Value = usize> {
    0..ProviderKind::ALL.len()
}

impl World {
    fn for_provider(kind: ProviderKind) -> World {
        use base64::Engine;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let public_key = base64::engine::general_purpose::STANDARD.encode(telnyx_key().verifying_key().as_bytes());
        let voice = if kind == ProviderKind::Plivo {
            "WOMAN"
        } else {
            "Polly.Joanna"
        };
        let mut env: Vec<(String, String)> = [
            ("AFTERHOURS_SERVER__PUBLIC_URL", PUBLIC_URL),
            ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
            ("AFTERHOURS_PROVIDER__KIND", kind.name()),
            ("AFTERHOURS_PROVIDER__VOICE", voice),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if kind == ProviderKind::Telnyx {
            env.push(("AFTERHOURS_PROVIDER__PUBLIC_KEY".into(), public_key));
        }
        let config = Arc::new(Config::load_with_env(&root.join("config/afterhours.toml"), &env).unwrap());
        let settings = config.settings.cases.clone().unwrap();
        let cases = FileCases::load(
            &root.join("config/cases.example.json"),
            settings.fields,
            settings.values,
        )
        .unwrap();
        World {
            config,
            cases: Arc::new(cases),
        }
    }
}

/// A runtime per case: dropping it ends what an answer left in the background (a call's record is closed
/// 5 minutes after the hang-up).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl World {
    /// A fresh application (its own embedded store: no rate limit or call record left by an earlier case)
    /// at Tuesday 10:00 (business hours) or Friday 20:00 (after hours) in New York.
    fn state(&self, daytime: bool) -> AppState {
        let at = if daytime {
            "2026-11-24T10:00:00-05:00"
        } else {
            "2026-11-27T20:00:00-05:00"
        };
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at).unwrap().into();
        let store = afterhours::assembly::store_for(&self.config).unwrap();
        AppState::with(
            self.config.clone(),
            Arc::new(FixedClock(at)),
            Some(self.cases.clone()),
            store,
        )
    }
}

fn step_name() -> impl Strategy<Value = String> {
    let names: Vec<String> = Flow::parse(flow_path(), SHIPPED_FLOW)
        .map(|f| f.steps.into_keys().collect())
        .unwrap_or_default();
    prop_oneof![6 => prop::sample::select(names), 1 => hostile_text()]
}

/// Which webhook: a new call, a step with an event it takes, any step, or any path at all.
fn webhook_route() -> impl Strategy<Value = Option<(String, Option<String>)>> {
    let events = prop::sample::select(vec![
        ("case_number", "digits"),
        ("bridge", "dialed"),
        ("bridge", "whisper"),
        ("bridge", "accept"),
        ("voicemail", "recorded"),
    ]);
    let any_event = prop_oneof![
        Just(None),
        prop::sample::select(vec!["digits", "dialed", "whisper", "accept", "recorded"])
            .prop_map(|e| Some(e.to_owned())),
        hostile_text().prop_map(Some),
    ];
    prop_oneof![
        3 => Just(None),
        6 => events.prop_map(|(step, event)| Some((step.to_owned(), Some(event.to_owned())))),
        2 => step_name().prop_map(|step| Some((step, None))),
        1 => (step_name(), any_event).prop_map(Some),
    ]
}

/// A query as our URLs carry it (line, attempts, the variables steps store), or anything else.
fn webhook_query() -> impl Strategy<Value = String> {
    let value = |choices: Vec<&'static str>| prop_oneof![3 => prop::sample::select(choices).prop_map(str::to_owned), 1 => carried_value()];
    let vars = (
        prop::option::of(value(vec!["123456", "222222", "333333", "444444", "999999", "1"])),
        prop::option::of(value(vec!["ACME Corp", "\u{ffff}", "<b>&</b>"])),
        prop::option::of(value(vec!["verified", "unverified", "not_found", "closed"])),
        prop::option::of(value(vec!["alice", "bob", "carol", "dave", "nobody"])),
        prop::option::of(value(vec!["alice", "alice, bob"])),
    );
    let structured = (
        prop_oneof![4 => prop::sample::select(vec!["us", "uk"]).prop_map(str::to_owned), 1 => hostile_text()],
        prop::collection::btree_map(step_name(), 0..12u32, 0..3),
        vars,
        prop::option::of(hostile_text()),
    )
        .prop_map(
            |(line, attempts, (case, customer, decision, engineer, dialled), tail)| {
                let mut state = CallState {
                    line,
                    attempts,
                    vars: BTreeMap::new(),
                };
                let named = [
                    ("case_number", &case),
                    ("case", &case),
                    ("customer", &customer),
                    ("decision", &decision),
                    ("engineer", &engineer),
                    ("dialled", &dialled),
                ];
                for (name, value) in named {
                    if let Some(value) = value {
                        state.vars.insert(name.to_owned(), value.clone());
                    }
                }
                match tail {
                    Some(tail) => format!("{}&{tail}", state.to_query()),
                    None => state.to_query(),
                }
            },
        );
    prop_oneof![8 => structured, 1 => hostile_text()]
}

/// The fields of a webhook: those Twilio sends (present or not, plausible or not), and anything else.
fn webhook_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let field = |name: &'static str, plausible: Vec<&'static str>| {
        let present = if matches!(name, "To" | "From") { 0.95 } else { 0.8 };
        prop::option::weighted(
            present,
            prop_oneof![
                4 => prop::sample::select(plausible).prop_map(str::to_owned),
                1 => hostile_text(),
            ]
            .prop_map(move |v| (name.to_owned(), v)),
        )
    };
    (
        (
            field("CallSid", vec!["CA0123456789abcdef0123456789abcdef"]),
            field("To", vec![US_LINE, UK_LINE, "+15550000000", " +18005550100 "]),
            field("From", vec![CALLER, "+15559999999", "anonymous"]),
            field(
                "Digits",
                vec!["123456#", "123456", "1", "12", "#", "*", "1234567890123456789", "2"],
            ),
            field(
                "DialCallStatus",
                vec!["completed", "no-answer", "busy", "failed", "canceled"],
            ),
            field("ParentCallSid", vec!["CA0123456789abcdef0123456789abcdef", ""]),
            field("RecordingUrl", vec!["https://api.twilio.com/rec/RE1", ""]),
            field("RecordingDuration", vec!["12", "0", "-1"]),
        ),
        pairs(),
    )
        .prop_map(|((a, b, c, d, e, f, g, h), extra)| {
            [a, b, c, d, e, f, g, h].into_iter().flatten().chain(extra).collect()
        })
}

/// The fields of a Plivo webhook (present or not, plausible or not), some of Twilio's, and anything else.
fn plivo_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let field = |name: &'static str, plausible: Vec<&'static str>| {
        prop::option::weighted(
            0.7,
            prop_oneof![
                4 => prop::sample::select(plausible).prop_map(str::to_owned),
                1 => hostile_text(),
            ]
            .prop_map(move |v| (name.to_owned(), v)),
        )
    };
    (
        (
            field("CallUUID", vec!["9d9a1f1e-1a5f-11ef-9a0e-0242ac120002"]),
            field("To", vec!["18005550100", "442079460000", "+18005550100", "sip:a@b"]),
            field("From", vec!["15551234567", "anonymous", ""]),
            field("DialStatus", vec!["completed", "timeout", "busy", "failed", "cancel"]),
            field("DialAction", vec!["answer", "hangup", "digits"]),
            field("DialBLegTo", vec!["15550100002", "15550100003", "+15550100001", ""]),
            field("ALegUUID", vec!["9d9a1f1e-1a5f-11ef-9a0e-0242ac120002", ""]),
            field("RecordUrl", vec!["https://media.plivo.com/r/1.mp3", ""]),
        ),
        webhook_params(),
    )
        .prop_map(|((a, b, c, d, e, f, g, h), twilio)| {
            [a, b, c, d, e, f, g, h].into_iter().flatten().chain(twilio).collect()
        })
}

/// What each provider's answers may hold: the verbs that do something, and the attributes that carry URLs.
fn vocabulary(kind: ProviderKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ProviderKind::Plivo => (
            &["Speak", "GetDigits", "Dial", "Record", "Redirect", "Hangup"],
            &["action", "confirmSound", "callbackUrl"],
        ),
        _ => (VERBS, &["action", "url"]),
    }
}

const VERBS: &[&str] = &["Say", "Gather", "Dial", "Record", "Redirect", "Hangup"];

/// An answer to a call is well-formed TwiML that does something, and sends the provider only to us.
fn check_answer(xml: &str) -> Result<(), TestCaseError> {
    check_answer_of(ProviderKind::Twilio, xml)
}

/// An answer to a call is a well-formed document in `kind`'s voice XML that does something, and sends the
/// provider only to us.
fn check_answer_of(kind: ProviderKind, xml: &str) -> Result<(), TestCaseError> {
    let (verbs, url_attributes) = vocabulary(kind);
    let document = parse_document(xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
    prop_assert_eq!(&document.name, "Response");
    let elements = document.walk();
    prop_assert!(
        elements.iter().any(|e| verbs.contains(&e.name.as_str())),
        "an answer with no verb: {}",
        xml
    );
    for element in elements {
        let urls = url_attributes.iter().filter_map(|a| element.attributes.get(*a));
        let redirect = (element.name == "Redirect").then(|| element.text());
        for url in urls.chain(redirect.as_ref()) {
            prop_assert!(
                url.starts_with(&format!("{PUBLIC_URL}/voice/")),
                "URL {:?} in {}",
                url,
                xml
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn every_webhook_answer_is_twiml_that_does_something(
        daytime in any::<bool>(),
        route in webhook_route(),
        query in webhook_query(),
        params in webhook_params(),
    ) {
        let world = &*WORLD;
        let state = world.state(daytime);
        let route = match &route {
            None => Route::Incoming,
            Some((step, event)) => Route::Step { step, event: event.as_deref() },
        };
        let answer = runtime().block_on(voice::answer(&state, route, &query, Arc::new(params.clone())));
        check_answer(&answer.response.to_xml())?;
    }

    #[test]
    fn a_body_signed_over_its_fields_passes_the_webhook_check(params in pairs(), garbage in prop::collection::vec(any::<u8>(), 0..64)) {
        // The body as sent, then raw bytes: whatever it holds, the middleware must read the fields Twilio signed.
        let mut body = encode_form(&params).into_bytes();
        if !garbage.is_empty() {
            body.push(b'&');
            body.extend(&garbage);
        }
        let signed = parse_form(&body);
        let path = "/voice/incoming";
        let right = signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}{path}"), &signed);
        let world = &*WORLD;
        for (signature, status) in [(Some(right.as_str()), 200), (Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 403), (None, 403)] {
            let mut request = axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
            if let Some(signature) = signature {
                request = request.header(signature::HEADER, signature);
            }
            let request = request.body(Body::from(body.clone())).unwrap();
            let runtime = runtime();
            let response = runtime.block_on(router(world.state(false)).oneshot(request)).unwrap();
            prop_assert_eq!(response.status().as_u16(), status);
            let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
            if status == 200 {
                check_answer(std::str::from_utf8(&bytes).unwrap())?;
            } else {
                prop_assert!(bytes.is_empty());
            }
        }
    }
}

// --- Every provider's intake -----------------------------------------------------------------------------

/// The headers that sign `body` to `path` as `kind` signs it, with the properties' keys.
fn signed_headers(kind: ProviderKind, path: &str, body: &[u8], at_unix: i64) -> Vec<(&'static str, String)> {
    let key = telnyx_key();
    let signing = match kind {
        ProviderKind::Telnyx => Signing::Ed25519 { key: &key, at_unix },
        _ => Signing::Token {
            token: TOKEN.as_bytes(),
            nonce: "1234567890",
        },
    };
    dialect::sign(kind, &signing, &format!("{PUBLIC_URL}{path}"), body, &parse_form(body))
}

/// Friday 20:00 in New York, when the worlds' clocks stand, in Unix seconds.
fn friday_night_unix() -> i64 {
    DateTime::parse_from_rfc3339("2026-11-27T20:00:00-05:00")
        .unwrap()
        .timestamp()
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn every_providers_webhook_answer_is_its_voice_xml_that_does_something(
        which in provider(),
        daytime in any::<bool>(),
        route in webhook_route(),
        query in webhook_query(),
        twilio in webhook_params(),
        plivo in plivo_params(),
    ) {
        let kind = ProviderKind::ALL[which];
        let state = PROVIDER_WORLDS[which].state(daytime);
        let params = if kind == ProviderKind::Plivo { plivo } else { twilio };
        let webhook = dialect::read(kind, Arc::new(params), &query);
        let route = match &route {
            None => Route::Incoming,
            Some((step, event)) => Route::Step { step, event: event.as_deref() },
        };
        let answer = runtime().block_on(voice::answer(&state, route, &webhook.query, webhook.params));
        check_answer_of(kind, &dialect::render(kind, &answer.response, Document::Call))?;
        // A confirm document is well-formed too (it may be empty: Plivo then plays nothing).
        let confirm = dialect::render(kind, &answer.response, Document::Confirm);
        parse_document(&confirm).map_err(|e| TestCaseError::fail(format!("{e}\n{confirm}")))?;
    }

    #[test]
    fn a_body_signed_as_each_provider_signs_passes_its_check_and_nothing_else_does(
        which in provider(),
        params in pairs(),
        garbage in prop::collection::vec(any::<u8>(), 0..64),
        flip in any::<Index>(),
    ) {
        let kind = ProviderKind::ALL[which];
        let mut body = encode_form(&params).into_bytes();
        if !garbage.is_empty() {
            body.push(b'&');
            body.extend(&garbage);
        }
        let path = "/voice/incoming";
        let now = friday_night_unix();
        let right = signed_headers(kind, path, &body, now);
        // The signature's first header, one byte changed.
        let mut wrong = right.clone();
        let mut bytes = wrong[0].1.clone().into_bytes();
        let at = flip.index(bytes.len());
        bytes[at] ^= 1;
        wrong[0].1 = String::from_utf8_lossy(&bytes).into_owned();
        // Signed too long ago (Telnyx); for the others, the time is no part of the signature.
        let stale = signed_headers(kind, path, &body, now - 301);
        let stale_status = if kind == ProviderKind::Telnyx { 403 } else { 200 };
        for (headers, status) in [(right, 200), (wrong, 403), (stale, stale_status), (Vec::new(), 403)] {
            let mut request = axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
            for (name, value) in &headers {
                let Ok(value) = axum::http::HeaderValue::from_str(value) else { continue };
                request = request.header(*name, value);
            }
            let request = request.body(Body::from(body.clone())).unwrap();
            let runtime = runtime();
            let response = runtime.block_on(router(PROVIDER_WORLDS[which].state(false)).oneshot(request)).unwrap();
            prop_assert_eq!(response.status().as_u16(), status, "{:?} {:?}", kind, headers);
            let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
            if status == 200 {
                check_answer_of(kind, std::str::from_utf8(&bytes).unwrap())?;
            } else {
                prop_assert!(bytes.is_empty());
            }
        }
    }

    #[test]
    fn a_plivo_signature_holds_for_its_request_only(token in token(), url in url(), params in pairs(), nonce in "[0-9]{1,20}") {
        let signature = signature::plivo::compute(&token, &url, &params, &nonce);
        prop_assert!(signature::plivo::is_valid(&token, &url, &params, &nonce, &signature));
        let two = format!("x,{signature}");
        prop_assert!(signature::plivo::is_valid(&token, &url, &params, &nonce, &two));
        let other_nonce = format!("{nonce}0");
        prop_assert!(!signature::plivo::is_valid(&token, &url, &params, &other_nonce, &signature));
        let mut more = params.clone();
        more.push(("Extra".into(), "1".into()));
        prop_assert!(!signature::plivo::is_valid(&token, &url, &more, &nonce, &signature));
    }
}
