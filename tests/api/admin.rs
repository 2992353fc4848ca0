//! The admin API as an operator uses it: over HTTP with a bearer token, against the embedded store seeded
//! from `config/oncall.toml`, with the clock at Friday 2026-11-27 20:00 in New York.
//!
//! At that instant (see `config/oncall.toml`; `afterhours oncall --line us --at 2026-11-27T20:00:00-05:00`):
//! the week that began Monday 23 November is week 46 of the primary rotation, so Bob is primary and Carol
//! secondary until Monday 30 November 10:00 New York (15:00 UTC); Carol is the specialist on shift until
//! 07:00 London (02:00 New York), and Alice is always in tier 4 (tier 3 is the case's TAM: nobody without a
//! call).

use serde_json::{Value, json};

use crate::helpers::*;

const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// Friday night, with the admin token set.
async fn admin_app() -> TestApp {
    friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN_TOKEN).start().await
}

struct AdminReply {
    status: u16,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    /// The body as JSON; `Value::Null` for an empty body.
    json: Value,
}

/// A request to the admin API: `method path`, with `Authorization: <authorization>` when given, and a body.
async fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<String>,
) -> AdminReply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type");
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
    };
    AdminReply {
        status,
        www_authenticate,
        content_type,
        json,
    }
}

fn bearer() -> String {
    format!("Bearer {ADMIN_TOKEN}")
}

async fn get(app: &TestApp, path: &str) -> AdminReply {
    request(app, "GET", path, Some(&bearer()), None).await
}

async fn send(app: &TestApp, method: &str, path: &str, body: &Value) -> AdminReply {
    request(app, method, path, Some(&bearer()), Some(body.to_string())).await
}

/// The chain of the `us` line at the test clock's instant.
async fn us_chain(app: &TestApp) -> Value {
    let reply = get(app, "/admin/oncall?line=us").await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json
}

/// Who tier `tier` (0-based) rings: engineer ids.
fn tier_ids(chain: &Value, tier: usize) -> Vec<String> {
    chain["tiers"][tier]["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["engineer"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_error(reply: &AdminReply, status: u16, needles: &[&str]) {
    assert_eq!(reply.status, status, "{}", reply.json);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let error = reply.json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", reply.json));
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
}

/// Every route, with a body where it takes one.
fn every_route() -> Vec<(&'static str, &'static str, Option<String>)> {
    let rotation = json!({"name": "x", "time_zone": "UTC", "start": "2026-01-05T10:00:00", "shift": "7d",
        "participants": []});
    let item = json!({"rotation": "primary", "engineer": "dave", "start": "2026-11-27T18:00:00-05:00",
        "end": "2026-11-28T09:00:00-05:00"});
    vec![
        ("GET", "/admin/oncall?line=us", None),
        ("GET", "/admin/rotations/primary", None),
        ("PUT", "/admin/rotations/primary", Some(rotation.to_string())),
        ("GET", "/admin/overrides", None),
        ("POST", "/admin/overrides", Some(item.to_string())),
        ("DELETE", "/admin/overrides/primary/xmas-2026", None),
        ("GET", "/admin/no-such-route", None),
    ]
}

fn assert_unauthorized(reply: &AdminReply, route: &str) {
    assert_eq!(reply.status, 401, "{route}: {}", reply.json);
    assert_eq!(reply.www_authenticate.as_deref(), Some("Bearer"), "{route}");
    assert!(reply.json["error"].is_string(), "{route}: {}", reply.json);
}

#[tokio::test]
async fn every_route_refuses_a_request_without_the_token_or_with_a_wrong_one() {
    // More failures than the throttle lets through: each is to be refused for its own reason.
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN_TOKEN)
        .env("AFTERHOURS_ADMIN__FAILED_LOGINS_PER_MINUTE", "10000")
        .start()
        .await;
    let wrong = [
        None,
        Some("Bearer not-the-token".to_owned()),
        Some(format!("Bearer {ADMIN_TOKEN}x")),
        Some(format!("Basic {ADMIN_TOKEN}")),
        Some(ADMIN_TOKEN.to_owned()),
        Some("Bearer ".to_owned()),
    ];
    for (method, path, body) in every_route() {
        for authorization in &wrong {
            let reply = request(&app, method, path, authorization.as_deref(), body.clone()).await;
            assert_unauthorized(&reply, &format!("{method} {path} with {authorization:?}"));
        }
    }
    // Nothing was changed by the refused writes.
    let rotation = get(&app, "/admin/rotations/primary").await;
    assert_eq!(rotation.json["version"], 0);
    assert_eq!(rotation.json["name"], "Primary on-call");
    let overrides = get(&app, "/admin/overrides?rotation=primary").await;
    assert_eq!(overrides.json.as_array().unwrap().len(), 1, "{}", overrides.json);
}

