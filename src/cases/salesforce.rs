//! Salesforce Service Cloud: a case is a `Case`, found by its `CaseNumber` (digits, so it fits the keypad)
//! with one SOQL query through the REST API (`GET /services/data/vXX.X/query?q=...`) that reads the case's
//! fields and, through its relationships, the account's name and the contact's phones. A note is a private
//! `CaseComment` (`IsPublished` false) on the case.
//!
//! Authentication is the OAuth 2.0 client-credentials flow of a connected app: `POST /services/oauth2/token`
//! with the client id and secret gives an access token, used as a bearer token. Its answer carries no
//! lifetime, so a token is used for the configured `session_secs`; a 401 (`INVALID_SESSION_ID`: the org's
//! session timeout is shorter, or the token was revoked) fetches a new one at once, and the request is tried
//! once more with it. Concurrent calls share one token and one fetch.
//!
//! Priority is compared with the configured critical values; the environment is a configurable field (a
//! multi-select picklist is production when one of its values is); `IsClosed` alone says whether the case is
//! closed, whatever its status is called. Only field names checked as such ([`FieldPath`]) and the digits of a
//! [`CaseId`] are written into a query.
//!
//! Salesforce answers an org over its API request limit with 403 `REQUEST_LIMIT_EXCEEDED` (or 429): a lookup
//! is then unavailable, and a note is tried again later.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::http::{HttpClient, Purpose, Reply, json};
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem, one_of};
use crate::settings::{CaseValues, FieldPath, SalesforceSettings};

/// The most bytes `CaseComment.CommentBody` holds.
const MAX_COMMENT_BYTES: usize = 4000;

/// The connected app's credentials.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: SecretString,
    pub(crate) secret: SecretString,
}

#[derive(Debug)]
pub(crate) struct Salesforce {
    http: HttpClient,
    base_url: String,
    client: Client,
    settings: SalesforceSettings,
    values: CaseValues,
    /// A whole lookup (a token fetched, the query, a token refused and fetched again) takes no longer.
    timeout: Duration,
    sessions: Mutex<Sessions>,
}

/// The access token in use, and how many have been fetched.
#[derive(Debug, Default)]
struct Sessions {
    current: Option<Session>,
    issued: u64,
}

#[derive(Debug, Clone)]
struct Session {
    token: SecretString,
    /// Which fetch gave it: a 401 replaces the token only if no other call has replaced it already.
    number: u64,
    expires: Instant,
}

