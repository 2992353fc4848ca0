//! Zendesk Support: a case is a ticket. One request reads the ticket with its requester and organisation
//! side-loaded (`GET /api/v2/tickets/{id}.json?include=users,organizations`), a second the requester's phone
//! identities (`GET /api/v2/users/{id}/identities.json`); a note is an internal comment
//! (`PUT /api/v2/tickets/{id}.json` with `comment.public = false`). Authentication is an API token: HTTP basic
//! with `{email}/token` and the token. Every request asks for JSON (`Accept: application/json`).
//!
//! Priority `urgent` (the configured critical values) is critical; the environment comes from a ticket custom
//! field chosen by id, whose value for a drop-down is the chosen option's tag (not its label), compared with
//! `production_tags`; status `solved` or `closed` is closed. Contact phones are the requester's phone, their
//! phone identities and the organisation's phone field; the support package is an organisation field.
//!
//! A 404 is "no such ticket" only with Zendesk's `{"error": "RecordNotFound"}`: any other 404 (a wrong path,
//! `InvalidEndpoint`, a proxy's page) is the case system unavailable, never an answer about the case.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::http::{HttpClient, Purpose, Reply, json};
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem, one_of};
use crate::settings::{CaseValues, ZendeskSettings};

/// Phone identities read for one requester at most; the rest are ignored. A person has a handful; the cap
/// keeps a strange account from filling the case.
const MAX_PHONE_IDENTITIES: usize = 20;

/// The share of the lookup's time limit by which the phone identities must have come (four fifths): a slow
/// identities request leaves time to answer with the ticket and the phones read so far, rather than the whole
/// lookup timing out.
const IDENTITIES_SHARE: (u32, u32) = (4, 5);

#[derive(Debug)]
pub(crate) struct Zendesk {
    http: HttpClient,
    base_url: String,
    email: String,
    token: SecretString,
    settings: ZendeskSettings,
    values: CaseValues,
}

impl Zendesk {
    pub(crate) fn new(
        http: HttpClient,
        base_url: &str,
        email: String,
        token: SecretString,
        settings: ZendeskSettings,
        values: CaseValues,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            email,
            token,
            settings,
            values,
        }
    }

    /// A request to `path` of the account's API, authenticated, asking for JSON.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .client()
            .request(method, format!("{}/api/v2/{path}", self.base_url))
            .basic_auth(format!("{}/token", self.email), Some(self.token.expose_secret()))
            .header("accept", "application/json")
    }

    async fn fetch(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let started = tokio::time::Instant::now();
        let request = self.request(
            reqwest::Method::GET,
            &format!("tickets/{id}.json?include=users,organizations"),
        );
        let reply = self.http.exchange(Purpose::Lookup, request).await?;
        let doc = match reply.status.as_u16() {
            404 if record_not_found(&reply) => return Ok(None),
            200..=299 => json(&reply.body)?,
            _ => return Err(reply.failure()),
        };
        let mut case = ticket_to_case(&doc, id, &self.settings, &self.values)?;
        if let Some(requester) = doc.pointer("/ticket/requester_id").and_then(Value::as_u64) {
            let (share, of) = IDENTITIES_SHARE;
            let by = started + self.http.timeout() * share / of;
            let identities = tokio::time::timeout_at(by, self.phone_identities(requester))
                .await
                .unwrap_or(Err(CaseError::Timeout(duration_ms(by - started))));
            match identities {
                Ok(phones) => {
                    for phone in phones {
                        if !case.contact_phones.contains(&phone) {
                            case.contact_phones.push(phone);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(case = %id, %error, "zendesk: the requester's phone identities could not be read");
                    case.contact_phones_partial = true;
                }
            }
        }
        Ok(Some(case))
    }

    /// The requester's phone identities: `[]` for a user Zendesk no longer has.
    async fn phone_identities(&self, user: u64) -> Result<Vec<String>, CaseError> {
        let request = self.request(reqwest::Method::GET, &format!("users/{user}/identities.json"));
        let reply = self.http.exchange(Purpose::Lookup, request).await?;
        match reply.status.as_u16() {
            404 if record_not_found(&reply) => Ok(Vec::new()),
            200..=299 => phone_identities(&json(&reply.body)?),
            _ => Err(reply.failure()),
        }
    }

    async fn comment(&self, id: &CaseId, body: &str) -> Result<(), CaseError> {
        let payload = serde_json::json!({ "ticket": { "comment": { "body": body, "public": false } } });
        let request = self
            .request(reqwest::Method::PUT, &format!("tickets/{id}.json"))
            .header("content-type", "application/json")
            .body(payload.to_string());
        let reply = self.http.exchange(Purpose::Note, request).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(reply.failure())
        }
    }
}