#[tokio::test]
async fn without_a_configured_token_every_route_refuses_everyone() {
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__FAILED_LOGINS_PER_MINUTE", "10000")
        .start()
        .await;
    for (method, path, body) in every_route() {
        for authorization in [None, Some("Bearer ".to_owned()), Some(bearer())] {
            let reply = request(&app, method, path, authorization.as_deref(), body.clone()).await;
            assert_unauthorized(&reply, &format!("{method} {path} with {authorization:?}"));
        }
    }
}

#[tokio::test]
async fn a_guesser_is_held_back_after_ten_wrong_tokens_a_minute() {
    let app = admin_app().await;
    for guess in 0..10 {
        let reply = request(
            &app,
            "GET",
            "/admin/oncall",
            Some(&format!("Bearer guess-{guess}")),
            None,
        )
        .await;
        assert_eq!(reply.status, 401, "guess {guess}");
    }

    let held = app
        .client
        .get(app.url("/admin/oncall"))
        .header("authorization", bearer())
        .send()
        .await
        .unwrap();

    assert_eq!(
        held.status().as_u16(),
        429,
        "refused whatever it sends, the right token too"
    );
    let retry_after: u64 = held.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn the_chain_of_the_us_line_on_friday_night_is_what_the_oncall_command_shows() {
    let app = admin_app().await;
    let chain = get(&app, "/admin/oncall?line=us&at=2026-11-27T20:00:00-05:00").await;
    assert_eq!(chain.status, 200, "{}", chain.json);
    assert_eq!(chain.content_type.as_deref(), Some("application/json"));
    let person = |id: &str, name: &str, phone: &str, zone: &str, until: Value, rotation: Value| {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        json!({"engineer": {"id": id, "name": name, "phone": phone, "time_zone": zone, "email": email},
            "until": until, "rotation": rotation})
    };
    let bob = person(
        "bob",
        "Bob Okafor",
        "+15550100002",
        "America/Chicago",
        json!("2026-11-30T15:00:00Z"),
        json!("primary"),
    );
    let carol_secondary = person(
        "carol",
        "Carol Nguyen",
        "+15550100003",
        "America/Los_Angeles",
        json!("2026-11-30T15:00:00Z"),
        json!("secondary"),
    );
    let carol_specialist = person(
        "carol",
        "Carol Nguyen",
        "+15550100003",
        "America/Los_Angeles",
        json!("2026-11-28T07:00:00Z"),
        json!("specialists"),
    );
    let alice = person(
        "alice",
        "Alice Martin",
        "+15550100001",
        "America/New_York",
        Value::Null,
        Value::Null,
    );
    assert_eq!(
        chain.json,
        json!({
            "line": "us",
            "policy": "default",
            "at": "2026-11-27T20:00:00-05:00",
            "tiers": [
                {"ring_timeout_secs": 20, "people": [bob]},
                {"ring_timeout_secs": 20, "people": [carol_secondary]},
                // The case's TAM: nobody without a call about a case.
                {"ring_timeout_secs": 25, "people": [], "case_tam": true},
                {"ring_timeout_secs": 30, "people": [carol_specialist, alice]},
            ],
            "repeat": 1,
        })
    );

    // Without `at`, the server's clock: the same instant.
    assert_eq!(us_chain(&app).await, chain.json);
    // The same instant written in UTC, with the `+` of its offset encoded or not.
    for at in [
        "2026-11-28T01:00:00Z",
        "2026-11-28T01:00:00%2B00:00",
        "2026-11-28T01:00:00+00:00",
    ] {
        let reply = get(&app, &format!("/admin/oncall?line=us&at={at}")).await;
        assert_eq!(reply.json["tiers"], chain.json["tiers"], "{at}");
    }
}

#[tokio::test]
async fn the_chain_at_christmas_shows_the_override_from_the_demo_file() {
    let app = admin_app().await;
    let chain = get(&app, "/admin/oncall?line=us&at=2026-12-25T12:00:00-05:00").await;
    assert_eq!(chain.status, 200, "{}", chain.json);
    assert_eq!(tier_ids(&chain.json, 0), ["bob"], "Bob covers Carol's Christmas");
    assert_eq!(chain.json["tiers"][0]["people"][0]["until"], "2026-12-26T14:00:00Z");
}

#[tokio::test]
async fn an_unknown_line_is_404_and_a_missing_line_or_bad_time_is_400() {
    let app = admin_app().await;
    assert_error(&get(&app, "/admin/oncall?line=mars").await, 404, &["mars"]);
    assert_error(&get(&app, "/admin/oncall").await, 400, &["line", "uk", "us"]);
    assert_error(
        &get(&app, "/admin/oncall?line=us&at=friday-night").await,
        400,
        &["at", "friday-night", "RFC 3339"],
    );
    assert_error(
        &get(&app, "/admin/oncall?line=us&at=2026-11-27T20:00:00").await,
        400,
        &["RFC 3339"],
    );
}

#[tokio::test]
async fn a_rotation_reads_with_its_version() {
    let app = admin_app().await;
    let reply = get(&app, "/admin/rotations/primary").await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({"id": "primary", "name": "Primary on-call", "time_zone": "America/New_York",
            "start": "2026-01-05T10:00:00", "shift": "7d", "participants": ["alice", "bob", "carol"], "version": 0})
    );
    assert_error(&get(&app, "/admin/rotations/tertiary").await, 404, &["tertiary"]);
}

