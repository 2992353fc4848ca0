//! The environment's part of the configuration: `AFTERHOURS_<SECTION>__<KEY>` overrides of file settings,
//! and the secrets, which are read from the environment only.

use secrecy::SecretString;

use super::error::{ConfigError, Source};

/// Variables that start with the prefix but are not setting overrides.
const RESERVED: &[&str] = &["AFTERHOURS_CONFIG", "AFTERHOURS_LOG", "AFTERHOURS_LOG_FORMAT"];

/// Secret settings: the environment variable and the key it would have in the file (where it is refused).
pub(crate) const SECRETS: [(&str, &str); 7] = [
    ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "provider.auth_token"),
    ("AFTERHOURS_CASES__TOKEN", "cases.token"),
    ("AFTERHOURS_ADMIN__TOKEN", "admin.token"),
    ("AFTERHOURS_REDIS__USERNAME", "redis.username"),
    ("AFTERHOURS_REDIS__PASSWORD", "redis.password"),
    ("AFTERHOURS_CASES__CLIENT_ID", "cases.client_id"),
    ("AFTERHOURS_CASES__CLIENT_SECRET", "cases.client_secret"),
];

/// Secrets taken from the environment. They print as `[REDACTED]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Secrets {
    /// The provider's auth token, the key of webhook signatures.
    pub(crate) provider_auth_token: Option<SecretString>,
    /// The case system's API token (bearer for `http-json`, API token for `zendesk` and `jira`).
    pub(crate) cases_token: Option<SecretString>,
    /// The OAuth client id (consumer key) of the `salesforce` connected app.
    pub(crate) cases_client_id: Option<SecretString>,
    /// The OAuth client secret (consumer secret) of the `salesforce` connected app.
    pub(crate) cases_client_secret: Option<SecretString>,
    /// The bearer token of the `/admin/` API; without it the admin API answers 401 to everyone.
    pub(crate) admin_token: Option<SecretString>,
    /// The Redis ACL user (Redis 6 and later); without it, AUTH names the default user.
    pub(crate) redis_username: Option<SecretString>,
    /// The Redis password (AUTH), for every node: the Redis, the primary Sentinel names, a cluster's nodes.
    pub(crate) redis_password: Option<SecretString>,
    /// Each alert target's secret, by the target's name as the variable spells it (upper case, `_` for `-`).
    alert_secrets: Vec<(String, SecretString)>,
}

/// `AFTERHOURS_ALERTS__<NAME>__SECRET`: an alert target's secret.
const ALERT_SECRET: (&str, &str) = ("AFTERHOURS_ALERTS__", "__SECRET");

/// The target name inside `var` when it is an alert target's secret.
fn alert_secret_target(var: &str) -> Option<&str> {
    let name = var.strip_prefix(ALERT_SECRET.0)?.strip_suffix(ALERT_SECRET.1)?;
    (!name.is_empty() && !name.contains("__")).then_some(name)
}

/// The variable that holds the secret of the alert target `name`.
pub(crate) fn alert_secret_var(name: &str) -> String {
    format!(
        "{}{}{}",
        ALERT_SECRET.0,
        name.to_ascii_uppercase().replace('-', "_"),
        ALERT_SECRET.1
    )
}

impl Secrets {
    pub(crate) fn from_env(env: &[(String, String)]) -> Self {
        let get = |name: &str| {
            env.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| SecretString::from(v.clone()))
        };
        Self {
            provider_auth_token: get(SECRETS[0].0),
            cases_token: get(SECRETS[1].0),
            cases_client_id: get(SECRETS[5].0),
            cases_client_secret: get(SECRETS[6].0),
            admin_token: get(SECRETS[2].0),
            alert_secrets: env
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, v)| Some((alert_secret_target(k)?.to_owned(), SecretString::from(v.clone()))))
                .collect(),
            redis_username: get(SECRETS[3].0),
            redis_password: get(SECRETS[4].0),
        }
    }

    /// The secret of the alert target `name`, when the environment has it.
    pub(crate) fn alert_secret(&self, name: &str) -> Option<&SecretString> {
        let spelled = name.replace('-', "_");
        self.alert_secrets
            .iter()
            .find(|(target, _)| target.eq_ignore_ascii_case(&spelled))
            .map(|(_, secret)| secret)
    }
}

/// One override that was applied: the variable and the dotted key it set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) var: String,
    pub(crate) key: String,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} sets {}", self.var, self.key)
    }
}

