//! Status announcements: a local server answers as an Atlassian Statuspage does
//! (`GET /api/v2/summary.json`), the copy is refreshed as `serve` does it (or one refresh at a time, with a
//! chosen fetch time), and a night call on the US line hears what is going on before the case-number
//! prompt (an incident, or components out of service without one), or nothing when the page is slow,
//! broken, or the copy is stale.
//!
//! These tests build the application themselves (not through `helpers::Spawn`): they need its state, to
//! reach the status cache and start the refresher that only `serve` starts.

use std::sync::Arc;
use std::time::Duration;

use afterhours::assembly::AppState;
use afterhours::assembly::Config;
use afterhours::clock::FixedClock;
use afterhours::flow::engine::{self, CallInput, Ctx, Entry, Services, Trace};
use afterhours::flow::state::CallState;
use afterhours::http::server::Application;
use afterhours::signature;
use afterhours::status::{self, Announcement, Fetcher, StatusCache, StatusError};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{CALLER, PUBLIC_URL, TOKEN, Twiml, US_LINE, call_fields, form};

const SUMMARY_PATH: &str = "/api/v2/summary.json";
const NIGHT: &str = "2026-11-27T20:00:00-05:00";
const GREETING: &str = "Thank you for calling North America critical incident support.";
const INTRO: &str = "Before you enter your case number, a note on our service status.";
const CASE_PROMPT: &str =
    "If your production system is down, please enter your case number, followed by the pound key.";
/// What the shipped flow says about components out of service without an incident, before their names.
const OUTAGE: &str = "Our status page shows a service disruption affecting";
/// What the caller hears about [`login_incident`].
const LOGIN_ANNOUNCEMENT: &str = "We are aware of a major incident affecting Login and API: Elevated error rates. \
    The cause has been identified: A fix is being deployed.";

fn night() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NIGHT).unwrap().with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------------------------
// The status page

/// A `summary.json` as Statuspage serves it.
fn summary(incidents: Value, maintenances: Value) -> Value {
    json!({
        "page": {
            "id": "kctbh9vrtdwd",
            "name": "Example Cloud",
            "url": "https://status.example.com",
            "time_zone": "America/New_York",
            "updated_at": "2026-11-27T19:52:13.021-05:00"
        },
        "status": {"indicator": "major", "description": "Partial System Outage"},
        "components": [
            {"id": "c1", "name": "Login", "status": "major_outage", "created_at": "2024-01-10T10:00:00.000-05:00",
             "updated_at": "2026-11-27T19:31:00.000-05:00", "position": 1, "description": null, "showcase": true,
             "start_date": null, "group_id": null, "page_id": "kctbh9vrtdwd", "group": false, "only_show_if_degraded": false},
            {"id": "c2", "name": "API", "status": "partial_outage", "created_at": "2024-01-10T10:00:00.000-05:00",
             "updated_at": "2026-11-27T19:31:00.000-05:00", "position": 2, "description": null, "showcase": true,
             "start_date": null, "group_id": null, "page_id": "kctbh9vrtdwd", "group": false, "only_show_if_degraded": false}
        ],
        "incidents": incidents,
        "scheduled_maintenances": maintenances
    })
}

/// The summary with every component operational and the indicator at `none`.
fn all_operational(mut summary: Value) -> Value {
    summary["status"] = json!({"indicator": "none", "description": "All Systems Operational"});
    for component in summary["components"].as_array_mut().unwrap() {
        component["status"] = json!("operational");
    }
    summary
}

/// A component as the summary lists it; `group_id` names its group, `members` a group's components.
fn component(id: &str, name: &str, status: &str, position: u32, group_id: Option<&str>, members: &[&str]) -> Value {
    json!({
        "id": id, "name": name, "status": status, "created_at": "2024-01-10T10:00:00.000-05:00",
        "updated_at": "2026-11-27T19:31:00.000-05:00", "position": position, "description": null,
        "showcase": true, "start_date": null, "group_id": group_id, "page_id": "kctbh9vrtdwd",
        "group": !members.is_empty(), "only_show_if_degraded": false,
        "components": if members.is_empty() { Value::Null } else { json!(members) }
    })
}

