//! The generic HTTP/JSON adapter: `GET {base_url}/cases/{id}` (404: no such case), the fields found by
//! configurable JSON pointers and compared with configurable value lists; notes by
//! `POST {base_url}/cases/{id}/notes` with `{"body": "..."}`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::http::{HttpClient, Purpose, json};
use super::{BoxFuture, Case, CaseError, CaseId, CaseSystem, one_of};
use crate::settings::{CaseValues, HttpJsonFields};

#[derive(Debug)]
pub(crate) struct HttpJson {
    http: HttpClient,
    base_url: String,
    token: Option<SecretString>,
    fields: HttpJsonFields,
    values: CaseValues,
}

impl HttpJson {
    pub(crate) fn new(
        http: HttpClient,
        base_url: &str,
        token: Option<SecretString>,
        fields: HttpJsonFields,
        values: CaseValues,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            fields,
            values,
        }
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    async fn fetch(&self, id: &CaseId) -> Result<Option<Case>, CaseError> {
        let request = self.authorised(self.http.client().get(format!("{}/cases/{id}", self.base_url)));
        let reply = self
            .http
            .exchange(Purpose::Lookup, request.header("accept", "application/json"))
            .await?;
        match reply.status.as_u16() {
            // A 404 from the case system itself (no body, or JSON); an HTML 404 is a wrong URL or a proxy's page.
            404 if reply.body.iter().all(u8::is_ascii_whitespace) || json(&reply.body).is_ok() => Ok(None),
            200..=299 => extract(&json(&reply.body)?, id, &self.fields, &self.values).map(Some),
            status => Err(CaseError::Status(status)),
        }
    }

    async fn post_note(&self, id: &CaseId, body: &str) -> Result<(), CaseError> {
        let request = self
            .authorised(self.http.client().post(format!("{}/cases/{id}/notes", self.base_url)))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "body": body }).to_string());
        let reply = self.http.exchange(Purpose::Note, request).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(reply.failure())
        }
    }
}

impl CaseSystem for HttpJson {
    fn lookup<'a>(&'a self, id: &'a CaseId) -> BoxFuture<'a, Result<Option<Case>, CaseError>> {
        Box::pin(self.fetch(id))
    }

    fn add_note<'a>(&'a self, id: &'a CaseId, body: &'a str) -> BoxFuture<'a, Result<(), CaseError>> {
        Box::pin(self.post_note(id, body))
    }
}

/// A case from a JSON document, by the configured pointers. Severity, environment and status must resolve;
/// customer, contact phones and support package may be absent.
pub(crate) fn extract(
    doc: &Value,
    id: &CaseId,
    fields: &HttpJsonFields,
    values: &CaseValues,
) -> Result<Case, CaseError> {
    let required = |pointer: &str| {
        text_at(doc, pointer)?.ok_or_else(|| CaseError::Format(format!("JSON pointer {pointer:?} does not resolve")))
    };
    let severity = required(&fields.severity)?;
    let environment = required(&fields.environment)?;
    let status = required(&fields.status)?;
    let customer = text_at(doc, &fields.customer)?.filter(|c| !c.trim().is_empty());
    let support_package = text_at(doc, &fields.support_package)?;
    let tam = text_at(doc, &fields.tam)?.filter(|t| !t.trim().is_empty());
    let contact_phones = match doc.pointer(&fields.contact_phones) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(_) => {
            let pointer = &fields.contact_phones;
            return Err(CaseError::Format(format!(
                "JSON pointer {pointer:?} is not a string or a list of strings"
            )));
        }
    };
    Ok(Case {
        id: id.to_string(),
        customer,
        critical: one_of(&severity, &values.critical),
        severity,
        production: one_of(&environment, &values.production),
        environment,
        open: !one_of(&status, &values.closed),
        status,
        contact_phones,
        contact_phones_partial: false,
        support_package,
        tam,
    })
}

/// The text at `pointer`: a string, or a number or boolean written out; `None` when absent or null.
fn text_at(doc: &Value, pointer: &str) -> Result<Option<String>, CaseError> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(CaseError::Format(format!("JSON pointer {pointer:?} is not a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(doc: &str) -> Result<Case, CaseError> {
        let doc: Value = serde_json::from_str(doc).unwrap();
        extract(
            &doc,
            &CaseId::parse("123456").unwrap(),
            &HttpJsonFields::default(),
            &CaseValues::default(),
        )
    }

    #[test]
    fn reads_the_default_shape() {
        let case = case(
            r#"{"id":"123456","severity":"critical","environment":"production","status":"open",
                "customer":"ACME Corp","contact_phones":["+15551234567"]}"#,
        )
        .unwrap();
        assert!(case.critical && case.production && case.open);
        assert_eq!(case.customer.as_deref(), Some("ACME Corp"));
        assert_eq!(case.contact_phones, ["+15551234567"]);
        assert_eq!(case.support_package, None);
        assert_eq!(case.tam, None);
    }

    #[test]
    fn reads_the_cases_tam_when_it_names_one() {
        let named = case(r#"{"severity":"critical","environment":"production","status":"open","tam":"dana"}"#).unwrap();
        assert_eq!(named.tam.as_deref(), Some("dana"));
        let blank = case(r#"{"severity":"critical","environment":"production","status":"open","tam":" "}"#).unwrap();
        assert_eq!(blank.tam, None);
    }

    #[test]
    fn compares_with_the_value_lists() {
        let sev1 = case(r#"{"severity":"Sev1","environment":"PROD","status":"Solved"}"#).unwrap();
        assert!(sev1.critical, "sev1 is critical");
        assert!(sev1.production, "prod is production");
        assert!(!sev1.open, "solved is closed");
        let high = case(r#"{"severity":"high","environment":"staging","status":"pending"}"#).unwrap();
        assert!(!high.critical && !high.production && high.open);
    }

    #[test]
    fn a_pointer_that_does_not_resolve_is_a_format_error() {
        let error = case(r#"{"severity":"critical","status":"open"}"#).unwrap_err();
        assert_eq!(
            error,
            CaseError::Format("JSON pointer \"/environment\" does not resolve".into())
        );
    }

    #[test]
    fn the_wrong_shape_is_a_format_error() {
        assert!(case(r#"[1,2,3]"#).is_err());
        assert!(case(r#"{"severity":{"level":1},"environment":"production","status":"open"}"#).is_err());
        assert!(
            case(r#"{"severity":"critical","environment":"production","status":"open","contact_phones":7}"#).is_err()
        );
    }
}
