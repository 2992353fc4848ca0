//! The measurements of `afterhours-load run`, in the order they run, and the report they print:
//! 1. warm-up calls (not reported);
//! 2. `--calls` complete calls, started over `--ramp-ms`, all in progress together, the server's memory
//!    sampled throughout;
//! 3. the most complete calls per second `--connections` callers get through;
//! 4. complete calls started at half the maximum rate: each webhook's latency;
//! 5. each kind of webhook replayed on its own, against afterhours and then the ceiling in turn, with the
//!    same connections, the ceiling answering with the bytes afterhours answered that webhook with;
//! 6. one signed call replayed at full speed, against the embedded store and Redis ([`crate::replay`]);
//! 7. real calls while slow clients hold the webhook listener ([`crate::slow`]).
//!
//! Between phases, the driver waits for the server to be idle again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::provider::{self, Provider, SCENARIOS};
use crate::stats::{Percentiles, Recorder, ms};
use crate::twiml;
use crate::webhook::Webhook;
use crate::{CeilingAnswer, RunArgs};
use crate::{leftovers, process, replay, slow};

/// Runs every phase and prints the report. `Ok(false)` when any call or webhook failed.
pub(crate) async fn run(args: RunArgs) -> Result<bool, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let afterhours =
        Provider::new(client.clone(), &args.server, &args.server, &args.token).playing(args.provider, args.telnyx_seed);
    let ceiling = afterhours.aimed_at(&args.ceiling);
    wait_until_ready(&client, &args.ops).await?;

    eprintln!("warming up: 200 calls");
    let _ = calls_at_once(&afterhours, 0, 200, 32, Duration::ZERO).await;

    let concurrency = if args.runs("calls") {
        eprintln!(
            "{} calls, started over {} ms, {} ms between webhooks",
            args.calls, args.ramp_ms, args.think_ms
        );
        Some(concurrency_phase(&afterhours, &args).await)
    } else {
        None
    };

    let maximum = if args.runs("maximum") {
        settle(&client, &args).await;
        eprintln!("maximum: {} callers for {:.1} s", args.connections, 2.0 * args.seconds);
        Some(maximum_phase(&afterhours, &args).await)
    } else {
        None
    };

    let Templates {
        webhooks: templates,
        setups,
    } = capture_templates(&afterhours).await?;
    let latency = match &maximum {
        Some(maximum) if args.runs("latency") => {
            settle(&client, &args).await;
            let rate = maximum.calls_per_second / 2.0;
            eprintln!(
                "latency: complete calls at {rate:.0} calls/s for {:.1} s",
                args.latency_seconds
            );
            Some(latency_phase(&afterhours, &ceiling, &templates, &client, &args, rate).await)
        }
        _ => None,
    };

    let mut steps = Vec::new();
    if args.runs("webhooks") {
        let wanted = |t: &Webhook| args.only.is_empty() || args.only.iter().any(|only| t.label.contains(only.as_str()));
        for template in templates.iter().filter(|t| wanted(t)) {
            settle(&client, &args).await;
            eprintln!("webhook {:?}: afterhours, then the ceiling", template.label);
            let setup = setups.get(&template.label);
            steps.push(step_phase(&afterhours, &ceiling, (template, setup), &args).await);
        }
        if let Err(failure) = ceiling.set_ceiling_answer(None).await {
            eprintln!("the ceiling's own answer could not be restored: {}", failure.detail());
        }
    }

    let mut replays = Vec::new();
    if args.runs("replay") {
        if let (Some(url), Some(ops), Some(pid)) = (&args.embedded, &args.embedded_ops, args.embedded_pid) {
            wait_until_ready(&client, ops).await?;
            let embedded =
                Provider::new(client.clone(), url, url, &args.token).playing(args.provider, args.telnyx_seed);
            eprintln!("replay: warming up the embedded store's server: 200 calls");
            let _ = calls_at_once(&embedded, 5_000_000, 200, 32, Duration::ZERO).await;
            wait_until_idle(&client, ops, pid).await;
            eprintln!("replay: one call, for {:.0} s, the embedded store", args.replay_seconds);
            let target = replay::Target {
                store: "embedded",
                provider: embedded,
                ops: ops.clone(),
                pid,
                redis: None,
            };
            replays.push(replay::phase(&target, &client, args.connections, args.replay_seconds).await);
        }
        settle(&client, &args).await;
        eprintln!("replay: one call, for {:.0} s, Redis", args.replay_seconds);
        let target = replay::Target {
            store: if args.redis.is_some() { "Redis" } else { "the server's" },
            provider: afterhours.clone(),
            ops: args.ops.clone(),
            pid: args.server_pid,
            redis: args.redis.clone().map(|url| (url, args.redis_prefix.clone())),
        };
        replays.push(replay::phase(&target, &client, args.connections, args.replay_seconds).await);
    }

    let slow = if args.runs("slow") {
        settle(&client, &args).await;
        eprintln!(
            "slow: {} slow clients, calls at {:.0}/s for {:.0} s",
            args.slow_clients, args.slow_rate, args.slow_seconds
        );
        Some(slow::phase(&afterhours, &client, &args).await?)
    } else {
        None
    };

    print_header(&args);
    let mut errors = Vec::new();
    if let Some(concurrency) = &concurrency {
        print_concurrency(&args, concurrency);
        errors.push(("", &concurrency.recorder));
    }
    if let Some(maximum) = &maximum {
        print_maximum(&args, maximum);
        errors.push(("", &maximum.recorder));
    }
    if let Some(latency) = &latency {
        print_latency(&args, latency);
        errors.push(("", &latency.recorder));
    }
    if !steps.is_empty() {
        print_steps(&args, &steps);
        errors.extend(steps.iter().map(|s| (s.label.as_str(), &s.afterhours.recorder)));
    }
    if !replays.is_empty() {
        replay::print(args.connections, args.replay_seconds, &replays);
        errors.extend(replays.iter().map(|r| ("replay", &r.recorder)));
    }
    if let Some(slow) = &slow {
        slow::print(slow);
        errors.push(("slow", &slow.recorder));
    }
    Ok(print_errors(&errors))
}