fn update(status: &str, body: &str, created_at: &str) -> Value {
    json!({
        "id": format!("u-{created_at}"),
        "status": status,
        "body": body,
        "incident_id": "p31zjtct2jer",
        "created_at": created_at,
        "updated_at": created_at,
        "display_at": created_at,
        "affected_components": null,
        "deliver_notifications": true,
        "custom_tweet": null,
        "tweet_id": null
    })
}

fn incident(name: &str, status: &str, impact: &str, updates: Value) -> Value {
    json!({
        "id": "p31zjtct2jer",
        "name": name,
        "status": status,
        "impact": impact,
        "created_at": "2026-11-27T19:02:00.000-05:00",
        "updated_at": "2026-11-27T19:31:00.000-05:00",
        "monitoring_at": null,
        "resolved_at": null,
        "shortlink": "http://stspg.io/p31zjtct2jer",
        "started_at": "2026-11-27T19:02:00.000-05:00",
        "page_id": "kctbh9vrtdwd",
        "incident_updates": updates,
        "components": [
            {"id": "c1", "name": "Login", "status": "major_outage", "page_id": "kctbh9vrtdwd"},
            {"id": "c2", "name": "API", "status": "partial_outage", "page_id": "kctbh9vrtdwd"}
        ]
    })
}

/// A major incident on Login and API, its latest update "identified" (listed first, as Statuspage does).
fn login_incident() -> Value {
    incident(
        "Elevated error rates",
        "identified",
        "major",
        json!([
            update(
                "identified",
                "A fix is being deployed. We will post again within 30 minutes.",
                "2026-11-27T19:31:00.000-05:00"
            ),
            update(
                "investigating",
                "We are investigating elevated error rates on login.",
                "2026-11-27T19:02:00.000-05:00"
            ),
        ]),
    )
}

/// A status page that answers every summary request with `reply`.
async fn status_page(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SUMMARY_PATH))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

