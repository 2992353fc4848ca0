//! Configuration errors that say where: the file (or environment variable), the line, the key, and what
//! was expected.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    File { path: PathBuf, line: Option<usize> },
    Env { var: String },
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub(crate) origin: Source,
    /// The dotted key the problem is about (`lines.us.time_zone`), empty when it is the whole file.
    pub(crate) key: String,
    pub(crate) message: String,
}

impl ConfigError {
    pub(crate) fn in_file(
        path: &Path,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            origin: Source::File {
                path: path.to_owned(),
                line,
            },
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Source::File { path, line: Some(line) } => write!(f, "{}:{line}: ", path.display())?,
            Source::File { path, line: None } => write!(f, "{}: ", path.display())?,
            Source::Env { var } => write!(f, "environment variable {var}: ")?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// All problems of one stage of loading; `check` prints every one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
