//! The webhook entry, whole: one POST through the application's router (body limit, signature check, form
//! parsing, the flow), on the shipped configuration with cases from `config/cases.example.json`.
//!
//! Input, as text so that seeds are easy to write (`fuzz/seed` writes some):
//!
//! ```text
//! /voice/step/case_number/digits?line=us&n.case_number=1     <- path and query
//! !                                                          <- signature: `!` signs right (`!day`: and it is
//! CallSid=CA1&From=%2B15551234567&To=%2B18005550100&Digits=1  <- body       10:00, not 20:00), else sent as is
//! ```
//!
//! Crashes: any panic (a handler's too, though the server catches them), an unsigned `/voice/` request that
//! is answered (2xx), or an answer that is not well-formed TwiML.

#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use afterhours::cases::CaseSystem;
use afterhours::cases::file::FileCases;
use afterhours::clock::FixedClock;
use afterhours::assembly::Config;
use afterhours::assembly::{AppState, store_for};
use afterhours::http::server::router;
use afterhours::signature;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Uri};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://voice.example.com";
const TOKEN: &str = "fuzz-auth-token";

struct World {
    config: Arc<Config>,
    cases: Arc<dyn CaseSystem>,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let env: Vec<(String, String)> = [
        ("AFTERHOURS_SERVER__PUBLIC_URL", PUBLIC_URL),
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
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
});

/// A fresh application for every input (its own embedded store), so that an input always does the same.
fn state(daytime: bool) -> AppState {
    let at = if daytime {
        "2026-11-24T10:00:00-05:00"
    } else {
        "2026-11-27T20:00:00-05:00"
    };
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at).expect("a date").into();
    let store = store_for(&WORLD.config).expect("the embedded store");
    AppState::with(
        WORLD.config.clone(),
        Arc::new(FixedClock(at)),
        Some(WORLD.cases.clone()),
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
    let daytime = signature_line == b"!day";
    let url = format!("{PUBLIC_URL}{target}");
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let signature = match signature_line {
        b"" => None,
        b"!" | b"!day" => {
            let signed = signature::compute(TOKEN.as_bytes(), &url, &params);
            Some(HeaderValue::from_str(&signed).expect("base64 is a header value"))
        }
        other => match HeaderValue::from_bytes(other) {
            Ok(value) => Some(value),
            Err(_) => return,
        },
    };
    let signed_right = signature
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| signature::is_valid(TOKEN.as_bytes(), &url, &params, given));
    let voice_path = uri.path().starts_with("/voice/");
    let mut request = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(signature) = signature {
        request = request.header(signature::HEADER, signature);
    }
    let request = request.body(Body::from(body)).expect("a request");

    // A runtime per input too: dropping it ends what the answer left in the background (a call's record is
    // closed 5 minutes after the hang-up), which would otherwise pile up, one store each, run after run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (status, content_type, bytes) = runtime.block_on(async {
        let response = router(state(daytime))
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
        let xml = std::str::from_utf8(&bytes).expect("TwiML is UTF-8");
        if let Err(error) = check_twiml(xml) {
            panic!("ill-formed TwiML ({error}) for {target}: {xml}");
        }
    }
});
