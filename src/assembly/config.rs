//! The configuration as the service runs it: the settings of `config/afterhours.toml` (with the environment's
//! overrides and secrets), then the calendars, voice flows and on-call file they name, loaded and checked
//! together into a [`Config`].
//!
//! Loading runs in stages; each stage reports all of its problems, and a later stage runs only when the
//! earlier ones found none: (1) the main file and the environment ([`crate::settings::read`]), (2) every
//! calendar and flow file the lines name, and the on-call file, (3) checks across lines. `afterhours check`
//! prints the problems of the first failing stage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::calendar::Calendar;
use crate::flow::Flow;
use crate::flow::line::{Line, Lines};
use crate::oncall::model::OnCallData;
use crate::settings::{
    self, CaseAdapter, CaseAuth, ConfigError, ConfigErrors, SECRETS, Secrets, Settings, Source, toml_file,
};

/// The path used when neither `--config` nor `AFTERHOURS_CONFIG` names one.
pub(crate) const DEFAULT_PATH: &str = "config/afterhours.toml";

/// Everything the service runs on, loaded and checked.
#[derive(Debug)]
pub struct Config {
    pub(crate) path: PathBuf,
    pub settings: Settings,
    pub(crate) secrets: Secrets,
    pub lines: Lines,
    /// The on-call data of the configuration folder: the embedded store's seed when no Redis is configured.
    pub(crate) oncall: OnCallData,
    /// Overrides taken from the environment, for the start-up log.
    pub(crate) overrides: Vec<String>,
    /// Settings that work but deserve a look (signature checks off ...).
    pub(crate) warnings: Vec<String>,
}

impl Config {
    /// Loads `path` with the process environment.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// Loads `path` with the given environment variables (tests pass their own).
    pub fn load_with_env(path: &Path, env: &[(String, String)]) -> Result<Config, ConfigErrors> {
        let text = toml_file::read(path)?;
        let (settings, applied) =
            settings::read(path, &text, env).map_err(|errors| settings::locate(errors, path, &text, &[]))?;
        let with_lines = |errors: ConfigErrors| settings::locate(errors, path, &text, &applied);
        let overrides: Vec<String> = applied.iter().map(ToString::to_string).collect();
        let secrets = Secrets::from_env(env);
        let base = path.parent().unwrap_or(Path::new("."));
        let lines = resolve_lines(base, &settings)?;
        let oncall = load_oncall(&base.join(&settings.paths.oncall), &settings)?;
        let default_key = check_lines(path, &settings, &lines).map_err(with_lines)?;
        let mut warnings = Vec::new();
        let old_packages = settings
            .cases
            .as_ref()
            .is_some_and(|c| !c.after_hours_packages.is_empty());
        if old_packages && settings.packages.is_empty() {
            warnings.push(
                "cases.after_hours_packages is still read, but [packages.NAME] tables with after_hours = true \
                 replace it: they also give each package its support channel and whether it has a TAM"
                    .to_owned(),
            );
        } else if old_packages {
            warnings.push(
                "cases.after_hours_packages is ignored: the [packages.NAME] tables say which packages have \
                 after-hours phone support (after_hours = true)"
                    .to_owned(),
            );
        }
        if !settings.provider.validate_signatures {
            warnings.push(
                "provider.validate_signatures is false: webhooks are NOT checked for the provider's signature; \
                 anyone who finds the URL can drive calls"
                    .to_owned(),
            );
        }
        warnings.extend(settings.server.ops_exposure());
        Ok(Config {
            path: path.to_owned(),
            lines: Lines::new(lines, default_key.as_deref()),
            oncall,
            settings,
            secrets,
            overrides,
            warnings,
        })
    }

