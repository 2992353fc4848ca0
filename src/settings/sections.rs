//! The typed shape of `config/afterhours.toml`. Every struct refuses unknown keys; values that can be wrong
//! (time zones, phone numbers, URLs, names, ranges) are parsed into types here, so a bad one is reported with
//! its key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::Bounded;
use crate::phone::PhoneNumber;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub(crate) server: ServerSettings,
    #[serde(default)]
    pub(crate) provider: ProviderSettings,
    #[serde(default)]
    pub(crate) redis: RedisSettings,
    #[serde(default)]
    pub(crate) paths: PathSettings,
    #[serde(default)]
    pub(crate) limits: LimitSettings,
    #[serde(default)]
    pub(crate) call_log: CallLogSettings,
    #[serde(default)]
    pub(crate) admin: AdminSettings,
    #[serde(default)]
    pub(crate) feeds: FeedSettings,
    /// The case system; needed by flows with a `verify_case` step.
    #[serde(default)]
    pub cases: Option<CasesSettings>,
    /// The status page whose incidents the `status` step announces; without it the step says nothing.
    #[serde(default)]
    pub status_page: Option<crate::settings::StatusPageSettings>,
    /// Support packages by name: their channel, after-hours phone support and TAM.
    #[serde(default)]
    pub(crate) packages: BTreeMap<Name, crate::settings::PackageSettings>,
    /// Where a call that nobody accepted is told, by target name; each target's secret is in the environment.
    #[serde(default)]
    pub(crate) alerts: BTreeMap<Name, crate::settings::AlertTarget>,
    /// Support lines by name; the name appears in webhook URLs and environment overrides.
    pub(crate) lines: BTreeMap<Name, LineSettings>,
}

/// `[server]`: the two listeners and the limits every connection to them lives under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSettings {
    /// Address and port the webhook listener takes: `/voice/*` and `/healthz`, what the provider must reach.
    pub(crate) listen: SocketAddr,
    /// Address and port the operators' listener takes: `/admin/*`, `/metrics`, `/readyz`, `/feeds/*` (and
    /// `/healthz`).
    /// Loopback by default; a private network is allowed (`check` warns), never the webhook listener's own.
    pub(crate) ops_listen: SocketAddr,
    /// The public base URL the provider reaches us at (TLS usually ends at a proxy in front). Every URL we
    /// hand to the provider is built from it, and signatures are checked against it: never against `Host`.
    pub(crate) public_url: BaseUrl,
    /// Seconds a client has to send a whole request head: from connecting, or from its first byte after
    /// an answer on a kept-alive connection.
    pub(crate) header_timeout_secs: Bounded<1, 300>,
    /// Seconds a client has to send a whole request body, from the end of its head.
    pub(crate) body_timeout_secs: Bounded<1, 300>,
    /// Seconds a kept-alive connection may stay silent after an answer before it is closed.
    pub(crate) idle_timeout_secs: Bounded<1, 3600>,
    /// The most client connections open at once, both listeners together. At the cap a newcomer is still
    /// taken: the connection that has waited longest on its client is closed for it.
    pub(crate) max_connections: Bounded<1, 1_000_000>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            public_url: default_public_url(),
            header_timeout_secs: Bounded::of::<10>(),
            body_timeout_secs: Bounded::of::<10>(),
            idle_timeout_secs: Bounded::of::<60>(),
            max_connections: Bounded::of::<768>(),
        }
    }
}

impl ServerSettings {
    /// Why the two listen addresses cannot work together, if they cannot: one port for both would let the
    /// second bind fail, or put the operators' routes where the provider (and so anyone) reaches them.
    pub(crate) fn listener_conflict(&self) -> Option<String> {
        let (listen, ops) = (self.listen, self.ops_listen);
        let same_port = listen.port() == ops.port() && listen.port() != 0;
        let overlapping = listen.ip() == ops.ip() || listen.ip().is_unspecified() || ops.ip().is_unspecified();
        (same_port && overlapping).then(|| {
            format!(
                "{ops} takes the port of server.listen ({listen}): the operators' routes need a listener of their own"
            )
        })
    }

