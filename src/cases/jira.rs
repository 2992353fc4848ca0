//! Jira Service Management: a case is an issue of the configured project, and the caller types its number:
//! digits `123` are the issue `{project}-123`. One request reads the issue's fields
//! (`GET /rest/api/3/issue/{key}?fields=...`); a note is an internal comment through the service-desk API
//! (`POST /rest/servicedeskapi/request/{key}/comment` with `"public": false`), which only an agent of the
//! project may add. Authentication is an API token: HTTP basic with the agent's email and the token.
//!
//! The priority's name is compared with the configured critical values; the status category `done` is
//! closed, whatever the status is called; the environment, the organisation, the reporter's phones, the
//! support package and the TAM come from configurable fields. Jira users carry no phone number, so the
//! reporter's phones are a field of the issue.
//!
//! A 404 with Jira's error body (`{"errorMessages": [...]}`) is no such issue; any other 404 is a wrong
//! address. 401 and 403 are credentials Jira refuses; 429 (with `Retry-After`) is its rate limit.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::http::{HttpClient, Purpose, Reply, json};
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem, one_of};
use crate::settings::{CaseValues, JiraField, JiraSettings};

#[derive(Debug)]
pub(crate) struct Jira {
    http: HttpClient,
    base_url: String,
    token: SecretString,
    settings: JiraSettings,
    values: CaseValues,
}

impl Jira {
    pub(crate) fn new(
        http: HttpClient,
        base_url: &str,
        token: SecretString,
        settings: JiraSettings,
        values: CaseValues,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            settings,
            values,
        }
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .basic_auth(self.settings.email.as_str(), Some(self.token.expose_secret()))
            .header("accept", "application/json")
    }

    /// The issue key of the digits typed: `{project}-{number}`, without leading zeros, as Jira numbers issues.
    fn key(&self, id: &CaseId) -> String {
        issue_key(self.settings.project.as_str(), id)
    }

    async fn fetch(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let url = format!(
            "{}/rest/api/3/issue/{}?fields={}",
            self.base_url,
            self.key(id),
            fields(&self.settings).join(",")
        );
        let reply = self
            .http
            .exchange(Purpose::Lookup, self.authorised(self.http.client().get(url)))
            .await?;
        match reply.status.as_u16() {
            200..=299 => issue_to_case(&json(&reply.body)?, id, &self.settings, &self.values).map(Some),
            // Jira's own "Issue does not exist or you do not have permission to see it."
            404 if error_messages(&reply.body).is_some() => Ok(None),
            _ => Err(refusal(&reply)),
        }
    }

    async fn comment(&self, id: &CaseId, body: &str) -> Result<(), CaseError> {
        let url = format!("{}/rest/servicedeskapi/request/{}/comment", self.base_url, self.key(id));
        let payload = serde_json::json!({ "body": body, "public": false });
        let request = self
            .authorised(self.http.client().post(url))
            .header("content-type", "application/json")
            .body(payload.to_string());
        let reply = self.http.exchange(Purpose::Note, request).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(refusal(&reply))
        }
    }
}

impl CaseSystem for Jira {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(self.fetch(id))
    }

    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(self.comment(id, body))
    }
}

fn issue_key(project: &str, id: &CaseId) -> String {
    let digits = id.as_str().trim_start_matches('0');
    format!("{project}-{}", if digits.is_empty() { "0" } else { digits })
}

