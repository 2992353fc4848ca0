//! Settings: the configuration as plain data, at the bottom of the crate. `config/afterhours.toml` is read
//! into typed sections (serde, unknown keys refused), the environment's `AFTERHOURS_SECTION__KEY` overrides
//! are applied, and secrets come from the environment only. Every error names the file (or variable), the
//! line and the key.
//!
//! A setting is checked in one way: by its type. A value with rules is a type that parses with
//! `serde(try_from)` ([`Bounded`] for an integer range, newtypes for a URL, a time zone, a phone number),
//! and a setting its section cannot work without is a field without a default, so serde reports the key and
//! the line like every other error of the file. A rule that spans several values (`max_age_secs` against
//! `refresh_secs`, `min_digits` against `max_digits`, a number on two lines, one default line, a flow's
//! graph, an adapter that needs its section) is a check after parsing, in the section's `try_from` or in the
//! stage that loads the files together.

mod alerts;
mod bounded;
mod env;
mod error;
mod jira;
mod packages;
mod salesforce;
mod sections;
mod status_page;
pub(crate) mod toml_file;

use std::path::Path;

pub use alerts::{AlertKind, AlertTarget};
pub use bounded::{Bounded, OutOfRange};
pub(crate) use env::{Applied, SECRETS, Secrets, alert_secret_var};
pub(crate) use error::Source;
pub(crate) use error::line_of;
pub use error::{ConfigError, ConfigErrors};
pub use jira::{JiraField, JiraSettings, ProjectKey};
pub use packages::{PackageSettings, Packages};
pub use salesforce::{ApiVersion, FieldPath, SalesforceSettings};
pub use sections::*;
pub use status_page::StatusPageSettings;

/// The main file `path` (its `text`), then the environment's overrides: the settings, and each override
/// applied (for the start-up log, and for [`locate`]). Errors have no line yet: [`locate`] adds them.
pub(crate) fn read(
    path: &Path,
    text: &str,
    env: &[(String, String)],
) -> Result<(Settings, Vec<Applied>), ConfigErrors> {
    let secrets_in_file = env::refuse_secrets_in_file(&toml_file::parse(path, text)?);
    if !secrets_in_file.is_empty() {
        let errors = secrets_in_file
            .into_iter()
            .map(|(key, message)| ConfigError::in_file(path, None, key, message));
        return Err(ConfigErrors(errors.collect()));
    }
    // The file alone first, so that its own mistakes are reported with their line.
    let from_file: Settings = toml_file::parse(path, text)?;
    let mut table: toml::Table = toml_file::parse(path, text)?;
    let applied = env::apply_overrides(&mut table, env)?;
    if applied.is_empty() {
        return Ok((from_file, Vec::new()));
    }
    let settings = toml_file::from_table::<Settings>(table).map_err(|(key, message)| {
        // Name the variable that set the key, when one did.
        let var = applied.iter().find(|a| a.touches(&key));
        match var {
            Some(a) => ConfigError {
                origin: Source::Env { var: a.var.clone() },
                key,
                message,
            },
            None => ConfigError::in_file(path, None, key, message),
        }
    })?;
    Ok((settings, applied))
}

/// Gives errors about the main file that have a key but no line where the value came from: the variable of
/// `applied` that set the key, else the line where the file writes it.
pub(crate) fn locate(errors: ConfigErrors, path: &Path, text: &str, applied: &[Applied]) -> ConfigErrors {
    let located = errors.0.into_iter().map(|mut error| {
        if let Source::File {
            path: file,
            line: line @ None,
        } = &mut error.origin
            && file == path
        {
            match applied.iter().find(|a| a.covers(&error.key)) {
                Some(a) => error.origin = Source::Env { var: a.var.clone() },
                None => *line = line_of_key(text, &error.key),
            }
        }
        error
    });
    ConfigErrors(located.collect())
}

/// The line of `section.key` in a TOML text: the `key =` line under the `[section]` header, or the header
/// itself when the key is a section. A plain text search, good for messages; `None` when not found.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let header = |line: &str| {
        line.trim()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .map(str::trim)
            .map(str::to_owned)
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(name) = header(line) {
            current = name.trim_matches('[').trim_matches(']').to_owned();
            if current == dotted {
                return Some(i + 1);
            }
            continue;
        }
        let assigned = line
            .trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if current == section && assigned {
            return Some(i + 1);
        }
    }
    None
}