    /// A warning when the operators' listener is reachable from other hosts.
    pub(crate) fn ops_exposure(&self) -> Option<String> {
        let ops = self.ops_listen;
        (!ops.ip().is_loopback()).then(|| {
            format!(
                "server.ops_listen ({ops}) is not a loopback address: /admin, /metrics and /readyz answer every host \
                 that reaches it; keep it on a private network that only operators and monitoring reach"
            )
        })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_public_url() -> BaseUrl {
    BaseUrl("http://127.0.0.1:8080".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderSettings {
    /// Which provider sends the webhooks: how they are signed, what their fields are named, and which voice
    /// XML answers them.
    #[serde(default)]
    pub(crate) kind: ProviderKind,
    /// Check the provider's signature on every `/voice/` request. Turning it off is for local experiments
    /// only; `check` and the start-up log warn about it.
    #[serde(default = "yes")]
    pub(crate) validate_signatures: bool,
    /// The text-to-speech voice for `<Say>` (`<Speak>` on Plivo); checked against the provider's voices.
    #[serde(default = "default_voice")]
    pub(crate) voice: String,
    /// The language of every prompt: after-hours support is in English only.
    #[serde(default = "default_language")]
    pub(crate) language: EnglishTag,
    /// Telnyx only: the account's public key (base64), which checks webhook signatures. It is public, so it
    /// lives in the file.
    #[serde(default)]
    pub(crate) public_key: Option<PublicKey>,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            kind: ProviderKind::default(),
            validate_signatures: true,
            voice: default_voice(),
            language: default_language(),
            public_key: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_voice() -> String {
    "Polly.Joanna".into()
}

fn default_language() -> EnglishTag {
    EnglishTag("en-US".into())
}

/// `provider.kind`: the telephony provider whose webhooks we answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    #[default]
    Twilio,
    #[serde(rename = "signalwire")]
    SignalWire,
    Telnyx,
    Plivo,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [Self::Twilio, Self::SignalWire, Self::Telnyx, Self::Plivo];

    /// The name `provider.kind` and `--provider` take.
    pub fn name(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::SignalWire => "signalwire",
            Self::Telnyx => "telnyx",
            Self::Plivo => "plivo",
        }
    }

    /// The provider named `name` (as `provider.kind` spells it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether webhook signatures are keyed with the secret `AFTERHOURS_PROVIDER__AUTH_TOKEN` (Telnyx signs
    /// with a key pair: its public key is a setting).
    pub(crate) fn signs_with_token(self) -> bool {
        self != Self::Telnyx
    }

    /// What the secret `AFTERHOURS_PROVIDER__AUTH_TOKEN` is at this provider.
    pub(crate) fn token_name(self) -> &'static str {
        match self {
            Self::SignalWire => "the project's Signing Key",
            _ => "the provider's auth token",
        }
    }

    /// Why `voice` cannot speak `language` at this provider, if it cannot: each provider names its voices
    /// its own way.
    pub(crate) fn voice_problem(self, voice: &str, language: &str) -> Option<String> {
        let prefixed = |prefixes: &[&str]| {
            prefixes
                .iter()
                .any(|p| voice.len() > p.len() && voice[..p.len()].eq_ignore_ascii_case(p))
        };
        let ok = match self {
            Self::Twilio => !voice.trim().is_empty(),
            Self::SignalWire => {
                matches!(voice, "man" | "woman")
                    || prefixed(&["polly.", "gcloud.", "elevenlabs.", "azure.", "deepgram."])
            }
            Self::Telnyx => {
                if matches!(voice, "man" | "woman") && language != "en-US" {
                    return Some(format!(
                        "Telnyx's {voice:?} voice speaks en-US only, not {language}: use \"alice\" or a Polly voice"
                    ));
                }
                matches!(voice, "man" | "woman" | "alice")
                    || prefixed(&["polly.", "aws.polly.", "azure.", "elevenlabs.", "telnyx."])
            }
            Self::Plivo => matches!(voice, "WOMAN" | "MAN") || prefixed(&["polly."]),
        };
        (!ok).then(|| {
            let voices = match self {
                Self::Twilio => "a Twilio voice such as Polly.Joanna",
                Self::SignalWire => "man, woman, or Polly.NAME, gcloud.NAME ...",
                Self::Telnyx => "man, woman, alice, Polly.NAME, Azure.NAME, Telnyx.MODEL.NAME ...",
                Self::Plivo => "WOMAN, MAN or Polly.NAME",
            };
            format!("{voice:?} is not a {} voice: expected {voices}", self.name())
        })
    }
}

/// `provider.public_key`: an Ed25519 public key, base64 of its 32 bytes; read once, when the settings are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct PublicKey(pub(crate) ed25519_dalek::VerifyingKey);

impl TryFrom<String> for PublicKey {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok();
        let key = bytes
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
        if let Some(key) = key {
            Ok(PublicKey(key))
        } else {
            Err(format!(
                "invalid public key {text:?}: expected the base64 Ed25519 public key from the Telnyx portal \
                 (Account settings, Keys & Credentials, Public Key)"
            ))
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRedisSettings")]
pub(crate) struct RedisSettings {
    /// Where Redis is; `None`: the embedded in-memory store, which persists nothing.
    pub(crate) mode: Option<RedisMode>,
    /// Put before every key, so that several deployments can share one Redis.
    pub(crate) prefix: String,
    /// A PEM file of the certificate authorities that `rediss://` connections trust instead of the system's
    /// roots (a private CA); relative to the configuration file's folder.
    pub(crate) ca_file: Option<PathBuf>,
}

/// The three ways to reach Redis; the username and password come from the environment in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisMode {
    /// One Redis at `redis://host:port/db` (or `rediss://`).
    Single(RedisUrl),
    /// The primary that these Sentinel nodes name for `master_name`.
    Sentinel { nodes: Vec<RedisUrl>, master_name: String },
    /// A Redis Cluster, found through these nodes (any of its primaries).
    Cluster(Vec<RedisUrl>),
}

/// `[redis]` as written; checked into [`RedisSettings`]: one of `url`, `sentinels` and `cluster` at most.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisSettings {
    #[serde(default)]
    url: Option<RedisUrl>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    sentinels: Vec<RedisUrl>,
    #[serde(default = "default_master_name")]
    master_name: String,
    #[serde(default)]
    cluster: Vec<RedisUrl>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
}

impl TryFrom<RawRedisSettings> for RedisSettings {
    type Error = String;
    fn try_from(raw: RawRedisSettings) -> Result<Self, Self::Error> {
        let url = raw.url.filter(|u| !u.as_str().trim().is_empty());
        let named: Vec<&str> = [
            url.as_ref().map(|_| "url"),
            (!raw.sentinels.is_empty()).then_some("sentinels"),
            (!raw.cluster.is_empty()).then_some("cluster"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if named.len() > 1 {
            return Err(format!(
                "{} are set together: Redis is one Redis (url), the primary Sentinel names (sentinels) or a \
                 cluster (cluster); set one of them",
                named.join(" and ")
            ));
        }
        let mode = match (url, raw.sentinels.is_empty(), raw.cluster.is_empty()) {
            (Some(url), _, _) => Some(RedisMode::Single(url)),
            (None, false, _) => Some(RedisMode::Sentinel {
                nodes: raw.sentinels,
                master_name: raw.master_name,
            }),
            (None, true, false) => Some(RedisMode::Cluster(raw.cluster)),
            (None, true, true) => None,
        };
        Ok(Self {
            mode,
            prefix: raw.prefix,
            ca_file: raw.ca_file,
        })
    }
}

/// A Redis URL (`redis://`, `rediss://`, `redis+unix://`, `unix://`) without a password: the password is a
/// secret, read from the environment only, so that no setting, log or `Debug` print carries it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct RedisUrl(String);

impl RedisUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl TryFrom<String> for RedisUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.trim().is_empty() {
            return Ok(RedisUrl(String::new()));
        }
        let invalid = || {
            // The text itself is not echoed: it may hold a password.
            "invalid Redis URL: expected redis://host:port/db, rediss://host:port/db (TLS) or \
             redis+unix:///path/to/socket"
                .to_owned()
        };
        let url = url::Url::parse(&text).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
            return Err(invalid());
        }
        let in_query = url.query_pairs().any(|(k, _)| k == "pass" || k == "password");
        if url.password().is_some() || in_query {
            return Err(
                "a password in a Redis URL is refused: it is a secret, read from the environment only; \
                 remove it from the URL and set AFTERHOURS_REDIS__PASSWORD (and AFTERHOURS_REDIS__USERNAME for \
                 an ACL user)"
                    .to_owned(),
            );
        }
        if !url.username().is_empty() || url.query_pairs().any(|(k, _)| k == "user") {
            return Err("a username in a Redis URL is refused: set AFTERHOURS_REDIS__USERNAME instead".to_owned());
        }
        Ok(RedisUrl(text))
    }
}

fn default_master_name() -> String {
    "mymaster".into()
}

impl RedisSettings {
    /// An address of the Redis in use, for messages (the first node's with Sentinel or Cluster); `None`: the
    /// embedded store.
    pub(crate) fn configured_url(&self) -> Option<&str> {
        match self.mode.as_ref()? {
            RedisMode::Single(url) => Some(url.as_str()),
            RedisMode::Sentinel { nodes, .. } | RedisMode::Cluster(nodes) => nodes.first().map(RedisUrl::as_str),
        }
    }
}

fn default_prefix() -> String {
    "afterhours:".into()
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            mode: None,
            prefix: default_prefix(),
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathSettings {
    /// Folder of calendar files, relative to the configuration file's folder.
    #[serde(default = "default_calendars")]
    pub(crate) calendars: PathBuf,
    /// Folder of voice flow files, relative to the configuration file's folder.
    #[serde(default = "default_flows")]
    pub(crate) flows: PathBuf,
    /// The on-call data (engineers, rotations, overrides, policies) that seeds the embedded store when no
    /// Redis is configured; relative to the configuration file's folder.
    #[serde(default = "default_oncall")]
    pub(crate) oncall: PathBuf,
}

impl Default for PathSettings {
    fn default() -> Self {
        Self {
            calendars: default_calendars(),
            flows: default_flows(),
            oncall: default_oncall(),
        }
    }
}

fn default_oncall() -> PathBuf {
    "oncall.toml".into()
}

fn default_calendars() -> PathBuf {
    "calendars".into()
}

fn default_flows() -> PathBuf {
    "../voice-flows".into()
}

/// One support line: a dialled number and how calls to it are answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineSettings {
    /// The number customers dial (the webhook's `To`).
    pub(crate) number: PhoneNumber,
    /// What the line is called in prompts ("North America support").
    pub(crate) name: String,
    /// IANA time zone of the line's region.
    pub(crate) time_zone: TimeZone,
    /// How the zone is spoken ("Eastern time"); derived from the zone when absent.
    #[serde(default)]
    pub(crate) time_zone_name: Option<String>,
    /// Calendar file name under the calendars folder, without `.toml`.
    pub(crate) calendar: Name,
    /// Voice flow file name under the flows folder, without `.toml`.
    pub(crate) flow: Name,
    /// Escalation policy that the bridge step rings.
    #[serde(default = "default_policy")]
    pub(crate) escalation_policy: Name,
    #[serde(default)]
    pub(crate) mode: Mode,
    /// Calls to a number that matches no line go to the line marked default (at most one).
    #[serde(default)]
    pub(crate) default: bool,
    /// The normal support channel, spoken to callers inside business hours ("the support portal at ...").
    pub(crate) support_channel: String,
    /// What happens when the case system cannot answer: `bridge` (a human decides; the engineer hears that
    /// the case is unverified) or `refuse` (apologise, give the deadline, hang up).
    #[serde(default)]
    pub(crate) on_unavailable: OnUnavailable,
    /// Only callers whose number is one of the case's contact phones get through.
    #[serde(default)]
    pub(crate) require_registered_caller: bool,
    /// A caller's number counts as registered on a case only when the provider verified it with A-level
    /// SHAKEN/STIR attestation (`StirVerstat` = `TN-Validation-Passed-A`).
    #[serde(default)]
    pub(crate) require_a_attestation: bool,
    /// Rung all at once when the on-call data cannot be had at all (the store is down and nothing is cached).
    #[serde(default)]
    pub(crate) fallback_numbers: Vec<PhoneNumber>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnUnavailable {
    #[default]
    Bridge,
    Refuse,
}

/// `[cases]`: the case system and how its answers are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesSettings {
    pub adapter: CaseAdapter,
    /// `https://cases.example.com/api` for `http-json`; `https://SUBDOMAIN.zendesk.com` for `zendesk`;
    /// `https://MYDOMAIN.my.salesforce.com` for `salesforce`; `https://SITE.atlassian.net` for `jira`.
    pub(crate) base_url: BaseUrl,
    /// A lookup slower than this counts as unavailable. At most 10 s: the provider waits 15 s in all for the
    /// webhook, and the caller must still hear the answer.
    #[serde(default = "default_case_timeout")]
    pub timeout_ms: Bounded<100, 10_000>,
    /// Answers larger than this are refused unread.
    #[serde(default = "default_max_body")]
    pub(crate) max_body_bytes: usize,
    /// `http-json` only: `bearer` sends AFTERHOURS_CASES__TOKEN as a bearer token.
    #[serde(default)]
    pub(crate) auth: CaseAuth,
    #[serde(default)]
    pub values: CaseValues,
    #[serde(default)]
    pub fields: HttpJsonFields,
    /// Required with `adapter = "zendesk"`.
    #[serde(default)]
    pub zendesk: Option<ZendeskSettings>,
    /// Required with `adapter = "salesforce"`.
    #[serde(default)]
    pub salesforce: Option<crate::settings::SalesforceSettings>,
    /// Required with `adapter = "jira"`.
    #[serde(default)]
    pub jira: Option<crate::settings::JiraSettings>,
    /// Support packages entitled to after-hours phone support; empty: every package is.
    #[serde(default)]
    pub(crate) after_hours_packages: Vec<String>,
    #[serde(default)]
    pub(crate) notes: NotesSettings,
}

fn default_case_timeout() -> Bounded<100, 10_000> {
    Bounded::of::<2500>()
}

fn default_max_body() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseAdapter {
    HttpJson,
    Zendesk,
    Salesforce,
    Jira,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CaseAuth {
    #[default]
    None,
    Bearer,
}

/// The values that mean critical, production and closed (compared without regard to case).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseValues {
    pub(crate) critical: Vec<String>,
    pub(crate) production: Vec<String>,
    pub(crate) closed: Vec<String>,
}

impl Default for CaseValues {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Self {
            critical: list(&["critical", "urgent", "sev1"]),
            production: list(&["production", "prod"]),
            closed: list(&["closed", "solved", "resolved", "cancelled"]),
        }
    }
}

