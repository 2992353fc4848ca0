//! The on-call stores, Redis, Redis Cluster and memory, held to the same behaviour. Redis tests run against the
//! real redis-server that `scripts/test` starts (AFTERHOURS_TEST_REDIS_URL), cluster tests against its
//! three-primary Redis Cluster (AFTERHOURS_TEST_REDIS_CLUSTER_URLS); each test has a key prefix of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use afterhours::calllog::{CallClose, CallEntry, CallEvent};
use afterhours::oncall::feed_tokens::{Feed, FeedSubject};
use afterhours::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation, Shift, Target, Tier};
use afterhours::phone::PhoneNumber;
use afterhours::store::memory::MemoryStore;
use afterhours::store::redis::{Access, RedisStore, Topology};
use afterhours::store::{Change, MAX_CHANGES, Store, StoreError, import};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

fn redis_url() -> String {
    std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server")
}

/// A Redis store with a key prefix no other test uses.
fn redis() -> Arc<dyn Store> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("test:{}:{}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    Arc::new(RedisStore::new(&redis_url(), &prefix).unwrap())
}

/// A store on the test cluster with a key prefix no other test uses.
fn cluster() -> Arc<dyn Store> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nodes = std::env::var("AFTERHOURS_TEST_REDIS_CLUSTER_URLS").expect(
        "AFTERHOURS_TEST_REDIS_CLUSTER_URLS is not set: run the tests with ./scripts/test, which starts a Redis Cluster",
    );
    let nodes = nodes.split(',').map(str::to_owned).collect();
    let prefix = format!("test:{}:{}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    Arc::new(RedisStore::open(&Topology::Cluster(nodes), &Access::default(), &prefix).unwrap())
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::default())
}

/// Runs the test `$name` against each store: Redis, Redis Cluster, memory.
macro_rules! both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_redis() {
                super::$name(super::redis()).await
            }

            #[tokio::test]
            async fn on_cluster() {
                super::$name(super::cluster()).await
            }

            #[tokio::test]
            async fn in_memory() {
                super::$name(super::memory()).await
            }
        }
    };
}

fn engineer(id: &str, phone: &str) -> Engineer {
    Engineer {
        id: id.into(),
        name: id.to_uppercase(),
        phone: PhoneNumber::parse(phone).unwrap(),
        time_zone: chrono_tz::America::New_York,
        email: None,
    }
}

fn rotation(id: &str, participants: &[&str]) -> Rotation {
    Rotation {
        id: id.into(),
        name: format!("{id} rotation"),
        time_zone: chrono_tz::America::New_York,
        start: NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap(),
        shift: Shift::Days(7),
        participants: participants.iter().map(|p| p.to_string()).collect(),
        source: None,
        version: 0,
    }
}

fn an_override(id: &str, engineer: &str, day: u32, created_second: u32) -> Override {
    Override {
        id: id.into(),
        rotation: "primary".into(),
        engineer: engineer.into(),
        start: Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 12, day + 1, 0, 0, 0).unwrap(),
        created: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, created_second).unwrap(),
    }
}

async fn a_rotation_is_written_whole_and_versioned(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .replace_rotation(rotation("primary", &["alice", "bob"]), None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .replace_rotation(rotation("primary", &["bob", "carol"]), Some(1))
            .await
            .unwrap(),
        2
    );
    let data = store.load().await.unwrap();
    assert_eq!(data.rotations["primary"].participants, ["bob", "carol"]);
    assert_eq!(data.rotations["primary"].version, 2);
}
both_stores!(a_rotation_is_written_whole_and_versioned);

async fn a_write_over_a_version_it_did_not_read_is_refused(store: Arc<dyn Store>) {
    store
        .replace_rotation(rotation("primary", &["alice"]), None)
        .await
        .unwrap();
    store
        .replace_rotation(rotation("primary", &["bob"]), Some(1))
        .await
        .unwrap();
    let stale = store
        .replace_rotation(rotation("primary", &["carol"]), Some(1))
        .await
        .unwrap_err();
    assert_eq!(
        stale,
        StoreError::StaleVersion {
            rotation: "primary".into(),
            expected: 1,
            current: 2
        }
    );
    assert_eq!(
        store.load().await.unwrap().rotations["primary"].participants,
        ["bob"],
        "kept intact"
    );
}
both_stores!(a_write_over_a_version_it_did_not_read_is_refused);