impl Salesforce {
    pub(crate) fn new(
        http: HttpClient,
        base_url: &str,
        client: Client,
        settings: SalesforceSettings,
        values: CaseValues,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            client,
            settings,
            values,
            timeout,
            sessions: Mutex::new(Sessions::default()),
        }
    }

    /// The token to use: the current one, or a new one when there is none, it has expired, or it is the one
    /// `refused` names.
    async fn session(&self, refused: Option<u64>) -> Result<Session, CaseError> {
        let mut sessions = self.sessions.lock().await;
        if let Some(current) = &sessions.current
            && refused != Some(current.number)
            && Instant::now() < current.expires
        {
            return Ok(current.clone());
        }
        sessions.current = None;
        let token = self.fetch_token().await?;
        sessions.issued += 1;
        let session = Session {
            token,
            number: sessions.issued,
            expires: Instant::now() + Duration::from_secs(self.settings.session_secs.get()),
        };
        sessions.current = Some(session.clone());
        Ok(session)
    }

    /// A new access token by the client-credentials flow. It takes a lookup's turn, whoever needs it: the
    /// fetch holds the token's lock, which callers wait on, so it must never wait behind a backlog of notes.
    async fn fetch_token(&self) -> Result<SecretString, CaseError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", self.client.id.expose_secret())
            .append_pair("client_secret", self.client.secret.expose_secret())
            .finish();
        let request = self
            .http
            .client()
            .post(format!("{}/services/oauth2/token", self.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form);
        let reply = self.http.exchange(Purpose::Lookup, request).await?;
        if reply.status.is_success() {
            return json(&reply.body)?
                .get("access_token")
                .and_then(Value::as_str)
                .filter(|token| !token.is_empty())
                .map(|token| SecretString::from(token.to_owned()))
                .ok_or_else(|| CaseError::format("the token answer has no access_token"));
        }
        // OAuth's own errors: {"error": "invalid_client", "error_description": "invalid client credentials"}.
        let oauth_error = json(&reply.body).ok().and_then(|doc| {
            let error = doc.get("error")?.as_str()?.to_owned();
            let description = doc.get("error_description").and_then(Value::as_str).unwrap_or_default();
            Some(format!("{error} ({description})"))
        });
        match (reply.status.as_u16(), oauth_error) {
            (400 | 401 | 403, Some(error)) => Err(CaseError::Credentials(format!(
                "the connected app's token request was refused: {error}"
            ))),
            _ => Err(refusal(&reply)),
        }
    }

    /// Sends the request `build` makes with the access token; on a 401, once more with a new token.
    async fn call(&self, purpose: Purpose, build: impl Fn() -> RequestBuilder) -> Result<Reply, CaseError> {
        let session = self.session(None).await?;
        let send = |session: &Session| {
            let request = build()
                .bearer_auth(session.token.expose_secret())
                .header("accept", "application/json");
            self.http.exchange(purpose, request)
        };
        let reply = send(&session).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        let session = self.session(Some(session.number)).await?;
        let reply = send(&session).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(CaseError::Credentials(format!(
                "a new access token was refused too ({})",
                error_text(&reply.body).unwrap_or_else(|| "HTTP 401".into())
            )));
        }
        Ok(reply)
    }

    /// The case number the caller typed, as Salesforce writes it.
    fn case_number(&self, id: &CaseId) -> String {
        case_number(id, self.settings.case_number_width.get() as usize)
    }

    fn query_url(&self, soql: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", soql)
            .finish();
        format!(
            "{}/services/data/v{}/query?{query}",
            self.base_url,
            self.settings.api_version.as_str()
        )
    }

    /// Runs a SOQL query; its first record, `None` when it found none.
    async fn first_record(&self, purpose: Purpose, soql: &str) -> Result<Option<Value>, CaseError> {
        let url = self.query_url(soql);
        let reply = self.call(purpose, || self.http.client().get(&url)).await?;
        if !reply.status.is_success() {
            return Err(refusal(&reply));
        }
        let mut doc = json(&reply.body)?;
        let records = doc
            .get_mut("records")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| CaseError::format("the query answer has no \"records\" list"))?;
        Ok((!records.is_empty()).then(|| records.swap_remove(0)))
    }

    async fn fetch(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let soql = case_query(&self.case_number(id), &self.settings);
        match self.first_record(Purpose::Lookup, &soql).await? {
            None => Ok(None),
            Some(record) => record_to_case(&record, id, &self.settings, &self.values).map(Some),
        }
    }

    async fn comment(&self, id: &CaseId, body: &str) -> Result<(), CaseError> {
        let number = self.case_number(id);
        let soql = format!("SELECT Id FROM Case WHERE CaseNumber = '{number}' LIMIT 1");
        let record = self.first_record(Purpose::Note, &soql).await?;
        let parent = record
            .as_ref()
            .and_then(|r| value_at(r, ["Id"]))
            .and_then(Value::as_str)
            .ok_or_else(|| CaseError::format(&format!("no case has CaseNumber {number}")))?;
        let body = truncated(body, MAX_COMMENT_BYTES);
        let payload = serde_json::json!({ "ParentId": parent, "CommentBody": body, "IsPublished": false });
        let url = format!(
            "{}/services/data/v{}/sobjects/CaseComment",
            self.base_url,
            self.settings.api_version.as_str()
        );
        let reply = self
            .call(Purpose::Note, || {
                self.http
                    .client()
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payload.to_string())
            })
            .await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(refusal(&reply))
        }
    }
}

impl CaseSystem for Salesforce {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(async move {
            tokio::time::timeout(self.timeout, self.fetch(id))
                .await
                .unwrap_or(Err(CaseError::Timeout(self.timeout.as_millis() as u64)))
        })
    }

    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(self.comment(id, body))
    }
}

/// `text` cut to at most `max` bytes, between two characters.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The digits typed, zero-padded to `width`.
fn case_number(id: &CaseId, width: usize) -> String {
    format!("{:0>width$}", id.as_str())
}