/// `http-json`: JSON pointers (RFC 6901) to the fields of a case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpJsonFields {
    pub(crate) severity: String,
    pub(crate) environment: String,
    pub(crate) status: String,
    pub(crate) customer: String,
    pub(crate) contact_phones: String,
    pub(crate) support_package: String,
    /// The case's Technical Account Manager: an engineer's id or email in the on-call data.
    pub(crate) tam: String,
}

impl Default for HttpJsonFields {
    fn default() -> Self {
        Self {
            severity: "/severity".into(),
            environment: "/environment".into(),
            status: "/status".into(),
            customer: "/customer".into(),
            contact_phones: "/contact_phones".into(),
            support_package: "/support_package".into(),
            tam: "/tam".into(),
        }
    }
}

/// `zendesk`: where the facts live in a Zendesk account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskSettings {
    /// The agent the API token belongs to.
    pub email: AgentEmail,
    /// Id of the ticket custom field that holds the environment (e.g. a drop-down with `production`).
    pub environment_field: u64,
    /// Key of the organisation field that holds the support package.
    #[serde(default)]
    pub support_package_field: Option<String>,
    /// Key of the organisation field with the organisation's phone numbers (comma-separated).
    #[serde(default = "default_phone_field")]
    pub organization_phone_field: String,
    /// Key of the organisation field that holds the email of the customer's Technical Account Manager.
    #[serde(default)]
    pub tam_field: Option<String>,
    /// The tags of the environment field's options that mean production. Zendesk answers a drop-down field
    /// with the chosen option's tag, not its label; without this list, `cases.values.production` applies.
    #[serde(default)]
    pub production_tags: Option<Vec<String>>,
}

