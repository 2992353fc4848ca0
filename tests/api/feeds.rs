//! Calendar feeds as a calendar app fetches them: issued through the admin API, fetched over HTTP by their
//! token alone, read back with the iCalendar crate's parser; and a rotation set to follow an outside
//! calendar, as the admin API shows it. Against the embedded store seeded from `config/oncall.toml`, with
//! the clock at Friday 2026-11-27 20:00 in New York, when Bob is primary until Monday 30 November 10:00.

use icalendar::{Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event};
use serde_json::{Value, json};

use crate::helpers::*;

const ADMIN_TOKEN: &str = "admin-token-for-feeds";

async fn app() -> TestApp {
    friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN_TOKEN).start().await
}

/// An admin request with the bearer token: its status and JSON body (`Null` when empty).
async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
    };
    (status, json)
}

/// Issues a feed of `body` and returns the answer, which must be 201.
async fn issue(app: &TestApp, body: Value) -> Value {
    let (status, issued) = admin(app, "POST", "/admin/feeds", Some(body)).await;
    assert_eq!(status, 201, "{issued}");
    issued
}

/// What a GET of `url` gave: status, content type and body.
struct Fetched {
    status: u16,
    content_type: Option<String>,
    body: String,
}

async fn fetch(app: &TestApp, url: &str) -> Fetched {
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    Fetched {
        status,
        content_type,
        body: response.text().await.unwrap(),
    }
}

/// The feed at `path` on the operators' listener, which must answer 200 with a calendar.
async fn feed(app: &TestApp, path: &str) -> String {
    let fetched = fetch(app, &format!("{}{path}", app.ops_address)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.content_type.as_deref(), Some("text/calendar; charset=utf-8"));
    fetched.body
}

fn events(text: &str) -> Vec<Event> {
    let calendar: Calendar = text.parse().unwrap_or_else(|e| panic!("not iCalendar ({e}):\n{text}"));
    calendar
        .components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

/// An event's start as local time and TZID, as it is written.
fn start(event: &Event) -> (chrono::NaiveDateTime, String) {
    match event.get_start() {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => (date_time, tzid),
        other => panic!("expected a local start with a TZID, got {other:?}"),
    }
}

fn property<'a>(event: &'a Event, name: &str) -> &'a str {
    event
        .property_value(name)
        .unwrap_or_else(|| panic!("no {name} in {event:?}"))
}

fn assert_not_found(fetched: &Fetched, what: &str) {
    assert_eq!(fetched.status, 404, "{what}: {}", fetched.body);
    assert_eq!(fetched.body, "", "{what}");
}

/// A rotation's feed, issued with the admin token, is fetched with its own token and nothing else: weekly
/// events in New York time, Bob's shift over the Friday night among them, from a week back to eight weeks
/// ahead. The list shows the feed, never the token.
#[tokio::test]
async fn a_rotation_feed_is_fetched_by_its_token_alone() {
    let app = app().await;
    let issued = issue(&app, json!({"rotation": "primary", "label": "wall screen"})).await;
    let token = issued["token"].as_str().unwrap();
    assert_eq!(token.len(), 32, "{issued}");
    assert_eq!(issued["path"], format!("/feeds/{token}.ics"));
    assert_eq!(issued["rotation"], "primary");
    assert_eq!(issued["label"], "wall screen");
    assert_eq!(issued["created"], "2026-11-28T01:00:00Z");
    assert!(issued.get("url").is_none(), "not public: {issued}");

    let text = feed(&app, issued["path"].as_str().unwrap()).await;
    let events = events(&text);
    assert!(
        (9..=13).contains(&events.len()),
        "{} events (weekly, one split by the shipped Christmas override):\n{text}",
        events.len()
    );
    for event in &events {
        assert_eq!(start(event).1, "America/New_York");
        assert_eq!(property(event, "X-AFTERHOURS-ROTATION"), "primary");
    }
    let friday = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
        .unwrap()
        .and_hms_opt(20, 0, 0)
        .unwrap();
    let tonight = events
        .iter()
        .find(|e| {
            let (from, _) = start(e);
            let until = match e.get_end() {
                Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, .. })) => date_time,
                other => panic!("{other:?}"),
            };
            from <= friday && friday < until
        })
        .unwrap_or_else(|| panic!("no event over Friday night:\n{text}"));
    assert_eq!(tonight.get_summary(), Some("On call: Bob Okafor (Primary on-call)"));
    assert_eq!(
        start(tonight).0,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
    );

    let (status, listed) = admin(&app, "GET", "/admin/feeds", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], issued["id"]);
    assert!(!listed.to_string().contains(token), "{listed}");
}

