//! The rotation file: engineers, rotations, overrides and escalation policies in one TOML file, which
//! `afterhours rotation import FILE.toml` reads and `afterhours rotation export` writes.
//!
//! ```toml
//! [[engineers]]
//! id = "alice"
//! name = "Alice Martin"
//! phone = "+15550100001"            # E.164
//! time_zone = "America/New_York"    # IANA name
//!
//! [[rotations]]
//! id = "primary"
//! name = "Primary on-call"
//! time_zone = "America/New_York"
//! start = "2026-01-05T10:00:00"     # local wall time of the first handoff, no offset
//! shift = "7d"                      # "Nd": calendar days, same local handoff time; "Nh": exact hours
//! participants = ["alice", "bob"]   # may be empty: the rotation then has nobody on call
//!
//! [[overrides]]                     # optional
//! id = "xmas"                       # optional: "<rotation>-<start as UTC, 20261224T230000Z>" when absent
//! rotation = "primary"
//! engineer = "bob"
//! start = "2026-12-24T18:00:00-05:00"   # RFC 3339 with an offset
//! end = "2026-12-26T09:00:00-05:00"
//!
//! [[policies]]
//! id = "default"
//! repeat = 1                        # further passes over all the tiers; default 0
//! [[policies.tiers]]                # at least one per policy
//! rotations = ["primary"]           # whoever is on call in these, rung together with `engineers`
//! engineers = []
//! ring_timeout_secs = 20            # default 20; 5 to 120
//! ```
//!
//! Times may also be written as TOML date-times, unquoted.
//!
//! Reading runs in two stages, like the other configuration files. First the TOML itself: a syntax error, an
//! unknown key or a value of the wrong type stops there, as one error with the line and the key. Then the
//! meaning: every problem is collected (unknown engineers and rotations, duplicate ids, phone numbers, time
//! zones, shifts, times, ring timeouts, policies without tiers), each as a [`ConfigError`] with the file,
//! the line of the offending value (or of its entry's `[[...]]` header when the key is missing) and a key
//! such as `rotations[0].participants[2]`.
//!
//! What the file does not carry:
//! - Rotation versions: a store bumps them on every write; an imported rotation has version 0.
//! - When an override was created. On import an override's `created` is its place in the file: the Unix
//!   epoch plus its index among the file's `[[overrides]]`, in seconds. So where overrides overlap, "the
//!   latest created wins" means "the one later in the file wins". (An explicit `created = "<RFC 3339>"` is
//!   accepted and used instead, but never written.) Export writes overrides oldest created first, so
//!   export then import keeps which override wins, though not the creation times themselves.
//! - The order of a tier's targets beyond "rotations, then engineers": export lists a tier's rotations
//!   before its engineers, as import reads them.
//!
//! With those three provisos, `parse(to_toml(data)?) == data`.
//!
//! The folder splits the work:
//! - `parse`: the serde types the TOML is read into, and the parsers of the values they keep as text;
//! - `check`: the checks of the file's meaning that build the model, with every problem's line and key;
//! - `span`: where a key is in the text, for those lines;
//! - `write`: the model back into the serde types, and those as TOML.

mod check;
mod parse;
mod span;
mod write;

use std::path::Path;

pub(crate) use parse::OnCallFile;
pub(crate) use parse::{parse_instant, parse_local};
pub(crate) use write::WriteError;

use super::model::OnCallData;
use crate::settings::{ConfigError, toml_file};

/// Reads and checks the rotation file at `path`.
pub fn load(path: &Path) -> Result<OnCallData, Vec<ConfigError>> {
    let text = toml_file::read(path).map_err(|e| vec![e])?;
    parse(path, &text)
}

/// Parses and checks `text`, read from `path`: every problem found, each with the file, line and key.
fn parse(path: &Path, text: &str) -> Result<OnCallData, Vec<ConfigError>> {
    let file: OnCallFile = toml_file::parse(path, text).map_err(|e| vec![e])?;
    check::check(&file, path, text)
}

/// The rotation file of `data` (see the module documentation for what it leaves out).
pub(crate) fn to_toml(data: &OnCallData) -> Result<String, WriteError> {
    OnCallFile::from(data).to_toml()
}

#[cfg(test)]
mod tests;