fn default_phone_field() -> String {
    "phone".into()
}

/// The email of the agent a Zendesk API token belongs to: the user half of the API's basic auth, so it
/// cannot be blank.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AgentEmail(String);

impl AgentEmail {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            Err("empty: expected the email of the agent the API token belongs to".to_owned())
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgentEmail {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NotesSettings {
    /// Add a note to the case when a call about it ends.
    pub(crate) enabled: bool,
    /// Attempts before a note is given up (and logged as lost).
    pub(crate) attempts: Bounded<1, 100>,
    /// Wait before the second attempt; doubled for each further one, up to a minute.
    pub(crate) backoff_ms: Bounded<1, 60_000>,
    /// No attempt starts later than this after the note was queued: a note the case system keeps refusing
    /// (or asks, with `Retry-After`, to hold past it) is given up then, logged and counted as lost.
    pub(crate) deadline_secs: Bounded<1, 3600>,
}

impl Default for NotesSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            attempts: Bounded::of::<10>(),
            backoff_ms: Bounded::of::<1000>(),
            deadline_secs: Bounded::of::<300>(),
        }
    }
}

fn default_policy() -> Name {
    Name("default".into())
}

/// `[call_log]`: one record per call, in the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CallLogSettings {
    /// About how many records the log keeps (the oldest go first).
    pub(crate) max_records: u64,
    /// A record is closed this long after the call hung up, if the call-status callback has not closed it.
    pub(crate) close_after_secs: u64,
    /// How long an open record is kept for a call that never ends properly.
    pub(crate) ttl_secs: u64,
}

