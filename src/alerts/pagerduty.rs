//! PagerDuty Events API v2: `POST {url}/v2/enqueue` with the integration's routing key in the body, an
//! `event_action` of `trigger`, severity `critical`, and a `dedup_key` stable per call. A voicemail is a
//! second `trigger` with the same `dedup_key`: PagerDuty adds it to the open alert instead of opening another.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Alert, JSON, Request, truncated};

/// The Events API's limit on `payload.summary`.
const MAX_SUMMARY: usize = 1024;

pub(super) fn request(base: &str, routing_key: &SecretString, alert: &Alert) -> Request {
    let call = alert.call();
    let body = json!({
        "routing_key": routing_key.expose_secret(),
        "event_action": "trigger",
        "dedup_key": alert.dedup_key(),
        "client": "afterhours",
        "payload": {
            "summary": truncated(&alert.summary(), MAX_SUMMARY),
            "source": "afterhours",
            "severity": "critical",
            "timestamp": call.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "component": call.line,
            "group": "after-hours line",
            "class": alert.event(),
            "custom_details": {
                "call_sid": call.call_sid,
                "line": call.line_name,
                "case": call.case,
                "customer": call.customer,
                "caller": call.caller,
                "rung": call.rung,
                "recording_url": alert.recording_url(),
            },
        },
    });
    Request {
        url: format!("{base}/v2/enqueue"),
        headers: Vec::new(),
        content_type: JSON,
        body: body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::missed;
    use super::*;

    #[test]
    fn a_missed_call_is_a_critical_trigger_deduplicated_per_call() {
        let alert = Alert::Missed(missed());
        let request = request("https://events.pagerduty.com", &SecretString::from("R0UT1NG"), &alert);
        assert_eq!(request.url, "https://events.pagerduty.com/v2/enqueue");
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["routing_key"], "R0UT1NG");
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "afterhours-CA0123");
        assert_eq!(body["payload"]["severity"], "critical");
        assert_eq!(body["payload"]["source"], "afterhours");
        assert_eq!(body["payload"]["timestamp"], "2026-11-28T01:00:00Z");
        let details = &body["payload"]["custom_details"];
        assert_eq!(details["caller"], "+15551234567");
        assert_eq!(details["case"], "12345");
        assert_eq!(details["rung"][2], "carol");
        assert!(details["recording_url"].is_null());
    }

    #[test]
    fn a_voicemail_is_the_same_alert_with_its_recording() {
        let alert = Alert::Voicemail {
            call: missed(),
            recording_url: "https://api.twilio.com/rec/RE1".into(),
        };
        let request = request("https://events.pagerduty.com", &SecretString::from("R"), &alert);
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["dedup_key"], "afterhours-CA0123");
        assert_eq!(
            body["payload"]["custom_details"]["recording_url"],
            "https://api.twilio.com/rec/RE1"
        );
    }
}
