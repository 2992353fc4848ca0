//! Spawns the application on port 0 with the shipped configuration and a fixed clock, and plays the
//! provider: signs webhooks as Twilio does (or as SignalWire, Telnyx or Plivo do, with `Spawn::provider`),
//! posts them, and follows the voice XML that comes back.

use std::sync::Arc;

use afterhours::assembly::AppState;
use afterhours::assembly::Config;
use afterhours::clock::FixedClock;
use afterhours::dialect::{self, Signing};
use afterhours::http::server::Application;
use afterhours::settings::ProviderKind;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;

pub const PUBLIC_URL: &str = "https://voice.example.com";
pub const TOKEN: &str = "test-auth-token";
pub const US_LINE: &str = "+18005550100";
pub const UK_LINE: &str = "+442079460000";
pub const CALLER: &str = "+15551234567";
/// The seed of the Ed25519 key the tests sign Telnyx webhooks with.
pub const TELNYX_SEED: [u8; 32] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32,
];
/// The nonce the tests sign Plivo webhooks with.
pub const PLIVO_NONCE: &str = "05429567804466091622";

pub struct TestApp {
    /// Where the webhook listener really listens (http://127.0.0.1:PORT): `/voice/*` and `/healthz`.
    pub address: String,
    /// Where the operators' listener really listens: `/admin/*`, `/metrics`, `/readyz` and `/healthz`.
    pub ops_address: String,
    pub client: reqwest::Client,
    /// Whose webhooks the server takes, and so how the tests sign theirs.
    pub provider: ProviderKind,
    /// The server's clock, in Unix seconds: when Telnyx's webhooks are signed.
    pub at_unix: i64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Builder for a test server: the shipped config plus environment overrides, at a given local time.
pub struct Spawn {
    at: DateTime<Utc>,
    env: Vec<(String, String)>,
    provider: ProviderKind,
}

/// A server whose clock reads `at` (RFC 3339 with offset, e.g. "2026-11-27T20:00:00-05:00").
pub fn at(rfc3339: &str) -> Spawn {
    let at = DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc);
    let nobody = format!("http://{}", closed_port());
    let env = [
        ("AFTERHOURS_SERVER__LISTEN", "127.0.0.1:0"),
        ("AFTERHOURS_SERVER__OPS_LISTEN", "127.0.0.1:0"),
        ("AFTERHOURS_SERVER__PUBLIC_URL", PUBLIC_URL),
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
        // Unless a test names a case system, lookups go to a port where nothing listens.
        ("AFTERHOURS_CASES__BASE_URL", nobody.as_str()),
        ("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20"),
    ];
    Spawn {
        at,
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        provider: ProviderKind::Twilio,
    }
}

/// A loopback address where nothing listens (bound, then released).
pub fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Friday 2026-11-27, 20:00 in New York: after hours.
pub fn friday_night() -> Spawn {
    at("2026-11-27T20:00:00-05:00")
}

/// Tuesday 2026-11-24, 10:00 in New York: business hours.
pub fn tuesday_morning() -> Spawn {
    at("2026-11-24T10:00:00-05:00")
}

impl Spawn {
    /// Another server at the same Friday night.
    pub fn at_same_night() -> Spawn {
        friday_night()
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Takes `kind`'s webhooks (Telnyx's checked with the public key of [`TELNYX_SEED`]).
    pub fn provider(mut self, kind: ProviderKind) -> Self {
        self.provider = kind;
        self = self.env("AFTERHOURS_PROVIDER__KIND", kind.name());
        if kind == ProviderKind::Telnyx {
            use base64::Engine;
            let public = ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED).verifying_key();
            let public = base64::engine::general_purpose::STANDARD.encode(public.as_bytes());
            self = self.env("AFTERHOURS_PROVIDER__PUBLIC_KEY", &public);
        }
        if kind == ProviderKind::Plivo {
            self = self.env("AFTERHOURS_PROVIDER__VOICE", "WOMAN");
        }
        self
    }

    /// Looks cases up at `base_url` (a local fake of the case system).
    pub fn cases(self, base_url: &str) -> Self {
        self.env("AFTERHOURS_CASES__BASE_URL", base_url)
    }

    pub async fn start(self) -> TestApp {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
        let config = Config::load_with_env(&path, &self.env).unwrap_or_else(|e| panic!("config: {e}"));
        let state = AppState::new(Arc::new(config), Arc::new(FixedClock(self.at))).unwrap();
        // As `serve` does: the caches' refreshers, which readiness reports on.
        state.start_background();
        let app = Application::build(state).await.unwrap();
        let address = format!("http://{}", app.local_addr().unwrap());
        let ops_address = format!("http://{}", app.ops_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            ops_address,
            client: reqwest::Client::new(),
            provider: self.provider,
            at_unix: self.at.timestamp(),
            stop: Some(stop),
        }
    }
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The fields Twilio sends on every voice webhook of an inbound call.
pub fn call_fields(from: &str, to: &str) -> Vec<(String, String)> {
    params(&[
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", from),
        ("To", to),
        ("Caller", from),
        ("Called", to),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ])
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn twiml(&self) -> Twiml {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert!(self.content_type.starts_with("text/xml"), "{}", self.content_type);
        Twiml::parse(&self.body)
    }
}