/// Waits until the server is idle, then removes what earlier measurements left in Redis: the work a phase
/// left behind must not be counted in the next.
async fn settle(client: &reqwest::Client, args: &RunArgs) {
    wait_until_idle(client, &args.ops, args.server_pid).await;
    remove_leftovers(args).await;
}

/// With `--redis`: the calls and rate-limit windows earlier measurements left (see [`leftovers`]).
async fn remove_leftovers(args: &RunArgs) {
    if let Some(url) = &args.redis
        && let Err(error) = leftovers::remove(url, &args.redis_prefix).await
    {
        eprintln!("cannot remove the keys earlier measurements left in Redis: {error}");
    }
}

/// Waits (at most 60 s) until the server is idle, using under a tenth of a core with no case note pending
/// (`afterhours_case_notes_pending`, retries waiting included).
pub(crate) async fn wait_until_idle(client: &reqwest::Client, ops: &str, pid: u32) {
    let window = Duration::from_millis(250);
    for _ in 0..240 {
        let Some(before) = process::cpu_time(pid) else { return };
        tokio::time::sleep(window).await;
        let Some(after) = process::cpu_time(pid) else { return };
        let notes = metric_sum(client, ops, "afterhours_case_notes_pending")
            .await
            .unwrap_or(0.0);
        if after.saturating_sub(before) < window / 10 && notes < 1.0 {
            return;
        }
    }
    eprintln!("the server is still busy after 60 s; measuring anyway");
}

async fn wait_until_ready(client: &reqwest::Client, ops: &str) -> Result<(), String> {
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{ops}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{ops}/readyz did not answer 200 within 10 s"))
}

// ---------------------------------------------------------------------------------------------------------
// Complete calls.

/// Calls that went wrong, counted with the recorder's errors.
pub(crate) fn call_failed(recorder: &mut Recorder, result: Result<provider::CallReport, provider::Failure>) -> u32 {
    match result {
        Ok(report) => {
            if let Some(wrong) = report.wrong_end {
                recorder.error("call ended in the wrong place", || wrong);
            }
            report.webhooks
        }
        Err(failure) => {
            recorder.error(&failure.kind(), || failure.detail());
            0
        }
    }
}

/// Places `count` calls (indexes from `first`), at most `parallel` at a time.
async fn calls_at_once(provider: &Provider, first: u64, count: u64, parallel: u64, think: Duration) -> Recorder {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + count;
    let mut tasks = JoinSet::new();
    for _ in 0..parallel.min(count) {
        let (provider, next) = (provider.clone(), next.clone());
        tasks.spawn(async move {
            let mut recorder = Recorder::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= end {
                    break;
                }
                let result = provider::place_call(&provider, index, think, &mut recorder).await;
                call_failed(&mut recorder, result);
            }
            recorder
        });
    }
    collect(tasks).await
}

async fn collect(mut tasks: JoinSet<Recorder>) -> Recorder {
    let mut all = Recorder::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(recorder) => all.merge(recorder),
            Err(error) => all.error("driver task failed", || error.to_string()),
        }
    }
    all
}

struct Concurrency {
    calls: u64,
    /// The most calls in progress at one time.
    most_at_once: u64,
    took: Duration,
    recorder: Recorder,
    /// The highest resident memory sampled while the calls ran, and the process's peak so far.
    rss_kib: u64,
    peak_kib: u64,
}