#[tokio::test]
async fn a_rotation_replaced_with_the_version_read_changes_the_chain_and_a_stale_version_is_409() {
    let app = admin_app().await;
    let mut rotation = get(&app, "/admin/rotations/primary").await.json;
    assert_eq!(rotation["version"], 0);

    // Carol, Alice, Bob: week 46 (46 mod 3 = 1) is Alice's.
    rotation["participants"] = json!(["carol", "alice", "bob"]);
    let reply = send(&app, "PUT", "/admin/rotations/primary", &rotation).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json, json!({"version": 1}));

    let stored = get(&app, "/admin/rotations/primary").await.json;
    assert_eq!(stored["participants"], json!(["carol", "alice", "bob"]));
    assert_eq!(stored["version"], 1);
    let chain = us_chain(&app).await;
    assert_eq!(tier_ids(&chain, 0), ["alice"]);
    assert_eq!(chain["tiers"][0]["people"][0]["until"], "2026-11-30T15:00:00Z");

    // A second writer still holding version 0 is refused, told the current version, and changes nothing.
    let mut stale = rotation.clone();
    stale["participants"] = json!(["dave"]);
    let reply = send(&app, "PUT", "/admin/rotations/primary", &stale).await;
    assert_error(&reply, 409, &["version 1", "not 0"]);
    assert_eq!(reply.json["version"], 1);
    assert_eq!(get(&app, "/admin/rotations/primary").await.json, stored);
    assert_eq!(tier_ids(&us_chain(&app).await, 0), ["alice"]);

    // With the version re-read, it goes through.
    stale["version"] = json!(1);
    let reply = send(&app, "PUT", "/admin/rotations/primary", &stale).await;
    assert_eq!(reply.json, json!({"version": 2}));
    assert_eq!(tier_ids(&us_chain(&app).await, 0), ["dave"]);
}