impl TestApp {
    /// The URL of `path_and_query` on the listener that serves it: the operators' listener for `/admin`,
    /// `/dashboard`, `/metrics` and `/readyz`, the webhook listener for the rest.
    pub fn url(&self, path_and_query: &str) -> String {
        let ops = ["/admin", "/dashboard", "/metrics", "/readyz"].iter().any(|prefix| {
            path_and_query
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        });
        let base = if ops { &self.ops_address } else { &self.address };
        format!("{base}{path_and_query}")
    }

    /// Starts a graceful shutdown, as SIGTERM does in `serve`: no new connections, requests in flight finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// POSTs `params` to `path_and_query`, signed as the server's provider signs the public URL (Twilio unless
    /// the server was spawned for another).
    pub async fn post_signed(&self, path_and_query: &str, params: &[(String, String)]) -> Reply {
        let body = form(params);
        let telnyx = ed25519_dalek::SigningKey::from_bytes(&TELNYX_SEED);
        let signing = match self.provider {
            ProviderKind::Telnyx => Signing::Ed25519 {
                key: &telnyx,
                at_unix: self.at_unix,
            },
            _ => Signing::Token {
                token: TOKEN.as_bytes(),
                nonce: PLIVO_NONCE,
            },
        };
        let url = format!("{PUBLIC_URL}{path_and_query}");
        let headers = dialect::sign(self.provider, &signing, &url, body.as_bytes(), params);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_with_headers(path_and_query, &headers, body).await
    }

    /// POSTs a raw body with an optional `X-Twilio-Signature`.
    pub async fn post(&self, path_and_query: &str, signature: Option<&str>, body: String) -> Reply {
        let headers: Vec<(&str, &str)> = signature.map(|s| ("X-Twilio-Signature", s)).into_iter().collect();
        self.post_with_headers(path_and_query, &headers, body).await
    }

    /// POSTs a raw body with `headers`.
    pub async fn post_with_headers(&self, path_and_query: &str, headers: &[(&str, &str)], body: String) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path_and_query}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Reply {
            status,
            content_type,
            body: response.text().await.unwrap(),
        }
    }

    /// A new call from `from` to `to`: the first webhook.
    pub async fn incoming(&self, from: &str, to: &str) -> Twiml {
        self.post_signed("/voice/incoming", &call_fields(from, to))
            .await
            .twiml()
    }

    /// Follows a URL from TwiML (a Gather action or a Redirect), with extra fields such as `Digits`.
    pub async fn follow(&self, url: &str, extra: &[(&str, &str)]) -> Twiml {
        let path = url
            .strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"));
        let mut fields = call_fields(CALLER, US_LINE);
        fields.extend(params(extra));
        self.post_signed(path, &fields).await.twiml()
    }
}