async fn no_write_is_lost_under_parallel_writers(store: Arc<dyn Store>) {
    store.replace_rotation(rotation("primary", &[]), None).await.unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                // Read, add oneself, write against the version read; on a conflict, read again.
                loop {
                    let mut current = store.load().await.unwrap().rotations["primary"].clone();
                    let version = current.version;
                    current.participants.push(format!("writer{i}"));
                    match store.replace_rotation(current, Some(version)).await {
                        Ok(_) => return,
                        Err(StoreError::StaleVersion { .. }) => tokio::task::yield_now().await,
                        Err(other) => panic!("{other}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let primary = &store.load().await.unwrap().rotations["primary"];
    assert_eq!(primary.version, 17);
    let mut participants = primary.participants.clone();
    participants.sort();
    let mut expected: Vec<String> = (0..16).map(|i| format!("writer{i}")).collect();
    expected.sort();
    assert_eq!(participants, expected, "every writer's change is there");
}
both_stores!(no_write_is_lost_under_parallel_writers);

async fn overrides_are_added_replaced_by_id_and_removed(store: Arc<dyn Store>) {
    let unknown = store.add_override(an_override("a", "dave", 24, 1)).await.unwrap_err();
    assert_eq!(
        unknown,
        StoreError::NotFound {
            what: "rotation",
            id: "primary".into()
        }
    );
    store
        .replace_rotation(rotation("primary", &["alice"]), None)
        .await
        .unwrap();
    store.add_override(an_override("a", "dave", 24, 1)).await.unwrap();
    store.add_override(an_override("b", "erin", 10, 2)).await.unwrap();
    store.add_override(an_override("a", "frank", 24, 3)).await.unwrap();
    let data = store.load().await.unwrap();
    let overrides = &data.overrides["primary"];
    assert_eq!(
        overrides.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"],
        "by start"
    );
    assert_eq!(overrides[1].engineer, "frank", "the same id replaces");
    assert!(store.remove_override("primary", "a").await.unwrap());
    assert!(!store.remove_override("primary", "a").await.unwrap());
    assert_eq!(store.load().await.unwrap().overrides["primary"].len(), 1);
}
both_stores!(overrides_are_added_replaced_by_id_and_removed);

async fn the_first_acceptance_of_an_attempt_stands(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    assert_eq!(store.acceptance("CA1", 0).await.unwrap(), None);
    store.record_acceptance("CA1", 0, "alice", ttl).await.unwrap();
    store.record_acceptance("CA1", 0, "bob", ttl).await.unwrap();
    assert_eq!(store.acceptance("CA1", 0).await.unwrap().as_deref(), Some("alice"));
    assert_eq!(store.acceptance("CA1", 1).await.unwrap(), None, "another attempt");
    assert_eq!(store.acceptance("CA2", 0).await.unwrap(), None, "another call");
}
both_stores!(the_first_acceptance_of_an_attempt_stands);

async fn an_import_writes_everything_and_replaces_the_rotations_overrides(store: Arc<dyn Store>) {
    store
        .replace_rotation(rotation("primary", &["alice"]), None)
        .await
        .unwrap();
    store.add_override(an_override("old", "alice", 3, 1)).await.unwrap();
    let mut data = OnCallData::default();
    for e in [engineer("alice", "+15550100001"), engineer("bob", "+15550100002")] {
        data.engineers.insert(e.id.clone(), e);
    }
    data.rotations
        .insert("primary".into(), rotation("primary", &["alice", "bob"]));
    data.overrides
        .insert("primary".into(), vec![an_override("xmas", "bob", 24, 2)]);
    data.policies.insert(
        "default".into(),
        Policy {
            id: "default".into(),
            tiers: vec![Tier {
                targets: vec![Target::Rotation("primary".into())],
                ring_timeout_secs: 20,
            }],
            repeat: 1,
        },
    );
    import(store.as_ref(), &data).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.engineers, data.engineers);
    assert_eq!(loaded.policies, data.policies);
    assert_eq!(
        loaded.overrides["primary"]
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>(),
        ["xmas"]
    );
    assert_eq!(loaded.rotations["primary"].participants, ["alice", "bob"]);
    let t = Utc.with_ymd_and_hms(2026, 12, 24, 12, 0, 0).unwrap();
    let chain = loaded.on_call("default", t).unwrap();
    assert_eq!(chain.tiers[0].people[0].engineer.id, "bob", "the override is in force");
}
both_stores!(an_import_writes_everything_and_replaces_the_rotations_overrides);

async fn an_ended_session_stays_ended_until_its_time_is_up(store: Arc<dyn Store>) {
    assert!(!store.session_ended("s1").await.unwrap());
    store.end_session("s1", Duration::from_secs(1)).await.unwrap();
    assert!(store.session_ended("s1").await.unwrap());
    assert!(!store.session_ended("s2").await.unwrap(), "another session");
    for _ in 0..40 {
        if !store.session_ended("s1").await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session stayed ended past its time");
}
both_stores!(an_ended_session_stays_ended_until_its_time_is_up);

async fn changes_are_kept_newest_first_up_to_the_cap(store: Arc<dyn Store>) {
    assert!(store.changes(10).await.unwrap().is_empty());
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 20, 0, 0).unwrap();
    for i in 0..MAX_CHANGES + 2 {
        let change = Change {
            at,
            who: "Dana Ops".into(),
            what: format!("change {i}"),
        };
        store.record_change(&change).await.unwrap();
    }
    let changes = store.changes(3).await.unwrap();
    let whats: Vec<&str> = changes.iter().map(|c| c.what.as_str()).collect();
    let last = MAX_CHANGES + 1;
    assert_eq!(
        whats,
        [
            format!("change {last}"),
            format!("change {}", last - 1),
            format!("change {}", last - 2)
        ]
    );
    assert_eq!(changes[0].who, "Dana Ops");
    assert_eq!(changes[0].at, at);
    assert_eq!(store.changes(usize::MAX / 2).await.unwrap().len(), MAX_CHANGES);
}
both_stores!(changes_are_kept_newest_first_up_to_the_cap);

async fn a_once_per_call_action_is_claimed_once(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    assert!(store.claim_once("CA1", "noted", ttl).await.unwrap());
    assert!(!store.claim_once("CA1", "noted", ttl).await.unwrap(), "a replay");
    assert!(store.claim_once("CA2", "noted", ttl).await.unwrap(), "another call");
    assert!(store.claim_once("CA1", "other", ttl).await.unwrap(), "another action");
}
both_stores!(a_once_per_call_action_is_claimed_once);

async fn a_call_is_logged_once_with_everything_its_webhooks_noted(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    store
        .append_entries(&[entry(
            "CA1",
            t,
            &[("line", "us"), ("from", "+15551234567")],
            &["business hours: closed"],
        )])
        .await
        .unwrap();
    store
        .append_entries(&[entry(
            "CA1",
            t + chrono::TimeDelta::seconds(30),
            &[("case", "123456"), ("decision", "verified")],
            &["case 123456: verified"],
        )])
        .await
        .unwrap();
    let close = close("CA1", Some("completed"), Some(42));
    assert_eq!(store.close_calls(std::slice::from_ref(&close)).await.unwrap(), [true]);
    assert_eq!(store.close_calls(&[close]).await.unwrap(), [false], "once");
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.summary["line"], "us");
    assert_eq!(record.summary["decision"], "verified");
    assert_eq!(record.events.len(), 2);
    assert_eq!(record.events[1].what, "case 123456: verified");
    assert_eq!(
        (record.status.as_deref(), record.duration_secs),
        (Some("completed"), Some(42))
    );
    assert_eq!(record.started, Some(t), "the first webhook's time");
}
both_stores!(a_call_is_logged_once_with_everything_its_webhooks_noted);

/// The writer's batches: many calls' entries in one go, then many closes, each record whole and exact,
/// whatever its text holds.
async fn many_calls_are_noted_and_closed_together(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let odd = "Tom \"Tiger\" O'Brien / ACME — Zürich \\ 日本 {x}";
    store
        .append_entries(&[
            entry("CA-a", t, &[("line", "us"), ("customer", odd)], &[odd, "second"]),
            entry("CA-b", t, &[], &[]),
            entry("CA-a", t, &[("accepted", "bob")], &["bridge: bob accepted attempt 1"]),
        ])
        .await
        .unwrap();
    let closed = store
        .close_calls(&[
            close("CA-a", Some("completed"), Some(95)),
            close("CA-b", None, None),
            close("CA-never", Some("completed"), None),
        ])
        .await
        .unwrap();
    assert_eq!(closed, [true, true, false]);
    let mut records = store.calls(None, 10).await.unwrap();
    records.sort_by(|a, b| a.call_sid.cmp(&b.call_sid));
    assert_eq!(records.len(), 2);
    let (a, b) = (&records[0], &records[1]);
    assert_eq!(a.call_sid, "CA-a");
    assert_eq!(a.summary["customer"], odd);
    assert_eq!(a.summary["accepted"], "bob");
    let events: Vec<&str> = a.events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(events, [odd, "second", "bridge: bob accepted attempt 1"]);
    assert_eq!((a.status.as_deref(), a.duration_secs), (Some("completed"), Some(95)));
    assert_eq!(b.call_sid, "CA-b");
    assert!(b.summary.is_empty() && b.events.is_empty());
    assert_eq!((b.status.as_deref(), b.duration_secs, b.started), (None, None, Some(t)));
}
both_stores!(many_calls_are_noted_and_closed_together);

/// What many webhooks at once ask the store (on Redis, sent together in shared round trips): each gets its
/// own answer, as if it had asked alone.
async fn webhooks_at_once_each_get_their_own_answer(store: Arc<dyn Store>) {
    let (ttl, window) = (Duration::from_secs(60), Duration::from_secs(3600));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..300u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let (from, call) = (format!("+1555010{:04}", n % 3), format!("CA-{n}"));
            // Each call's guess added twice (a replayed webhook), claimed twice, accepted by two engineers.
            let counted = store.add_guess(&from, &call, Utc::now(), window).await.unwrap();
            let again = store.add_guess(&from, &call, Utc::now(), window).await.unwrap();
            assert!(again >= counted);
            let claims = [
                store.claim_once(&call, "noted", ttl).await.unwrap(),
                store.claim_once(&call, "noted", ttl).await.unwrap(),
            ];
            assert_eq!(claims, [true, false], "{call}");
            store
                .record_acceptance(&call, 0, &format!("first-{n}"), ttl)
                .await
                .unwrap();
            store.record_acceptance(&call, 0, "second", ttl).await.unwrap();
            let accepted = store.acceptance(&call, 0).await.unwrap();
            assert_eq!(accepted, Some(format!("first-{n}")), "{call}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    for caller in 0..3 {
        let from = format!("+1555010{caller:04}");
        let count = store
            .add_guess(&from, &format!("CA-{caller}"), Utc::now(), window)
            .await
            .unwrap();
        assert_eq!(count, 100, "each of the caller's 100 calls once, the replays not again");
    }
}
both_stores!(webhooks_at_once_each_get_their_own_answer);

/// A command Redis refuses (here a key of the wrong type) fails the webhook that sent it, not the others
/// that shared its round trip.
#[tokio::test]
async fn a_command_redis_refuses_fails_only_its_own_webhook() {
    let prefix = format!("test:{}:refused:", std::process::id());
    let store: Arc<dyn Store> = Arc::new(RedisStore::new(&redis_url(), &prefix).unwrap());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    // The acceptance of call CA-bad is a list, not a string: GET on it is refused.
    let _: () = redis::cmd("RPUSH")
        .arg(format!("{prefix}call:{{CA-bad}}:accepted:0"))
        .arg("x")
        .query_async(&mut raw)
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    store.record_acceptance("CA-good", 0, "alice", ttl).await.unwrap();
    let (bad, good, none) = tokio::join!(
        store.acceptance("CA-bad", 0),
        store.acceptance("CA-good", 0),
        store.acceptance("CA-none", 0),
    );
    assert!(matches!(bad, Err(StoreError::Backend(_))), "{bad:?}");
    assert_eq!(good.unwrap().as_deref(), Some("alice"));
    assert_eq!(none.unwrap(), None);
}

/// A entry whose events happened after its own time keeps each event's time.
async fn each_event_keeps_its_time(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let mut noted = entry("CA-t", t, &[("line", "us")], &["first", "later"]);
    noted.events[1].at = t + chrono::Duration::milliseconds(1500);
    store.append_entries(&[noted.clone()]).await.unwrap();
    assert_eq!(store.close_calls(&[close("CA-t", None, None)]).await.unwrap(), [true]);
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records[0].started, Some(t));
    assert_eq!(records[0].events, noted.events);
}
both_stores!(each_event_keeps_its_time);

