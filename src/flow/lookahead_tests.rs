//! The engine's one look-ahead: the case lookup runs while the rate-limit count is in flight. Each test runs
//! the shipped flow from its `limit` step, with a case system and a store that show what overlapped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::engine::{self, CallInput, Ctx, Entry, Services, Trace};
use super::state::CallState;
use crate::BoxFuture;
use crate::calllog::{CallClose, CallNote, CallRecord};
use crate::cases::{Case, CaseError, CaseId, CaseSystem};
use crate::config::{Config, LimitSettings};
use crate::oncall::memory::MemoryStore;
use crate::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation};
use crate::oncall::store::{Store, StoreError};

const CALLER: &str = "+15551234567";

/// A case system whose every case is a verified one, answered at once when `answers` (never otherwise),
/// after telling `asked`.
#[derive(Debug, Default)]
struct Cases {
    asked: Arc<Notify>,
    lookups: AtomicUsize,
    answers: bool,
}

impl CaseSystem for Cases {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(async move {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.asked.notify_one();
            if !self.answers {
                std::future::pending::<()>().await;
            }
            Ok(Some(Case {
                id: id.to_string(),
                customer: Some("ACME Corp".into()),
                severity: "critical".into(),
                critical: true,
                environment: "production".into(),
                production: true,
                status: "open".into(),
                open: true,
                contact_phones: vec![],
                support_package: None,
            }))
        })
    }

    fn add_note<'a>(&'a self, _: &'a CaseId, _: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The embedded store, whose count answers only once the case system has been asked: a count that does not
/// overlap the lookup misses its deadline.
#[derive(Debug)]
struct CountsOnceAsked {
    inner: MemoryStore,
    asked: Arc<Notify>,
}

impl Store for CountsOnceAsked {
    fn load(&self) -> BoxFuture<'_, Result<OnCallData, StoreError>> {
        self.inner.load()
    }
    fn replace_rotation(&self, rotation: Rotation, expected: Option<u64>) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.replace_rotation(rotation, expected)
    }
    fn put_engineer(&self, engineer: Engineer) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.put_engineer(engineer)
    }
    fn put_policy(&self, policy: Policy) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.put_policy(policy)
    }
    fn add_override(&self, item: Override) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.add_override(item)
    }
    fn remove_override<'a>(&'a self, rotation: &'a str, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.remove_override(rotation, id)
    }
    fn record_acceptance<'a>(
        &'a self,
        call_sid: &'a str,
        attempt: u32,
        engineer: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.record_acceptance(call_sid, attempt, engineer, ttl)
    }
    fn claim_once<'a>(
        &'a self,
        call_sid: &'a str,
        what: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.claim_once(call_sid, what, ttl)
    }
    fn count_call<'a>(
        &'a self,
        from: &'a str,
        call_sid: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.asked.notified().await;
            self.inner.count_call(from, call_sid, window).await
        })
    }
    fn note_calls<'a>(&'a self, notes: &'a [CallNote]) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.note_calls(notes)
    }
    fn close_calls<'a>(&'a self, closes: &'a [CallClose]) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        self.inner.close_calls(closes)
    }
    fn calls(&self, since: Option<DateTime<Utc>>, limit: usize) -> BoxFuture<'_, Result<Vec<CallRecord>, StoreError>> {
        self.inner.calls(since, limit)
    }
    fn acceptance<'a>(&'a self, call_sid: &'a str, attempt: u32) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        self.inner.acceptance(call_sid, attempt)
    }
}

/// What the caller heard and what was decided when the call, its case number entered, reached `limit`.
struct Reached {
    said: Vec<String>,
    decided: Vec<String>,
}

impl Reached {
    fn decided(&self, start: &str) -> bool {
        self.decided.iter().any(|d| d.starts_with(start))
    }
    fn heard(&self, part: &str) -> bool {
        self.said.iter().any(|s| s.contains(part))
    }
}

