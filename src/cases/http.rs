//! The HTTP client the case adapters share: one connection pool, the crate's capped exchange
//! ([`crate::fetch`]: a time limit on each exchange, a cap on what is read, a bounded number of redirects,
//! errors that never carry credentials), and turns that keep lookups and notes from crowding each other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use chrono::{DateTime, Utc};
use reqwest::header::{DATE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::CaseError;
use crate::fetch::{self, FetchError};

/// The most lookups in flight to the case system at once. A burst of calls waits its turn, inside each
/// exchange's time limit, instead of opening a connection per call: the case system is spared the burst, and
/// the connections and buffers held stay bounded however many calls come at once.
const MAX_LOOKUPS: usize = 64;
/// The most notes in flight at once, apart from the lookups: a backlog of notes never delays a caller. A note's
/// time limit starts with its turn: nobody waits on a note, and a backlog is no failure of the case system.
const MAX_NOTES: usize = 16;

/// What an exchange is for, which decides whose turn it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A case lookup: a caller is waiting.
    Lookup,
    /// A note, sent after the answer.
    Note,
}

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body_bytes: usize,
    lookups: Arc<Semaphore>,
    notes: Arc<Semaphore>,
}

/// What came back: the status, the wait `Retry-After` asks for, and the body, read up to the cap.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The failure an unexpected status stands for: a 429 with the wait it asks for, else the status.
    pub(crate) fn failure(&self) -> CaseError {
        match self.status {
            StatusCode::TOO_MANY_REQUESTS => CaseError::RateLimited(self.retry_after),
            status => CaseError::Status(status.as_u16()),
        }
    }
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration, max_body_bytes: usize) -> Result<Self, CaseError> {
        let client = fetch::client_builder(timeout)
            .pool_max_idle_per_host(MAX_LOOKUPS + MAX_NOTES)
            .build()
            .map_err(|e| CaseError::NotConfigured(format!("HTTP client: {}", fetch::describe(&e))))?;
        Ok(Self {
            client,
            timeout,
            max_body_bytes,
            lookups: Arc::new(Semaphore::new(MAX_LOOKUPS)),
            notes: Arc::new(Semaphore::new(MAX_NOTES)),
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The time limit of one exchange (for a lookup: its turn included).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the request and reads the answer within the time limit. A lookup's limit includes waiting for its
    /// turn (a caller is waiting); a note's starts once it has its turn, with the client's own limit on the
    /// exchange.
    pub(crate) async fn exchange(&self, purpose: Purpose, request: RequestBuilder) -> Result<Reply, CaseError> {
        // The semaphores are never closed; if one were, going ahead is the better failure.
        match purpose {
            Purpose::Lookup => {
                let turn_and_exchange = async {
                    let _turn = self.lookups.acquire().await.ok();
                    self.send(request).await
                };
                tokio::time::timeout(self.timeout, turn_and_exchange)
                    .await
                    .unwrap_or(Err(self.failed(FetchError::Timeout)))
            }
            Purpose::Note => {
                let _turn = self.notes.acquire().await.ok();
                self.send(request).await
            }
        }
    }

    /// One exchange, bounded by the client's time limit and the body cap.
    async fn send(&self, request: RequestBuilder) -> Result<Reply, CaseError> {
        let response = request.send().await.map_err(|e| self.failed(e.into()))?;
        let status = response.status();
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(RETRY_AFTER).and_then(|value| {
            // The server's own clock when it sends one, so that our clock's error does not count.
            let now = header(DATE)
                .and_then(|date| DateTime::parse_from_rfc2822(date).ok())
                .map_or_else(Utc::now, |date| date.with_timezone(&Utc));
            retry_after(value, now)
        });
        let body = fetch::read_capped(response, self.max_body_bytes)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// A failed exchange in the case system's terms, with this client's time limit.
    fn failed(&self, error: FetchError) -> CaseError {
        match error {
            FetchError::Timeout => CaseError::Timeout(self.timeout.as_millis() as u64),
            FetchError::Transport(text) => CaseError::Connect(text),
            FetchError::TooLarge(max) => CaseError::TooLarge(max),
        }
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds (`93`), or an HTTP-date
/// (`Fri, 27 Nov 2026 20:01:33 GMT`) less `now`, nothing for a date already past. `None` for anything else.
pub(crate) fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The body as JSON, or a format error that says what it looked like instead.
pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, CaseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CaseError::Format("empty body".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| CaseError::Format(format!("{e} (body starts {:?})", fetch::body_start(body))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::JoinSet;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A case system that answers every request after `delay`.
    async fn slow_case_system(delay: Duration) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_delay(delay))
            .mount(&server)
            .await;
        server
    }

    /// `count` exchanges at once, each a POST to `server`; their outcomes.
    async fn at_once(
        client: &HttpClient,
        server: &MockServer,
        purpose: Purpose,
        count: usize,
    ) -> Vec<Result<Reply, CaseError>> {
        let url = format!("{}/cases/1/notes", server.uri());
        let mut exchanges = JoinSet::new();
        for _ in 0..count {
            let (client, url) = (client.clone(), url.clone());
            exchanges.spawn(async move { client.exchange(purpose, client.client().post(&url)).await });
        }
        exchanges.join_all().await
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("93", now), Some(Duration::from_secs(93)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sat, 28 Nov 2026 01:01:33 GMT", now),
            Some(Duration::from_secs(93))
        );
        assert_eq!(
            retry_after("Sat, 28 Nov 2026 00:59:00 GMT", now),
            Some(Duration::ZERO),
            "a date already past: no wait"
        );
        for unreadable in ["", "soon", "-5", "1.5"] {
            assert_eq!(retry_after(unreadable, now), None, "{unreadable:?}");
        }
    }

    #[tokio::test]
    async fn notes_waiting_for_their_turn_longer_than_the_time_limit_are_still_sent() {
        // Five rounds of turns of 300 ms each: the last round starts 1.2 s in, past the 1 s limit.
        let server = slow_case_system(Duration::from_millis(300)).await;
        let client = HttpClient::new(Duration::from_secs(1), 1024).unwrap();

        let replies = at_once(&client, &server, Purpose::Note, 5 * MAX_NOTES).await;

        let failed: Vec<_> = replies.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(failed.is_empty(), "{failed:?}");
    }

    #[tokio::test]
    async fn a_lookup_waiting_for_its_turn_counts_the_wait_in_its_time_limit() {
        // The second round of turns cannot end before 600 ms, past the 500 ms limit.
        let server = slow_case_system(Duration::from_millis(300)).await;
        let client = HttpClient::new(Duration::from_millis(500), 1024).unwrap();

        let replies = at_once(&client, &server, Purpose::Lookup, 2 * MAX_LOOKUPS).await;

        assert!(
            replies.iter().any(|r| matches!(r, Err(CaseError::Timeout(500)))),
            "a lookup that waited for its turn timed out"
        );
    }
}