/// A webhook replayed many times (and its entry queued again each time) adds its entry once.
async fn a_replayed_webhook_adds_its_entry_once(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let incoming = entry("CA-r", t, &[("line", "us")], &["business hours: closed"]);
    for _ in 0..20 {
        let batch = vec![incoming.clone(); 100];
        store.append_entries(&batch).await.unwrap();
    }
    let digits = entry("CA-r", t, &[("case", "123456")], &["case 123456: verified"]);
    store.append_entries(&[digits.clone(), incoming, digits]).await.unwrap();
    assert_eq!(store.close_calls(&[close("CA-r", None, None)]).await.unwrap(), [true]);
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    let events: Vec<&str> = records[0].events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(events, ["business hours: closed", "case 123456: verified"]);
    assert_eq!(records[0].entries_dropped, 0);
}
both_stores!(a_replayed_webhook_adds_its_entry_once);

/// Past the cap of entries a call, webhooks are counted, not kept.
async fn a_call_keeps_at_most_the_cap_of_entries(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let cap = afterhours::calllog::MAX_ENTRIES_PER_CALL;
    let webhooks: Vec<CallEntry> = (0..cap + 44)
        .map(|n| entry("CA-cap", t, &[], &[&format!("decision {n}")]))
        .collect();
    store.append_entries(&webhooks).await.unwrap();
    store.append_entries(&webhooks[..10]).await.unwrap(); // replays of kept webhooks: not counted
    assert_eq!(store.close_calls(&[close("CA-cap", None, None)]).await.unwrap(), [true]);
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records[0].events.len(), cap);
    assert_eq!(records[0].events[cap - 1].what, format!("decision {}", cap - 1));
    assert_eq!(records[0].entries_dropped, 44);
}
both_stores!(a_call_keeps_at_most_the_cap_of_entries);

