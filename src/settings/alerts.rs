//! `[alerts.NAME]`: the places told when a call ends with nobody accepting it (PagerDuty, Opsgenie, a signed
//! webhook, a text message to the first tier's engineers), checked into [`AlertTarget`] when the configuration
//! is read. Each target's secret (routing key, API key, signing secret) is read from the environment only, as
//! `AFTERHOURS_ALERTS__<NAME>__SECRET`; text messages go through the provider's REST API with its auth token.

use serde::Deserialize;

use super::{BaseUrl, Bounded, Name};
use crate::phone::PhoneNumber;

/// What kind of system a target is, and so what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// PagerDuty Events API v2: `POST {url}/v2/enqueue`, a `trigger` with a per-call `dedup_key`.
    PagerDuty,
    /// Opsgenie Alert API: `POST {url}/v2/alerts` with `GenieKey` auth, a per-call alias, priority P1.
    Opsgenie,
    /// JSON to `url`, signed with HMAC-SHA256 over the timestamp and the body: for chat relays and in-house tools.
    Webhook,
    /// A text message to each engineer of the first tier, through the provider's Messages API
    /// (`POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json`), authenticated with the provider's token.
    Sms,
}

impl AlertKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertKind::PagerDuty => "pagerduty",
            AlertKind::Opsgenie => "opsgenie",
            AlertKind::Webhook => "webhook",
            AlertKind::Sms => "sms",
        }
    }

    /// Whether the target has a secret of its own (`AFTERHOURS_ALERTS__<NAME>__SECRET`); text messages use
    /// the provider's auth token instead.
    pub(crate) fn has_own_secret(self) -> bool {
        self != AlertKind::Sms
    }

    /// What the secret is called in this kind's own documentation, for messages.
    pub(crate) fn secret_name(self) -> &'static str {
        match self {
            AlertKind::PagerDuty => "the Events API v2 routing key",
            AlertKind::Opsgenie => "the API integration's key",
            AlertKind::Webhook => "the signing secret",
            AlertKind::Sms => "the provider's auth token",
        }
    }
}

/// One alert target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAlertTarget")]
pub struct AlertTarget {
    pub(crate) kind: AlertKind,
    /// The API's base URL, or the webhook's own URL.
    pub(crate) url: BaseUrl,
    /// The lines it is for; empty: every line.
    pub(crate) lines: Vec<Name>,
    /// How long an alert is retried while its failure may pass, before it is given up.
    pub(crate) deadline_secs: u64,
    /// The number text messages come from; the line's own number when absent (it must be able to send them).
    pub(crate) from: Option<PhoneNumber>,
}

impl AlertTarget {
    /// Whether calls on `line` are told to this target.
    pub(crate) fn covers(&self, line: &str) -> bool {
        self.lines.is_empty() || self.lines.iter().any(|l| l.as_str() == line)
    }
}

const DEFAULT_DEADLINE_SECS: u64 = 900;
const PAGERDUTY_URL: &str = "https://events.pagerduty.com";
const OPSGENIE_URL: &str = "https://api.opsgenie.com";
const TWILIO_API_URL: &str = "https://api.twilio.com";

/// The table as written; checked into [`AlertTarget`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTarget {
    kind: AlertKind,
    url: Option<BaseUrl>,
    #[serde(default)]
    lines: Vec<Name>,
    #[serde(default = "default_deadline")]
    deadline_secs: Bounded<10, 86_400>,
    from: Option<PhoneNumber>,
}

fn default_deadline() -> Bounded<10, 86_400> {
    Bounded::of::<DEFAULT_DEADLINE_SECS>()
}

impl TryFrom<RawAlertTarget> for AlertTarget {
    type Error = String;
    fn try_from(raw: RawAlertTarget) -> Result<Self, Self::Error> {
        let default_url = |url: &str| BaseUrl::try_from(url.to_owned());
        let url = match (raw.kind, raw.url) {
            (_, Some(url)) => url,
            (AlertKind::PagerDuty, None) => default_url(PAGERDUTY_URL)?,
            (AlertKind::Opsgenie, None) => default_url(OPSGENIE_URL)?,
            (AlertKind::Sms, None) => default_url(TWILIO_API_URL)?,
            (AlertKind::Webhook, None) => {
                return Err("a webhook target needs its url (https://hooks.example.com/afterhours)".into());
            }
        };
        if raw.from.is_some() && raw.kind != AlertKind::Sms {
            return Err("`from` is for text messages (kind = \"sms\") only".into());
        }
        Ok(AlertTarget {
            kind: raw.kind,
            from: raw.from,
            url,
            lines: raw.lines,
            deadline_secs: raw.deadline_secs.get(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AlertTarget, String> {
        toml::from_str::<AlertTarget>(text).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn apis_default_to_their_public_urls_and_every_line() {
        let target = parse("kind = \"pagerduty\"").unwrap();
        assert_eq!(target.url.as_str(), "https://events.pagerduty.com");
        assert!(target.covers("us") && target.covers("uk"));
        assert_eq!(target.deadline_secs, 900);
        let target = parse("kind = \"opsgenie\"\nurl = \"https://api.eu.opsgenie.com\"").unwrap();
        assert_eq!(target.url.as_str(), "https://api.eu.opsgenie.com");
    }

    #[test]
    fn a_webhook_needs_its_url_and_lines_narrow_a_target() {
        assert!(parse("kind = \"webhook\"").unwrap_err().contains("needs its url"));
        let target = parse("kind = \"webhook\"\nurl = \"https://hooks.example.com/a\"\nlines = [\"uk\"]").unwrap();
        assert!(target.covers("uk") && !target.covers("us"));
    }

    #[test]
    fn text_messages_go_through_the_providers_api_from_a_number_of_choice() {
        let target = parse("kind = \"sms\"\nfrom = \"+18005550100\"").unwrap();
        assert_eq!(target.url.as_str(), "https://api.twilio.com");
        assert!(!target.kind.has_own_secret());
        assert!(parse("kind = \"sms\"\nfrom = \"555\"").is_err());
        assert!(
            parse("kind = \"pagerduty\"\nfrom = \"+18005550100\"")
                .unwrap_err()
                .contains("text messages")
        );
    }

    #[test]
    fn unknown_kinds_and_keys_are_refused() {
        assert!(parse("kind = \"pager\"").is_err());
        assert!(parse("kind = \"pagerduty\"\nrouting_key = \"x\"").is_err());
    }
}
