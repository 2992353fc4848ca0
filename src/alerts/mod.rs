//! Missed-call alerts: when a bridge ends with nobody accepting, the line's alert targets are told, so that
//! the caller's promised call-back does not wait for someone to read the case system. Each kind of target
//! has its own module that turns an [`Alert`] into the requests its API documents ([`pagerduty`],
//! [`opsgenie`], [`webhook`], [`sms`]); this module sends them in the background, retried with backoff while the
//! failure may pass, within each target's deadline, and reports how each one ended.
//!
//! An alert is told once per call: the caller of [`Alerts::send`] claims it per call first, and every
//! target's own deduplication key is stable per call (`afterhours-{CallSid}`), so a replay that slips
//! through still opens nothing twice.

mod opsgenie;
mod pagerduty;
mod sms;
mod webhook;

pub use webhook::sign as sign_webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio_util::task::TaskTracker;

use crate::settings::{AlertKind, AlertTarget};

/// One request's time limit, connecting to the last byte of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait between attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A call that nobody accepted, as the alert targets are told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedCall {
    pub call_sid: String,
    /// The line's key (`us`) and spoken name (`North America`).
    pub line: String,
    pub line_name: String,
    /// The case number the caller entered, and its customer when the case was found.
    pub case: Option<String>,
    pub customer: Option<String>,
    /// The caller's number as the provider gave it: what an engineer calls back.
    pub caller: String,
    /// Who was rung, in order (engineer ids), across every tier tried.
    pub rung: Vec<String>,
    /// The phone numbers of the first tier's engineers: who gets a text message.
    pub first_tier: Vec<String>,
    /// The dialled line's number: where text messages come from unless the target names another.
    pub line_number: String,
    /// The provider's account the call belongs to (Twilio's `AccountSid`): whose Messages API sends texts.
    pub account_sid: Option<String>,
    pub at: DateTime<Utc>,
}

impl MissedCall {
    /// "case 123456 (ACME Corp)", as far as the call knows them: how every alert names what the call is about.
    fn case_and_customer(&self) -> String {
        match (&self.case, &self.customer) {
            (Some(case), Some(customer)) => format!("case {case} ({customer})"),
            (Some(case), None) => format!("case {case}"),
            (None, _) => "no case number".to_owned(),
        }
    }
}

/// What a target is told: the missed call, then its voicemail when one is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    Missed(MissedCall),
    Voicemail { call: MissedCall, recording_url: String },
}

impl Alert {
    pub fn call_sid(&self) -> &str {
        &self.call().call_sid
    }

    fn call(&self) -> &MissedCall {
        match self {
            Alert::Missed(call) | Alert::Voicemail { call, .. } => call,
        }
    }

    fn recording_url(&self) -> Option<&str> {
        match self {
            Alert::Missed(_) => None,
            Alert::Voicemail { recording_url, .. } => Some(recording_url),
        }
    }

    /// `missed_call` or `voicemail`: for logs, metrics and the webhook's `event`.
    pub fn event(&self) -> &'static str {
        match self {
            Alert::Missed(_) => "missed_call",
            Alert::Voicemail { .. } => "voicemail",
        }
    }

    /// The key every target deduplicates on: stable per call, so a replay opens nothing twice.
    fn dedup_key(&self) -> String {
        format!("afterhours-{}", self.call().call_sid)
    }

    /// One line for a pager's screen: the case, the customer and the line.
    pub fn summary(&self) -> String {
        let call = self.call();
        let case = call.case_and_customer();
        match self {
            Alert::Missed(_) => format!(
                "Missed after-hours critical call on {} line: {case}, nobody accepted; call back {}",
                call.line_name, call.caller
            ),
            Alert::Voicemail { .. } => format!(
                "Voicemail left on {} line about {case}; call back {}",
                call.line_name, call.caller
            ),
        }
    }
}

/// A request, ready to send: what each kind's module builds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    url: String,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: String,
}

const JSON: &str = "application/json";