/// A call is logged once: a close after the close finds nothing, and webhooks of the call that come after it
/// (a replay of the whole call) add nothing, so a further close makes no second record.
async fn a_call_logged_once_stays_logged_once(store: Arc<dyn Store>) {
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let incoming = entry("CA-once", t, &[("line", "us")], &["business hours: closed"]);
    let completed = close("CA-once", Some("completed"), Some(30));
    for round in 0..50 {
        store.append_entries(std::slice::from_ref(&incoming)).await.unwrap();
        let later = entry("CA-once", t, &[], &[&format!("a webhook after the close, {round}")]);
        store.append_entries(&[later]).await.unwrap();
        let closed = store
            .close_calls(&[completed.clone(), completed.clone()])
            .await
            .unwrap();
        assert_eq!(closed, [round == 0, false], "round {round}");
    }
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records.len(), 1, "{records:#?}");
    let events: Vec<&str> = records[0].events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(events, ["business hours: closed", "a webhook after the close, 0"]);
    assert_eq!(
        store.close_calls(&[close("CA-never", None, None)]).await.unwrap(),
        [false],
        "no record: nothing to close"
    );
}
both_stores!(a_call_logged_once_stays_logged_once);

/// With Redis, the call's keys themselves stay bounded: the entries list at the cap, the webhooks hash at the
/// cap and its counter; after the close, both are gone and the call's webhooks write nothing more.
#[tokio::test]
async fn on_redis_a_replayed_calls_keys_stay_bounded() {
    let prefix = format!("test:{}:bounded:", std::process::id());
    let store: Arc<dyn Store> = Arc::new(RedisStore::new(&redis_url(), &prefix).unwrap());
    let client = redis::Client::open(redis_url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let cap = afterhours::calllog::MAX_ENTRIES_PER_CALL;
    let t = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let webhooks: Vec<CallEntry> = (0..2 * cap)
        .map(|n| entry("CA-k", t, &[], &[&format!("decision {n}")]))
        .collect();
    for _ in 0..3 {
        store.append_entries(&webhooks).await.unwrap();
    }
    let (entries, webhooks_key) = (
        format!("{prefix}call:{{CA-k}}:entries"),
        format!("{prefix}call:{{CA-k}}:webhooks"),
    );
    let (length, fields): (usize, usize) = redis::pipe()
        .llen(&entries)
        .hlen(&webhooks_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        (length, fields),
        (cap, cap + 1),
        "the cap of entries, their webhooks and `dropped`"
    );
    assert_eq!(store.close_calls(&[close("CA-k", None, None)]).await.unwrap(), [true]);
    store.append_entries(&webhooks).await.unwrap();
    let (length, fields): (usize, usize) = redis::pipe()
        .llen(&entries)
        .hlen(&webhooks_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!((length, fields), (0, 0), "nothing after the close");
    let records = store.calls(None, 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].entries_dropped,
        3 * cap as u64,
        "the webhooks past the cap, each time"
    );
}

fn entry(call_sid: &str, started: DateTime<Utc>, summary: &[(&str, &str)], events: &[&str]) -> CallEntry {
    CallEntry {
        call_sid: call_sid.to_owned(),
        // Entries that differ come from different webhooks.
        webhook: format!("{started} {summary:?} {events:?}"),
        started,
        summary: summary.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        events: events
            .iter()
            .map(|what| CallEvent {
                at: started,
                what: what.to_string(),
            })
            .collect(),
        ttl: Duration::from_secs(60),
    }
}

fn close(call_sid: &str, status: Option<&str>, duration_secs: Option<u64>) -> CallClose {
    CallClose {
        call_sid: call_sid.to_owned(),
        status: status.map(str::to_owned),
        duration_secs,
        max_records: 1000,
    }
}

async fn guesses_count_once_each_within_a_sliding_window(store: Arc<dyn Store>) {
    let window = Duration::from_secs(600);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    assert_eq!(
        store.add_guess("+15551234567", "CA1:1", at(0), window).await.unwrap(),
        1
    );
    assert_eq!(
        store.add_guess("+15551234567", "CA1:1", at(1), window).await.unwrap(),
        1,
        "a replay"
    );
    assert_eq!(
        store.add_guess("+15551234567", "CA1:2", at(300), window).await.unwrap(),
        2
    );
    assert_eq!(
        store.add_guess("other", "CA2:1", at(300), window).await.unwrap(),
        1,
        "another bucket"
    );
    store.remove_guess("+15551234567", "CA1:2").await.unwrap();
    store.remove_guess("+15551234567", "never-added").await.unwrap();
    assert_eq!(
        store.add_guess("+15551234567", "CA3:1", at(400), window).await.unwrap(),
        2
    );
    // Ten minutes after the first guess, it is out of the window.
    assert_eq!(
        store.add_guess("+15551234567", "CA4:1", at(650), window).await.unwrap(),
        2
    );
}
both_stores!(guesses_count_once_each_within_a_sliding_window);

async fn a_number_is_trusted_for_its_case_only(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    assert!(!store.trusted("+15551234567", "123456").await.unwrap());
    store.trust("+15551234567", "123456", ttl).await.unwrap();
    assert!(store.trusted("+15551234567", "123456").await.unwrap());
    assert!(!store.trusted("+15551234567", "654321").await.unwrap(), "another case");
    assert!(
        !store.trusted("+15557654321", "123456").await.unwrap(),
        "another number"
    );
}
both_stores!(a_number_is_trusted_for_its_case_only);

async fn a_case_is_rung_by_one_call_at_a_time(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    assert!(store.claim_case("123456", "CA1", ttl).await.unwrap());
    assert!(
        store.claim_case("123456", "CA1", ttl).await.unwrap(),
        "its own claim, again"
    );
    assert!(!store.claim_case("123456", "CA2", ttl).await.unwrap(), "another call");
    assert!(store.claim_case("654321", "CA2", ttl).await.unwrap(), "another case");
    store.release_case("123456", "CA2").await.unwrap();
    assert!(
        !store.claim_case("123456", "CA2", ttl).await.unwrap(),
        "only the holder releases"
    );
    store.release_case("123456", "CA1").await.unwrap();
    assert!(store.claim_case("123456", "CA2", ttl).await.unwrap());
}
both_stores!(a_case_is_rung_by_one_call_at_a_time);

async fn a_claim_on_a_case_lapses_unless_its_call_renews_it(store: Arc<dyn Store>) {
    let second = Duration::from_secs(1);
    assert!(store.claim_case("123456", "CA1", second).await.unwrap());
    assert!(store.claim_case("654321", "CA1", second).await.unwrap());
    assert!(
        store
            .claim_case("654321", "CA1", Duration::from_secs(60))
            .await
            .unwrap(),
        "renewed"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        store
            .claim_case("123456", "CA2", Duration::from_secs(60))
            .await
            .unwrap(),
        "lapsed"
    );
    assert!(
        !store
            .claim_case("654321", "CA2", Duration::from_secs(60))
            .await
            .unwrap(),
        "renewed: held"
    );
}
both_stores!(a_claim_on_a_case_lapses_unless_its_call_renews_it);

async fn the_last_engineer_to_accept_a_case_is_remembered(store: Arc<dyn Store>) {
    let ttl = Duration::from_secs(60);
    let at = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    assert_eq!(store.sticky("123456").await.unwrap(), None);
    store.set_sticky("123456", "carol", at, ttl).await.unwrap();
    store
        .set_sticky("123456", "bob", at + chrono::Duration::minutes(5), ttl)
        .await
        .unwrap();
    let sticky = store.sticky("123456").await.unwrap().unwrap();
    assert_eq!(sticky.engineer, "bob");
    assert_eq!(sticky.accepted_at, at + chrono::Duration::minutes(5));
    assert_eq!(store.sticky("654321").await.unwrap(), None, "another case");
}
both_stores!(the_last_engineer_to_accept_a_case_is_remembered);

// ---------------------------------------------------------------------------------------------------------
// Calendar feeds

fn feed(id: &str, subject: FeedSubject, second: u32) -> Feed {
    Feed {
        id: id.into(),
        subject,
        label: Some(format!("label of {id}")),
        created: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, second).unwrap(),
    }
}

