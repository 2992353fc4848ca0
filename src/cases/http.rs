//! The HTTP client the case adapters share: one connection pool, a hard time limit on each exchange, a cap
//! on what is read, a bounded number of redirects, and errors that never carry credentials.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use reqwest::{RequestBuilder, StatusCode};

use super::CaseError;

/// The most exchanges with the case system at once (and connections kept open to it). A burst of calls
/// waits its turn, inside each exchange's time limit, instead of opening a connection per call: the case
/// system is spared the burst, and our memory stays flat (1,000 lookups at once took 60 MB more without it).
const MAX_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_body_bytes: usize,
    in_flight: Arc<Semaphore>,
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
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()
            .map_err(|e| CaseError::NotConfigured(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            timeout,
            max_body_bytes,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and reads the answer, all within the time limit.
    pub(crate) async fn exchange(&self, request: RequestBuilder) -> Result<Reply, CaseError> {
        let millis = self.timeout.as_millis() as u64;
        match tokio::time::timeout(self.timeout, self.exchange_unbounded(request)).await {
            Ok(result) => result,
            Err(_) => Err(CaseError::Timeout(millis)),
        }
    }

    async fn exchange_unbounded(&self, request: RequestBuilder) -> Result<Reply, CaseError> {
        // The semaphore is never closed; if it were, going ahead is the better failure.
        let _turn = self.in_flight.acquire().await.ok();
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
