//! The service on a Redis Cluster of three primaries, which `scripts/test` starts and names in
//! AFTERHOURS_TEST_REDIS_CLUSTER_URLS: the rotation imported with the real binary (`afterhours rotation
//! import`), a whole call over real HTTP (verified, rung, accepted, noted), and its record closed into the call
//! log. Every key of the test has a prefix of its own, so that its calls and rotations spread over the slots.
//! The store's behaviours on the cluster, one by one, are in tests/store.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use afterhours::store::Store;
use afterhours::store::redis::{Access, RedisStore, Topology};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use helpers::*;

const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
const BOB: &str = "+15550100002";
const CAROL: &str = "+15550100003";
const CAROL_LEG: &str = "CA0000000000000000000000000000ca01";

/// The cluster's nodes, as a TOML list for AFTERHOURS_REDIS__CLUSTER, and one by one.
fn cluster_nodes() -> (String, Vec<String>) {
    let urls = std::env::var("AFTERHOURS_TEST_REDIS_CLUSTER_URLS").expect(
        "AFTERHOURS_TEST_REDIS_CLUSTER_URLS is not set: run the tests with ./scripts/test, which starts a Redis Cluster",
    );
    let nodes: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let list = format!(
        "[{}]",
        nodes.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    );
    (list, nodes)
}

fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn store(prefix: &str) -> RedisStore {
    RedisStore::open(&Topology::Cluster(cluster_nodes().1), &Access::default(), prefix).unwrap()
}

/// `afterhours rotation import config/oncall.toml` on the cluster, under `prefix`, run as a user runs it.
fn import(prefix: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_afterhours"))
        .arg("--config")
        .arg(shipped("config/afterhours.toml"))
        .args(["rotation", "import"])
        .arg(shipped("config/oncall.toml"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN)
        .env("AFTERHOURS_REDIS__CLUSTER", cluster_nodes().0)
        .env("AFTERHOURS_REDIS__PREFIX", prefix)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rotation import failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A case system that knows case 123456 (critical, production, open, ACME Corp, the caller's number on it)
/// and takes every note.
async fn case_system() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cases/123456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "123456",
            "severity": "critical",
            "environment": "production",
            "status": "open",
            "customer": "ACME Corp",
            "contact_phones": [CALLER],
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/cases/[0-9]+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "n-1"})))
        .mount(&server)
        .await;
    server
}

fn path_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
}

/// The dial ends: Twilio POSTs the `<Dial action>` on the caller's call.
async fn dial_ends(app: &TestApp, dial: &Twiml, status: &str) -> Twiml {
    let action = dial
        .dial_action
        .clone()
        .unwrap_or_else(|| panic!("no <Dial>: {}", dial.xml));
    let mut extra = vec![("DialCallStatus", status)];
    if status == "completed" {
        extra.extend([("DialCallSid", CAROL_LEG), ("DialCallDuration", "312")]);
    }
    app.follow(&action, &extra).await
}

fn dialled(twiml: &Twiml) -> Vec<&str> {
    twiml.dial_numbers.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn a_whole_call_on_the_cluster_is_bridged_accepted_noted_and_logged_once() {
    let prefix = format!("test:cluster:{}:", std::process::id());
    import(&prefix);
    let data = store(&prefix).load().await.unwrap();
    assert_eq!(data.rotations.len(), 3, "the import reached the cluster whole");

    let cases = case_system().await;
    let app = friday_night()
        .cases(&cases.uri())
        .env("AFTERHOURS_REDIS__CLUSTER", &cluster_nodes().0)
        .env("AFTERHOURS_REDIS__PREFIX", &prefix)
        .start()
        .await;

    // The caller enters the case: verified, and tier 1 (Bob) rings; he does not answer, tier 2 (Carol) rings.
    let greeting = app.incoming(CALLER, US_LINE).await;
    let tier_1 = app.follow(greeting.action(), &[("Digits", "123456#")]).await;
    assert_eq!(dialled(&tier_1), [BOB], "{}", tier_1.xml);
    let tier_2 = dial_ends(&app, &tier_1, "no-answer").await;
    assert_eq!(dialled(&tier_2), [CAROL], "{}", tier_2.xml);

    // Carol picks up, hears the whisper and presses 1: the acceptance is in the cluster.
    let whisper_url = tier_2.dial_numbers[0].1.clone();
    let leg = params(&[
        ("CallSid", CAROL_LEG),
        ("ParentCallSid", CALL_SID),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", US_LINE),
        ("To", CAROL),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-dial"),
    ]);
    let whisper = app.post_signed(path_of(&whisper_url), &leg).await.twiml();
    let mut pressed = leg.clone();
    pressed.extend(params(&[("Digits", "1")]));
    let accepted = app.post_signed(path_of(whisper.action()), &pressed).await.twiml();
    assert_eq!(accepted.says, ["Connecting you now."], "{}", accepted.xml);
    assert_eq!(
        store(&prefix).acceptance(CALL_SID, 1).await.unwrap().as_deref(),
        Some("carol")
    );

    // The bridged call ends, and the final status callback closes the record, twice (a replay).
    let end = dial_ends(&app, &tier_2, "completed").await;
    assert!(end.hangup, "{}", end.xml);
    let mut status = call_fields(CALLER, US_LINE);
    status.retain(|(k, _)| k != "CallStatus");
    status.extend(params(&[("CallStatus", "completed"), ("CallDuration", "340")]));
    for _ in 0..2 {
        assert_eq!(app.post_signed("/voice/status", &status).await.status, 200);
    }

    let mut records = Vec::new();
    for _ in 0..100 {
        records = store(&prefix).calls(None, 10).await.unwrap();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = store(&prefix).calls(None, 10).await.unwrap();
    assert_eq!(again.len(), 1, "one record for the call: {again:#?}");
    let record = &records[0];
    assert_eq!(record.call_sid, CALL_SID);
    assert_eq!(record.summary["case"], "123456");
    assert_eq!(record.summary["accepted"], "carol");
    assert_eq!(
        (record.status.as_deref(), record.duration_secs),
        (Some("completed"), Some(340))
    );

    // One note on the case, sent through the once-per-call claim in the call's slot.
    let mut notes = 0;
    for _ in 0..100 {
        notes = cases
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        if notes > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn check_reads_the_rotations_from_the_cluster() {
    let prefix = format!("test:cluster-check:{}:", std::process::id());
    let run = |prefix: &str| {
        Command::new(env!("CARGO_BIN_EXE_afterhours"))
            .arg("--config")
            .arg(shipped("config/afterhours.toml"))
            .arg("check")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN)
            .env("AFTERHOURS_REDIS__CLUSTER", cluster_nodes().0)
            .env("AFTERHOURS_REDIS__PREFIX", prefix)
            .output()
            .unwrap()
    };
    let empty = run(&prefix);
    assert!(!empty.status.success(), "no policy in the cluster yet");
    assert!(String::from_utf8_lossy(&empty.stderr).contains("is not in Redis"));

    import(&prefix);
    let imported = run(&prefix);
    assert!(
        imported.status.success(),
        "{}{}",
        String::from_utf8_lossy(&imported.stdout),
        String::from_utf8_lossy(&imported.stderr)
    );
}
