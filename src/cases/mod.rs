//! The case system: looking up a case by the number the caller typed, and adding a note to it afterwards.
//!
//! Adapters (generic HTTP/JSON, Zendesk, Salesforce Service Cloud, Jira Service Management) speak one
//! product's API each and all answer with the same [`Case`]; the decision of what the caller is told
//! (`decision`) is a pure function of that case, kept apart from any I/O.

pub(crate) mod caller;
pub(crate) mod decision;
pub mod file;
mod http;
mod http_json;
mod jira;
pub(crate) mod notes;
mod salesforce;
mod zendesk;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::settings::{CaseAdapter, CaseAuth, Secrets, Settings};

/// A case number as typed on the keypad: 1 to 20 digits. Only such ids ever reach a case system URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaseId(String);

impl CaseId {
    pub(crate) fn parse(text: &str) -> Result<Self, CaseError> {
        if (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(CaseError::InvalidId(text.chars().take(40).collect()))
        }
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A case, as every adapter reports it: the facts the after-hours policy needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Case {
    id: String,
    pub(crate) customer: Option<String>,
    /// The severity or priority as the case system wrote it, for notes and logs.
    pub(crate) severity: String,
    critical: bool,
    pub(crate) environment: String,
    production: bool,
    pub(crate) status: String,
    open: bool,
    /// Phone numbers registered for the case's contacts, as written in the case system.
    contact_phones: Vec<String>,
    /// Some contact phones could not be read (the case system failed to list them in time): a caller who is
    /// not among those read may still be registered.
    contact_phones_partial: bool,
    /// The customer's support package, when the case system says.
    pub(crate) support_package: Option<String>,
    /// The customer's Technical Account Manager as the case system names them (an engineer's id or email in
    /// the on-call data), when it does. Never a number to dial: only engineers of the on-call data are rung.
    pub(crate) tam: Option<String>,
}

/// Why a lookup or a note did not work. Every variant means "the case system is unavailable" to the caller,
/// except `InvalidId`, which never reaches a case system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("invalid case id {0:?}: expected 1 to 20 digits")]
    InvalidId(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("cannot reach the case system: {0}")]
    Connect(String),
    #[error("the case system answered HTTP {0}")]
    Status(u16),
    /// HTTP 429, with the wait its `Retry-After` asks for.
    #[error("the case system answered HTTP 429 (too many requests){}", .0.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited(Option<Duration>),
    #[error("the case system's answer is over {0} bytes")]
    TooLarge(usize),
    #[error("the case system's answer is not the JSON expected: {0}")]
    Format(String),
    #[error("the case system is not configured: {0}")]
    NotConfigured(String),
    #[error("the case system refused our credentials: {0}")]
    Credentials(String),
    #[error("the case system is over its API request limit: {0}")]
    LimitExceeded(String),
    #[error("the case system answered HTTP {0}: {1}")]
    Refused(u16, String),
}

impl CaseError {
    /// An answer that is not the JSON expected, and why.
    pub(crate) fn format(why: &str) -> Self {
        CaseError::Format(why.to_owned())
    }

    /// True for failures that may pass if tried again later: no answer, 5xx, 408, 429, a request limit.
    fn is_transient(&self) -> bool {
        match self {
            CaseError::Timeout(_) | CaseError::Connect(_) | CaseError::RateLimited(_) => true,
            CaseError::Status(status) | CaseError::Refused(status, _) => {
                *status >= 500 || *status == 408 || *status == 429
            }
            CaseError::LimitExceeded(_) => true,
            CaseError::InvalidId(_)
            | CaseError::TooLarge(_)
            | CaseError::Format(_)
            | CaseError::NotConfigured(_)
            | CaseError::Credentials(_) => false,
        }
    }

    /// The least wait before trying again that the case system asked for.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            CaseError::RateLimited(wait) => *wait,
            _ => None,
        }
    }
}

use crate::BoxFuture;

/// A case system adapter.
pub trait CaseSystem: Send + Sync + fmt::Debug {
    /// The case, `None` when the case system says it does not exist.
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>>;

    /// Adds an internal note to the case.
    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>>;
}

/// The case system the settings name, `None` when they name none.
pub(crate) fn build(settings: &Settings, secrets: &Secrets) -> Result<Option<Arc<dyn CaseSystem>>, CaseError> {
    let Some(cases) = &settings.cases else { return Ok(None) };
    let http = http::HttpClient::new(Duration::from_millis(cases.timeout_ms.get()), cases.max_body_bytes)?;
    let token = secrets.cases_token.clone();
    let system: Arc<dyn CaseSystem> = match cases.adapter {
        CaseAdapter::HttpJson => {
            let token = if cases.auth == CaseAuth::Bearer { token } else { None };
            Arc::new(http_json::HttpJson::new(
                http,
                cases.base_url.as_str(),
                token,
                cases.fields.clone(),
                cases.values.clone(),
            ))
        }
        CaseAdapter::Zendesk => {
            let zendesk = cases
                .zendesk
                .clone()
                .ok_or_else(|| CaseError::NotConfigured("no [cases.zendesk]".into()))?;
            let email = zendesk.email.as_str().to_owned();
            let token = token.ok_or_else(|| CaseError::NotConfigured("AFTERHOURS_CASES__TOKEN is not set".into()))?;
            Arc::new(zendesk::Zendesk::new(
                http,
                cases.base_url.as_str(),
                email,
                token,
                zendesk,
                cases.values.clone(),
            ))
        }
        CaseAdapter::Salesforce => {
            let salesforce = cases
                .salesforce
                .clone()
                .ok_or_else(|| CaseError::NotConfigured("no [cases.salesforce]".into()))?;
            let missing = |var: &str| CaseError::NotConfigured(format!("{var} is not set"));
            let client = salesforce::Client {
                id: secrets
                    .cases_client_id
                    .clone()
                    .ok_or_else(|| missing("AFTERHOURS_CASES__CLIENT_ID"))?,
                secret: (secrets.cases_client_secret.clone())
                    .ok_or_else(|| missing("AFTERHOURS_CASES__CLIENT_SECRET"))?,
            };
            Arc::new(salesforce::Salesforce::new(
                http,
                cases.base_url.as_str(),
                client,
                salesforce,
                cases.values.clone(),
                Duration::from_millis(cases.timeout_ms.get()),
            ))
        }
        CaseAdapter::Jira => {
            let jira = cases
                .jira
                .clone()
                .ok_or_else(|| CaseError::NotConfigured("no [cases.jira]".into()))?;
            let token = token.ok_or_else(|| CaseError::NotConfigured("AFTERHOURS_CASES__TOKEN is not set".into()))?;
            Arc::new(jira::Jira::new(
                http,
                cases.base_url.as_str(),
                token,
                jira,
                cases.values.clone(),
            ))
        }
    };
    Ok(Some(system))
}

/// True when `value` is one of `list`, ignoring case and surrounding spaces.
fn one_of(value: &str, list: &[String]) -> bool {
    let value = value.trim();
    list.iter().any(|v| v.trim().eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_id_is_digits_only() {
        assert!(CaseId::parse("123456").is_ok());
        for bad in ["", "12a", "../1", "1 2", "123456789012345678901", "١٢٣"] {
            assert!(CaseId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn value_lists_ignore_case_and_spaces() {
        let list = vec!["Critical".to_owned(), "sev1".to_owned()];
        assert!(one_of(" critical ", &list));
        assert!(one_of("SEV1", &list));
        assert!(!one_of("sev2", &list));
    }
}