    /// The secrets that serving needs and the environment lacks, one error each.
    pub fn missing_secrets(&self) -> Vec<ConfigError> {
        let missing = |(var, key): (&str, &str), message: &str| ConfigError {
            origin: Source::Env { var: var.to_owned() },
            key: key.to_owned(),
            message: format!("not set: {message}"),
        };
        let mut errors = Vec::new();
        let provider = &self.settings.provider;
        if provider.validate_signatures
            && provider.kind.signs_with_token()
            && self.secrets.provider_auth_token.is_none()
        {
            errors.push(missing(
                SECRETS[0],
                &format!(
                    "{} is needed to check {}'s webhook signatures \
                     (or set provider.validate_signatures = false for local experiments)",
                    provider.kind.token_name(),
                    provider.kind.name()
                ),
            ));
        }
        if let Some(cases) = &self.settings.cases {
            let needs_token =
                matches!(cases.adapter, CaseAdapter::Zendesk | CaseAdapter::Jira) || cases.auth == CaseAuth::Bearer;
            if needs_token && self.secrets.cases_token.is_none() {
                errors.push(missing(
                    SECRETS[1],
                    "the case system's API token is needed to look up cases",
                ));
            }
            if cases.adapter == CaseAdapter::Salesforce {
                if self.secrets.cases_client_id.is_none() {
                    errors.push(missing(
                        SECRETS[5],
                        "the Salesforce connected app's client id (consumer key) is needed to look up cases",
                    ));
                }
                if self.secrets.cases_client_secret.is_none() {
                    errors.push(missing(
                        SECRETS[6],
                        "the Salesforce connected app's client secret (consumer secret) is needed to look up cases",
                    ));
                }
            }
        }
        for (name, target) in &self.settings.alerts {
            if !target.kind.has_own_secret() {
                // With signature checks keyed by the token on, a missing token is reported above already.
                let reported = provider.validate_signatures && provider.kind.signs_with_token();
                if self.secrets.provider_auth_token.is_none() && !reported {
                    errors.push(missing(
                        SECRETS[0],
                        &format!(
                            "the provider's auth token is needed to send the text messages of alert target {name}"
                        ),
                    ));
                }
                continue;
            }
            if self.secrets.alert_secret(name.as_str()).is_none() {
                errors.push(ConfigError {
                    origin: Source::Env {
                        var: settings::alert_secret_var(name.as_str()),
                    },
                    key: format!("alerts.{name}.secret"),
                    message: format!(
                        "not set: {} of alert target {name} is needed to send it alerts",
                        target.kind.secret_name()
                    ),
                });
            }
        }
        errors
    }
}