/// Runs the shipped flow of the US line from its `limit` step for call `call_sid`, case 123456 entered, with
/// `services`; fails if it takes longer than a lookup could (the engine waited on a lookup that never ends).
async fn reach_limit(services: &Services, call_sid: &str) -> Reached {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let config = Config::load_with_env(&path, &[]).unwrap();
    let line = config.lines.by_key("us").unwrap().clone();
    let input = CallInput::from_params(&[
        ("CallSid".into(), call_sid.into()),
        ("From".into(), CALLER.into()),
        ("To".into(), line.number.to_string()),
    ]);
    let mut state = CallState::new("us");
    state.set("case_number", "123456");
    let now = "2026-11-27T20:00:00-05:00".parse::<DateTime<Utc>>().unwrap();
    let mut ctx = Ctx::new(&line, services, now, &input, state);
    let ran = engine::run(&line.flow, Entry::Step("limit"), &mut ctx);
    tokio::time::timeout(Duration::from_secs(10), ran)
        .await
        .expect("the webhook waited on a lookup it did not need")
        .unwrap();
    let (mut said, mut decided) = (Vec::new(), Vec::new());
    for entry in ctx.trace {
        match entry {
            Trace::Say(text) => said.push(text),
            Trace::Decision(text) => decided.push(text),
        }
    }
    Reached { said, decided }
}

fn services(cases: Arc<Cases>, calls_per_window: u32) -> Services {
    let store = CountsOnceAsked {
        inner: MemoryStore::new(OnCallData::default()),
        asked: cases.asked.clone(),
    };
    Services {
        cases: Some(cases),
        case_timeout: Duration::from_secs(30),
        store: Some(Arc::new(store)),
        limits: LimitSettings {
            calls_per_window,
            window_secs: 600,
        },
        ..Services::default()
    }
}

#[tokio::test]
async fn the_case_is_looked_up_while_the_call_is_counted() {
    let cases = Arc::new(Cases {
        answers: true,
        ..Cases::default()
    });
    let services = services(cases.clone(), 6);

    let reached = reach_limit(&services, "CA1").await;

    assert!(
        reached.decided("rate limit: call 1 of 6 allowed"),
        "{:?}",
        reached.decided
    );
    assert!(reached.decided("case 123456: verified"), "{:?}", reached.decided);
    assert!(reached.heard("Case 1 2 3 4 5 6 for ACME Corp"), "{:?}", reached.said);
    assert_eq!(
        cases.lookups.load(Ordering::SeqCst),
        1,
        "one lookup, used by the verify step"
    );
}

#[tokio::test]
async fn a_call_over_the_limit_does_not_wait_for_its_lookup() {
    // The first call over the limit that this process sees (the earlier ones went to another replica): its
    // lookup starts with the count, never answers, and is dropped.
    let cases = Arc::new(Cases::default());
    let services = services(cases.clone(), 0);

    let reached = reach_limit(&services, "CA1").await;

    assert!(
        reached.decided("rate limit: call 1 from this number"),
        "{:?}",
        reached.decided
    );
    assert!(reached.heard("this line is busy"), "{:?}", reached.said);
    assert_eq!(cases.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_number_seen_at_its_limit_is_counted_before_it_is_looked_up() {
    let cases = Arc::new(Cases {
        answers: true,
        ..Cases::default()
    });
    let services = services(cases.clone(), 1);
    let first = reach_limit(&services, "CA1").await;
    assert!(first.decided("rate limit: call 1 of 1 allowed"), "{:?}", first.decided);
    assert!(services.at_limit.holds(CALLER));

    // No lookup ahead of the count: the store, which counts only once the case system was asked, misses its
    // deadline, and the call goes on as a store that cannot count lets it.
    let second = reach_limit(&services, "CA2").await;

    assert!(second.decided("rate limit: not checked"), "{:?}", second.decided);
    assert_eq!(
        cases.lookups.load(Ordering::SeqCst),
        2,
        "the second call's lookup came after its count"
    );
}