pub fn form(params: &[(String, String)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

/// What a TwiML document asks of the provider, as a test reads it.
#[derive(Debug, Default, Clone)]
pub struct Twiml {
    pub xml: String,
    /// Every `<Say>` text, in order (inside a Gather too).
    pub says: Vec<String>,
    /// `(voice, language)` of every Say.
    pub voices: Vec<(String, String)>,
    pub gather_action: Option<String>,
    pub gather_finish_on_key: Option<String>,
    pub redirect: Option<String>,
    pub hangup: bool,
    /// `<Dial>`: its action, callerId and timeout, and each `<Number>` as (phone, whisper url).
    pub dial_action: Option<String>,
    pub dial_caller_id: Option<String>,
    pub dial_timeout: Option<String>,
    pub dial_numbers: Vec<(String, String)>,
    /// `<Record action>`.
    pub record_action: Option<String>,
    /// Plivo's `<Dial confirmSound confirmKey callbackUrl>`.
    pub dial_confirm_sound: Option<String>,
    pub dial_confirm_key: Option<String>,
    pub dial_callback_url: Option<String>,
    /// Every element, in document order, with the names of its attributes.
    pub elements: Vec<(String, Vec<String>)>,
}

impl Twiml {
    pub fn parse(xml: &str) -> Twiml {
        let mut twiml = Twiml {
            xml: xml.to_owned(),
            ..Twiml::default()
        };
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut in_say = false;
        let mut in_redirect = false;
        let mut in_number = false;
        let mut root_seen = false;
        loop {
            match reader
                .read_event()
                .unwrap_or_else(|e| panic!("invalid XML ({e}): {xml}"))
            {
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |name: &str| {
                        e.try_get_attribute(name).unwrap().map(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .unwrap()
                                .into_owned()
                        })
                    };
                    let qname = e.name();
                    let name: &str = qname.as_ref();
                    let name = name.to_owned();
                    let attributes = e
                        .attributes()
                        .map(|a| {
                            let attribute = a.unwrap();
                            let key: &str = attribute.key.as_ref();
                            key.to_owned()
                        })
                        .collect();
                    twiml.elements.push((name, attributes));
                    match e.name().as_ref() {
                        "Response" => root_seen = true,
                        // Plivo's `<Speak>` and `<GetDigits>` read as TwiML's `<Say>` and `<Gather>`.
                        "Say" | "Speak" => {
                            in_say = true;
                            twiml.says.push(String::new());
                            twiml
                                .voices
                                .push((attr("voice").unwrap_or_default(), attr("language").unwrap_or_default()));
                        }
                        "Gather" | "GetDigits" => {
                            twiml.gather_action = attr("action");
                            twiml.gather_finish_on_key = attr("finishOnKey");
                        }
                        "Redirect" => {
                            in_redirect = true;
                            twiml.redirect = Some(String::new());
                        }
                        "Hangup" => twiml.hangup = true,
                        "Dial" => {
                            twiml.dial_action = attr("action");
                            twiml.dial_caller_id = attr("callerId");
                            twiml.dial_timeout = attr("timeout");
                            twiml.dial_confirm_sound = attr("confirmSound");
                            twiml.dial_confirm_key = attr("confirmKey");
                            twiml.dial_callback_url = attr("callbackUrl");
                        }
                        "Number" => {
                            in_number = true;
                            twiml
                                .dial_numbers
                                .push((String::new(), attr("url").unwrap_or_default()));
                        }
                        "Record" => twiml.record_action = attr("action"),
                        _ => {}
                    }
                }
                Event::Text(t) => {
                    let text = t.xml10_content().into_owned();
                    if in_say {
                        twiml.says.last_mut().unwrap().push_str(&text);
                    } else if in_redirect {
                        twiml.redirect.as_mut().unwrap().push_str(&text);
                    } else if in_number {
                        twiml.dial_numbers.last_mut().unwrap().0.push_str(&text);
                    }
                }
                Event::GeneralRef(r) => {
                    // quick-xml reports entities apart; put them back into the text being read.
                    let name: &str = r.as_ref();
                    let decoded = match name {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    };
                    if in_say {
                        twiml.says.last_mut().unwrap().push_str(decoded);
                    } else if in_redirect {
                        twiml.redirect.as_mut().unwrap().push_str(decoded);
                    }
                }
                Event::End(e) => match e.name().as_ref() {
                    "Say" | "Speak" => in_say = false,
                    "Redirect" => in_redirect = false,
                    "Number" => in_number = false,
                    _ => {}
                },
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(root_seen, "no <Response>: {xml}");
        twiml
    }

    pub fn said(&self) -> String {
        self.says.join(" ")
    }

    pub fn says_contains(&self, needle: &str) -> bool {
        self.says.iter().any(|s| s.contains(needle))
    }

    pub fn action(&self) -> &str {
        self.gather_action
            .as_deref()
            .unwrap_or_else(|| panic!("no <Gather>: {}", self.xml))
    }
}

/// A redis-server that the test starts, kills and starts again on the same port. It keeps its data in an
/// append-only file, as a production Redis should, so that a restart loses nothing.
pub struct OwnRedis {
    address: std::net::SocketAddr,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> OwnRedis {
        let address = closed_port();
        let dir = std::env::temp_dir().join(format!("afterhours-outage-{}-{}", std::process::id(), address.port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = OwnRedis {
            address,
            dir,
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    /// Starts (again) on the same port, and waits until it answers.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.address.port().to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed: run the tests with ./scripts/test");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(self.address).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start on {}", self.address);
    }

    /// Kills it, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asks `/readyz` until `done` holds of its body (the on-call refresher reads every 5 s: 15 s at most), and
/// returns that body. Every answer on the way is 200: a replica that can still bridge stays in rotation.
pub async fn readyz_until(app: &TestApp, done: impl Fn(&str) -> bool) -> String {
    let mut body = String::new();
    for _ in 0..150 {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "a replica that can still bridge stays in rotation"
        );
        body = response.text().await.unwrap();
        if done(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("readyz never said what was expected: {body}");
}

/// Case 123456 as a case system in the generic HTTP/JSON format keeps it: critical, production, open, ACME
/// Corp, with `CALLER` a registered contact; `extra` fields are added or replace these (`json!({})` for none).
pub fn acme_case_123456(extra: serde_json::Value) -> serde_json::Value {
    let mut case = serde_json::json!({
        "id": "123456",
        "severity": "critical",
        "environment": "production",
        "status": "open",
        "customer": "ACME Corp",
        "contact_phones": [CALLER],
    });
    if let (Some(case), Some(extra)) = (case.as_object_mut(), extra.as_object()) {
        case.extend(extra.clone());
    }
    case
}

/// A local fake of the generic HTTP/JSON case system that answers `GET /cases/{id}` for each of `cases` and
/// takes every note (`POST /cases/{id}/notes`).
pub async fn case_system_knowing(cases: &[(&str, serde_json::Value)]) -> wiremock::MockServer {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    for (id, case) in cases {
        Mock::given(method("GET"))
            .and(path(format!("/cases/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(case))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path_regex(r"^/cases/[0-9]+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": "n-1"})))
        .mount(&server)
        .await;
    server
}

/// The redis-server that `./scripts/test` started for the tests.
pub fn redis_url() -> String {
    std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server")
}