async fn concurrency_phase(provider: &Provider, args: &RunArgs) -> Concurrency {
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), args.server_pid);
        tokio::spawn(async move {
            let mut highest = 0;
            while sampling.load(Ordering::Relaxed) {
                if let Some(memory) = process::memory(pid) {
                    highest = highest.max(memory.rss_kib);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            highest
        })
    };
    let started = Instant::now();
    let think = Duration::from_millis(args.think_ms);
    // Calls start evenly over the ramp; each then lasts its webhooks times the pause, so all are in progress
    // together once the ramp is over (the report says how many were, at most).
    let gap = Duration::from_millis(args.ramp_ms).div_f64(args.calls.max(1) as f64);
    let in_progress = Arc::new(AtomicU64::new(0));
    let most = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for n in 0..args.calls {
        tokio::time::sleep_until((started + gap.mul_f64(n as f64)).into()).await;
        let (provider, in_progress, most) = (provider.clone(), in_progress.clone(), most.clone());
        tasks.spawn(async move {
            let now = in_progress.fetch_add(1, Ordering::Relaxed) + 1;
            most.fetch_max(now, Ordering::Relaxed);
            let mut recorder = Recorder::default();
            let result = provider::place_call(&provider, 1_000_000 + n, think, &mut recorder).await;
            call_failed(&mut recorder, result);
            in_progress.fetch_sub(1, Ordering::Relaxed);
            recorder
        });
    }
    let recorder = collect(tasks).await;
    let took = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let rss_kib = sampler.await.unwrap_or(0);
    Concurrency {
        calls: args.calls,
        most_at_once: most.load(Ordering::Relaxed),
        took,
        recorder,
        rss_kib,
        peak_kib: process::memory(args.server_pid).map_or(0, |m| m.peak_kib),
    }
}

struct Maximum {
    calls: u64,
    calls_per_second: f64,
    webhooks_per_second: f64,
    recorder: Recorder,
}

/// Runs `connections` loops of `work` until `duration` has passed; returns how many iterations finished.
pub(crate) async fn closed_loop<F, Fut>(connections: usize, duration: Duration, work: F) -> (u64, Recorder, Duration)
where
    F: Fn(u64, Recorder) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Recorder> + Send,
{
    let deadline = Instant::now() + duration;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (work, done) = (work.clone(), done.clone());
        tasks.spawn(async move {
            let mut recorder = Recorder::default();
            while Instant::now() < deadline {
                let n = done.fetch_add(1, Ordering::Relaxed);
                recorder = work(n, recorder).await;
            }
            recorder
        });
    }
    let recorder = collect(tasks).await;
    (done.load(Ordering::Relaxed), recorder, started.elapsed())
}

async fn maximum_phase(provider: &Provider, args: &RunArgs) -> Maximum {
    let provider = provider.clone();
    let (calls, recorder, took) = closed_loop(args.connections, 2 * args.duration(), move |n, mut recorder| {
        let provider = provider.clone();
        async move {
            let result = provider::place_call(&provider, 2_000_000 + n, Duration::ZERO, &mut recorder).await;
            call_failed(&mut recorder, result);
            recorder
        }
    })
    .await;
    let seconds = took.as_secs_f64();
    Maximum {
        calls,
        calls_per_second: calls as f64 / seconds,
        webhooks_per_second: recorder.requests as f64 / seconds,
        recorder,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Each webhook on its own, against the ceiling.

/// The external systems a webhook needs, which decide its target: what its answer waits for ("Redis"), or
/// what it writes after answering ("Redis, after the answer": its call-log note or the record's close).
fn needs(label: &str) -> &'static str {
    let waits_on_redis = label.contains("(accept)") || label.starts_with("bridge/dialed");
    if label.contains("case lookup") {
        "the case system, Redis"
    } else if label.starts_with("voicemail/") {
        "Redis; the case system after"
    } else if waits_on_redis {
        "Redis"
    } else if label == "bridge/whisper" {
        "nothing"
    } else {
        // The incoming call, the status callback, a decline, a wrong entry: answered at once, their call-log
        // write queued.
        "Redis, after the answer"
    }
}

/// The target: 0.6 of the ceiling for every webhook that needs no system outside afterhours and Redis
/// (whether its answer waits for Redis or not). A webhook that waits on the case system measures that
/// system, not afterhours: it has no target.
fn target(needs: &str) -> Option<f64> {
    match needs {
        "nothing" | "Redis" | "Redis, after the answer" | "Redis; the case system after" => Some(0.6),
        _ => None,
    }
}

/// Walks one call of each scenario, keeping the first request of every kind of webhook, to be replayed
/// with fresh call ids.
async fn capture_templates(provider: &Provider) -> Result<Templates, String> {
    let mut seen: BTreeMap<String, Webhook> = BTreeMap::new();
    let mut setups = BTreeMap::new();
    for index in 3_000_000..3_000_010 {
        let mut recorder = Recorder {
            capture: Some(Vec::new()),
            ..Recorder::default()
        };
        provider::place_call(provider, index, Duration::ZERO, &mut recorder)
            .await
            .map_err(|f| format!("a template call failed: {}", f.detail()))?;
        let call = recorder.capture.take().unwrap_or_default();
        for (at, webhook) in call.iter().enumerate() {
            if seen.contains_key(&webhook.label) {
                continue;
            }
            if webhook.label == BRIDGED {
                // The engineer's acceptance of this same call, before its dial ended.
                let accepted = call[..at]
                    .iter()
                    .rev()
                    .find(|w| w.label.starts_with("bridge/accept (accept)"));
                let Some(accepted) = accepted else { continue };
                setups.insert(webhook.label.clone(), accepted.clone());
            }
            seen.insert(webhook.label.clone(), webhook.clone());
        }
    }
    Ok(Templates {
        webhooks: seen.into_values().collect(),
        setups,
    })
}

/// The end of a dial the engineer accepted: what it answers depends on the acceptance recorded for its call.
const BRIDGED: &str = "bridge/dialed (bridged)";

/// One webhook of each kind, from complete calls.
struct Templates {
    webhooks: Vec<Webhook>,
    /// For a webhook whose answer depends on what an earlier webhook of its call stored: that webhook. It is
    /// sent before each measurement, and the webhook is then replayed with its own call's id.
    setups: BTreeMap<String, Webhook>,
}

/// Numbers the replays' fresh cases and callers, so that no two replays in a run share either.
static NEXT_FRESH: AtomicU64 = AtomicU64::new(0);

/// A case number of its own for a replay: 12 digits starting with 1, which the fake case system answers as a
/// critical production incident, and which no complete call's scenario uses (theirs have 6 digits).
fn fresh_case(k: u64) -> String {
    format!("1{:011}", k % 100_000_000_000)
}

/// A caller number of its own for a replay (complete calls' callers are `+1555…`).
fn fresh_caller(k: u64) -> String {
    format!("+1556{:07}", k % 10_000_000)
}

/// The template as a new call would send it: fresh call ids, so that no replay is taken for a retry of
/// another; and on the caller's own leg a caller number and a case number of its own (the case in the URL's
/// call state, and in the digits of a case lookup), so that every replay takes the template's path: a case
/// another call is ringing ends `busy` (voicemail, not a dial), an engineer who took the case is rung alone
/// first, and a number's guesses are counted. A webhook with a setup keeps its call, case and URL, since its
/// answer depends on what that call stored.
fn fresh(template: &Webhook, keep_call: bool) -> (String, Vec<(String, String)>) {
    if keep_call {
        return (template.url.clone(), template.params.clone());
    }
    let k = NEXT_FRESH.fetch_add(1, Ordering::Relaxed);
    let (case, caller) = (fresh_case(k), fresh_caller(k));
    let callers_leg = !template.params.iter().any(|(key, _)| key == "ParentCallSid");
    let sid = provider::call_sid();
    let params = template
        .params
        .iter()
        .map(|(key, value)| {
            let value = match key.as_str() {
                "CallSid" => sid.clone(),
                "ParentCallSid" => provider::call_sid(),
                "From" | "Caller" if callers_leg => caller.clone(),
                "Digits" if template.label.contains("case lookup") => case.clone(),
                _ => value.clone(),
            };
            (key.clone(), value)
        })
        .collect();
    (with_case(&template.url, &case), params)
}

/// `url` with the case in its call state (the number entered and the case found) replaced by `case`;
/// unchanged without one.
fn with_case(url: &str, case: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if !pairs.iter().any(|(key, _)| CASE_VARIABLES.contains(&key.as_str())) {
        return url.to_owned();
    }
    parsed
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(key, value)| {
            let value = if CASE_VARIABLES.contains(&key.as_str()) {
                case
            } else {
                value.as_str()
            };
            (key.as_str(), value)
        }));
    parsed.to_string()
}

