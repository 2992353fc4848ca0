//! Night calls checked against Salesforce Service Cloud, faked by a local HTTP server that answers as
//! Salesforce's REST API documents it: the OAuth 2.0 client-credentials token (`POST /services/oauth2/token`,
//! an answer without `expires_in`), the SOQL query (`GET /services/data/v62.0/query?q=...`, records with
//! their relationships and `attributes`), errors as `[{"message": ..., "errorCode": ...}]`, and a
//! `CaseComment` created by `POST /services/data/v62.0/sobjects/CaseComment`.
//!
//! The shipped configuration has no `[cases.salesforce]` table: every test creates it from the environment.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{any, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::cases::{CANNOT_BE_HELPED, DEADLINE, UNVERIFIED, VERIFIED};
use crate::helpers::*;

const CLIENT_ID: &str = "3MVG9sf-consumer-key";
const CLIENT_SECRET: &str = "sf-consumer-secret";
const FIRST_TOKEN: &str = "00D5g000001AbCd!AQ4AQFirstToken";
const SECOND_TOKEN: &str = "00D5g000001AbCd!AQ4AQSecondToken";
const CASE_RECORD_ID: &str = "5005g00000AbCdEAAV";
const QUERY_PATH: &str = "/services/data/v62.0/query";
const COMMENT_PATH: &str = "/services/data/v62.0/sobjects/CaseComment";

/// Friday night on the US line, with Salesforce at `server` set up from the environment alone.
pub(crate) fn night_line_with_salesforce(server: &MockServer) -> Spawn {
    friday_night()
        .cases(&server.uri())
        .env("AFTERHOURS_CASES__ADAPTER", "salesforce")
        .env("AFTERHOURS_CASES__SALESFORCE__ENVIRONMENT_FIELD", "Environment__c")
        .env(
            "AFTERHOURS_CASES__SALESFORCE__SUPPORT_PACKAGE_FIELD",
            "Account.Support_Package__c",
        )
        .env("AFTERHOURS_CASES__CLIENT_ID", CLIENT_ID)
        .env("AFTERHOURS_CASES__CLIENT_SECRET", CLIENT_SECRET)
        .env("AFTERHOURS_CASES__NOTES__BACKOFF_MS", "20")
}

/// The case record the query answers for case 00123456: Critical, Escalated (open), Production, of ACME Corp
/// (Premium), the caller the contact's phone.
pub(crate) fn case_record() -> Value {
    json!({
        "attributes": {"type": "Case", "url": format!("/services/data/v62.0/sobjects/Case/{CASE_RECORD_ID}")},
        "Id": CASE_RECORD_ID,
        "CaseNumber": "00123456",
        "Priority": "Critical",
        "Status": "Escalated",
        "IsClosed": false,
        "Environment__c": "Production",
        "Account": {
            "attributes": {"type": "Account", "url": "/services/data/v62.0/sobjects/Account/0015g00000XyZ12AAB"},
            "Name": "ACME Corp",
            "Support_Package__c": "Premium",
        },
        "Contact": {
            "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/0035g00000QrSt1AAB"},
            "Phone": CALLER,
            "MobilePhone": null,
        },
    })
}

/// A query answer with `records`.
fn query_answer(records: Vec<Value>) -> Value {
    json!({"totalSize": records.len(), "done": true, "records": records})
}

/// Salesforce's error answer.
fn sf_error(code: &str, message: &str) -> Value {
    json!([{"message": message, "errorCode": code}])
}

/// The token endpoint's answer to the client-credentials flow: no `expires_in`, no refresh token.
fn token_answer(token: &str, base: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "signature": "Yp3Wf2NnM0f1v1dY0vOa3o7H4nCqk1xq6HkT7R8gG9s=",
        "scope": "api",
        "instance_url": base,
        "id": "https://login.salesforce.com/id/00D5g000001AbCdEAK/0055g00000AbCdEAAV",
        "token_type": "Bearer",
        "issued_at": "1795830733000",
    }))
}