/// A digest whose first 16 hex digits are `id`, as [`afterhours::oncall::feed_tokens::digest`] makes them.
fn digest_of(id: &str) -> String {
    format!("{id}{}", "0".repeat(64 - id.len()))
}

async fn feeds_are_kept_by_digest_listed_oldest_first_and_revoked_by_id(store: Arc<dyn Store>) {
    let (a, b) = ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb");
    assert_eq!(store.feed(&digest_of(a)).await.unwrap(), None);
    assert!(store.feeds().await.unwrap().is_empty());
    let rotation = feed(a, FeedSubject::Rotation("primary".into()), 2);
    let engineer = feed(b, FeedSubject::Engineer("alice".into()), 1);
    store.put_feed(&digest_of(a), rotation.clone()).await.unwrap();
    store.put_feed(&digest_of(b), engineer.clone()).await.unwrap();

    assert_eq!(store.feed(&digest_of(a)).await.unwrap(), Some(rotation.clone()));
    assert_eq!(store.feed(&digest_of(b)).await.unwrap(), Some(engineer.clone()));
    // Only the whole digest finds a feed: not its id, not another token's digest.
    assert_eq!(store.feed(a).await.unwrap(), None);
    assert_eq!(store.feed(&digest_of("cccccccccccccccc")).await.unwrap(), None);
    assert_eq!(store.feeds().await.unwrap(), [engineer.clone(), rotation.clone()]);

    // An id is revoked whole: a part of one revokes nothing.
    assert!(!store.revoke_feed("aaaa").await.unwrap());
    assert!(store.revoke_feed(a).await.unwrap());
    assert!(!store.revoke_feed(a).await.unwrap());
    assert_eq!(store.feed(&digest_of(a)).await.unwrap(), None);
    assert_eq!(store.feeds().await.unwrap(), [engineer]);
}
both_stores!(feeds_are_kept_by_digest_listed_oldest_first_and_revoked_by_id);