/// The case in a call state carried in a URL's query (`flow::state::CallState`): the number the caller
/// entered and the case the case system found (which the bridge claims and remembers the engineer for).
const CASE_VARIABLES: [&str; 2] = ["v.case_number", "v.case"];

/// Posts `template` again as a fresh call, its latency filed under `label`; a failure is counted. With
/// `check`, an answer whose shape is not the template's is an error: the replay measured another path.
async fn post_fresh(
    provider: &Provider,
    template: &Webhook,
    label: &str,
    (keep_call, check): (bool, bool),
    recorder: &mut Recorder,
) {
    let (url, params) = fresh(template, keep_call);
    match provider.post(&url, &params, label, recorder).await {
        Ok(verbs) => {
            let shape = twiml::shape(&verbs);
            if check && !template.answer.is_empty() && shape != template.answer {
                recorder.error("another path than the template's", || {
                    format!("{label}: answered {shape:?}, the template {:?}", template.answer)
                });
            }
        }
        Err(failure) => recorder.error(&failure.kind(), || failure.detail()),
    }
}

pub(crate) struct StepResult {
    label: String,
    needs: &'static str,
    /// The median of the rounds' throughput ratios.
    ratio: f64,
    afterhours: Throughput,
    ceiling: Throughput,
}

/// Requests answered over some seconds, and the CPU time used meanwhile.
#[derive(Default)]
struct Throughput {
    seconds: f64,
    cpu: Cpu,
    recorder: Recorder,
}

impl Throughput {
    fn add(&mut self, other: Throughput) {
        let first = self.recorder.requests == 0;
        self.seconds += other.seconds;
        self.cpu = self.cpu.add(other.cpu, first);
        self.recorder.merge(other.recorder);
    }

    fn per_second(&self) -> f64 {
        self.recorder.requests as f64 / self.seconds.max(1e-9)
    }

    /// CPU time per request, in microseconds, of one of the processes.
    fn micros(&self, of: impl Fn(&Cpu) -> Option<Duration>) -> Option<f64> {
        let requests = self.recorder.requests;
        of(&self.cpu)
            .filter(|_| requests > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / requests as f64)
    }
}

