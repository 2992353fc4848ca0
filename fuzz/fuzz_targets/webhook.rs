//! The webhook entry, whole: one POST through the application's router (body limit, signature check, form
//! parsing in the provider's dialect, the flow), on the shipped configuration with cases from
//! `config/cases.example.json`, as Twilio, SignalWire, Telnyx or Plivo.
//!
//! Input, as text so that seeds are easy to write (`fuzz/seed` writes some):
//!
//! ```text
//! /voice/step/case_number/digits?line=us&n.case_number=1     <- path and query
//! !                                                          <- signature: `!` signs right as Twilio
//! CallSid=CA1&From=%2B15551234567&To=%2B18005550100&Digits=1  <- body
//! ```
//!
//! The signature line: `!` signs right as Twilio, `!signalwire`, `!telnyx`, `!plivo` as that provider (to a
//! server that takes that provider's webhooks); ` day` after any of them makes it 10:00, not 20:00. Anything
//! else is sent as it is, as `X-Twilio-Signature`, to a Twilio server.
//!
//! Crashes: any panic (a handler's too, though the server catches them), an unsigned `/voice/` request that
//! is answered (2xx), or an answer that is not a well-formed voice XML document.

#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use afterhours::cases::CaseSystem;
use afterhours::cases::file::FileCases;
use afterhours::clock::FixedClock;
use afterhours::assembly::Config;
use afterhours::assembly::{AppState, store_for};
use afterhours::dialect::{self, Signing};
use afterhours::http::server::router;
use afterhours::settings::ProviderKind;
use afterhours::signature;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Uri};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://voice.example.com";
const TOKEN: &str = "fuzz-auth-token";

/// The seed of the key Telnyx's webhooks are signed with.
const TELNYX_SEED: [u8; 32] = [9; 32];

struct World {
    config: Arc<Config>,
    cases: Arc<dyn CaseSystem>,
}

/// A world per provider, in the order of `ProviderKind::ALL`.
static WORLDS: LazyLock<Vec<World>> = LazyLock::new(|| ProviderKind::ALL.into_iter().map(world).collect());

fn world(kind: ProviderKind) -> World {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let public_key = {
        let key = dialect::signing_key(&TELNYX_SEED).verifying_key();
        base64_of(key.as_bytes())
    };
    let voice = if kind == ProviderKind::Plivo { "WOMAN" } else { "Polly.Joanna" };
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
    let config = Config::load_with_env(&root.join("config/afterhours.toml"), &env)
        .unwrap_or_else(|e| panic!("the shipped configuration does not load: {e}"));
    let settings = config
        .settings
        .cases
        .clone()
        .expect("the shipped configuration names a case system");
    let cases = FileCases::load(
        &root.join("config/cases.example.json"),
        settings.fields,
        settings.values,
    )
    .expect("config/cases.example.json loads");
    World {
        config: Arc::new(config),
        cases: Arc::new(cases),
    }
}