impl Applied {
    /// Whether this override touches `key`: set it, a table that holds it, or a key inside it (a value that
    /// does not deserialize may be reported at either end).
    pub(crate) fn touches(&self, key: &str) -> bool {
        key.starts_with(&self.key) || self.key.starts_with(key)
    }

    /// Whether this override set `key`, or a table that holds it: the value at `key` is the variable's.
    pub(crate) fn covers(&self, key: &str) -> bool {
        key == self.key
            || key
                .strip_prefix(self.key.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// Refuses secrets written into the file itself.
pub(crate) fn refuse_secrets_in_file(table: &toml::Table) -> Vec<(String, String)> {
    let refuse = |key: String, var: &str| {
        (
            key,
            format!("secrets are read from the environment only: remove it and set {var}"),
        )
    };
    let fixed = SECRETS
        .iter()
        .filter(|(_, key)| lookup(table, key).is_some())
        .map(|(var, key)| refuse(key.to_string(), var));
    let alerts = table.get("alerts").and_then(toml::Value::as_table);
    let alert_secrets = alerts
        .into_iter()
        .flatten()
        .filter(|(_, target)| target.get("secret").is_some())
        .map(|(name, _)| refuse(format!("alerts.{name}.secret"), &alert_secret_var(name)));
    fixed.chain(alert_secrets).collect()
}

fn lookup<'t>(table: &'t toml::Table, dotted: &str) -> Option<&'t toml::Value> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// Applies every `AFTERHOURS_A__B__C=value` to `table["a"]["b"]["c"]`. Segments match existing keys
/// case-insensitively with `_` standing for `-`, so `AFTERHOURS_LINES__US_EAST__MODE` reaches
/// `[lines.us-east] mode`. A value keeps the type of the value it replaces; a new value is a boolean for
/// `true`/`false`, an integer for plain digits, a list for a TOML array (`["a", "b"]`), otherwise a string.
pub(crate) fn apply_overrides(table: &mut toml::Table, env: &[(String, String)]) -> Result<Vec<Applied>, ConfigError> {
    let mut applied = Vec::new();
    let mut vars: Vec<&(String, String)> = env.iter().collect();
    vars.sort();
    for (var, value) in vars {
        let Some(rest) = var.strip_prefix("AFTERHOURS_") else {
            continue;
        };
        let secret = SECRETS.iter().any(|(s, _)| s == var) || alert_secret_target(var).is_some();
        if RESERVED.contains(&var.as_str()) || secret || !rest.contains("__") {
            continue;
        }
        let error = |message: String| ConfigError {
            origin: Source::Env { var: var.clone() },
            key: String::new(),
            message,
        };
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(error(
                "expected AFTERHOURS_<SECTION>__<KEY>, with non-empty parts".into(),
            ));
        }
        let mut current = &mut *table;
        let mut key_path = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let key = existing_key(current, segment);
            key_path.push(key.clone());
            if i + 1 == segments.len() {
                let new = typed_like(current.get(&key), value);
                current.insert(key, new);
            } else {
                let entry = current
                    .entry(key)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                current = match entry {
                    toml::Value::Table(t) => t,
                    _ => return Err(error(format!("{} is not a section", key_path.join(".")))),
                };
            }
        }
        applied.push(Applied {
            var: var.clone(),
            key: key_path.join("."),
        });
    }
    Ok(applied)
}

fn existing_key(table: &toml::Table, segment: &str) -> String {
    table
        .keys()
        .find(|k| k.to_ascii_lowercase().replace('-', "_") == segment)
        .cloned()
        .unwrap_or_else(|| segment.to_owned())
}