/// CPU time (user and system) of the server under test, Redis (with `--redis-pid`) and the driver itself:
/// a snapshot, or what was used between two.
#[derive(Default, Clone, Copy)]
struct Cpu {
    server: Option<Duration>,
    redis: Option<Duration>,
    driver: Option<Duration>,
}

impl Cpu {
    fn now(server_pid: u32, redis_pid: Option<u32>) -> Self {
        Cpu {
            server: process::cpu_time(server_pid),
            redis: redis_pid.and_then(process::cpu_time),
            driver: process::cpu_time(std::process::id()),
        }
    }

    fn since(self, before: Cpu) -> Self {
        let used = |after: Option<Duration>, before: Option<Duration>| Some(after?.saturating_sub(before?));
        Cpu {
            server: used(self.server, before.server),
            redis: used(self.redis, before.redis),
            driver: used(self.driver, before.driver),
        }
    }

    /// The sum; `first` when `self` holds nothing yet.
    fn add(self, other: Cpu, first: bool) -> Self {
        let sum = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) if first => b,
            _ => None,
        };
        Cpu {
            server: sum(self.server, other.server),
            redis: sum(self.redis, other.redis),
            driver: sum(self.driver, other.driver),
        }
    }
}

/// Replays one webhook against afterhours and the ceiling in turn, `--rounds` times, so that both see the
/// same machine: the ratio is the median of the rounds' ratios.
async fn step_phase(
    afterhours: &Provider,
    ceiling: &Provider,
    (template, setup): (&Webhook, Option<&Webhook>),
    args: &RunArgs,
) -> StepResult {
    let keep_call = setup.is_some();
    let mut measured = Throughput::default();
    let mut bare = Throughput::default();
    let mut ratios = Vec::new();
    for _ in 0..args.rounds.max(1) {
        remove_leftovers(args).await;
        if let Some(setup) = setup
            && let Err(failure) = afterhours
                .post(&setup.url, &setup.params, &setup.label, &mut Recorder::default())
                .await
        {
            eprintln!(
                "{}: its setup ({}) failed: {}",
                template.label,
                setup.label,
                failure.detail()
            );
        }
        let ours = replay(
            afterhours,
            template,
            args,
            (args.server_pid, args.redis_pid),
            (keep_call, true),
        )
        .await;
        if args.ceiling_answer == CeilingAnswer::Same {
            same_answer(afterhours, ceiling, template, keep_call).await;
        }
        // The ceiling answers what it is given, whatever the webhook: its answers are not checked.
        let theirs = replay(ceiling, template, args, (args.ceiling_pid, None), (keep_call, false)).await;
        ratios.push(ours.per_second() / theirs.per_second().max(1.0));
        measured.add(ours);
        bare.add(theirs);
    }
    ratios.sort_by(f64::total_cmp);
    StepResult {
        label: template.label.clone(),
        needs: needs(&template.label),
        ratio: ratios[ratios.len() / 2],
        afterhours: measured,
        ceiling: bare,
    }
}

/// Has the ceiling answer with what afterhours answers `template` with (once more, with fresh ids), so that the
/// driver receives and parses the same bytes from both: the ratio is then the servers' alone. When that answer
/// cannot be had, the ceiling keeps the one it has, and the driver says so on stderr.
async fn same_answer(afterhours: &Provider, ceiling: &Provider, template: &Webhook, keep_call: bool) {
    let (url, params) = fresh(template, keep_call);
    let answer = afterhours
        .post_text(&url, &params, &template.label, &mut Recorder::default())
        .await;
    let set = match answer {
        Ok(answer) => ceiling.set_ceiling_answer(Some(answer)).await,
        Err(failure) => Err(failure),
    };
    if let Err(failure) = set {
        eprintln!(
            "{}: the ceiling keeps its answer, afterhours' could not be set: {}",
            template.label,
            failure.detail()
        );
    }
}

/// One closed-loop run of a webhook: requests, time and the CPU time used (of the server `pids.0` and of
/// Redis, `pids.1`); with `check`, every answer must have the template's shape (see [`post_fresh`]).
async fn replay(
    provider: &Provider,
    template: &Webhook,
    args: &RunArgs,
    (pid, redis_pid): (u32, Option<u32>),
    (keep_call, check): (bool, bool),
) -> Throughput {
    let before = Cpu::now(pid, redis_pid);
    let (provider, template) = (provider.clone(), Arc::new(template.clone()));
    let (_, recorder, took) = closed_loop(args.connections, args.duration(), move |_, mut recorder| {
        let (provider, template) = (provider.clone(), template.clone());
        async move {
            post_fresh(&provider, &template, &template.label, (keep_call, check), &mut recorder).await;
            recorder
        }
    })
    .await;
    Throughput {
        seconds: took.as_secs_f64(),
        cpu: Cpu::now(pid, redis_pid).since(before),
        recorder,
    }
}