/// An org whose token endpoint gives `FIRST_TOKEN` for the connected app's credentials, which refuses any
/// other token with 401 `INVALID_SESSION_ID`, and takes case comments.
pub(crate) async fn salesforce() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(401).set_body_json(sf_error("INVALID_SESSION_ID", "Session expired or invalid")),
        )
        .with_priority(100)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_client", "error_description": "invalid client credentials"})),
        )
        .with_priority(50)
        .mount(&server)
        .await;
    token_gives(&server, FIRST_TOKEN, 20).await;
    comments_answer(
        &server,
        FIRST_TOKEN,
        ResponseTemplate::new(201).set_body_json(json!({"id": "00a5g00000LmNoPAAV", "success": true, "errors": []})),
    )
    .await;
    server
}

/// The token endpoint gives `token` for the right credentials (at `priority`: lower wins).
async fn token_gives(server: &MockServer, token: &str, priority: u8) {
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}")))
        .and(body_string_contains(format!("client_secret={CLIENT_SECRET}")))
        .respond_with(token_answer(token, &server.uri()))
        .with_priority(priority)
        .mount(server)
        .await;
}

/// Comments made with `token` are answered with `reply`.
async fn comments_answer(server: &MockServer, token: &str, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(COMMENT_PATH))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(reply)
        .with_priority(10)
        .mount(server)
        .await;
}

/// Queries made with `token` are answered with `reply`.
async fn queries_answer(server: &MockServer, token: &str, reply: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(QUERY_PATH))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(reply)
        .with_priority(10)
        .mount(server)
        .await;
}

/// The org holds case 00123456 as `record`: queries by that CaseNumber find it (the note's query, which
/// selects the Id alone, gets the Id alone); any other finds nothing.
pub(crate) async fn holds(server: &MockServer, record: Value) {
    let respond = move |request: &Request| {
        let soql = soql_of(request);
        if !soql.contains("WHERE CaseNumber = '00123456'") {
            return ResponseTemplate::new(200).set_body_json(query_answer(vec![]));
        }
        let found = if soql.starts_with("SELECT Id FROM Case") {
            json!({"attributes": record["attributes"].clone(), "Id": record["Id"].clone()})
        } else {
            record.clone()
        };
        ResponseTemplate::new(200).set_body_json(query_answer(vec![found]))
    };
    Mock::given(method("GET"))
        .and(path(QUERY_PATH))
        .and(header("authorization", format!("Bearer {FIRST_TOKEN}").as_str()))
        .respond_with(respond)
        .with_priority(10)
        .mount(server)
        .await;
}

/// The SOQL of a query request.
fn soql_of(request: &Request) -> String {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A call that enters `digits` at the case-number prompt: what the caller hears next.
async fn call_about(app: &TestApp, digits: &str) -> Twiml {
    let first = app.incoming(CALLER, US_LINE).await;
    app.follow(first.action(), &[("Digits", digits)]).await
}

/// The requests the org has received to `at` with `verb`.
async fn requests_to(server: &MockServer, verb: &str, at: &str) -> Vec<Request> {
    let requests = server.received_requests().await.unwrap();
    requests
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == at)
        .collect()
}

/// Waits (up to 5 s) until the org has received `count` requests to `at` with `verb`; returns them.
async fn wait_for(server: &MockServer, verb: &str, at: &str, count: usize) -> Vec<Request> {
    for _ in 0..100 {
        let found = requests_to(server, verb, at).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} {verb} {at} within 5 s");
}

#[tokio::test]
async fn a_critical_production_case_is_verified_with_the_account_as_customer() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert!(!twiml.dial_numbers.is_empty());
}

#[tokio::test]
async fn the_lookup_is_one_soql_query_by_case_number_with_the_client_credentials_token() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org).start().await;

    call_about(&app, "123456").await;

    let tokens = requests_to(&org, "POST", "/services/oauth2/token").await;
    assert_eq!(tokens.len(), 1);
    let form: Vec<(String, String)> = form_urlencoded::parse(&tokens[0].body).into_owned().collect();
    assert_eq!(
        form,
        [
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), CLIENT_ID.to_owned()),
            ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
        ]
    );
    let queries = requests_to(&org, "GET", QUERY_PATH).await;
    assert_eq!(
        queries.len(),
        1,
        "one request reads the case, its account and its contact"
    );
    assert_eq!(
        soql_of(&queries[0]),
        "SELECT Id, CaseNumber, Priority, Status, IsClosed, Environment__c, Account.Support_Package__c, \
         Account.Name, Contact.Phone, Contact.MobilePhone FROM Case WHERE CaseNumber = '00123456' LIMIT 1"
    );
    assert_eq!(
        queries[0].headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {FIRST_TOKEN}")
    );
}