impl CaseSystem for Zendesk {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(self.fetch(id))
    }

    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(self.comment(id, body))
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// True for Zendesk's answer about a record it does not have: `{"error": "RecordNotFound", ...}`. A wrong
/// path answers `{"error": "InvalidEndpoint", ...}`, a proxy HTML: neither says anything about the record.
fn record_not_found(reply: &Reply) -> bool {
    json(&reply.body).is_ok_and(|doc| doc.get("error").and_then(Value::as_str) == Some("RecordNotFound"))
}

/// The phone numbers of a "list identities" answer (`{"identities": [{"type": "phone_number", "value": ...}]}`),
/// the first [`MAX_PHONE_IDENTITIES`] of them.
fn phone_identities(doc: &Value) -> Result<Vec<String>, CaseError> {
    let identities = doc
        .get("identities")
        .and_then(Value::as_array)
        .ok_or_else(|| CaseError::format("no \"identities\" list"))?;
    Ok(identities
        .iter()
        .filter(|identity| identity.get("type").and_then(Value::as_str) == Some("phone_number"))
        .filter_map(|identity| identity.get("value").and_then(Value::as_str))
        .map(str::trim)
        .filter(|phone| !phone.is_empty())
        .take(MAX_PHONE_IDENTITIES)
        .map(str::to_owned)
        .collect())
}