/// The one query of a lookup: the case's own fields, the configured ones, the account and the contact.
fn case_query(number: &str, settings: &SalesforceSettings) -> String {
    let mut fields: Vec<&str> = vec!["Id", "CaseNumber", "Priority", "Status", "IsClosed"];
    let configured = [
        Some(&settings.environment_field),
        settings.support_package_field.as_ref(),
        settings.tam_field.as_ref(),
    ];
    fields.extend(configured.into_iter().flatten().map(FieldPath::as_str));
    fields.extend(["Account.Name", "Contact.Phone", "Contact.MobilePhone"]);
    // SOQL refuses a field selected twice.
    let mut unique: Vec<&str> = Vec::new();
    for field in fields {
        if !unique.iter().any(|f| f.eq_ignore_ascii_case(field)) {
            unique.push(field);
        }
    }
    format!(
        "SELECT {} FROM Case WHERE CaseNumber = '{number}' LIMIT 1",
        unique.join(", ")
    )
}

/// A query's record as a case.
fn record_to_case(
    record: &Value,
    id: &CaseId,
    settings: &SalesforceSettings,
    values: &CaseValues,
) -> Result<Case, CaseError> {
    let priority = text_at(record, ["Priority"]).unwrap_or_default();
    let status = text_at(record, ["Status"]).ok_or_else(|| CaseError::format("the case has no Status"))?;
    let closed = value_at(record, ["IsClosed"])
        .and_then(Value::as_bool)
        .ok_or_else(|| CaseError::format("the case has no IsClosed"))?;
    let field = |path: &FieldPath| text_at(record, path.parts()).filter(|t| !t.trim().is_empty());
    let environment = field(&settings.environment_field).unwrap_or_default();
    let contact_phones = ["Phone", "MobilePhone"]
        .into_iter()
        .filter_map(|phone| text_at(record, ["Contact", phone]))
        .filter(|p| !p.trim().is_empty())
        .collect();
    Ok(Case {
        id: id.to_string(),
        customer: text_at(record, ["Account", "Name"]).filter(|n| !n.trim().is_empty()),
        critical: one_of(&priority, &values.critical),
        severity: priority,
        // A multi-select picklist answers its values joined by ';'.
        production: environment.split(';').any(|option| one_of(option, &values.production)),
        environment,
        open: !closed,
        status,
        contact_phones,
        contact_phones_partial: false,
        support_package: settings.support_package_field.as_ref().and_then(field),
        tam: settings.tam_field.as_ref().and_then(field),
    })
}

/// The value at `path` (field names, through relationships), its names matched without regard to case; `None`
/// when a relationship along it is empty.
fn value_at<'v, 'p>(record: &'v Value, path: impl IntoIterator<Item = &'p str>) -> Option<&'v Value> {
    path.into_iter().try_fold(record, |value, name| {
        let object = value.as_object()?;
        object.get(name).or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    })
}