#[tokio::test]
async fn a_rotation_without_a_version_or_an_id_is_written_over_whatever_is_there() {
    let app = admin_app().await;
    let body = json!({"name": "Primary, 12-hour shifts", "time_zone": "America/New_York",
        "start": "2026-11-27 08:00", "shift": "12h", "participants": ["dave", "alice"]});
    let reply = send(&app, "PUT", "/admin/rotations/primary", &body).await;
    assert_eq!(reply.json, json!({"version": 1}));
    let stored = get(&app, "/admin/rotations/primary").await.json;
    assert_eq!(stored["id"], "primary");
    assert_eq!(stored["shift"], "12h");
    assert_eq!(
        stored["start"], "2026-11-27T08:00:00",
        "the rotation file's forms of a start are taken"
    );
    // 08:00-20:00 Dave, 20:00-08:00 Alice.
    let chain = us_chain(&app).await;
    assert_eq!(tier_ids(&chain, 0), ["alice"]);
    assert_eq!(chain["tiers"][0]["people"][0]["until"], "2026-11-28T13:00:00Z");
}

#[tokio::test]
async fn an_invalid_rotation_is_422_naming_the_field_and_the_rotation_is_kept() {
    let app = admin_app().await;
    let before = get(&app, "/admin/rotations/primary").await.json;
    let valid = before.clone();
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with("participants", json!(["alice", "zed", "bob"])),
            vec!["participants[1]", "unknown engineer \"zed\""],
        ),
        (with("shift", json!("0d")), vec!["shift", "invalid shift \"0d\""]),
        (with("shift", json!("7日")), vec!["shift", "invalid shift"]),
        (
            with("time_zone", json!("Mars/Olympus")),
            vec!["time_zone", "Mars/Olympus"],
        ),
        (
            with("start", json!("2026-01-05T10:00:00-05:00")),
            vec![
                "start: invalid start \"2026-01-05T10:00:00-05:00\"",
                "without an offset",
            ],
        ),
        (with("start", json!(20260105)), vec!["start", "invalid type"]),
        (with("id", json!("secondary")), vec!["id", "secondary", "primary"]),
        (with("version", json!(-1)), vec!["version"]),
        (with("participants", json!("alice")), vec!["participants"]),
        (with("colour", json!("red")), vec!["unknown field `colour`"]),
        (without("name"), vec!["missing field `name`"]),
        (json!(["not", "an", "object"]), vec!["object"]),
    ];
    for (body, needles) in cases {
        let reply = send(&app, "PUT", "/admin/rotations/primary", &body).await;
        assert_error(&reply, 422, &needles);
    }
    let reply = request(
        &app,
        "PUT",
        "/admin/rotations/primary",
        Some(&bearer()),
        Some("{\"name\": ".to_owned()),
    )
    .await;
    assert_error(&reply, 422, &["invalid JSON"]);
    assert_eq!(get(&app, "/admin/rotations/primary").await.json, before);
}

#[tokio::test]
async fn an_override_added_shows_in_the_chain_and_the_list_until_it_is_deleted() {
    let app = admin_app().await;
    // Dave covers Bob's Friday night.
    let body = json!({"rotation": "primary", "engineer": "dave", "start": "2026-11-27T18:00:00-05:00",
        "end": "2026-11-28T09:00:00-05:00", "id": "friday-cover"});
    let reply = send(&app, "POST", "/admin/overrides", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(
        reply.json,
        json!({"id": "friday-cover", "rotation": "primary", "engineer": "dave", "start": "2026-11-27T23:00:00Z",
            "end": "2026-11-28T14:00:00Z", "created": "2026-11-28T01:00:00Z"})
    );
    let added = reply.json;

    let chain = us_chain(&app).await;
    assert_eq!(tier_ids(&chain, 0), ["dave"]);
    assert_eq!(chain["tiers"][0]["people"][0]["until"], "2026-11-28T14:00:00Z");
    assert_eq!(chain["tiers"][0]["people"][0]["rotation"], "primary");
    assert_eq!(tier_ids(&chain, 1), ["carol"], "the secondary is untouched");

    let list = get(&app, "/admin/overrides?rotation=primary").await;
    assert_eq!(list.status, 200, "{}", list.json);
    let ids: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["friday-cover", "xmas-2026"], "by start");
    assert_eq!(list.json[0], added);
    assert_eq!(get(&app, "/admin/overrides").await.json, list.json, "all rotations");
    assert_eq!(get(&app, "/admin/overrides?rotation=secondary").await.json, json!([]));
    assert_error(
        &get(&app, "/admin/overrides?rotation=tertiary").await,
        404,
        &["tertiary"],
    );

    let reply = request(
        &app,
        "DELETE",
        "/admin/overrides/primary/friday-cover",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(reply.json, Value::Null, "no body");
    assert_eq!(tier_ids(&us_chain(&app).await, 0), ["bob"]);
    let reply = request(
        &app,
        "DELETE",
        "/admin/overrides/primary/friday-cover",
        Some(&bearer()),
        None,
    )
    .await;
    assert_error(&reply, 404, &["friday-cover"]);
    let ids: Vec<Value> = get(&app, "/admin/overrides?rotation=primary")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, [json!("xmas-2026")]);
}