impl Default for CallLogSettings {
    fn default() -> Self {
        Self {
            max_records: 100_000,
            close_after_secs: 300,
            ttl_secs: 86_400,
        }
    }
}

/// `[admin]`: the admin API. Its token is a secret, from the environment only (`AFTERHOURS_ADMIN__TOKEN`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AdminSettings {
    /// Failed authentications one client address may make in a minute; past them it is refused (429) until
    /// the minute ends, whatever token it sends.
    pub(crate) failed_logins_per_minute: Bounded<1, 10_000>,
    /// How long a dashboard session lasts from its login, in hours (at most a week).
    pub(crate) session_hours: Bounded<1, 168>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            failed_logins_per_minute: Bounded::of::<10>(),
            session_hours: Bounded::of::<12>(),
        }
    }
}

/// `[feeds]`: the calendar feeds of shifts (`GET /feeds/TOKEN.ics`), served on the operators' listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FeedSettings {
    /// Serve the feeds on the webhook listener too, for calendar services that fetch from the internet
    /// (Google Calendar fetches from Google's servers). Each feed still needs its own token.
    pub(crate) public: bool,
    /// Weeks of shifts ahead a feed shows (it also shows the past week).
    pub(crate) weeks: Bounded<1, 52>,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            public: false,
            weeks: Bounded::of::<8>(),
        }
    }
}

