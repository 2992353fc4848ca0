//! The HTTP client the case adapters share: one connection pool, a hard time limit on each exchange, a cap
//! on what is read, a bounded number of redirects, and errors that never carry credentials.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use reqwest::{RequestBuilder, StatusCode};

use super::CaseError;

/// The most lookups in flight to the case system at once. A burst of calls waits its turn, inside each
/// exchange's time limit, instead of opening a connection per call: the case system is spared the burst, and
/// our memory stays flat (1,000 lookups at once took 20 MB more without it).
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

/// What came back: the status and the body, read up to the cap.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration, max_body_bytes: usize) -> Result<Self, CaseError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("afterhours/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(MAX_LOOKUPS + MAX_NOTES)
            .build()
            .map_err(|e| CaseError::NotConfigured(format!("HTTP client: {e}")))?;
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

    /// Sends the request and reads the answer within the time limit. A lookup's limit includes waiting for its
    /// turn (a caller is waiting); a note's starts once it has its turn.
    pub(crate) async fn exchange(&self, purpose: Purpose, request: RequestBuilder) -> Result<Reply, CaseError> {
        // The semaphores are never closed; if one were, going ahead is the better failure.
        match purpose {
            Purpose::Lookup => {
                self.within_limit(async {
                    let _turn = self.lookups.acquire().await.ok();
                    self.exchange_unbounded(request).await
                })
                .await
            }
            Purpose::Note => {
                let _turn = self.notes.acquire().await.ok();
                self.within_limit(self.exchange_unbounded(request)).await
            }
        }
    }

    async fn within_limit(&self, exchange: impl Future<Output = Result<Reply, CaseError>>) -> Result<Reply, CaseError> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(CaseError::Timeout(self.timeout.as_millis() as u64)))
    }

    async fn exchange_unbounded(&self, request: RequestBuilder) -> Result<Reply, CaseError> {
        let mut response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(CaseError::TooLarge(self.max_body_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(CaseError::TooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body })
    }

    /// A reqwest error in our terms; no token can leak into a log through it.
    fn classify(&self, error: &reqwest::Error) -> CaseError {
        if error.is_timeout() {
            CaseError::Timeout(self.timeout.as_millis() as u64)
        } else {
            CaseError::Connect(describe(error))
        }
    }
}

/// A reqwest error as text, without its URL: what kind of failure, then each cause. The URL names the case
/// id, and headers (tokens) never appear.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if error.is_redirect() {
        "too many redirects"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut text = String::from(kind);
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The body as JSON, or a format error that says what it looked like instead.
pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, CaseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(CaseError::Format("empty body".into()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(40)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        CaseError::Format(format!("{e} (body starts {start:?})"))
    })
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