#[tokio::test]
async fn the_token_is_kept_for_the_next_calls() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org).start().await;

    for _ in 0..3 {
        assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
    }

    assert_eq!(requests_to(&org, "POST", "/services/oauth2/token").await.len(), 1);
    assert_eq!(requests_to(&org, "GET", QUERY_PATH).await.len(), 3);
}

#[tokio::test]
async fn a_session_that_ended_early_is_replaced_and_the_query_tried_again() {
    let org = MockServer::start().await;
    // The first token is refused as an expired session; the token endpoint then gives a second one.
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token_answer(FIRST_TOKEN, &org.uri()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&org)
        .await;
    token_gives(&org, SECOND_TOKEN, 20).await;
    queries_answer(
        &org,
        FIRST_TOKEN,
        ResponseTemplate::new(401).set_body_json(sf_error("INVALID_SESSION_ID", "Session expired or invalid")),
    )
    .await;
    queries_answer(
        &org,
        SECOND_TOKEN,
        ResponseTemplate::new(200).set_body_json(query_answer(vec![case_record()])),
    )
    .await;
    let app = night_line_with_salesforce(&org).start().await;

    let twiml = call_about(&app, "123456").await;

    assert_eq!(twiml.says[0], VERIFIED, "{}", twiml.said());
    assert_eq!(requests_to(&org, "POST", "/services/oauth2/token").await.len(), 2);
    assert_eq!(requests_to(&org, "GET", QUERY_PATH).await.len(), 2);
    // The new token serves the next call without another fetch.
    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);
    assert_eq!(requests_to(&org, "POST", "/services/oauth2/token").await.len(), 2);
}