/// The fields a lookup asks for, each once.
fn fields(settings: &JiraSettings) -> Vec<&str> {
    let configured = [
        Some(&settings.environment_field),
        Some(&settings.organization_field),
        Some(&settings.phone_field),
        settings.support_package_field.as_ref(),
        settings.tam_field.as_ref(),
    ];
    let mut fields = vec!["priority", "status", "reporter"];
    for field in configured.into_iter().flatten().map(JiraField::as_str) {
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    fields
}

/// A Jira "get issue" answer as a case.
fn issue_to_case(doc: &Value, id: &CaseId, settings: &JiraSettings, values: &CaseValues) -> Result<Case, CaseError> {
    let fields = doc
        .get("fields")
        .filter(|f| f.is_object())
        .ok_or_else(|| CaseError::format("no \"fields\" object"))?;
    let priority = fields
        .get("priority")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let status = fields
        .get("status")
        .ok_or_else(|| CaseError::format("the issue has no status"))?;
    let status_name = status
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| CaseError::format("the issue's status has no name"))?
        .to_owned();
    let category = status
        .pointer("/statusCategory/key")
        .and_then(Value::as_str)
        .ok_or_else(|| CaseError::format("the issue's status has no statusCategory"))?;
    // A configured field the answer does not carry is a wrong field id; one it carries as null is empty.
    let configured = |field: &JiraField| -> Result<Option<String>, CaseError> {
        let value = fields
            .get(field.as_str())
            .ok_or_else(|| CaseError::format(&format!("the issue has no field {field}")))?;
        Ok(field_text(value).filter(|t| !t.trim().is_empty()))
    };
    let optional =
        |field: Option<&JiraField>| -> Result<Option<String>, CaseError> { field.map_or(Ok(None), configured) };
    let environment = configured(&settings.environment_field)?.unwrap_or_default();
    let contact_phones = configured(&settings.phone_field)?
        .map(|phones| {
            phones
                .split([',', ';'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let reporter = fields
        .get("reporter")
        .and_then(|r| r.get("displayName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Case {
        id: id.to_string(),
        customer: configured(&settings.organization_field)?.or(reporter),
        critical: one_of(&priority, &values.critical),
        severity: priority,
        production: environment.split(", ").any(|option| one_of(option, &values.production)),
        environment,
        open: category != "done",
        status: status_name,
        contact_phones,
        contact_phones_partial: false,
        support_package: optional(settings.support_package_field.as_ref())?,
        tam: optional(settings.tam_field.as_ref())?,
    })
}

/// A field's value as text, whatever its type: a text field's string; a select list's `value`; a user's
/// email (else name); an organisation's or a priority's `name`; a document (API v3's rich text) as its text;
/// a list as its items joined by ", ".
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        Value::Array(items) => {
            let texts: Vec<String> = items.iter().filter_map(field_text).collect();
            (!texts.is_empty()).then(|| texts.join(", "))
        }
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some("doc") {
                let mut text = String::new();
                document_text(value, &mut text);
                return Some(text.trim().to_owned());
            }
            ["value", "emailAddress", "name", "displayName"]
                .iter()
                .find_map(|key| object.get(*key).and_then(Value::as_str))
                .map(str::to_owned)
        }
    }
}

/// The text nodes of an Atlassian Document Format node, paragraphs apart.
fn document_text(node: &Value, out: &mut String) {
    if let Some(text) = node.get("text").and_then(Value::as_str) {
        out.push_str(text);
    }
    for child in node.get("content").and_then(Value::as_array).into_iter().flatten() {
        document_text(child, out);
    }
    if node.get("type").and_then(Value::as_str) == Some("paragraph") {
        out.push(' ');
    }
}

/// Jira's error messages (`{"errorMessages": [...], "errors": {...}}`), joined; `None` when the body is not
/// Jira's error answer.
fn error_messages(body: &[u8]) -> Option<String> {
    let doc = json(body).ok()?;
    let messages = doc.get("errorMessages")?.as_array()?;
    let mut texts: Vec<String> = messages.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    if let Some(errors) = doc.get("errors").and_then(Value::as_object) {
        texts.extend(
            errors
                .iter()
                .filter_map(|(field, message)| Some(format!("{field}: {}", message.as_str()?))),
        );
    }
    Some(texts.join("; "))
}

/// A Jira answer that is not a success (nor a missing issue), in our terms.
fn refusal(reply: &Reply) -> CaseError {
    let status = reply.status.as_u16();
    let messages = error_messages(&reply.body).filter(|m| !m.is_empty());
    match status {
        401 | 403 => CaseError::Credentials(match messages {
            Some(messages) => format!("HTTP {status}: {messages}"),
            None => format!("HTTP {status}: check the agent's email, the API token and the agent's access"),
        }),
        429 => reply.failure(),
        _ => match messages {
            Some(messages) => CaseError::Refused(status, messages),
            None => CaseError::Status(status),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{AgentEmail, ProjectKey};

    fn settings() -> JiraSettings {
        JiraSettings {
            email: AgentEmail::parse("oncall@example.com").unwrap(),
            project: ProjectKey::parse("SUP").unwrap(),
            environment_field: JiraField::parse("customfield_10050").unwrap(),
            organization_field: JiraField::parse("customfield_10002").unwrap(),
            phone_field: JiraField::parse("customfield_10060").unwrap(),
            support_package_field: Some(JiraField::parse("customfield_10070").unwrap()),
            tam_field: Some(JiraField::parse("customfield_10080").unwrap()),
        }
    }

    fn critical() -> CaseValues {
        CaseValues {
            critical: vec!["highest".into()],
            ..CaseValues::default()
        }
    }

    #[test]
    fn the_key_is_the_project_and_the_number() {
        assert_eq!(issue_key("SUP", &CaseId::parse("123").unwrap()), "SUP-123");
        assert_eq!(issue_key("SUP", &CaseId::parse("000123").unwrap()), "SUP-123");
        assert_eq!(issue_key("SUP", &CaseId::parse("0").unwrap()), "SUP-0");
        let mut settings = settings();
        settings.tam_field = Some(JiraField::parse("customfield_10050").unwrap());
        assert_eq!(
            fields(&settings).join(","),
            "priority,status,reporter,customfield_10050,customfield_10002,customfield_10060,customfield_10070"
        );
    }

    #[test]
    fn an_issue_with_its_organisation_phones_package_and_tam() {
        let doc: Value = serde_json::from_str(
            r#"{"id":"10002","key":"SUP-123","fields":{
                "priority":{"name":"Highest","id":"1"},
                "status":{"name":"Waiting for support","statusCategory":{"key":"indeterminate","name":"In Progress"}},
                "reporter":{"displayName":"Jane Doe","emailAddress":"jane@acme.example"},
                "customfield_10050":[{"value":"Staging","id":"10101"},{"value":"Production","id":"10100"}],
                "customfield_10002":[{"id":"1","name":"ACME Corp","_links":{"self":"https://x/rest/servicedeskapi/organization/1"}}],
                "customfield_10060":"+15551234567; +1 555 000 1111",
                "customfield_10070":{"value":"Premium","id":"10200"},
                "customfield_10080":{"accountId":"5b10","emailAddress":"dana@example.com","displayName":"Dana"}}}"#,
        )
        .unwrap();
        let case = issue_to_case(&doc, &CaseId::parse("123").unwrap(), &settings(), &critical()).unwrap();
        assert!(case.critical && case.production && case.open);
        assert_eq!(case.customer.as_deref(), Some("ACME Corp"));
        assert_eq!(case.contact_phones, ["+15551234567", "+1 555 000 1111"]);
        assert_eq!(case.support_package.as_deref(), Some("Premium"));
        assert_eq!(case.tam.as_deref(), Some("dana@example.com"));
        assert_eq!(case.environment, "Staging, Production");
    }

    #[test]
    fn done_is_closed_and_empty_fields_name_nobody_but_a_missing_field_is_an_error() {
        let doc: Value = serde_json::from_str(
            r#"{"fields":{"priority":null,"status":{"name":"Resolved","statusCategory":{"key":"done"}},
                "reporter":{"displayName":"Jane Doe"},"customfield_10050":null,"customfield_10002":[],
                "customfield_10060":null,"customfield_10070":null,"customfield_10080":null}}"#,
        )
        .unwrap();
        let case = issue_to_case(&doc, &CaseId::parse("1").unwrap(), &settings(), &critical()).unwrap();
        assert!(!case.open && !case.critical && !case.production);
        assert_eq!(
            case.customer.as_deref(),
            Some("Jane Doe"),
            "the reporter without an organisation"
        );
        assert!(case.contact_phones.is_empty());
        let mut doc = doc;
        doc["fields"].as_object_mut().unwrap().remove("customfield_10050");
        assert_eq!(
            issue_to_case(&doc, &CaseId::parse("1").unwrap(), &settings(), &critical()).unwrap_err(),
            CaseError::Format("the issue has no field customfield_10050".into())
        );
    }

    #[test]
    fn a_rich_text_environment_is_read_as_its_text() {
        let doc: Value = serde_json::from_str(
            r#"{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"production"}]}]}"#,
        )
        .unwrap();
        assert_eq!(field_text(&doc).as_deref(), Some("production"));
    }

    #[test]
    fn error_answers_are_told_apart() {
        let reply = |status: u16, body: &str| Reply {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        assert!(matches!(refusal(&reply(401, "")), CaseError::Credentials(_)));
        assert!(matches!(
            refusal(&reply(403, r#"{"errorMessages":["You are not an agent"],"errors":{}}"#)),
            CaseError::Credentials(m) if m.contains("You are not an agent")
        ));
        assert_eq!(refusal(&reply(429, "")), CaseError::RateLimited(None));
        assert_eq!(refusal(&reply(404, "<html>")), CaseError::Status(404));
        assert_eq!(
            refusal(&reply(
                400,
                r#"{"errorMessages":[],"errors":{"body":"Comment body can not be empty!"}}"#
            )),
            CaseError::Refused(400, "body: Comment body can not be empty!".into())
        );
        assert_eq!(
            error_messages(
                br#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#
            )
            .as_deref(),
            Some("Issue does not exist or you do not have permission to see it.")
        );
        assert_eq!(error_messages(br#"{"error":"RecordNotFound"}"#), None);
    }
}