/// A Zendesk "show ticket" answer (with side-loads) as a case.
fn ticket_to_case(
    doc: &Value,
    id: &CaseId,
    settings: &ZendeskSettings,
    values: &CaseValues,
) -> Result<Case, CaseError> {
    let ticket = doc
        .get("ticket")
        .filter(|t| t.is_object())
        .ok_or_else(|| CaseError::format("no \"ticket\" object"))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let priority = text(ticket.get("priority")).unwrap_or_default();
    let status = text(ticket.get("status")).ok_or_else(|| CaseError::format("the ticket has no status"))?;
    let environment = ticket
        .get("custom_fields")
        .and_then(Value::as_array)
        .and_then(|fields| {
            fields
                .iter()
                .find(|f| f.get("id").and_then(Value::as_u64) == Some(settings.environment_field))
        })
        .ok_or_else(|| {
            CaseError::format(&format!(
                "the ticket has no custom field {}",
                settings.environment_field
            ))
        })?
        .get("value")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            // A multi-select field: its options, comma-separated.
            Value::Array(options) => options.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let by_id = |list: &str, key: &str| {
        let wanted = ticket.get(key).and_then(Value::as_u64)?;
        doc.get(list)?
            .as_array()?
            .iter()
            .find(|item| item.get("id").and_then(Value::as_u64) == Some(wanted))
    };
    let requester = by_id("users", "requester_id");
    let organization = by_id("organizations", "organization_id");
    let org_field = |name: &str| {
        organization
            .and_then(|o| o.get("organization_fields"))
            .and_then(|f| text(f.get(name)))
    };
    let mut contact_phones: Vec<String> = requester.and_then(|r| text(r.get("phone"))).into_iter().collect();
    if let Some(phones) = org_field(&settings.organization_phone_field) {
        contact_phones.extend(
            phones
                .split([',', ';'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    let customer = organization
        .and_then(|o| text(o.get("name")))
        .or_else(|| requester.and_then(|r| text(r.get("name"))));
    Ok(Case {
        id: id.to_string(),
        customer,
        critical: one_of(&priority, &values.critical),
        severity: priority,
        production: environment
            .split(", ")
            .any(|tag| one_of(tag, settings.production_tags.as_ref().unwrap_or(&values.production))),
        environment,
        open: !one_of(&status, &values.closed),
        status,
        contact_phones,
        contact_phones_partial: false,
        support_package: settings.support_package_field.as_deref().and_then(org_field),
        tam: settings
            .tam_field
            .as_deref()
            .and_then(org_field)
            .filter(|t| !t.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ZendeskSettings {
        ZendeskSettings {
            email: crate::settings::AgentEmail::parse("oncall@example.com").unwrap(),
            environment_field: 360001,
            support_package_field: Some("support_package".into()),
            organization_phone_field: "phone".into(),
            tam_field: Some("tam".into()),
            production_tags: None,
        }
    }

    #[test]
    fn an_urgent_production_ticket_with_its_requester_and_organisation() {
        let doc: Value = serde_json::from_str(
            r#"{"ticket":{"id":123456,"priority":"urgent","status":"open","requester_id":7,"organization_id":9,
                 "custom_fields":[{"id":1,"value":"x"},{"id":360001,"value":"production"}]},
                "users":[{"id":7,"name":"Jane Doe","phone":"+15551234567"}],
                "organizations":[{"id":9,"name":"ACME Corp",
                  "organization_fields":{"phone":"+15557654321, +15550000000","support_package":"premium",
                    "tam":"dana@example.com"}}]}"#,
        )
        .unwrap();
        let case = ticket_to_case(
            &doc,
            &CaseId::parse("123456").unwrap(),
            &settings(),
            &CaseValues::default(),
        )
        .unwrap();
        assert!(case.critical && case.production && case.open);
        assert_eq!(case.customer.as_deref(), Some("ACME Corp"));
        assert_eq!(case.contact_phones, ["+15551234567", "+15557654321", "+15550000000"]);
        assert_eq!(case.support_package.as_deref(), Some("premium"));
        assert_eq!(case.tam.as_deref(), Some("dana@example.com"));
    }

    #[test]
    fn priority_null_or_high_is_not_critical_and_solved_is_closed() {
        let doc: Value = serde_json::from_str(
            r#"{"ticket":{"priority":null,"status":"solved","custom_fields":[{"id":360001,"value":null}]}}"#,
        )
        .unwrap();
        let case = ticket_to_case(&doc, &CaseId::parse("1").unwrap(), &settings(), &CaseValues::default()).unwrap();
        assert!(!case.critical && !case.production && !case.open);
        assert_eq!(case.customer, None);
    }

    #[test]
    fn a_multi_select_environment_is_production_when_one_option_is() {
        let doc: Value = serde_json::from_str(
            r#"{"ticket":{"priority":"urgent","status":"open","custom_fields":[{"id":360001,"value":["staging","production"]}]}}"#,
        )
        .unwrap();
        let case = ticket_to_case(&doc, &CaseId::parse("1").unwrap(), &settings(), &CaseValues::default()).unwrap();
        assert!(case.production);
        assert_eq!(case.environment, "staging, production");
    }

    #[test]
    fn a_ticket_without_the_environment_field_is_a_format_error() {
        let doc: Value =
            serde_json::from_str(r#"{"ticket":{"priority":"urgent","status":"open","custom_fields":[]}}"#).unwrap();
        let error =
            ticket_to_case(&doc, &CaseId::parse("1").unwrap(), &settings(), &CaseValues::default()).unwrap_err();
        assert_eq!(error, CaseError::Format("the ticket has no custom field 360001".into()));
        let error = ticket_to_case(
            &serde_json::json!({"tickets": []}),
            &CaseId::parse("1").unwrap(),
            &settings(),
            &CaseValues::default(),
        )
        .unwrap_err();
        assert_eq!(error, CaseError::Format("no \"ticket\" object".into()));
    }

    #[test]
    fn the_environment_is_matched_by_its_option_tag_against_the_configured_tags() {
        let doc = |value: Value| {
            serde_json::json!({"ticket": {"priority": "urgent", "status": "open",
                "custom_fields": [{"id": 360001, "value": value}]}})
        };
        let with_tags = ZendeskSettings {
            production_tags: Some(vec!["env_live".into(), "env_prod_eu".into()]),
            ..settings()
        };
        let production = |value: Value, settings: &ZendeskSettings| {
            ticket_to_case(
                &doc(value),
                &CaseId::parse("1").unwrap(),
                settings,
                &CaseValues::default(),
            )
            .unwrap()
            .production
        };
        assert!(production(serde_json::json!("env_live"), &with_tags));
        assert!(production(serde_json::json!(["env_test", "ENV_PROD_EU"]), &with_tags));
        assert!(
            !production(serde_json::json!("production"), &with_tags),
            "the list replaces the values"
        );
        assert!(
            !production(serde_json::json!("Live"), &with_tags),
            "a label is not a tag"
        );
        assert!(
            production(serde_json::json!("prod"), &settings()),
            "without a list: cases.values.production"
        );
    }

    #[test]
    fn phone_identities_are_the_phone_numbers_among_the_identities_up_to_the_cap() {
        let doc = serde_json::json!({"identities": [
            {"id": 1, "user_id": 7, "type": "email", "value": "jane.doe@acme.example", "primary": true},
            {"id": 2, "user_id": 7, "type": "phone_number", "value": "+15551234567", "primary": true},
            {"id": 3, "user_id": 7, "type": "phone_number", "value": " +1 (555) 765-4321 ", "primary": false},
            {"id": 4, "user_id": 7, "type": "phone_number", "value": ""},
            {"id": 5, "user_id": 7, "type": "twitter", "value": "janedoe"},
        ], "next_page": null, "previous_page": null, "count": 5});
        assert_eq!(phone_identities(&doc).unwrap(), ["+15551234567", "+1 (555) 765-4321"]);
        let many: Vec<Value> = (0..50)
            .map(|i| serde_json::json!({"type": "phone_number", "value": format!("+1555000{i:04}")}))
            .collect();
        let phones = phone_identities(&serde_json::json!({ "identities": many })).unwrap();
        assert_eq!(phones.len(), MAX_PHONE_IDENTITIES);
        assert!(phone_identities(&serde_json::json!({"error": "x"})).is_err());
    }
}
