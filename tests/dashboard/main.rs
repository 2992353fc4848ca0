//! The dashboard in a real headless Chromium, driven through WebDriver: logging in, the overview's engineer
//! on call, an override added through the form winning on the overview and removed again, and a call made
//! through the webhooks on the calls page. The CSRF checks are tested with a plain HTTP client, which sends
//! what a browser would refuse to.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod browser;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::time::Duration;

use browser::Browser;
use helpers::*;

const ADMIN: &str = "dashboard-admin-token";

/// Who the admin API says is first on call on the US line now: (tier 1's engineer id, name).
async fn on_call_now(app: &TestApp) -> (String, String) {
    let response = app
        .client
        .get(app.url("/admin/oncall?line=us"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let engineer = &body["tiers"][0]["people"][0]["engineer"];
    (
        engineer["id"].as_str().unwrap().to_owned(),
        engineer["name"].as_str().unwrap().to_owned(),
    )
}

/// Logs in through the form as "Dana Ops" and waits for the overview.
async fn log_in(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/dashboard")).await;
    assert_eq!(
        browser.path().await,
        "/dashboard/login",
        "a page without a session goes to the login form"
    );
    browser.type_into("#name", "Dana Ops").await;
    browser.type_into("#token", ADMIN).await;
    browser.click("form[action='/dashboard/login'] button").await;
    browser.wait_for_text("Readiness").await;
    assert_eq!(browser.path().await, "/dashboard");
}

/// The text of the US line's row on the overview.
async fn us_row(browser: &Browser, app: &TestApp) -> String {
    browser.goto(&app.url("/dashboard")).await;
    browser.wait_for_text("Readiness").await;
    let row = browser
        .client
        .find(fantoccini::Locator::Css("tr[data-line='us']"))
        .await
        .unwrap();
    row.text().await.unwrap()
}

#[tokio::test]
async fn logging_in_shows_the_engineer_on_call_on_the_overview() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let (_, name) = on_call_now(&app).await;
    let browser = Browser::start().await;

    browser.goto(&app.url("/dashboard/login")).await;
    browser.type_into("#name", "Dana Ops").await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("form[action='/dashboard/login'] button").await;
    browser.wait_for_text("that is not the admin token").await;

    log_in(&browser, &app).await;
    let row = us_row(&browser, &app).await;
    assert!(row.contains("After hours"), "{row}");
    assert!(row.contains(&name), "the overview names {name} on call: {row}");
    assert!(row.contains("until"), "{row}");
    let page = browser.wait_for_text("Redis").await;
    assert!(page.contains("On-call cache"), "{page}");

    if std::env::var_os("AFTERHOURS_UPDATE_SCREENSHOT").is_some() {
        let png = browser.client.screenshot().await.unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard-overview.png");
        std::fs::write(path, png).unwrap();
    }

    browser.click("form[action='/dashboard/logout'] button").await;
    browser.wait_for_text("Admin token").await;
    browser.goto(&app.url("/dashboard")).await;
    assert_eq!(browser.path().await, "/dashboard/login", "logged out");
    browser.stop().await;
}

#[tokio::test]
async fn an_override_added_through_the_form_wins_on_the_overview_until_it_is_removed() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let (on_call, on_call_name) = on_call_now(&app).await;
    let (stand_in, stand_in_name) = if on_call == "dave" {
        ("carol", "Carol Nguyen")
    } else {
        ("dave", "Dave Price")
    };
    let browser = Browser::start().await;
    log_in(&browser, &app).await;

    browser.goto(&app.url("/dashboard/overrides")).await;
    browser.wait_for_text("Add an override").await;
    // An end before the start: the model's own words, next to the end field.
    browser.set_value("start", "2026-11-28T08:00").await;
    browser.set_value("end", "2026-11-27T18:00").await;
    browser.set_value("zone", "America/New_York").await;
    browser.click("form[action='/dashboard/overrides'] button").await;
    let page = browser.wait_for_text("before it starts").await;
    assert!(page.contains("the override ends"), "{page}");

    let engineer = browser
        .client
        .find(fantoccini::Locator::Css("#engineer"))
        .await
        .unwrap();
    engineer.select_by_value(stand_in).await.unwrap();
    let rotation = browser
        .client
        .find(fantoccini::Locator::Css("#rotation"))
        .await
        .unwrap();
    rotation.select_by_value("primary").await.unwrap();
    browser.set_value("start", "2026-11-27T18:00").await;
    browser.set_value("end", "2026-11-28T08:00").await;
    browser.set_value("zone", "America/New_York").await;
    browser.click("form[action='/dashboard/overrides'] button").await;
    let page = browser.wait_for_text("added override").await;
    assert!(page.contains("Dana Ops"), "the change names who made it: {page}");

    let row = us_row(&browser, &app).await;
    assert!(
        row.contains(&format!("{stand_in_name} (primary)")),
        "the override wins: {row}"
    );
    assert!(!row.contains(&format!("{on_call_name} (primary)")), "{row}");

    browser.goto(&app.url("/dashboard/rotations")).await;
    let page = browser.wait_for_text("override primary-20261127T230000Z").await;
    assert!(page.contains(stand_in_name), "{page}");

    browser.goto(&app.url("/dashboard/overrides")).await;
    browser.wait_for_text("Add an override").await;
    browser
        .click("tr[data-override='primary-20261127T230000Z'] button")
        .await;
    let page = browser.wait_for_text("removed override primary-20261127T230000Z").await;
    assert!(page.contains("Dana Ops"), "{page}");
    let row = us_row(&browser, &app).await;
    assert!(
        row.contains(&format!("{on_call_name} (primary)")),
        "back to the schedule: {row}"
    );
    browser.stop().await;
}