/// Stage 2 too: the on-call file. Without Redis it is the on-call data, so it must exist and every line's
/// escalation policy must be in it; with Redis it is only a seed for `rotation import`, checked when present.
fn load_oncall(path: &Path, settings: &Settings) -> Result<OnCallData, ConfigErrors> {
    let embedded = settings.redis.configured_url().is_none();
    if !embedded && !path.exists() {
        return Ok(OnCallData::default());
    }
    let data = crate::oncall::file::load(path).map_err(ConfigErrors)?;
    if embedded {
        let missing: Vec<ConfigError> = settings
            .lines
            .iter()
            .filter(|(_, line)| !data.policies.contains_key(line.escalation_policy.as_str()))
            .map(|(key, line)| {
                ConfigError::in_file(
                    path,
                    None,
                    "policies",
                    format!(
                        "no escalation policy {:?}, which line {key} rings",
                        line.escalation_policy.as_str()
                    ),
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(ConfigErrors(missing));
        }
    }
    Ok(data)
}

/// Stage 2: every calendar and flow the lines name, each loaded once.
fn resolve_lines(base: &Path, settings: &Settings) -> Result<Vec<Line>, ConfigErrors> {
    let calendars_dir = base.join(&settings.paths.calendars);
    let flows_dir = base.join(&settings.paths.flows);
    let mut calendars: BTreeMap<&str, Result<Arc<Calendar>, ()>> = BTreeMap::new();
    let mut flows: BTreeMap<&str, Result<Arc<Flow>, ()>> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for (key, line) in &settings.lines {
        let calendar = calendars
            .entry(line.calendar.as_str())
            .or_insert_with(|| load_calendar(&calendars_dir.join(format!("{}.toml", line.calendar)), &mut errors))
            .clone();
        let flow = flows
            .entry(line.flow.as_str())
            .or_insert_with(|| {
                Flow::load(&flows_dir.join(format!("{}.toml", line.flow)))
                    .map(Arc::new)
                    .map_err(|e| errors.extend(e))
            })
            .clone();
        if let (Ok(calendar), Ok(flow)) = (calendar, flow) {
            lines.push(Line::new(key.as_str(), line, calendar, flow));
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn load_calendar(path: &Path, errors: &mut Vec<ConfigError>) -> Result<Arc<Calendar>, ()> {
    let (calendar, _): (Calendar, String) = toml_file::load(path).map_err(|e| errors.push(e))?;
    calendar
        .validate()
        .map_err(|e| errors.push(ConfigError::in_file(path, None, "", e.to_string())))?;
    Ok(Arc::new(calendar))
}

/// A call-back promised where no alert target would make it happen: each prompt of a line's flow that says
/// someone will call back, on a line that no `[alerts.NAME]` covers. Reported once per flow and prompt, at
/// the flow file's step, naming the lines.
fn unkept_promises(path: &Path, settings: &Settings, lines: &[Line]) -> Vec<ConfigError> {
    let flows_dir = path.parent().unwrap_or(Path::new(".")).join(&settings.paths.flows);
    let alerted = |line: &str| settings.alerts.values().any(|target| target.covers(line));
    let mut unkept: BTreeMap<(String, String, usize), Vec<&str>> = BTreeMap::new();
    for line in lines.iter().filter(|l| !alerted(&l.key)) {
        for (key, at) in line.flow.call_back_promises() {
            unkept
                .entry((line.flow.name.clone(), key, at))
                .or_default()
                .push(&line.key);
        }
    }
    unkept
        .into_iter()
        .map(|((flow, key, at), lines)| {
            ConfigError::in_file(
                &flows_dir.join(format!("{flow}.toml")),
                Some(at),
                key,
                format!(
                    "promises the caller a call-back, but no alert target covers line {}: nobody would be told. \
                     Add an [alerts.NAME] target (docs/alerts.md), or reword the prompt",
                    lines.join(", ")
                ),
            )
        })
        .collect()
}

/// What a `salesforce` or `jira` case system lacks: its section, or a `base_url` that is the site's address
/// alone (the adapters add the API's paths to it, so a path there would double them and every lookup fail).
fn vendor_case_system(path: &Path, cases: &settings::CasesSettings) -> Vec<ConfigError> {
    let (name, has_section, needs) = match cases.adapter {
        CaseAdapter::Salesforce => ("salesforce", cases.salesforce.is_some(), "environment_field"),
        CaseAdapter::Jira => (
            "jira",
            cases.jira.is_some(),
            "email, project, environment_field, organization_field, phone_field",
        ),
        CaseAdapter::HttpJson | CaseAdapter::Zendesk => return Vec::new(),
    };
    let mut errors = Vec::new();
    if !has_section {
        errors.push(ConfigError::in_file(
            path,
            None,
            format!("cases.{name}"),
            format!("missing: adapter \"{name}\" needs a [cases.{name}] section ({needs})"),
        ));
    }
    let has_path = url::Url::parse(cases.base_url.as_str()).is_ok_and(|url| url.path() != "/");
    if has_path {
        errors.push(ConfigError::in_file(
            path,
            None,
            "cases.base_url",
            format!(
                "{} has a path: adapter \"{name}\" adds the API's paths itself, so base_url is the site's \
                 address alone, such as {}",
                cases.base_url.as_str(),
                if name == "jira" {
                    "https://acme.atlassian.net"
                } else {
                    "https://acme.my.salesforce.com"
                }
            ),
        ));
    }
    errors
}

/// The provider's settings as that provider takes them: its voices, and Telnyx's public key.
fn check_provider(path: &Path, settings: &Settings) -> Vec<ConfigError> {
    let provider = &settings.provider;
    let mut errors = Vec::new();
    if let Some(problem) = provider.kind.voice_problem(&provider.voice, provider.language.as_str()) {
        errors.push(ConfigError::in_file(path, None, "provider.voice", problem));
    }
    let telnyx = provider.kind == crate::settings::ProviderKind::Telnyx;
    if telnyx && provider.validate_signatures && provider.public_key.is_none() {
        errors.push(ConfigError::in_file(
            path,
            None,
            "provider.public_key",
            "missing: Telnyx signs webhooks with Ed25519, and its public key (base64, from the Telnyx portal) \
             checks them (or set provider.validate_signatures = false for local experiments)",
        ));
    }
    if provider.kind != crate::settings::ProviderKind::Twilio {
        // Text messages go through Twilio's Messages API, with Twilio's account and token.
        for (name, target) in &settings.alerts {
            if target.kind == crate::settings::AlertKind::Sms {
                errors.push(ConfigError::in_file(
                    path,
                    None,
                    format!("alerts.{name}.kind"),
                    format!(
                        "\"sms\" sends through Twilio's Messages API, which {} does not have: use pagerduty, \
                         opsgenie or webhook",
                        provider.kind.name()
                    ),
                ));
            }
        }
    }
    if !telnyx && provider.public_key.is_some() {
        errors.push(ConfigError::in_file(
            path,
            None,
            "provider.public_key",
            format!(
                "is for Telnyx only: {} signs webhooks with a secret, AFTERHOURS_PROVIDER__AUTH_TOKEN",
                provider.kind.name()
            ),
        ));
    }
    errors
}

/// The configured line keys, for messages.
fn known_lines(settings: &Settings) -> String {
    let keys: Vec<&str> = settings.lines.keys().map(|k| k.as_str()).collect();
    keys.join(", ")
}

/// Stage 3: no number on two lines, at most one default line, a case system where a flow verifies cases,
/// the section of the case system's adapter where it needs one. Returns the default line's key.
fn check_lines(path: &Path, settings: &Settings, lines: &[Line]) -> Result<Option<String>, ConfigErrors> {
    let mut errors = Vec::new();
    let verifying: Vec<&str> = lines
        .iter()
        .filter(|l| l.flow.verifies_cases())
        .map(|l| l.key.as_str())
        .collect();
    match &settings.cases {
        None if !verifying.is_empty() => errors.push(ConfigError::in_file(
            path,
            None,
            "cases",
            format!(
                "missing: the flows of lines {} verify cases, so a [cases] section must name the case system",
                verifying.join(", ")
            ),
        )),
        Some(cases) if cases.adapter == CaseAdapter::Zendesk && cases.zendesk.is_none() => {
            errors.push(ConfigError::in_file(
                path,
                None,
                "cases.zendesk",
                "missing: adapter \"zendesk\" needs a [cases.zendesk] section (email, environment_field)",
            ))
        }
        Some(cases) => errors.extend(vendor_case_system(path, cases)),
        _ => {}
    }
    if let Some(cases) = &settings.cases
        && cases.adapter == CaseAdapter::Zendesk
        && let Some(api_path) = cases.base_url.path()
    {
        errors.push(ConfigError::in_file(
            path,
            None,
            "cases.base_url",
            format!(
                "a path ({api_path:?}) is refused for adapter \"zendesk\": the base URL is the account's address \
                 alone, e.g. https://SUBDOMAIN.zendesk.com, and every request adds /api/v2/... to it"
            ),
        ));
    }
    errors.extend(unkept_promises(path, settings, lines));
    for (name, target) in &settings.alerts {
        for line in &target.lines {
            if !settings.lines.contains_key(line.as_str()) {
                errors.push(ConfigError::in_file(
                    path,
                    None,
                    format!("alerts.{name}.lines"),
                    format!("no line {:?}: the lines are {}", line.as_str(), known_lines(settings)),
                ));
            }
        }
    }
    errors.extend(check_provider(path, settings));
    let listen = settings.server.listen;
    if !settings.provider.validate_signatures && !listen.ip().is_loopback() {
        errors.push(ConfigError::in_file(
            path,
            None,
            "provider.validate_signatures",
            format!(
                "false is refused while server.listen ({listen}) is not a loopback address: anyone who reaches \
                 the listener could drive calls and ring engineers. Keep signature checks on, or listen on \
                 127.0.0.1 for local experiments"
            ),
        ));
    }
    if let Some(conflict) = settings.server.listener_conflict() {
        errors.push(ConfigError::in_file(path, None, "server.ops_listen", conflict));
    }
    let mut numbers: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, line) in &settings.lines {
        if let Some(other) = numbers.insert(line.number.as_str(), key.as_str()) {
            errors.push(ConfigError::in_file(
                path,
                None,
                format!("lines.{key}.number"),
                format!("{} is also the number of line {other}", line.number),
            ));
        }
    }
    let defaults: Vec<&str> = settings
        .lines
        .iter()
        .filter(|(_, l)| l.default)
        .map(|(k, _)| k.as_str())
        .collect();
    if defaults.len() > 1 {
        errors.push(ConfigError::in_file(
            path,
            None,
            format!("lines.{}.default", defaults[1]),
            format!(
                "only one line may be the default; these all are: {}",
                defaults.join(", ")
            ),
        ));
    }
    if settings.lines.is_empty() {
        errors.push(ConfigError::in_file(
            path,
            None,
            "lines",
            "no line is configured: add a [lines.NAME] section",
        ));
    }
    if errors.is_empty() {
        Ok(defaults.first().map(|s| s.to_string()))
    } else {
        Err(ConfigErrors(errors))
    }
}