/// How one alert to one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub target: String,
    pub kind: &'static str,
    pub attempts: u32,
    /// `None` when it was accepted; else why it was given up.
    pub failure: Option<String>,
}

impl Delivery {
    /// One line for the call log.
    pub fn describe(&self, event: &str) -> String {
        match &self.failure {
            None => format!(
                "alert {event} to {} ({}): accepted after {} attempt(s)",
                self.target, self.kind, self.attempts
            ),
            Some(why) => format!(
                "alert {event} to {} ({}): FAILED after {} attempt(s): {why}",
                self.target, self.kind, self.attempts
            ),
        }
    }
}

/// A configured target with its secret.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    settings: AlertTarget,
    secret: SecretString,
}

/// The alert targets, and the alerts in flight.
#[derive(Debug, Clone)]
pub struct Alerts {
    targets: Vec<Target>,
    client: reqwest::Client,
    tracker: TaskTracker,
}

/// The alerts' HTTP client cannot be set up; alerts are off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot set up the HTTP client of alerts: {0}")]
pub struct AlertsError(String);

impl Alerts {
    /// The targets, each by its name, with its settings and its secret.
    pub fn new(targets: Vec<(String, AlertTarget, SecretString)>) -> Result<Self, AlertsError> {
        let client = crate::fetch::client_builder(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| AlertsError(crate::fetch::describe(&error)))?;
        let targets = targets
            .into_iter()
            .map(|(name, settings, secret)| Target { name, settings, secret })
            .collect();
        Ok(Self {
            targets,
            client,
            tracker: TaskTracker::new(),
        })
    }

    /// Tells every target of the alert's line, in the background; `done` hears how each delivery ended.
    /// Returns at once.
    pub fn send(&self, alert: Alert, done: impl Fn(Delivery) + Clone + Send + 'static) {
        for target in self.targets.iter().filter(|t| t.settings.covers(&alert.call().line)) {
            let (target, alert, done) = (target.clone(), alert.clone(), done.clone());
            let client = self.client.clone();
            self.tracker.spawn(async move {
                let delivery = deliver(&client, &target, &alert).await;
                let outcome = if delivery.failure.is_none() {
                    "accepted"
                } else {
                    "failed"
                };
                metrics::counter!(
                    crate::metrics::ALERTS,
                    "target" => target.name.clone(),
                    "event" => alert.event(),
                    "outcome" => outcome
                )
                .increment(1);
                done(delivery);
            });
        }
    }

    /// Stops taking alerts and waits up to `within` for those in flight; false if some were still pending.
    pub async fn drain(&self, within: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait()).await.is_ok()
    }
}

/// The requests that tell `target` about `alert` (one per recipient of a text message), signed at `now`.
fn requests(target: &Target, alert: &Alert, now: DateTime<Utc>) -> Result<Vec<Request>, String> {
    let url = target.settings.url.as_str();
    Ok(match target.settings.kind {
        AlertKind::PagerDuty => vec![pagerduty::request(url, &target.secret, alert)],
        AlertKind::Opsgenie => vec![opsgenie::request(url, &target.secret, alert)],
        AlertKind::Webhook => vec![webhook::request(url, &target.secret, alert, now)],
        AlertKind::Sms => sms::requests(url, target.settings.from.as_ref(), &target.secret, alert)?,
    })
}

