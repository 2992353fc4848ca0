//! Zendesk Support: a case is a ticket. One request reads the ticket with its requester and organisation
//! side-loaded (`GET /api/v2/tickets/{id}.json?include=users,organizations`); a note is an internal comment
//! (`PUT /api/v2/tickets/{id}.json` with `comment.public = false`). Authentication is an API token:
//! HTTP basic with `{email}/token` and the token.
//!
//! Priority `urgent` (the configured critical values) is critical; the environment comes from a ticket custom
//! field chosen by id; status `solved` or `closed` is closed. Contact phones are the requester's phone and the
//! organisation's phone field; the support package is an organisation field.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::http::{HttpClient, Purpose, json};
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem, one_of};
use crate::settings::{CaseValues, ZendeskSettings};

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

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(format!("{}/token", self.email), Some(self.token.expose_secret()))
    }

    async fn fetch(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let url = format!("{}/api/v2/tickets/{id}.json?include=users,organizations", self.base_url);
        let reply = self
            .http
            .exchange(Purpose::Lookup, self.authorised(self.http.client().get(url)))
            .await?;
        match reply.status.as_u16() {
            // Zendesk answers a missing ticket with JSON ({"error": "RecordNotFound", ...}); any other 404 is
            // a wrong subdomain or a proxy's page, not an answer about the case.
            404 if json(&reply.body).is_ok() => Ok(None),
            200..=299 => ticket_to_case(&json(&reply.body)?, id, &self.settings, &self.values).map(Some),
            status => Err(CaseError::Status(status)),
        }
    }

    async fn comment(&self, id: &CaseId, body: &str) -> Result<(), CaseError> {
        let url = format!("{}/api/v2/tickets/{id}.json", self.base_url);
        let payload = serde_json::json!({ "ticket": { "comment": { "body": body, "public": false } } });
        let request = self
            .authorised(self.http.client().put(url))
            .header("content-type", "application/json")
            .body(payload.to_string());
        let reply = self.http.exchange(Purpose::Note, request).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(CaseError::Status(reply.status.as_u16()))
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
        .ok_or_else(|| format("no \"ticket\" object"))?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let priority = text(ticket.get("priority")).unwrap_or_default();
    let status = text(ticket.get("status")).ok_or_else(|| format("the ticket has no status"))?;
    let environment = ticket
        .get("custom_fields")
        .and_then(Value::as_array)
        .and_then(|fields| {
            fields
                .iter()
                .find(|f| f.get("id").and_then(Value::as_u64) == Some(settings.environment_field))
        })
        .ok_or_else(|| {
            format(&format!(
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
        production: environment.split(", ").any(|option| one_of(option, &values.production)),
        environment,
        open: !one_of(&status, &values.closed),
        status,
        contact_phones,
        support_package: settings.support_package_field.as_deref().and_then(org_field),
        tam: settings
            .tam_field
            .as_deref()
            .and_then(org_field)
            .filter(|t| !t.trim().is_empty()),
    })
}

fn format(message: &str) -> CaseError {
    CaseError::Format(message.to_owned())
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
}