fn typed_like(existing: Option<&toml::Value>, text: &str) -> toml::Value {
    let as_bool = || text.parse::<bool>().ok().map(toml::Value::Boolean);
    let as_int = || {
        (!text.starts_with('+'))
            .then(|| text.parse::<i64>().ok())
            .flatten()
            .map(toml::Value::Integer)
    };
    let string = || toml::Value::String(text.to_owned());
    // A list is written as in TOML: AFTERHOURS_CASES__AFTER_HOURS_PACKAGES='["premium", "enterprise"]'.
    let as_array = || {
        let table: toml::Table = format!("v = {text}").parse().ok()?;
        table.get("v").filter(|v| v.is_array()).cloned()
    };
    match existing {
        Some(toml::Value::Array(_)) => as_array().unwrap_or_else(string),
        None if text.trim_start().starts_with('[') => as_array().unwrap_or_else(string),
        Some(toml::Value::Boolean(_)) => as_bool().unwrap_or_else(string),
        Some(toml::Value::Integer(_)) => as_int().unwrap_or_else(string),
        Some(toml::Value::Float(_)) => text.parse::<f64>().map(toml::Value::Float).unwrap_or_else(|_| string()),
        Some(_) => string(),
        None => as_bool().or_else(as_int).unwrap_or_else(string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn overrides_a_key_keeping_its_type() {
        let mut t = table("[server]\nlisten = \"127.0.0.1:1\"\n[provider]\nvalidate_signatures = true\n");
        let applied = apply_overrides(
            &mut t,
            &env(&[
                ("AFTERHOURS_SERVER__LISTEN", "0.0.0.0:80"),
                ("AFTERHOURS_PROVIDER__VALIDATE_SIGNATURES", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(t["server"]["listen"].as_str(), Some("0.0.0.0:80"));
        assert_eq!(t["provider"]["validate_signatures"].as_bool(), Some(false));
        assert_eq!(applied.len(), 2);
    }

    #[test]
    fn alert_secrets_come_from_the_environment_only() {
        let vars = env(&[
            ("AFTERHOURS_ALERTS__NIGHT_PAGER__SECRET", "routing-key"),
            ("AFTERHOURS_ALERTS__EMPTY__SECRET", ""),
        ]);
        let secrets = Secrets::from_env(&vars);
        let exposed = |name: &str| {
            use secrecy::ExposeSecret;
            secrets.alert_secret(name).map(|s| s.expose_secret().to_owned())
        };
        assert_eq!(exposed("night-pager").as_deref(), Some("routing-key"));
        assert_eq!(exposed("empty"), None);
        assert_eq!(exposed("other"), None);

        let mut t = table("[alerts.night-pager]\nkind = \"pagerduty\"\n");
        assert!(apply_overrides(&mut t, &vars).unwrap().is_empty());
        let refused = refuse_secrets_in_file(&table("[alerts.relay]\nkind = \"webhook\"\nsecret = \"s\"\n"));
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "alerts.relay.secret");
        assert!(refused[0].1.contains("AFTERHOURS_ALERTS__RELAY__SECRET"));
    }

    #[test]
    fn reaches_a_line_whose_name_has_a_dash() {
        let mut t = table("[lines.us-east]\nmode = \"auto\"\nnumber = \"+18005550100\"\n");
        apply_overrides(
            &mut t,
            &env(&[
                ("AFTERHOURS_LINES__US_EAST__MODE", "always-after-hours"),
                ("AFTERHOURS_LINES__US_EAST__NUMBER", "+18005550199"),
            ]),
        )
        .unwrap();
        assert_eq!(t["lines"]["us-east"]["mode"].as_str(), Some("always-after-hours"));
        assert_eq!(
            t["lines"]["us-east"]["number"].as_str(),
            Some("+18005550199"),
            "a + number stays a string"
        );
    }

    #[test]
    fn a_list_is_written_as_a_toml_array() {
        let mut t = table("[cases]\nadapter = \"http-json\"\n");
        apply_overrides(
            &mut t,
            &env(&[(
                "AFTERHOURS_CASES__AFTER_HOURS_PACKAGES",
                "[\"premium\", \"enterprise\"]",
            )]),
        )
        .unwrap();
        let packages = t["cases"]["after_hours_packages"].as_array().unwrap();
        assert_eq!(packages.len(), 2);
    }

    #[test]
    fn ignores_reserved_names_and_secrets() {
        let mut t = table("");
        let applied = apply_overrides(
            &mut t,
            &env(&[
                ("AFTERHOURS_LOG_FORMAT", "json"),
                ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "x"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert!(applied.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn a_key_under_a_value_is_an_error_naming_the_variable() {
        let mut t = table("[server]\nlisten = \"x\"\n");
        let error = apply_overrides(&mut t, &env(&[("AFTERHOURS_SERVER__LISTEN__PORT", "1")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable AFTERHOURS_SERVER__LISTEN__PORT: server.listen is not a section"
        );
    }

    #[test]
    fn refuses_a_secret_in_the_file() {
        let found = refuse_secrets_in_file(&table("[provider]\nauth_token = \"abc\"\n"));
        assert_eq!(found[0].0, "provider.auth_token");
        assert!(found[0].1.contains("AFTERHOURS_PROVIDER__AUTH_TOKEN"));
    }
}