/// `[limits]`: how many failed verifications (guesses) one number may make, and how long a verified caller
/// stays trusted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Guesses (case numbers that are not found, or not the caller's) one number may make within the window;
    /// past them, the number is turned away before its next lookup.
    pub(crate) guesses_per_window: Bounded<1, 1000>,
    /// The sliding window guesses are counted in.
    pub(crate) window_secs: Bounded<10, 86_400>,
    /// How long a number verified as registered on a critical case stays trusted for that case: its calls
    /// about it are never turned away by the guess limit.
    pub(crate) trusted_secs: Bounded<0, 31_536_000>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            guesses_per_window: Bounded::of::<5>(),
            window_secs: Bounded::of::<600>(),
            trusted_secs: Bounded::of::<2_592_000>(),
        }
    }
}

/// `auto` follows the calendar; the two others pin the answer, for drills and maintenance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    #[default]
    Auto,
    AlwaysAfterHours,
    AlwaysBusinessHours,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::AlwaysAfterHours => "always-after-hours",
            Mode::AlwaysBusinessHours => "always-business-hours",
        })
    }
}

/// A name used in URLs, file names and environment variables: lowercase ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct Name(String);

impl Name {
    fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid name {text:?}: expected 1 to 64 lowercase letters, digits, '_' or '-'"
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name, checked against the tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub chrono_tz::Tz);

impl TryFrom<String> for TimeZone {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| format!("unknown time zone {text:?}: expected an IANA name such as America/New_York"))
    }
}

/// An absolute `http(s)://` base URL without query or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct BaseUrl(String);

impl BaseUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The path after the host (`/api/v2`), when there is more than `/`.
    pub(crate) fn path(&self) -> Option<String> {
        let url = url::Url::parse(&self.0).ok()?;
        let path = url.path().trim_end_matches('/');
        (!path.is_empty()).then(|| path.to_owned())
    }
}

impl TryFrom<String> for BaseUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let invalid = || {
            format!(
                "invalid URL {text:?}: expected an absolute http:// or https:// URL without query, \
                 e.g. https://voice.example.com"
            )
        };
        let url = url::Url::parse(&text).map_err(|_| invalid())?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|host| !host.is_empty())
            && url.query().is_none()
            && url.fragment().is_none();
        if !usable {
            return Err(invalid());
        }
        // Step URLs are built as `{base}/voice/...`: the base keeps its path, without the trailing slash.
        Ok(BaseUrl(url.as_str().trim_end_matches('/').to_owned()))
    }
}

/// A language tag for `<Say>`; only English tags are accepted (`en-US`, `en-GB`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct EnglishTag(String);

impl EnglishTag {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnglishTag {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let ok = text.len() == 5 && text.starts_with("en-") && text[3..].bytes().all(|b| b.is_ascii_uppercase());
        if ok {
            Ok(EnglishTag(text))
        } else {
            Err(format!(
                "invalid language {text:?}: after-hours support is English only; expected en-US, en-GB, en-AU ..."
            ))
        }
    }
}