/// Sends every request of the alert, each until the target accepts it, a failure that will not pass, or
/// the target's deadline.
async fn deliver(client: &reqwest::Client, target: &Target, alert: &Alert) -> Delivery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(target.settings.deadline_secs);
    let (name, kind, event) = (&target.name, target.settings.kind.as_str(), alert.event());
    let ended = |attempts, failure: Option<String>| {
        match &failure {
            None => tracing::info!(target = %name, kind, event, attempts, "alert accepted"),
            Some(why) => tracing::error!(target = %name, kind, event, attempts, failure = %why, "alert given up"),
        }
        Delivery {
            target: name.clone(),
            kind,
            attempts,
            failure,
        }
    };
    let count = match requests(target, alert, Utc::now()) {
        Ok(requests) => requests.len(),
        Err(why) => return ended(0, Some(why)),
    };
    let mut attempts = 0;
    let mut failures = Vec::new();
    for index in 0..count {
        let mut backoff = FIRST_BACKOFF;
        loop {
            attempts += 1;
            // Built again for each attempt: a webhook's signature carries the time of sending.
            let request = requests(target, alert, Utc::now())
                .ok()
                .and_then(|r| r.into_iter().nth(index));
            let Some(request) = request else { break };
            let failure = match send_once(client, request).await {
                Ok(()) => break,
                Err(failure) => failure,
            };
            let wait = failure.retry_after.unwrap_or(backoff).max(backoff);
            let retry = failure.transient(target.settings.kind, alert) && tokio::time::Instant::now() + wait < deadline;
            if !retry {
                failures.push(failure.what);
                break;
            }
            tracing::warn!(target = %name, kind, event, attempts, failure = %failure.what, retry_in_ms = wait.as_millis() as u64, "alert failed");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    ended(attempts, (!failures.is_empty()).then(|| failures.join("; ")))
}

/// Why one attempt failed.
#[derive(Debug)]
struct Failure {
    what: String,
    /// The HTTP status, when there was an answer.
    status: Option<u16>,
    /// The answer's `Retry-After`, in seconds.
    retry_after: Option<Duration>,
}

impl Failure {
    /// Whether trying again may succeed: no answer, 408, 429, 5xx; and, for an Opsgenie note, 404 (the alert
    /// it belongs to is created asynchronously and may not exist yet).
    fn transient(&self, kind: AlertKind, alert: &Alert) -> bool {
        match self.status {
            None | Some(408 | 429 | 500..=599) => true,
            Some(404) => kind == AlertKind::Opsgenie && matches!(alert, Alert::Voicemail { .. }),
            Some(_) => false,
        }
    }
}

async fn send_once(client: &reqwest::Client, request: Request) -> Result<(), Failure> {
    let mut builder = client
        .post(&request.url)
        .header(reqwest::header::CONTENT_TYPE, request.content_type)
        .body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|error| Failure {
        what: crate::fetch::describe(&error),
        status: None,
        retry_after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Err(Failure {
        what: format!("answered {status}"),
        status: Some(status.as_u16()),
        retry_after,
    })
}

/// `text` cut to at most `max` characters, for fields with a documented length limit.
fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn missed() -> MissedCall {
        MissedCall {
            call_sid: "CA0123".into(),
            line: "us".into(),
            line_name: "North America".into(),
            case: Some("12345".into()),
            customer: Some("Acme Corp".into()),
            caller: "+15551234567".into(),
            rung: vec!["alice".into(), "bob".into(), "carol".into()],
            first_tier: vec!["+15550100001".into()],
            line_number: "+18005550100".into(),
            account_sid: Some("AC0123".into()),
            at: "2026-11-28T01:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_summary_names_the_case_the_customer_the_line_and_the_number_to_call_back() {
        let alert = Alert::Missed(missed());
        assert_eq!(
            alert.summary(),
            "Missed after-hours critical call on North America line: case 12345 (Acme Corp), nobody accepted; \
             call back +15551234567"
        );
        assert_eq!(alert.dedup_key(), "afterhours-CA0123");
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let failure = |status| Failure {
            what: String::new(),
            status,
            retry_after: None,
        };
        let missed_call = Alert::Missed(missed());
        let voicemail = Alert::Voicemail {
            call: missed(),
            recording_url: "https://r".into(),
        };
        for status in [None, Some(408), Some(429), Some(503)] {
            assert!(failure(status).transient(AlertKind::PagerDuty, &missed_call));
        }
        for status in [Some(400), Some(401), Some(403), Some(404)] {
            assert!(!failure(status).transient(AlertKind::PagerDuty, &missed_call));
        }
        assert!(failure(Some(404)).transient(AlertKind::Opsgenie, &voicemail));
        assert!(!failure(Some(404)).transient(AlertKind::Opsgenie, &missed_call));
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("hi", 5), "hi");
    }
}