/// The text at `path`: a string, or a number or boolean written out.
fn text_at<'p>(record: &Value, path: impl IntoIterator<Item = &'p str>) -> Option<String> {
    match value_at(record, path)? {
        Value::String(s) => Some(s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// The first error of a Salesforce error answer (`[{"message": ..., "errorCode": ...}]`), as
/// `errorCode: message`.
fn error_text(body: &[u8]) -> Option<String> {
    let doc = json(body).ok()?;
    let first = doc.as_array()?.first()?;
    let code = first.get("errorCode")?.as_str()?;
    let message = first.get("message").and_then(Value::as_str).unwrap_or_default();
    Some(format!("{code}: {message}"))
}

/// A Salesforce answer that is not a success, in our terms.
fn refusal(reply: &Reply) -> CaseError {
    let status = reply.status.as_u16();
    match (status, error_text(&reply.body)) {
        (_, Some(error)) if error.starts_with("REQUEST_LIMIT_EXCEEDED:") => CaseError::LimitExceeded(error),
        (429, _) => reply.failure(),
        (401 | 403, Some(error)) => CaseError::Credentials(format!("HTTP {status} {error}")),
        (401 | 403, None) => CaseError::Credentials(format!("HTTP {status}")),
        (_, Some(error)) => CaseError::Refused(status, error),
        (_, None) => CaseError::Status(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SalesforceSettings {
        SalesforceSettings {
            api_version: crate::settings::ApiVersion::try_from("62.0".to_owned()).unwrap(),
            case_number_width: crate::settings::Bounded::of::<8>(),
            environment_field: FieldPath::parse("Environment__c").unwrap(),
            support_package_field: Some(FieldPath::parse("Account.Support_Package__c").unwrap()),
            tam_field: Some(FieldPath::parse("Account.TAM_Email__c").unwrap()),
            session_secs: crate::settings::Bounded::of::<1800>(),
        }
    }

    fn id() -> CaseId {
        CaseId::parse("1026").unwrap()
    }

    #[test]
    fn the_case_number_is_padded_and_the_query_selects_each_field_once() {
        assert_eq!(case_number(&id(), 8), "00001026");
        assert_eq!(case_number(&id(), 0), "1026");
        assert_eq!(case_number(&CaseId::parse("123456789").unwrap(), 8), "123456789");
        let mut settings = settings();
        settings.tam_field = Some(FieldPath::parse("account.name").unwrap());
        assert_eq!(
            case_query("00001026", &settings),
            "SELECT Id, CaseNumber, Priority, Status, IsClosed, Environment__c, Account.Support_Package__c, \
             account.name, Contact.Phone, Contact.MobilePhone FROM Case WHERE CaseNumber = '00001026' LIMIT 1"
        );
    }

    #[test]
    fn a_comment_is_cut_between_characters() {
        assert_eq!(truncated("abc", 4000), "abc");
        assert_eq!(truncated("Zoë", 3), "Zo");
        assert_eq!(truncated(&"é".repeat(2001), MAX_COMMENT_BYTES).len(), 4000);
    }

    #[test]
    fn a_record_with_its_account_and_contact() {
        let record: Value = serde_json::from_str(
            r#"{"attributes":{"type":"Case","url":"/services/data/v62.0/sobjects/Case/5003000000D8cuI"},
                "Id":"5003000000D8cuIAAR","CaseNumber":"00001026","Priority":"Critical","Status":"Escalated",
                "IsClosed":false,"Environment__c":"Staging;Production",
                "Account":{"attributes":{"type":"Account"},"Name":"ACME Corp","Support_Package__c":"Premium",
                  "TAM_Email__c":"dana@example.com"},
                "Contact":{"attributes":{"type":"Contact"},"Phone":"(555) 123-4567","MobilePhone":null}}"#,
        )
        .unwrap();
        let case = record_to_case(&record, &id(), &settings(), &CaseValues::default()).unwrap();
        assert!(case.critical && case.production && case.open);
        assert_eq!(case.customer.as_deref(), Some("ACME Corp"));
        assert_eq!(case.contact_phones, ["(555) 123-4567"]);
        assert_eq!(case.support_package.as_deref(), Some("Premium"));
        assert_eq!(case.tam.as_deref(), Some("dana@example.com"));
        assert_eq!(case.status, "Escalated");
    }

    #[test]
    fn is_closed_decides_closed_and_empty_relationships_name_nobody() {
        let record: Value = serde_json::from_str(
            r#"{"Priority":null,"Status":"Working","IsClosed":true,"Environment__c":null,
                "Account":null,"Contact":null}"#,
        )
        .unwrap();
        let case = record_to_case(&record, &id(), &settings(), &CaseValues::default()).unwrap();
        assert!(!case.open && !case.critical && !case.production);
        assert_eq!((case.customer, case.support_package, case.tam), (None, None, None));
        assert!(case.contact_phones.is_empty());
        let no_flag: Value = serde_json::from_str(r#"{"Status":"New"}"#).unwrap();
        assert_eq!(
            record_to_case(&no_flag, &id(), &settings(), &CaseValues::default()).unwrap_err(),
            CaseError::Format("the case has no IsClosed".into())
        );
    }

    #[test]
    fn error_answers_are_told_apart() {
        let reply = |status: u16, body: &str| Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        let limit = r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert_eq!(
            refusal(&reply(403, limit)),
            CaseError::LimitExceeded("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.".into())
        );
        assert!(refusal(&reply(403, limit)).is_transient());
        assert_eq!(refusal(&reply(429, "")), CaseError::RateLimited(None));
        let disabled = r#"[{"message":"API is disabled for this User","errorCode":"API_DISABLED_FOR_ORG"}]"#;
        assert_eq!(
            refusal(&reply(403, disabled)),
            CaseError::Credentials("HTTP 403 API_DISABLED_FOR_ORG: API is disabled for this User".into())
        );
        let field = r#"[{"message":"No such column 'Environment__c' on entity 'Case'","errorCode":"INVALID_FIELD"}]"#;
        assert_eq!(
            refusal(&reply(400, field)),
            CaseError::Refused(
                400,
                "INVALID_FIELD: No such column 'Environment__c' on entity 'Case'".into()
            )
        );
        assert!(!refusal(&reply(400, field)).is_transient());
        assert_eq!(refusal(&reply(503, "<html>")), CaseError::Status(503));
    }
}