/// The sum of a metric's series on the server's `/metrics` (on its operators' listener `ops`); none when it
/// has none.
pub(crate) async fn metric_sum(client: &reqwest::Client, ops: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{ops}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

// ---------------------------------------------------------------------------------------------------------
// Latency at half the maximum.

struct Latency {
    calls_per_second: f64,
    webhooks_per_second: f64,
    recorder: Recorder,
    /// The same webhooks sent to the ceiling on the same schedule.
    ceiling: Recorder,
    /// The fake case system's own p99 time per lookup meanwhile (µs), when it was asked.
    case_system_p99: Option<u32>,
}

async fn latency_phase(
    afterhours: &Provider,
    ceiling: &Provider,
    templates: &[Webhook],
    client: &reqwest::Client,
    args: &RunArgs,
    rate: f64,
) -> Latency {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let _ = case_system_p99(client, args).await; // Its lookups so far are not this phase's.
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(args.latency_seconds.max(0.5));
    let mut tasks = JoinSet::new();
    let first = 4_000_000;
    let mut index = first;
    let mut at = started;
    // At least one call of each scenario, so that every webhook has a row however slow the machine is.
    while at < end || index < first + SCENARIOS {
        tokio::time::sleep_until(at.into()).await;
        let provider = afterhours.clone();
        tasks.spawn(async move {
            let mut recorder = Recorder {
                sent: Some(Vec::new()),
                ..Recorder::default()
            };
            let result = provider::place_call(&provider, index, Duration::ZERO, &mut recorder).await;
            call_failed(&mut recorder, result);
            recorder
        });
        index += 1;
        at += interval;
    }
    let mut recorder = collect(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let sent = recorder.sent.take().unwrap_or_default();
    let case_system_p99 = case_system_p99(client, args).await;
    settle(client, args).await;
    eprintln!("latency: the same webhooks at the same moments, to the ceiling");
    let ceiling = replay_schedule(ceiling, templates, sent).await;
    Latency {
        calls_per_second: (index - first) as f64 / seconds,
        webhooks_per_second: recorder.requests as f64 / seconds,
        recorder,
        ceiling,
        case_system_p99,
    }
}

/// With `--cases`: the fake case system's p99 time per lookup since it was last asked (its `/stats`).
async fn case_system_p99(client: &reqwest::Client, args: &RunArgs) -> Option<u32> {
    let url = format!("{}/stats", args.cases.as_ref()?);
    let text = client.get(url).send().await.ok()?.text().await.ok()?;
    let stats: serde_json::Value = serde_json::from_str(&text).ok()?;
    let count = stats["count"].as_u64()?;
    (count > 0).then(|| stats["p99_us"].as_u64().and_then(|p| u32::try_from(p).ok()))?
}

/// Sends each webhook of `sent` again, to the ceiling, at the same moment after the start as it was sent to
/// afterhours (open loop: a slow answer does not delay the next request), under the same label.
async fn replay_schedule(ceiling: &Provider, templates: &[Webhook], mut sent: Vec<(Instant, String)>) -> Recorder {
    sent.sort_by_key(|(at, _)| *at);
    let Some(first) = sent.first().map(|(at, _)| *at) else {
        return Recorder::default();
    };
    let templates: Arc<BTreeMap<String, Webhook>> =
        Arc::new(templates.iter().map(|t| (t.label.clone(), t.clone())).collect());
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (at, label) in sent {
        let Some(template) = templates.get(&label).cloned() else {
            continue;
        };
        tokio::time::sleep_until((started + (at - first)).into()).await;
        let ceiling = ceiling.clone();
        tasks.spawn(async move {
            let mut recorder = Recorder::default();
            post_fresh(&ceiling, &template, &label, (false, false), &mut recorder).await;
            recorder
        });
    }
    collect(tasks).await
}

// ---------------------------------------------------------------------------------------------------------
// The report.

fn print_header(args: &RunArgs) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## afterhours load report");
    println!();
    println!(
        "{cores} cores shared by the server, Redis, the fake case system, the ceiling and the driver. Case system \
         delay {} ms; {} connections; {:.1} s per measurement.",
        args.case_delay_ms, args.connections, args.seconds,
    );
    println!();
}

fn print_concurrency(args: &RunArgs, concurrency: &Concurrency) {
    println!(
        "### {} complete calls, started over {} ms, {} ms between webhooks",
        concurrency.calls, args.ramp_ms, args.think_ms
    );
    println!();
    println!(
        "| calls | in progress at once, at most | webhooks | errors | took | server RSS, highest sampled | server peak RSS (VmHWM) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {} | {:.1} s | {} MiB | {} MiB |",
        concurrency.calls,
        concurrency.most_at_once,
        concurrency.recorder.requests,
        concurrency.recorder.error_count(),
        concurrency.took.as_secs_f64(),
        process::mib(concurrency.rss_kib),
        process::mib(concurrency.peak_kib),
    );
    println!();
}

fn print_maximum(args: &RunArgs, maximum: &Maximum) {
    println!(
        "### Maximum: complete calls, {} callers, no pauses, {:.1} s",
        args.connections,
        2.0 * args.seconds
    );
    println!();
    println!("| calls | calls/s | webhooks/s | errors |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {} | {:.0} | {:.0} | {} |",
        maximum.calls,
        maximum.calls_per_second,
        maximum.webhooks_per_second,
        maximum.recorder.error_count()
    );
    println!();
}

fn print_steps(args: &RunArgs, steps: &[StepResult]) {
    let answer = match args.ceiling_answer {
        CeilingAnswer::Same => "answering with afterhours' TwiML for the webhook, fixed",
        CeilingAnswer::Fixed => "fixed TwiML of 204 bytes",
    };
    println!(
        "### Each webhook against the ceiling (bare axum, {answer}), {} connections",
        args.connections
    );
    println!();
    println!(
        "| webhook | needs | afterhours req/s | ceiling req/s | ratio | target | server CPU µs/req (ceiling) | Redis CPU µs/req | driver CPU µs/req (ceiling) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for step in steps {
        let ratio = step.ratio;
        let verdict = match target(step.needs) {
            Some(t) if ratio >= t => format!("≥ {t} ✓"),
            Some(t) => format!("≥ {t} ✗"),
            None => "-".to_owned(),
        };
        let micros = |t: &Throughput, of: fn(&Cpu) -> Option<Duration>| {
            t.micros(of).map_or("-".to_owned(), |c| format!("{c:.0}"))
        };
        let (ours, bare) = (&step.afterhours, &step.ceiling);
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {} | {} ({}) | {} | {} ({}) |",
            step.label,
            step.needs,
            ours.per_second(),
            bare.per_second(),
            ratio,
            verdict,
            micros(ours, |c| c.server),
            micros(bare, |c| c.server),
            micros(ours, |c| c.redis),
            micros(ours, |c| c.driver),
            micros(bare, |c| c.driver),
        );
    }
    println!();
}

