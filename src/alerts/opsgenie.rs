//! Opsgenie Alert API: `POST {url}/v2/alerts` with `Authorization: GenieKey {key}`, priority P1 and an alias
//! stable per call (Opsgenie deduplicates open alerts on it). A voicemail is a note added to that alert,
//! `POST {url}/v2/alerts/{alias}/notes?identifierType=alias`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Alert, JSON, Request, truncated};

/// The API's limit on `message`.
const MAX_MESSAGE: usize = 130;
/// The API's limit on `description`.
const MAX_DESCRIPTION: usize = 15_000;

pub(super) fn request(base: &str, key: &SecretString, alert: &Alert) -> Request {
    let call = alert.call();
    let auth = vec![("authorization", format!("GenieKey {}", key.expose_secret()))];
    if let Some(recording_url) = alert.recording_url() {
        let body = json!({
            "note": format!("{} Recording: {recording_url}", alert.summary()),
            "source": "afterhours",
        });
        return Request {
            url: format!("{base}/v2/alerts/{}/notes?identifierType=alias", alert.dedup_key()),
            headers: auth,
            content_type: JSON,
            body: body.to_string(),
        };
    }
    let mut details = serde_json::Map::new();
    for (key, value) in [
        ("call_sid", Some(call.call_sid.clone())),
        ("line", Some(call.line_name.clone())),
        ("case", call.case.clone()),
        ("customer", call.customer.clone()),
        ("caller", Some(call.caller.clone())),
        ("rung", Some(call.rung.join(", "))),
    ] {
        // Opsgenie's details are a map of strings.
        if let Some(value) = value {
            details.insert(key.to_owned(), value.into());
        }
    }
    let body = json!({
        "message": truncated(&alert.summary(), MAX_MESSAGE),
        "alias": alert.dedup_key(),
        "description": truncated(&alert.summary(), MAX_DESCRIPTION),
        "details": details,
        "entity": call.line,
        "priority": "P1",
        "source": "afterhours",
        "tags": ["afterhours", "missed-call"],
    });
    Request {
        url: format!("{base}/v2/alerts"),
        headers: auth,
        content_type: JSON,
        body: body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::missed;
    use super::*;

    #[test]
    fn a_missed_call_is_a_p1_alert_with_a_per_call_alias() {
        let alert = Alert::Missed(missed());
        let request = request("https://api.opsgenie.com", &SecretString::from("K3Y"), &alert);
        assert_eq!(request.url, "https://api.opsgenie.com/v2/alerts");
        assert_eq!(request.headers, vec![("authorization", "GenieKey K3Y".to_owned())]);
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["alias"], "afterhours-CA0123");
        assert_eq!(body["priority"], "P1");
        assert!(body["message"].as_str().unwrap().chars().count() <= 130);
        assert_eq!(body["details"]["caller"], "+15551234567");
        assert_eq!(body["details"]["rung"], "alice, bob, carol");
    }

    #[test]
    fn a_voicemail_is_a_note_on_the_same_alert() {
        let alert = Alert::Voicemail {
            call: missed(),
            recording_url: "https://api.twilio.com/rec/RE1".into(),
        };
        let request = request("https://api.eu.opsgenie.com", &SecretString::from("K"), &alert);
        assert_eq!(
            request.url,
            "https://api.eu.opsgenie.com/v2/alerts/afterhours-CA0123/notes?identifierType=alias"
        );
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert!(
            body["note"]
                .as_str()
                .unwrap()
                .ends_with("Recording: https://api.twilio.com/rec/RE1")
        );
    }
}