// ---------------------------------------------------------------------------------------------------------
// Rotations that follow an outside calendar

/// A PagerDuty-shaped export: Bob from Monday 23 November 10:00 New York for a week, then someone we do not
/// know.
const OUTSIDE_CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//PagerDuty Inc.//PagerDuty Calendar//EN\r\n\
BEGIN:VEVENT\r\nUID:pd-1\r\nDTSTART:20261123T150000Z\r\nDTEND:20261130T150000Z\r\n\
SUMMARY:On Call - Bob - Primary\r\nATTENDEE:mailto:Bob@Example.com\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:pd-2\r\nDTSTART:20261130T150000Z\r\nDTEND:20261207T150000Z\r\n\
SUMMARY:On Call - Zed Unknown - Primary\r\nATTENDEE:mailto:zed@example.com\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

/// The fake calendar server answers `status` with `body` from now on.
async fn calendar_answers(server: &wiremock::MockServer, status: u16, body: &str) {
    server.reset().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(status).set_body_string(body))
        .mount(server)
        .await;
}

/// The calendar is fetched over HTTP and its shifts ring Bob; when the feed then fails (an error status,
/// then a page that is not iCalendar, then nothing listening), the last good copy keeps ringing Bob and the
/// health record says what failed and when it last worked. An event for someone we do not know is kept
/// aside, and nobody is rung for it.
async fn an_outside_calendar_keeps_its_last_good_copy_when_the_feed_fails(store: Arc<dyn Store>) {
    use afterhours::store::calendars::{problems, refresh};
    let server = wiremock::MockServer::start().await;
    calendar_answers(&server, 200, OUTSIDE_CALENDAR).await;
    let mut bob = engineer("bob", "+15550100002");
    bob.email = Some("bob@example.com".into());
    store.put_engineer(bob).await.unwrap();
    let mut primary = rotation("primary", &[]);
    primary.source = Some(afterhours::oncall::model::CalendarSource {
        url: format!("{}/schedules/primary.ics?token=secret", server.uri()),
        refresh_secs: 60,
    });
    store.replace_rotation(primary.clone(), None).await.unwrap();
    store
        .put_policy(Policy {
            id: "default".into(),
            tiers: vec![Tier {
                targets: vec![Target::Rotation("primary".into())],
                ring_timeout_secs: 20,
            }],
            repeat: 0,
        })
        .await
        .unwrap();
    let friday = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let next_week = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
    let rung = |data: &OnCallData, t: DateTime<Utc>| -> Vec<String> {
        data.on_call("default", t).unwrap().tiers[0]
            .people
            .iter()
            .map(|p| p.engineer.id.clone())
            .collect()
    };
    assert_eq!(store.calendar("primary").await.unwrap(), None);

    let data = store.load().await.unwrap();
    let copy = refresh(store.as_ref(), &data, &primary, friday).await.unwrap().unwrap();
    assert_eq!(copy.health.last_success, Some(friday));
    assert_eq!(copy.health.last_error, None);
    assert_eq!(copy.unmatched.len(), 1, "{:?}", copy.unmatched);
    assert_eq!(copy.unmatched[0].attendees, ["zed@example.com"]);
    let data = store.load().await.unwrap();
    assert_eq!(data.imported["primary"].len(), 1);
    assert_eq!(rung(&data, friday), ["bob"]);
    assert!(rung(&data, next_week).is_empty(), "nobody for an unmatched event");

    for (status, body, error) in [
        (503, "down for maintenance", "HTTP 503"),
        (
            200,
            "<html><body>Please sign in</body></html>",
            "not an iCalendar document",
        ),
    ] {
        calendar_answers(&server, status, body).await;
        let later = friday + chrono::Duration::minutes(5);
        let copy = refresh(store.as_ref(), &data, &primary, later).await.unwrap().unwrap();
        assert_eq!(copy.health.last_success, Some(friday), "{status}");
        assert_eq!(copy.health.last_attempt, Some(later), "{status}");
        let last_error = copy.health.last_error.clone().unwrap();
        assert!(last_error.contains(error), "{status}: {last_error}");
        assert!(!last_error.contains("secret"), "{last_error}");
        assert_eq!(store.calendar("primary").await.unwrap(), Some(copy.clone()));
        assert_eq!(rung(&store.load().await.unwrap(), friday), ["bob"], "{status}");
        let said = problems("primary", Some(&copy)).join("\n");
        assert!(said.contains("the last good copy is used"), "{said}");
        assert!(said.contains("\"On Call - Zed Unknown - Primary\""), "{said}");
    }

    // Nothing listening: a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    primary.source.as_mut().unwrap().url = format!("http://{closed}/primary.ics");
    let copy = refresh(store.as_ref(), &data, &primary, next_week)
        .await
        .unwrap()
        .unwrap();
    let last_error = copy.health.last_error.unwrap();
    assert!(last_error.contains("fetching the calendar failed"), "{last_error}");
    assert_eq!(rung(&store.load().await.unwrap(), friday), ["bob"]);
}
both_stores!(an_outside_calendar_keeps_its_last_good_copy_when_the_feed_fails);

