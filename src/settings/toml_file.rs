//! Reading one TOML file into a typed value, so that every error names the file, the line and the key.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::error::{ConfigError, line_of};

/// Reads and deserializes `path`. A missing file, a TOML syntax error, an unknown key or a wrong value each
/// become one `ConfigError` that points at the line.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let text = read(path)?;
    let value = parse(path, &text)?;
    Ok((value, text))
}

/// The text of a configuration file, or an error that names it.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::in_file(path, None, "", format!("cannot read the file: {e}")))
}

/// Deserializes `text`, which was read from `path`.
pub(crate) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| from_toml(path, text, "", &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = key_of(e.path());
        from_toml(path, text, &key, e.inner())
    })
}

/// Deserializes an in-memory table (after environment overrides), naming the key that failed.
pub(crate) fn from_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| (key_of(e.path()), e.inner().message().to_owned()))
}

fn from_toml(path: &Path, text: &str, key: &str, error: &toml::de::Error) -> ConfigError {
    let line = error.span().map(|span| line_of(text, span.start));
    ConfigError::in_file(path, line, key, error.message().trim().to_owned())
}

/// `lines.us.time_zone` from serde_path_to_error's path (which prints `.` for the root).
fn key_of(path: &serde_path_to_error::Path) -> String {
    let key = path.to_string();
    if key == "." { String::new() } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        server: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }

    #[test]
    fn an_unknown_key_names_the_line_and_the_key() {
        let error = parse::<Outer>(Path::new("a.toml"), "[server]\nport = 80\nprot = 81\n").unwrap_err();
        assert_eq!(
            error.to_string().lines().next().unwrap(),
            "a.toml:3: server.prot: unknown field `prot`, expected `port`"
        );
    }

    #[test]
    fn a_wrong_type_names_the_line_and_the_key() {
        let error = parse::<Outer>(Path::new("a.toml"), "\n[server]\nport = \"eighty\"\n").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("a.toml:3: server.port: invalid type: string \"eighty\""),
            "{error}"
        );
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let error = parse::<Outer>(Path::new("a.toml"), "[server]\nport = = 1\n").unwrap_err();
        assert!(error.to_string().starts_with("a.toml:2: "), "{error}");
    }
}