fn print_latency(args: &RunArgs, latency: &Latency) {
    println!(
        "### Latency at half the maximum: {:.0} calls/s, {:.0} webhooks/s",
        latency.calls_per_second, latency.webhooks_per_second
    );
    println!();
    println!(
        "Each webhook as the driver saw it; then the same webhooks sent to the ceiling at the same moments. \
         Added by the service = afterhours' p99 less the ceiling's p99 (and, for a lookup, less the case \
         system's: {}).",
        match latency.case_system_p99 {
            Some(p99) => format!("its own p99 time per lookup, {} ms, as it measured it", ms(p99)),
            None => format!("its delay, {} ms", args.case_delay_ms),
        }
    );
    println!();
    println!("| webhook | count | p50 ms | p99 ms | p99.9 ms | ceiling p99 ms | added by the service, p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut ours = latency.recorder.latencies.clone();
    let mut theirs = latency.ceiling.latencies.clone();
    let delay = latency
        .case_system_p99
        .unwrap_or_else(|| u32::try_from(args.case_delay_ms * 1000).unwrap_or(u32::MAX));
    let mut p99s = Vec::new();
    for (label, samples) in &mut ours {
        let p = Percentiles::of(samples);
        let bare = theirs.get_mut(label).map(|s| Percentiles::of(s));
        let lookup = label.contains("case lookup");
        let own = if lookup { delay } else { 0 };
        if let Some(b) = bare.filter(|_| !lookup) {
            p99s.push((p.p99, b.p99));
        }
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            p.count,
            ms(p.p50),
            ms(p.p99),
            ms(p.p999),
            bare.map_or("-".to_owned(), |b| ms(b.p99)),
            bare.map_or("-".to_owned(), |b| signed_ms(
                i64::from(p.p99) - i64::from(own) - i64::from(b.p99)
            ))
        );
    }
    let mut all: Vec<u32> = ours.into_values().flatten().collect();
    let overall = Percentiles::of(&mut all);
    let mut all_bare: Vec<u32> = theirs.into_values().flatten().collect();
    let bare = Percentiles::of(&mut all_bare);
    println!(
        "| all | {} | {} | {} | {} | {} | |",
        overall.count,
        ms(overall.p50),
        ms(overall.p99),
        ms(overall.p999),
        ms(bare.p99)
    );
    println!();
    if stalled(&bare) {
        println!(
            "**The ceiling's replay stalled** (its p99 {} ms against its p50 {} ms: the machine paused it): the \
             added column says nothing in this run.",
            ms(bare.p99),
            ms(bare.p50)
        );
        println!();
    } else if slower_throughout(&p99s) {
        println!(
            "**The ceiling's replay was slowed** (its p99 above afterhours' own for every webhook that waits on no \
             case system, though it does less for each: the machine slowed it): the added column says nothing in \
             this run."
        );
        println!();
    }
}

/// Pairs of p99s, afterhours' and the ceiling's, of the same webhooks: the ceiling was slowed when it is the
/// slower for every one of them, since it does less for each.
fn slower_throughout(p99s: &[(u32, u32)]) -> bool {
    !p99s.is_empty() && p99s.iter().all(|(ours, bare)| bare > ours)
}