#[tokio::test]
async fn an_override_without_an_id_gets_one_from_its_rotation_and_start() {
    let app = admin_app().await;
    let body = json!({"rotation": "secondary", "engineer": "alice", "start": "2026-11-27T19:00:00-05:00",
        "end": "2026-11-27T23:00:00-05:00"});
    let reply = send(&app, "POST", "/admin/overrides", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.json);
    assert_eq!(reply.json["id"], "secondary-20261128T000000Z");
    let chain = us_chain(&app).await;
    assert_eq!(tier_ids(&chain, 1), ["alice"]);
    assert_eq!(chain["tiers"][1]["people"][0]["until"], "2026-11-28T04:00:00Z");
    let reply = request(
        &app,
        "DELETE",
        "/admin/overrides/secondary/secondary-20261128T000000Z",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(reply.status, 204);
}

#[tokio::test]
async fn an_invalid_override_is_422_and_nothing_is_added() {
    let app = admin_app().await;
    let valid = json!({"rotation": "primary", "engineer": "dave", "start": "2026-11-27T18:00:00-05:00",
        "end": "2026-11-28T09:00:00-05:00"});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with("end", json!("2026-11-27T17:00:00-05:00")),
            vec!["ends", "before it starts"],
        ),
        (
            with("end", json!("2026-11-27T18:00:00-05:00")),
            vec!["before it starts"],
        ),
        (with("engineer", json!("zed")), vec!["unknown engineer \"zed\""]),
        (
            with("rotation", json!("tertiary")),
            vec!["unknown rotation \"tertiary\""],
        ),
        (
            with("start", json!("2026-11-27T18:00:00")),
            vec!["start: invalid time \"2026-11-27T18:00:00\"", "RFC 3339"],
        ),
        (with("colour", json!("red")), vec!["unknown field `colour`"]),
        (
            json!({"rotation": "primary", "engineer": "dave"}),
            vec!["missing field `start`"],
        ),
    ];
    for (body, needles) in cases {
        let reply = send(&app, "POST", "/admin/overrides", &body).await;
        assert_error(&reply, 422, &needles);
    }
    let list = get(&app, "/admin/overrides").await.json;
    assert_eq!(list.as_array().unwrap().len(), 1, "only the demo file's: {list}");
    assert_eq!(tier_ids(&us_chain(&app).await, 0), ["bob"]);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = admin_app().await;
    let mut rotation = get(&app, "/admin/rotations/primary").await.json;
    rotation["name"] = json!("x".repeat(100 * 1024));
    let reply = send(&app, "PUT", "/admin/rotations/primary", &rotation).await;
    assert_error(&reply, 413, &[]);
    let item = json!({"rotation": "primary", "engineer": "dave", "start": "2026-11-27T18:00:00-05:00",
        "end": "2026-11-28T09:00:00-05:00", "id": "x".repeat(100 * 1024)});
    assert_error(&send(&app, "POST", "/admin/overrides", &item).await, 413, &[]);
    assert_eq!(get(&app, "/admin/rotations/primary").await.json["version"], 0);
}

#[tokio::test]
async fn an_unknown_admin_route_is_404_once_authorized() {
    let app = admin_app().await;
    assert_error(&get(&app, "/admin/no-such-route").await, 404, &[]);
}