/// An engineer's feed holds their shifts only, across rotations, with an override that puts them on call.
#[tokio::test]
async fn an_engineer_feed_shows_their_shifts_and_overrides() {
    let app = app().await;
    let (status, added) = admin(
        &app,
        "POST",
        "/admin/overrides",
        Some(
            json!({"rotation": "primary", "engineer": "dave", "start": "2026-11-28T18:00:00-05:00",
            "end": "2026-11-29T09:00:00-05:00", "id": "dave-saturday"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let issued = issue(&app, json!({"engineer": "dave"})).await;
    let text = feed(&app, issued["path"].as_str().unwrap()).await;
    let events = events(&text);
    assert!(!events.is_empty(), "{text}");
    assert!(
        events.iter().all(|e| property(e, "X-AFTERHOURS-ENGINEER") == "dave"),
        "{text}"
    );
    let saturday = events
        .iter()
        .find(|e| property(e, "X-AFTERHOURS-KIND") == "override")
        .unwrap_or_else(|| panic!("no override:\n{text}"));
    assert_eq!(
        start(saturday),
        (
            chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
                .unwrap()
                .and_hms_opt(18, 0, 0)
                .unwrap(),
            "America/New_York".to_owned()
        )
    );
    assert_eq!(
        saturday.get_summary(),
        Some("Override: On call: Dave Price (Primary on-call)")
    );
}

/// A path that is not a token, a token never issued, a revoked one and the admin token all get the same
/// empty 404: the route says nothing about which tokens exist.
#[tokio::test]
async fn unknown_revoked_and_malformed_tokens_get_the_same_empty_404() {
    let app = app().await;
    let issued = issue(&app, json!({"rotation": "primary"})).await;
    let path = issued["path"].as_str().unwrap().to_owned();
    let token = issued["token"].as_str().unwrap().to_owned();
    let ops = &app.ops_address;
    assert!(!feed(&app, &path).await.is_empty());

    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for (what, url) in [
        ("a token never issued", format!("{ops}/feeds/{wrong}.ics")),
        ("without .ics", format!("{ops}/feeds/{token}")),
        ("too short", format!("{ops}/feeds/{}.ics", &token[1..])),
        ("too long", format!("{ops}/feeds/{}.ics", "A".repeat(10_000))),
        ("not a token's alphabet", format!("{ops}/feeds/{}%2B.ics", &token[1..])),
        ("the admin token", format!("{ops}/feeds/{ADMIN_TOKEN}.ics")),
        (
            "the feed's id",
            format!("{ops}/feeds/{}.ics", issued["id"].as_str().unwrap()),
        ),
    ] {
        assert_not_found(&fetch(&app, &url).await, what);
    }

    let id = issued["id"].as_str().unwrap();
    let (status, body) = admin(&app, "DELETE", &format!("/admin/feeds/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    assert_not_found(&fetch(&app, &format!("{ops}{path}")).await, "a revoked token");
    let (status, body) = admin(&app, "DELETE", &format!("/admin/feeds/{id}"), None).await;
    assert_eq!(status, 404, "{body}");
    let (_, listed) = admin(&app, "GET", "/admin/feeds", None).await;
    assert_eq!(listed, json!([]));
}

/// Feeds are on the operators' listener only, unless `feeds.public` serves them on the webhook listener
/// too (for Google Calendar, which fetches from Google's servers); then the issued feed has its full URL.
#[tokio::test]
async fn feeds_reach_the_webhook_listener_only_when_public() {
    let private = app().await;
    let issued = issue(&private, json!({"rotation": "primary"})).await;
    let path = issued["path"].as_str().unwrap();
    assert_not_found(
        &fetch(&private, &format!("{}{path}", private.address)).await,
        "not public",
    );

    let public = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN_TOKEN)
        .env("AFTERHOURS_FEEDS__PUBLIC", "true")
        .start()
        .await;
    let issued = issue(&public, json!({"engineer": "bob"})).await;
    let path = issued["path"].as_str().unwrap();
    let url = issued["url"].as_str().unwrap_or_else(|| panic!("no url: {issued}"));
    assert!(url.ends_with(path), "{url}");
    let fetched = fetch(&public, &format!("{}{path}", public.address)).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert!(fetched.body.starts_with("BEGIN:VCALENDAR\r\n"), "{}", fetched.body);
    assert_not_found(
        &fetch(&public, &format!("{}/feeds/{}.ics", public.address, "A".repeat(32))).await,
        "public, unknown",
    );
}

/// Issuing takes the admin token and names one known rotation or engineer.
#[tokio::test]
async fn issuing_needs_the_admin_token_and_one_known_subject() {
    let app = app().await;
    let unauthorized = app
        .client
        .post(app.url("/admin/feeds"))
        .header("content-type", "application/json")
        .body(json!({"rotation": "primary"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    for (body, needle) in [
        (json!({"rotation": "nope"}), "unknown rotation \"nope\""),
        (json!({"engineer": "nobody"}), "unknown engineer \"nobody\""),
        (
            json!({"rotation": "primary", "engineer": "bob"}),
            "either a rotation or an engineer",
        ),
        (json!({}), "either a rotation or an engineer"),
        (json!({"rotation": "primary", "token": "mine"}), "unknown field `token`"),
    ] {
        let (status, reply) = admin(&app, "POST", "/admin/feeds", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(needle), "{body}: {error}");
    }
    let (status, _) = admin(&app, "DELETE", "/admin/feeds/not-an-id", None).await;
    assert_eq!(status, 404);
}

/// A rotation set to follow an outside calendar through the admin API shows how that calendar fares: no
/// copy yet, no error, its URL without the query (which may hold a token). A source that is not an http(s)
/// URL, or beside participants, is refused.
#[tokio::test]
async fn a_rotation_with_an_outside_calendar_shows_its_health_in_the_admin_api() {
    let app = app().await;
    let (status, _) = admin(&app, "GET", "/admin/rotations/primary/calendar", None).await;
    assert_eq!(status, 404);
    let (_, mut rotation) = admin(&app, "GET", "/admin/rotations/primary", None).await;
    rotation["source"] =
        json!({"url": "https://oncall.example.com/ical/primary.ics?token=s3cret", "refresh_secs": 300});
    let (status, reply) = admin(&app, "PUT", "/admin/rotations/primary", Some(rotation.clone())).await;
    assert_eq!(status, 422, "participants and a source: {reply}");
    rotation["participants"] = json!([]);
    let mut ftp = rotation.clone();
    ftp["source"]["url"] = json!("ftp://oncall.example.com/primary.ics");
    let (status, reply) = admin(&app, "PUT", "/admin/rotations/primary", Some(ftp)).await;
    assert_eq!(status, 422, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("source"), "{reply}");
    let (status, reply) = admin(&app, "PUT", "/admin/rotations/primary", Some(rotation.clone())).await;
    assert_eq!(status, 200, "{reply}");
    // Its handoffs are the calendar's: it needs no start nor shift, as in the rotation file.
    let mut bare = rotation;
    let fields = bare.as_object_mut().unwrap();
    fields.remove("start");
    fields.remove("shift");
    fields.remove("version");
    let (status, reply) = admin(&app, "PUT", "/admin/rotations/primary", Some(bare)).await;
    assert_eq!(status, 200, "{reply}");

    let (status, calendar) = admin(&app, "GET", "/admin/rotations/primary/calendar", None).await;
    assert_eq!(status, 200, "{calendar}");
    assert_eq!(
        calendar,
        json!({"source": "https://oncall.example.com/ical/primary.ics", "has_copy": false,
            "health": {"last_success": null, "last_attempt": null, "last_error": null}, "unmatched": []})
    );
}