/// A replay whose p99 is both over 10 ms and 20 times its median was paused (the virtual machine, another
/// process), not slow: a bare handler answers in well under a millisecond.
fn stalled(p: &Percentiles) -> bool {
    p.count > 0 && p.p99 > 10_000 && p.p99 > p.p50.saturating_mul(20)
}

/// Microseconds as signed milliseconds: the service can come out ahead of the ceiling within the noise.
fn signed_ms(micros: i64) -> String {
    format!("{:+.2}", micros as f64 / 1000.0)
}

/// Every error of every phase; true when there was none.
fn print_errors(recorders: &[(&str, &Recorder)]) -> bool {
    let mut errors: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for (context, recorder) in recorders {
        for (kind, e) in &recorder.errors {
            let key = if context.is_empty() {
                kind.clone()
            } else {
                format!("{kind} ({context})")
            };
            let entry = errors.entry(key).or_insert_with(|| (0, e.example.clone()));
            entry.0 += e.count;
        }
    }
    if errors.is_empty() {
        println!(
            "Errors: none (every webhook answered 200 with valid TwiML; every call ended where expected; every \
             replayed webhook took its template's path)."
        );
        return true;
    }
    println!("Errors:");
    for (kind, (count, example)) in &errors {
        println!("- {kind}: {count} (first: {example})");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(label: &str, url: &str, params: &[(&str, &str)]) -> Webhook {
        Webhook {
            label: label.to_owned(),
            url: url.to_owned(),
            params: provider::pairs(params),
            answer: vec!["Dial"],
        }
    }

    #[test]
    fn a_fresh_replay_has_a_case_and_a_caller_of_its_own() {
        let lookup = webhook(
            "case_number/digits (case lookup)",
            "http://127.0.0.1:1/voice/step/case_number/digits?line=us&n.case_number=1",
            &[
                ("CallSid", "CA1"),
                ("From", "+15550000001"),
                ("Caller", "+15550000001"),
                ("Digits", "700001"),
            ],
        );
        let (url_a, a) = fresh(&lookup, false);
        let (_, b) = fresh(&lookup, false);
        let field = |params: &[(String, String)], key: &str| params.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(url_a, lookup.url, "no case in the URL's state yet");
        assert_ne!(field(&a, "Digits"), field(&b, "Digits"));
        assert_ne!(field(&a, "From"), field(&b, "From"));
        assert_eq!(field(&a, "From"), field(&a, "Caller"));
        assert_ne!(field(&a, "CallSid"), "CA1");
        assert!(field(&a, "Digits").starts_with('1') && field(&a, "Digits").len() == 12);

        let dialed = webhook(
            "bridge/dialed (no answer)",
            "http://127.0.0.1:1/voice/step/bridge/dialed?line=us&n.bridge=0&v.case=700006&v.case_number=700006&v.customer=ACME",
            &[
                ("CallSid", "CA2"),
                ("From", "+15550000006"),
                ("DialCallStatus", "no-answer"),
            ],
        );
        let (url, params) = fresh(&dialed, false);
        let case = url
            .split("v.case=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        assert_ne!(case, "700006");
        assert!(
            url.contains(&format!("v.case_number={case}")) && url.contains("v.customer=ACME"),
            "{url}"
        );
        assert_eq!(field(&params, "DialCallStatus"), "no-answer");

        let leg = webhook(
            "bridge/accept (accept)",
            "http://127.0.0.1:1/voice/step/bridge/accept?line=us&v.case=700001",
            &[
                ("CallSid", "CA3"),
                ("ParentCallSid", "CA1"),
                ("From", provider::LINE),
                ("Digits", "1"),
            ],
        );
        let (_, params) = fresh(&leg, false);
        assert_eq!(
            field(&params, "From"),
            provider::LINE,
            "the engineer's leg comes from the line"
        );
        assert_eq!(field(&params, "Digits"), "1");
        assert_ne!(field(&params, "ParentCallSid"), "CA1");

        let (url, params) = fresh(&dialed, true);
        assert_eq!(
            (url, params),
            (dialed.url.clone(), dialed.params.clone()),
            "a call with a setup is kept"
        );
    }

    #[test]
    fn a_paused_ceiling_replay_is_told_from_a_slow_one() {
        let p = |p50, p99| Percentiles {
            count: 1000,
            p50,
            p99,
            p999: p99,
        };
        assert!(stalled(&p(400, 36_950)), "the 17:57 run: 0.4 ms median, 37 ms p99");
        assert!(!stalled(&p(400, 1_700)), "a busy machine");
        assert!(!stalled(&p(6_000, 12_000)), "slow throughout, not paused");
    }

    #[test]
    fn a_ceiling_slower_than_afterhours_for_every_webhook_was_slowed() {
        // The ceiling's p99 at 7–9 ms, afterhours' at 2.3–4.6 ms.
        assert!(slower_throughout(&[(4_220, 8_520), (2_630, 7_370), (2_430, 8_370)]));
        // The ceiling slower for the webhooks that wait on nothing, not for those that wait on Redis.
        assert!(!slower_throughout(&[(4_680, 3_420), (2_550, 3_210), (2_820, 3_090)]));
        assert!(!slower_throughout(&[]));
    }
}