#[tokio::test]
async fn a_call_made_through_the_webhooks_is_on_the_calls_page_with_its_timeline() {
    let app = tuesday_morning().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    assert!(app.incoming(CALLER, US_LINE).await.hangup);
    let mut fields = call_fields(CALLER, US_LINE);
    fields.retain(|(k, _)| k != "CallStatus");
    fields.extend(params(&[("CallStatus", "completed"), ("CallDuration", "42")]));
    assert_eq!(app.post_signed("/voice/status", &fields).await.status, 200);

    let browser = Browser::start().await;
    log_in(&browser, &app).await;
    let deadline = std::time::Instant::now() + browser::WAIT;
    loop {
        browser.goto(&app.url("/dashboard/calls?line=us")).await;
        let page = browser.wait_for_text(" · page ").await;
        if page.contains("+*******4567") {
            assert!(page.contains("42 s"), "{page}");
            assert!(!page.contains(CALLER), "the caller is masked: {page}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the call is not listed: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.click("#calls tbody tr a").await;
    let page = browser.wait_for_text("Timeline").await;
    assert!(page.contains("business hours: open"), "{page}");
    browser.stop().await;
}

const FORM: &str = "application/x-www-form-urlencoded";

/// `fields` as a url-encoded form body.
fn encode(fields: &[(&str, &str)]) -> String {
    form(
        &fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>(),
    )
}

/// A reqwest client that keeps no cookies and follows no redirects: it sends exactly what the test says.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The value of hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no field {name}: {page}")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn forms_without_their_csrf_token_or_from_another_site_are_refused() {
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let client = plain_client();

    let form = client.get(app.url("/dashboard/login")).send().await.unwrap();
    let nonce_cookie = set_cookie(&form, "afterhours_login").unwrap();
    let header = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    assert!(header.contains("Secure"), "the public URL is https: {header}");
    let nonce = hidden(&form.text().await.unwrap(), "nonce");

    let login = |cookie: Option<String>, nonce: String| {
        let mut request = client
            .post(app.url("/dashboard/login"))
            .header("content-type", FORM)
            .body(encode(&[
                ("name", "Mallory"),
                ("token", ADMIN),
                ("nonce", nonce.as_str()),
            ]));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("afterhours_login={cookie}"));
        }
        request.send()
    };
    assert_eq!(
        login(None, nonce.clone()).await.unwrap().status(),
        403,
        "no nonce cookie"
    );
    let response = login(Some(nonce_cookie), nonce).await.unwrap();
    assert_eq!(response.status(), 303);
    let session = set_cookie(&response, "afterhours_session").unwrap();
    let cookie = format!("afterhours_session={session}");

    let page = client
        .get(app.url("/dashboard/overrides"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let add = |fields: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut request = client
            .post(app.url("/dashboard/overrides"))
            .header("cookie", &cookie)
            .header("content-type", FORM)
            .body(encode(
                &fields.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
            ));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let fields = |csrf: Option<&str>| {
        let mut fields = vec![
            ("rotation", "primary".to_owned()),
            ("engineer", "dave".to_owned()),
            ("start", "2026-11-27T18:00".to_owned()),
            ("end", "2026-11-28T08:00".to_owned()),
            ("zone", "America/New_York".to_owned()),
        ];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf.to_owned()));
        }
        fields
    };
    assert_eq!(add(fields(None), None).await.unwrap().status(), 403, "no CSRF token");
    assert_eq!(
        add(fields(Some("forged")), None).await.unwrap().status(),
        403,
        "a wrong CSRF token"
    );
    assert_eq!(
        add(fields(Some(&csrf)), Some("https://evil.example"))
            .await
            .unwrap()
            .status(),
        403,
        "another site"
    );
    let overrides: Vec<serde_json::Value> = app
        .client
        .get(app.url("/admin/overrides?rotation=primary"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    assert!(
        overrides
            .iter()
            .all(|o| o["engineer"] != "dave" || o["id"] == "xmas-2026"),
        "nothing was added: {overrides:?}"
    );
    assert_eq!(
        add(fields(Some(&csrf)), None).await.unwrap().status(),
        303,
        "with its token it works"
    );

    // The pages are not served on the webhook listener.
    let public = client
        .get(format!("{}/dashboard/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);

    // The cookie does not open the JSON API, and the bearer token does not open the pages.
    let api = client
        .get(app.url("/admin/overrides"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let page = client
        .get(app.url("/dashboard"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);

    // Logging out ends the session: the same cookie no longer opens a page.
    let out = client
        .post(app.url("/dashboard/logout"))
        .header("cookie", &cookie)
        .header("content-type", FORM)
        .body(encode(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let page = client
        .get(app.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303, "a logged-out cookie is refused");
}

/// Logs in through the form with a plain client: the session cookie's `name=value`.
async fn session_cookie(client: &reqwest::Client, app: &TestApp) -> String {
    let form = client.get(app.url("/dashboard/login")).send().await.unwrap();
    let nonce_cookie = set_cookie(&form, "afterhours_login").unwrap();
    let nonce = hidden(&form.text().await.unwrap(), "nonce");
    let response = client
        .post(app.url("/dashboard/login"))
        .header("cookie", format!("afterhours_login={nonce_cookie}"))
        .header("content-type", FORM)
        .body(encode(&[
            ("name", "Dana Ops"),
            ("token", ADMIN),
            ("nonce", nonce.as_str()),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    format!(
        "afterhours_session={}",
        set_cookie(&response, "afterhours_session").unwrap()
    )
}

#[tokio::test]
async fn the_overview_shows_the_case_systems_latest_lookup() {
    // No case system listens at the configured address: the lookup fails.
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    let client = plain_client();
    let cookie = session_cookie(&client, &app).await;
    let overview = |cookie: String| {
        let request = client.get(app.url("/dashboard")).header("cookie", cookie);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let page = overview(cookie.clone()).await;
    assert!(page.contains("none since the process started"), "{page}");

    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", "123456")]).await;
    let page = overview(cookie).await;
    assert!(page.contains("cannot reach the case system"), "{page}");
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_ADMIN__FAILED_LOGINS_PER_MINUTE", "2")
        .start()
        .await;
    let client = plain_client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let form = client.get(app.url("/dashboard/login")).send().await.unwrap();
        let cookie = set_cookie(&form, "afterhours_login").unwrap();
        let nonce = hidden(&form.text().await.unwrap(), "nonce");
        let response = client
            .post(app.url("/dashboard/login"))
            .header("cookie", format!("afterhours_login={cookie}"))
            .header("content-type", FORM)
            .body(encode(&[
                ("name", "Mallory"),
                ("token", "guess"),
                ("nonce", nonce.as_str()),
            ]))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
}

/// Points rotation `id` at the outside calendar `url` through the admin API.
async fn follow_calendar(app: &TestApp, id: &str, url: &str) {
    let path = app.url(&format!("/admin/rotations/{id}"));
    let response = app.client.get(&path).bearer_auth(ADMIN).send().await.unwrap();
    let mut rotation: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    rotation["participants"] = serde_json::json!([]);
    rotation["source"] = serde_json::json!({"url": url, "refresh_secs": 300});
    let response = app
        .client
        .put(&path)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(rotation.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// The rotations page of a rotation whose outside calendar names someone the on-call data does not know, and
/// of one whose calendar cannot be fetched: each says so, in `check`'s words, once the server has tried them.
#[tokio::test]
async fn the_rotations_page_says_which_outside_calendars_fail_and_which_events_match_nobody() {
    let calendars = wiremock::MockServer::start().await;
    let unknown = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Grafana Labs//Grafana On-Call//\r\n\
BEGIN:VEVENT\r\nUID:zed\r\nDTSTART:20261127T150000Z\r\nDTEND:20261204T150000Z\r\n\
SUMMARY:Zed Unknown\r\nATTENDEE:mailto:zed@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(unknown, "text/calendar"))
        .mount(&calendars)
        .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = friday_night().env("AFTERHOURS_ADMIN__TOKEN", ADMIN).start().await;
    follow_calendar(&app, "primary", &format!("{}/primary.ics", calendars.uri())).await;
    follow_calendar(&app, "secondary", &format!("http://{closed}/secondary.ics")).await;
    let client = plain_client();
    let cookie = session_cookie(&client, &app).await;

    // The server looks at its outside calendars every 15 s.
    let mut page = String::new();
    for _ in 0..40 {
        let response = client
            .get(app.url("/dashboard/rotations"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        page = response.text().await.unwrap();
        if page.contains("matches no engineer") && page.contains("its outside calendar fails") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        page.contains("rotation primary: the event &quot;Zed Unknown&quot;")
            || page.contains("rotation primary: the event \"Zed Unknown\""),
        "{page}"
    );
    assert!(page.contains("zed@example.com"), "{page}");
    assert!(
        page.contains("rotation secondary: its outside calendar fails"),
        "{page}"
    );
    assert!(
        page.contains("Follows an outside calendar, last fetched well"),
        "{page}"
    );
}

/// The overview shows what the status page announces: here a major incident on Login and API, as
/// Statuspage's `summary.json` gives it.
#[tokio::test]
async fn the_overview_shows_the_status_pages_announcement() {
    use serde_json::json;
    let update = |status: &str, body: &str, at: &str| {
        json!({"id": format!("u-{at}"), "status": status, "body": body, "incident_id": "p31zjtct2jer",
               "created_at": at, "updated_at": at, "display_at": at, "affected_components": null,
               "deliver_notifications": true, "custom_tweet": null, "tweet_id": null})
    };
    let summary = json!({
        "page": {"id": "kctbh9vrtdwd", "name": "Example Cloud", "url": "https://status.example.com",
                 "time_zone": "America/New_York", "updated_at": "2026-11-27T19:52:13.021-05:00"},
        "status": {"indicator": "major", "description": "Partial System Outage"},
        "components": [],
        "incidents": [{
            "id": "p31zjtct2jer", "name": "Elevated error rates", "status": "identified", "impact": "major",
            "created_at": "2026-11-27T19:02:00.000-05:00", "updated_at": "2026-11-27T19:31:00.000-05:00",
            "monitoring_at": null, "resolved_at": null, "shortlink": "http://stspg.io/p31zjtct2jer",
            "started_at": "2026-11-27T19:02:00.000-05:00", "page_id": "kctbh9vrtdwd",
            "incident_updates": [update("identified", "A fix is being deployed.", "2026-11-27T19:31:00.000-05:00")],
            "components": [{"id": "c1", "name": "Login", "status": "major_outage", "page_id": "kctbh9vrtdwd"}]
        }],
        "scheduled_maintenances": []
    });
    let status_page = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(summary))
        .mount(&status_page)
        .await;
    let summary_url = format!("{}/api/v2/summary.json", status_page.uri());
    let app = friday_night()
        .env("AFTERHOURS_ADMIN__TOKEN", ADMIN)
        .env("AFTERHOURS_STATUS_PAGE__URL", &summary_url)
        .start()
        .await;
    let client = plain_client();
    let cookie = session_cookie(&client, &app).await;

    // The status page is fetched in the background, at start.
    let mut page = String::new();
    for _ in 0..40 {
        let response = client
            .get(app.url("/dashboard"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        page = response.text().await.unwrap();
        if page.contains("Elevated error rates") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(page.contains("Elevated error rates"), "{page}");
    assert!(page.contains("A fix is being deployed."), "{page}");
}