/// Standard base64, padded (the fuzz crate keeps its dependencies few).
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A fresh application for every input (its own embedded store), so that an input always does the same.
fn state(world: &World, daytime: bool) -> AppState {
    let at = if daytime {
        "2026-11-24T10:00:00-05:00"
    } else {
        "2026-11-27T20:00:00-05:00"
    };
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at).expect("a date").into();
    let store = store_for(&world.config).expect("the embedded store");
    AppState::with(
        world.config.clone(),
        Arc::new(FixedClock(at)),
        Some(world.cases.clone()),
        store,
    )
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// A well-formed document whose root is `<Response>`, or why not.
fn check_twiml(xml: &str) -> Result<(), String> {
    if let Some(c) = xml.chars().find(|c| !is_xml_char(*c)) {
        return Err(format!("character {c:?} is not allowed in XML 1.0"));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut roots = Vec::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                if depth == 0 {
                    roots.push(e.name().as_ref().to_owned());
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 0 => roots.push(e.name().as_ref().to_owned()),
            Event::End(_) => depth = depth.checked_sub(1).ok_or("an end tag without a start")?,
            Event::Text(t) if t.contains("]]>") => return Err("']]>' in text".into()),
            Event::GeneralRef(r) if r.is_char_ref() => match r.resolve_char_ref() {
                Ok(Some(c)) if is_xml_char(c) => {}
                other => return Err(format!("bad character reference: {other:?}")),
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || roots != ["Response"] {
        return Err(format!("roots {roots:?}, {depth} element(s) left open"));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |b| *b == b'\n');
    let (Some(target), Some(signature_line)) = (lines.next(), lines.next()) else {
        return;
    };
    let body = lines.next().unwrap_or_default().to_vec();
    // Only what an HTTP server would hand the router at all.
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    if !target.starts_with('/') {
        return;
    }
    // `!PROVIDER[ day]` signs right as that provider; anything else is a raw Twilio signature.
    let signed_as = signature_line.strip_prefix(b"!").and_then(|rest| {
        let rest = std::str::from_utf8(rest).ok()?;
        let (name, daytime) = match rest.strip_suffix("day") {
            Some(name) => (name.trim_end(), true),
            None => (rest, false),
        };
        let kind = if name.is_empty() { Some(ProviderKind::Twilio) } else { ProviderKind::parse(name) }?;
        Some((kind, daytime))
    });
    let (kind, daytime) = signed_as.unwrap_or((ProviderKind::Twilio, false));
    let url = format!("{PUBLIC_URL}{target}");
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(if daytime {
        "2026-11-24T10:00:00-05:00"
    } else {
        "2026-11-27T20:00:00-05:00"
    })
    .expect("a date")
    .into();
    let mut headers: Vec<(&'static str, HeaderValue)> = Vec::new();
    match (signed_as, signature_line) {
        (Some(_), _) => {
            let key = dialect::signing_key(&TELNYX_SEED);
            let signing = match kind {
                ProviderKind::Telnyx => Signing::Ed25519 {
                    key: &key,
                    at_unix: at.timestamp(),
                },
                _ => Signing::Token {
                    token: TOKEN.as_bytes(),
                    nonce: "42",
                },
            };
            for (name, value) in dialect::sign(kind, &signing, &url, &body, &params) {
                headers.push((name, HeaderValue::from_str(&value).expect("a signature is a header value")));
            }
        }
        (None, b"") => {}
        (None, other) => match HeaderValue::from_bytes(other) {
            Ok(value) => headers.push((signature::HEADER, value)),
            Err(_) => return,
        },
    }
    let signed_right = signed_as.is_some()
        || headers
            .first()
            .and_then(|(_, v)| v.to_str().ok())
            .is_some_and(|given| signature::is_valid(TOKEN.as_bytes(), &url, &params, given));
    let voice_path = uri.path().starts_with("/voice/");
    let mut request = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(body)).expect("a request");

    // A runtime per input too: dropping it ends what the answer left in the background (a call's record is
    // closed 5 minutes after the hang-up), which would otherwise pile up, one store each, run after run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (status, content_type, bytes) = runtime.block_on(async {
        let world = &WORLDS[ProviderKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)];
        let response = router(state(world, daytime))
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body");
        (status, content_type, bytes)
    });

    if voice_path && !signed_right {
        // Nothing is interpreted before the signature holds: 403, 413, or a 404 for a path no route serves.
        assert!(
            !(200..300).contains(&status),
            "an unsigned webhook was answered {status}: {target}"
        );
    }
    if status == 200 && content_type.starts_with("text/xml") {
        let xml = std::str::from_utf8(&bytes).expect("voice XML is UTF-8");
        if let Err(error) = check_twiml(xml) {
            panic!("ill-formed {} XML ({error}) for {target}: {xml}", kind.name());
        }
    }
});