/// The background refresh fetches each outside calendar when it falls due, every `refresh_secs` of its own,
/// and leaves rotations without a source alone.
async fn outside_calendars_are_fetched_as_they_fall_due(store: Arc<dyn Store>) {
    use afterhours::store::calendars::refresh_due;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut outside = rotation("outside", &[]);
    outside.source = Some(afterhours::oncall::model::CalendarSource {
        url: format!("http://{closed}/outside.ics"),
        refresh_secs: 60,
    });
    store.replace_rotation(outside, None).await.unwrap();
    store.replace_rotation(rotation("primary", &[]), None).await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap();
    let mut last = std::collections::BTreeMap::new();
    let attempted = |store: Arc<dyn Store>| async move {
        store
            .calendar("outside")
            .await
            .unwrap()
            .and_then(|c| c.health.last_attempt)
    };
    refresh_due(store.as_ref(), t0, &mut last).await;
    assert_eq!(attempted(store.clone()).await, Some(t0));
    refresh_due(store.as_ref(), t0 + chrono::Duration::seconds(59), &mut last).await;
    assert_eq!(attempted(store.clone()).await, Some(t0), "not due yet");
    let t1 = t0 + chrono::Duration::seconds(60);
    refresh_due(store.as_ref(), t1, &mut last).await;
    assert_eq!(attempted(store.clone()).await, Some(t1));
    assert_eq!(store.calendar("primary").await.unwrap(), None);
}
both_stores!(outside_calendars_are_fetched_as_they_fall_due);