#[tokio::test]
async fn a_token_refused_twice_leaves_the_case_unverified_without_a_loop() {
    let org = salesforce().await;
    queries_answer(
        &org,
        FIRST_TOKEN,
        ResponseTemplate::new(401).set_body_json(sf_error("INVALID_SESSION_ID", "Session expired or invalid")),
    )
    .await;
    let app = night_line_with_salesforce(&org).start().await;

    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
    assert_eq!(requests_to(&org, "POST", "/services/oauth2/token").await.len(), 2);
    assert_eq!(requests_to(&org, "GET", QUERY_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_slow_token_and_a_slow_query_together_keep_within_timeout_ms() {
    let org = MockServer::start().await;
    // Each exchange keeps within the 1500 ms limit; the two together do not.
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(token_answer(FIRST_TOKEN, &org.uri()).set_delay(Duration::from_millis(1000)))
        .mount(&org)
        .await;
    queries_answer(
        &org,
        FIRST_TOKEN,
        ResponseTemplate::new(200)
            .set_body_json(query_answer(vec![case_record()]))
            .set_delay(Duration::from_millis(1000)),
    )
    .await;
    let app = night_line_with_salesforce(&org)
        .env("AFTERHOURS_CASES__TIMEOUT_MS", "1500")
        .start()
        .await;

    let first = app.incoming(CALLER, US_LINE).await;
    let started = std::time::Instant::now();
    let twiml = app.follow(first.action(), &[("Digits", "123456")]).await;

    assert_eq!(twiml.says[0], UNVERIFIED, "{}", twiml.said());
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_wrong_client_secret_leaves_the_case_unverified_rather_than_not_found() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org)
        .env("AFTERHOURS_CASES__CLIENT_SECRET", "wrong")
        .start()
        .await;

    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn the_orgs_request_limit_leaves_the_case_unverified() {
    for reply in [
        ResponseTemplate::new(403).set_body_json(sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")),
        ResponseTemplate::new(429)
            .set_body_json(sf_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests Limit exceeded.")),
    ] {
        let org = salesforce().await;
        queries_answer(&org, FIRST_TOKEN, reply).await;
        let app = night_line_with_salesforce(&org).start().await;

        assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
    }
}

#[tokio::test]
async fn a_query_that_finds_no_case_is_no_such_case() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org)
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .start()
        .await;

    let twiml = call_about(&app, "123").await;

    assert_eq!(twiml.says[0], "We could not find case 1 2 3.", "{}", twiml.said());
    assert!(!twiml.hangup);
}

#[tokio::test]
async fn a_404_from_a_wrong_api_version_leaves_the_case_unverified() {
    let org = salesforce().await;
    queries_answer(
        &org,
        FIRST_TOKEN,
        ResponseTemplate::new(404).set_body_json(sf_error("NOT_FOUND", "The requested resource does not exist")),
    )
    .await;
    let app = night_line_with_salesforce(&org).start().await;

    assert_eq!(call_about(&app, "123456").await.says[0], UNVERIFIED);
}

#[tokio::test]
async fn is_closed_priority_environment_and_package_decide_as_for_every_case_system() {
    let with = |field: &str, value: Value| {
        let mut record = case_record();
        match field.split_once('.') {
            Some((relationship, name)) => record[relationship][name] = value,
            None => record[field] = value,
        }
        record
    };
    let table = [
        (with("IsClosed", json!(true)), "Case 1 2 3 4 5 6 is closed."),
        (
            with("Priority", json!("High")),
            "Case 1 2 3 4 5 6 is not marked as critical.",
        ),
        (
            with("Environment__c", json!("Sandbox")),
            "Case 1 2 3 4 5 6 is not about a production system.",
        ),
        (
            with("Account.Support_Package__c", json!("Standard")),
            "Your support package does not include after-hours phone support.",
        ),
    ];
    for (record, heard) in table {
        let org = salesforce().await;
        holds(&org, record).await;
        let app = night_line_with_salesforce(&org).start().await;

        let said = call_about(&app, "123456").await.said();
        assert!(said.starts_with(heard), "{said}");
        // A closed case is told to open a new one; the others, when the first response is due.
        assert!(heard.ends_with("is closed.") || said.contains(DEADLINE), "{said}");
    }
}

#[tokio::test]
async fn the_contacts_mobile_phone_registers_the_caller_and_a_stranger_is_refused() {
    let org = salesforce().await;
    let mut record = case_record();
    record["Contact"]["Phone"] = json!("+1 (555) 000-1111");
    record["Contact"]["MobilePhone"] = json!("(555) 123-4567");
    holds(&org, record).await;
    let app = night_line_with_salesforce(&org).start().await;
    assert_eq!(call_about(&app, "123456").await.says[0], VERIFIED);

    let org = salesforce().await;
    let mut record = case_record();
    record["Contact"]["Phone"] = json!("+15559999999");
    holds(&org, record).await;
    let app = night_line_with_salesforce(&org).start().await;
    let twiml = call_about(&app, "123456").await;
    assert!(twiml.says[0].starts_with(CANNOT_BE_HELPED), "{}", twiml.said());
}

#[tokio::test]
async fn the_call_is_noted_on_the_case_as_a_private_case_comment() {
    let org = salesforce().await;
    holds(&org, case_record()).await;
    let app = night_line_with_salesforce(&org).start().await;

    let heard = call_about(&app, "123456").await;
    crate::cases::ring_out(&app, heard).await;

    let comment = wait_for(&org, "POST", COMMENT_PATH, 1).await.remove(0);
    assert_eq!(
        comment.headers.get("authorization").unwrap().to_str().unwrap(),
        format!("Bearer {FIRST_TOKEN}")
    );
    assert_eq!(
        comment.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    let body: Value = comment.body_json().unwrap();
    let text = body["CommentBody"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"ParentId": CASE_RECORD_ID, "CommentBody": text, "IsPublished": false}),
        "a private comment on the case's record, and nothing else"
    );
    assert!(
        text.contains("Decision: verified as a critical production case."),
        "{text}"
    );
    assert!(text.contains("from +15551234567"), "{text}");
    let note_query = requests_to(&org, "GET", QUERY_PATH).await.pop().unwrap();
    assert_eq!(
        soql_of(&note_query),
        "SELECT Id FROM Case WHERE CaseNumber = '00123456' LIMIT 1"
    );
}

#[tokio::test]
async fn a_comment_refused_for_the_request_limit_is_tried_again() {
    let org = MockServer::start().await;
    token_gives(&org, FIRST_TOKEN, 20).await;
    holds(&org, case_record()).await;
    Mock::given(method("POST"))
        .and(path(COMMENT_PATH))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&org)
        .await;
    comments_answer(
        &org,
        FIRST_TOKEN,
        ResponseTemplate::new(201).set_body_json(json!({"id": "00a5g00000LmNoPAAV", "success": true, "errors": []})),
    )
    .await;
    let app = night_line_with_salesforce(&org).start().await;

    let heard = call_about(&app, "123456").await;
    crate::cases::ring_out(&app, heard).await;

    let comments = wait_for(&org, "POST", COMMENT_PATH, 2).await;
    assert_eq!(comments[0].body, comments[1].body, "the same comment, again");
}

fn load(env: &[(&str, &str)]) -> afterhours::assembly::Config {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    afterhours::assembly::Config::load_with_env(&config, &env).unwrap()
}

#[test]
fn the_environment_alone_creates_the_salesforce_settings() {
    let config = load(&[
        ("AFTERHOURS_CASES__ADAPTER", "salesforce"),
        ("AFTERHOURS_CASES__BASE_URL", "https://acme.my.salesforce.com"),
        ("AFTERHOURS_CASES__SALESFORCE__ENVIRONMENT_FIELD", "Environment__c"),
        ("AFTERHOURS_CASES__SALESFORCE__API_VERSION", "64.0"),
    ]);
    let cases = config.settings.cases.unwrap();
    assert_eq!(cases.adapter, afterhours::settings::CaseAdapter::Salesforce);
    let salesforce = cases.salesforce.unwrap();
    assert_eq!(
        salesforce.environment_field,
        afterhours::settings::FieldPath::parse("Environment__c").unwrap()
    );
    assert_eq!(salesforce.session_secs.get(), 1800);
    assert_eq!(salesforce.case_number_width.get(), 8);
}

#[test]
fn the_salesforce_adapter_without_its_client_credentials_is_reported_as_missing_secrets() {
    let config = load(&[
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN),
        ("AFTERHOURS_CASES__ADAPTER", "salesforce"),
        ("AFTERHOURS_CASES__BASE_URL", "https://acme.my.salesforce.com"),
        ("AFTERHOURS_CASES__SALESFORCE__ENVIRONMENT_FIELD", "Environment__c"),
    ]);
    let missing: Vec<String> = config.missing_secrets().iter().map(|e| e.to_string()).collect();
    for var in ["AFTERHOURS_CASES__CLIENT_ID", "AFTERHOURS_CASES__CLIENT_SECRET"] {
        assert!(missing.iter().any(|m| m.contains(var)), "{var}: {missing:?}");
    }
    assert!(
        !missing.iter().any(|m| m.contains("AFTERHOURS_CASES__TOKEN")),
        "{missing:?}"
    );
}

#[test]
fn a_salesforce_base_url_with_a_path_or_without_its_section_is_refused() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let errors = afterhours::assembly::Config::load_with_env(
        &config,
        &env(&[
            ("AFTERHOURS_CASES__ADAPTER", "salesforce"),
            (
                "AFTERHOURS_CASES__BASE_URL",
                "https://acme.my.salesforce.com/services/data/v62.0",
            ),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        errors.contains("cases.salesforce: missing: adapter \"salesforce\" needs a [cases.salesforce] section"),
        "{errors}"
    );
    assert!(
        errors.contains("cases.base_url: https://acme.my.salesforce.com/services/data/v62.0 has a path"),
        "{errors}"
    );
    let errors = afterhours::assembly::Config::load_with_env(
        &config,
        &env(&[
            ("AFTERHOURS_CASES__ADAPTER", "salesforce"),
            ("AFTERHOURS_CASES__SALESFORCE__ENVIRONMENT_FIELD", "Environment__c, Id"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("invalid field \"Environment__c, Id\""), "{errors}");
}