fn json_reply(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn requests_to(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

// ---------------------------------------------------------------------------------------------------------
// The application

struct App {
    address: String,
    client: reqwest::Client,
    state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The state for the shipped configuration at Friday night, with `[status_page]` from `status_env`
/// (`("URL", ...)` sets `AFTERHOURS_STATUS_PAGE__URL`); none when `status_env` is empty.
fn state(status_env: &[(&str, &str)]) -> AppState {
    let mut env: Vec<(String, String)> = [
        ("AFTERHOURS_SERVER__LISTEN", "127.0.0.1:0"),
        ("AFTERHOURS_SERVER__OPS_LISTEN", "127.0.0.1:0"),
        ("AFTERHOURS_SERVER__PUBLIC_URL", PUBLIC_URL),
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (key, value) in status_env {
        env.push((format!("AFTERHOURS_STATUS_PAGE__{key}"), value.to_string()));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let config = Config::load_with_env(&path, &env).unwrap_or_else(|e| panic!("config: {e}"));
    AppState::new(Arc::new(config), Arc::new(FixedClock(night()))).unwrap()
}

/// The state with the status page at `server`, plus `extra` settings.
fn state_for(server: &MockServer, extra: &[(&str, &str)]) -> AppState {
    let url = format!("{}{SUMMARY_PATH}", server.uri());
    let mut env = vec![("URL", url.as_str())];
    env.extend_from_slice(extra);
    state(&env)
}

fn cache(state: &AppState) -> StatusCache {
    state.services.status.clone().expect("a status cache")
}

fn fetcher(state: &AppState) -> Fetcher {
    Fetcher::new(state.config.settings.status_page.as_ref().unwrap()).unwrap()
}

/// One refresh whose answer counts as fetched at `at`.
async fn refresh_at(state: &AppState, at: DateTime<Utc>) -> Result<Option<Announcement>, StatusError> {
    status::refresh(&fetcher(state), &cache(state), &FixedClock(at)).await
}

/// Starts the refresher for the state's `[status_page]`, as `serve` does.
fn start_refresher(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    status::start_refresher(
        state.config.settings.status_page.as_ref(),
        state.services.status.clone(),
        state.clock.clone(),
    )
}

async fn serve(state: AppState) -> App {
    let app = Application::build(state.clone()).await.unwrap();
    let address = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    App {
        address,
        client: reqwest::Client::new(),
        state,
        _stop: stop,
    }
}

impl App {
    /// A new call to the US line, signed as the provider signs it: what the caller hears first.
    async fn night_call(&self) -> Twiml {
        let fields = call_fields(CALLER, US_LINE);
        let signature = signature::compute(TOKEN.as_bytes(), &format!("{PUBLIC_URL}/voice/incoming"), &fields);
        let response = self
            .client
            .post(format!("{}/voice/incoming", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(form(&fields))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        Twiml::parse(&response.text().await.unwrap())
    }
}

/// The caller hears the greeting, then the case-number prompt, and nothing about the status page.
fn assert_nothing_announced(twiml: &Twiml) {
    assert_eq!(twiml.says.len(), 2, "{:?}", twiml.says);
    assert!(twiml.says[0].starts_with(GREETING), "{:?}", twiml.says);
    assert_eq!(twiml.says[1], CASE_PROMPT);
    assert!(twiml.gather_action.is_some(), "{}", twiml.xml);
}

/// The greeting, then `announcement` after the intro, then the case-number prompt.
fn assert_announced(twiml: &Twiml, announcement: &str) {
    assert_eq!(twiml.says.len(), 3, "{:?}", twiml.says);
    assert!(twiml.says[0].starts_with(GREETING), "{:?}", twiml.says);
    assert_eq!(twiml.says[1], format!("{INTRO} {announcement}"));
    assert_eq!(twiml.says[2], CASE_PROMPT);
    assert!(twiml.gather_action.is_some(), "{}", twiml.xml);
}

// ---------------------------------------------------------------------------------------------------------
// Announced

#[tokio::test]
async fn a_night_call_hears_a_known_incident_before_the_case_prompt() {
    let page = status_page(json_reply(summary(json!([login_incident()]), json!([])))).await;
    let state = state_for(&page, &[]);
    // As `serve` does: the refresher in the background, the first fetch at once.
    let refresher = start_refresher(&state).expect("a refresher");
    let cache = cache(&state);
    for _ in 0..100 {
        if cache.snapshot().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cache.snapshot().is_some(), "no fetch within 5 s");
    let app = serve(state).await;

    let twiml = app.night_call().await;

    assert_announced(&twiml, LOGIN_ANNOUNCEMENT);
    let requests = page.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("accept").map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    refresher.abort();
}

#[tokio::test]
async fn two_incidents_and_a_maintenance_are_two_sentences() {
    let minor = incident("Slow dashboards", "investigating", "minor", json!([]));
    let maintenance = json!({
        "id": "m1", "name": "Database upgrade", "status": "in_progress", "impact": "maintenance",
        "created_at": "2026-11-20T10:00:00.000-05:00", "updated_at": "2026-11-27T19:00:00.000-05:00",
        "scheduled_for": "2026-11-27T19:00:00.000-05:00", "scheduled_until": "2026-11-27T23:00:00.000-05:00",
        "shortlink": "http://stspg.io/m1", "page_id": "kctbh9vrtdwd",
        "incident_updates": [update("in_progress", "Work has started.", "2026-11-27T19:00:00.000-05:00")],
        "components": [{"id": "c3", "name": "Database", "status": "under_maintenance"}]
    });
    let page = status_page(json_reply(summary(
        json!([minor, login_incident()]),
        json!([maintenance]),
    )))
    .await;
    let state = state_for(&page, &[]);
    refresh_at(&state, night()).await.unwrap();
    let app = serve(state).await;

    assert_announced(
        &app.night_call().await,
        "We are aware of a major incident affecting Login and API: Elevated error rates. \
         Also in progress: one other incident and one scheduled maintenance.",
    );
}

#[tokio::test]
async fn incident_text_with_tags_and_ampersands_is_spoken_as_plain_words() {
    let hostile = incident(
        "<speak><prosody rate=\"x-slow\">Login</prosody></speak> &amp; SSO <b>down</b>",
        "identified",
        "critical",
        json!([update(
            "identified",
            "Errors & timeouts for < 5% of users,\n  <break time=\"10s\"/>mostly in <say-as interpret-as=\"characters\">EU</say-as>. Next update soon.",
            "2026-11-27T19:31:00.000-05:00"
        )]),
    );
    let page = status_page(json_reply(summary(json!([hostile]), json!([])))).await;
    let state = state_for(&page, &[]);
    refresh_at(&state, night()).await.unwrap();
    let app = serve(state).await;

    let twiml = app.night_call().await;

    assert_announced(
        &twiml,
        "We are aware of a critical incident affecting Login and API: Login & SSO down. \
         The cause has been identified: Errors & timeouts for < 5% of users, mostly in EU.",
    );
    for tag in ["<speak", "<prosody", "<b>", "<break", "<say-as"] {
        assert!(!twiml.xml.contains(tag), "{tag} in {}", twiml.xml);
    }
    assert!(twiml.xml.contains("Login &amp; SSO down"), "{}", twiml.xml);
    assert!(twiml.xml.contains("&lt; 5%"), "{}", twiml.xml);
}

#[tokio::test]
async fn a_failed_fetch_keeps_the_last_good_copy_while_it_is_fresh() {
    let page = status_page(json_reply(summary(json!([login_incident()]), json!([])))).await;
    let state = state_for(&page, &[]);
    refresh_at(&state, night() - chrono::Duration::seconds(60))
        .await
        .unwrap();
    page.reset().await;
    Mock::given(method("GET"))
        .and(path(SUMMARY_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&page)
        .await;
    assert_eq!(refresh_at(&state, night()).await, Err(StatusError::Status(503)));
    let app = serve(state).await;

    assert_announced(&app.night_call().await, LOGIN_ANNOUNCEMENT);
}

#[tokio::test]
async fn components_out_of_service_without_an_incident_are_announced_in_the_flows_words() {
    // Login in a major outage, API in a partial one (as `summary` lists them), no incident posted yet.
    let page = status_page(json_reply(summary(json!([]), json!([])))).await;
    let state = state_for(&page, &[]);
    assert_eq!(
        refresh_at(&state, night()).await,
        Ok(Some(Announcement::Outage {
            components: "Login and API".into()
        }))
    );
    let app = serve(state).await;

    assert_announced(&app.night_call().await, &format!("{OUTAGE} Login and API."));
}

#[tokio::test]
async fn a_group_out_of_service_is_named_for_its_components() {
    let mut body = summary(json!([]), json!([]));
    body["status"] = json!({"indicator": "critical", "description": "Major System Outage"});
    body["components"] = json!([
        component("g1", "Europe", "major_outage", 1, None, &["e1", "e2"]),
        component("e1", "API (EU)", "major_outage", 1, Some("g1"), &[]),
        component("e2", "Login (EU)", "major_outage", 2, Some("g1"), &[]),
        component("g2", "North America", "partial_outage", 2, None, &["n1", "n2"]),
        component("n1", "API (US)", "partial_outage", 1, Some("g2"), &[]),
        component("n2", "Login (US)", "operational", 2, Some("g2"), &[]),
        component("c3", "Billing", "degraded_performance", 3, None, &[]),
        component("c4", "Docs", "operational", 4, None, &[]),
    ]);
    let page = status_page(json_reply(body)).await;
    let state = state_for(&page, &[]);
    refresh_at(&state, night()).await.unwrap();
    let app = serve(state).await;

    // Every component of Europe is out: Europe; in North America only its API; Billing is degraded, which
    // counts at a critical indicator.
    assert_announced(
        &app.night_call().await,
        &format!("{OUTAGE} Europe, API (US) and Billing."),
    );
}

#[tokio::test]
async fn an_open_incident_is_announced_rather_than_its_components() {
    let page = status_page(json_reply(summary(json!([login_incident()]), json!([])))).await;
    let state = state_for(&page, &[]);
    refresh_at(&state, night()).await.unwrap();

    assert_announced(&serve(state).await.night_call().await, LOGIN_ANNOUNCEMENT);
}

// ---------------------------------------------------------------------------------------------------------
// Not announced

#[tokio::test]
async fn a_component_only_degraded_is_not_announced() {
    let mut body = all_operational(summary(json!([]), json!([])));
    body["status"] = json!({"indicator": "minor", "description": "Minor Service Outage"});
    body["components"][1]["status"] = json!("degraded_performance");
    let page = status_page(json_reply(body)).await;
    let state = state_for(&page, &[]);
    assert_eq!(refresh_at(&state, night()).await, Ok(None));

    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn without_a_status_page_the_night_call_is_as_before() {
    let state = state(&[]);
    assert!(state.services.status.is_none());
    assert!(start_refresher(&state).is_none());
    let app = serve(state).await;

    assert_nothing_announced(&app.night_call().await);
}

#[tokio::test]
async fn a_page_with_nothing_unresolved_is_not_announced() {
    let resolved = incident(
        "Elevated error rates",
        "resolved",
        "major",
        json!([update(
            "resolved",
            "This incident has been resolved.",
            "2026-11-27T19:45:00.000-05:00"
        )]),
    );
    let page = status_page(json_reply(all_operational(summary(json!([resolved]), json!([]))))).await;
    let state = state_for(&page, &[]);
    assert_eq!(refresh_at(&state, night()).await, Ok(None));
    let app = serve(state).await;

    assert_nothing_announced(&app.night_call().await);
}

#[tokio::test]
async fn a_slow_status_page_holds_no_call() {
    let page =
        status_page(json_reply(summary(json!([login_incident()]), json!([]))).set_delay(Duration::from_secs(10))).await;
    let state = state_for(&page, &[]);
    let refresher = start_refresher(&state).expect("a refresher");
    let cache = cache(&state);
    for _ in 0..100 {
        if requests_to(&page).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(requests_to(&page).await, 1, "the refresher fetches at once");
    let app = serve(state).await;

    // The fetch is still waiting for its answer; the call is answered all the same, without it.
    let twiml = app.night_call().await;

    assert_nothing_announced(&twiml);
    assert!(cache.snapshot().is_none(), "the fetch has not finished");
    refresher.abort();
}

#[tokio::test]
async fn a_status_page_slower_than_timeout_ms_is_a_failed_fetch() {
    let page =
        status_page(json_reply(summary(json!([login_incident()]), json!([]))).set_delay(Duration::from_secs(10))).await;
    let state = state_for(&page, &[("TIMEOUT_MS", "200")]);

    assert_eq!(refresh_at(&state, night()).await, Err(StatusError::Timeout(200)));

    assert!(cache(&state).snapshot().is_none());
    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn a_status_page_answering_500_is_not_announced() {
    let page = status_page(ResponseTemplate::new(500).set_body_string("Internal Server Error")).await;
    let state = state_for(&page, &[]);

    assert_eq!(refresh_at(&state, night()).await, Err(StatusError::Status(500)));

    assert!(cache(&state).snapshot().is_none());
    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn a_status_page_answering_html_is_not_announced() {
    let html = "<!DOCTYPE html><html><head><title>Example Cloud Status</title></head>\
                <body><h1>Partial outage</h1><p>Login &amp; API</p></body></html>";
    let page = status_page(ResponseTemplate::new(200).set_body_raw(html, "text/html; charset=utf-8")).await;
    let state = state_for(&page, &[]);

    let error = refresh_at(&state, night()).await.unwrap_err();

    assert!(
        matches!(&error, StatusError::Format(text) if text.contains("<!DOCTYPE html>")),
        "{error}"
    );
    assert!(cache(&state).snapshot().is_none());
    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn a_status_page_answering_5_mb_is_not_announced() {
    // A real summary with an incident, padded to 5 MB: refused for its size, not its content.
    let mut body = summary(json!([login_incident()]), json!([]));
    body["padding"] = json!("x".repeat(5 * 1024 * 1024));
    let page = status_page(json_reply(body)).await;
    let state = state_for(&page, &[]);

    assert_eq!(
        refresh_at(&state, night()).await,
        Err(StatusError::TooLarge(1024 * 1024))
    );

    assert!(cache(&state).snapshot().is_none());
    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn a_json_answer_that_is_not_a_summary_is_not_announced() {
    let page = status_page(json_reply(json!({"error": "page not found"}))).await;
    let state = state_for(&page, &[]);

    let error = refresh_at(&state, night()).await.unwrap_err();

    assert!(matches!(error, StatusError::Format(_)), "{error}");
    assert_nothing_announced(&serve(state).await.night_call().await);
}

#[tokio::test]
async fn a_copy_older_than_max_age_secs_is_not_announced() {
    let page = status_page(json_reply(summary(json!([login_incident()]), json!([])))).await;
    let settings = [("REFRESH_SECS", "5"), ("TIMEOUT_MS", "1000"), ("MAX_AGE_SECS", "15")];

    // Fetched 16 s before the call (the page unreachable since): stale.
    let stale = state_for(&page, &settings);
    refresh_at(&stale, night() - chrono::Duration::seconds(16))
        .await
        .unwrap();
    assert_nothing_announced(&serve(stale).await.night_call().await);

    // Fetched 10 s before: announced.
    let fresh = state_for(&page, &settings);
    refresh_at(&fresh, night() - chrono::Duration::seconds(10))
        .await
        .unwrap();
    let app = serve(fresh).await;
    assert_announced(&app.night_call().await, LOGIN_ANNOUNCEMENT);
    assert_eq!(app.state.config.settings.status_page.as_ref().unwrap().max_age_secs, 15);
}

fn instant(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Runs the shipped flow's status step on the US line at Friday 20:00 New York: (said, decided).
async fn run_status_step(status: Option<StatusCache>) -> (Vec<String>, Vec<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let config = Config::load_with_env(&path, &[]).unwrap();
    let line = config.lines.by_key("us").unwrap().clone();
    let services = Services {
        status,
        ..Services::default()
    };
    let input = CallInput::default();
    let now = instant("2026-11-27T20:00:00-05:00");
    let mut ctx = Ctx::new(&line, &services, now, &input, CallState::new("us"));
    engine::run(&line.flow, Entry::Step("status"), &mut ctx).await.unwrap();
    let mut said = Vec::new();
    let mut decided = Vec::new();
    for entry in ctx.trace {
        match entry {
            Trace::Say(text) => said.push(text),
            Trace::Decision(text) => decided.push(text),
        }
    }
    (said, decided)
}

/// The step alone, run by the engine on the shipped flow, without HTTP.
#[tokio::test]
async fn the_step_speaks_only_a_fresh_announcement_then_goes_on() {
    let cache = StatusCache::new(Duration::from_secs(300));
    let case_prompt = "If your production system is down, please enter your case number, followed by the pound key.";

    let (said, decided) = run_status_step(None).await;
    assert_eq!(said, [case_prompt]);
    assert!(decided[0].starts_with("status page: none configured"), "{decided:?}");

    let (said, decided) = run_status_step(Some(cache.clone())).await;
    assert_eq!(said, [case_prompt]);
    assert!(decided[0].starts_with("status page: not fetched yet"), "{decided:?}");

    cache.store(instant("2026-11-27T19:59:30-05:00"), None);
    let (said, decided) = run_status_step(Some(cache.clone())).await;
    assert_eq!(said, [case_prompt]);
    assert!(
        decided[0].starts_with("status page: no unresolved incident"),
        "{decided:?}"
    );

    cache.store(
        instant("2026-11-27T19:59:30-05:00"),
        Some(Announcement::Incident(
            "We are aware of a major incident: Login.".into(),
        )),
    );
    let (said, decided) = run_status_step(Some(cache.clone())).await;
    assert_eq!(
        said,
        [
            "Before you enter your case number, a note on our service status. We are aware of a major incident: Login.",
            case_prompt
        ]
    );
    assert_eq!(decided[0], "status page: announcing (fetched 30 s ago)");

    cache.store(
        instant("2026-11-27T19:50:00-05:00"),
        Some(Announcement::Incident(
            "We are aware of a major incident: Login.".into(),
        )),
    );
    let (said, decided) = run_status_step(Some(cache.clone())).await;
    assert_eq!(said, [case_prompt]);
    assert_eq!(
        decided[0],
        "status page: last fetched 600 s ago, more than 300 s: nothing said"
    );

    cache.store(
        instant("2026-11-27T19:59:30-05:00"),
        Some(Announcement::Outage {
            components: "Login, API, Billing and two more".into(),
        }),
    );
    let (said, decided) = run_status_step(Some(cache.clone())).await;
    assert_eq!(
        said,
        [
            &format!(
                "Before you enter your case number, a note on our service status. {OUTAGE} Login, API, Billing and two more."
            ),
            case_prompt
        ]
    );
    assert_eq!(
        decided[0],
        "status page: announcing an outage of Login, API, Billing and two more without an incident (fetched 30 s ago)"
    );
}
