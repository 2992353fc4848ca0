//! The configuration loader, whole: `Config::load_with_env` on a copy of the shipped configuration in which
//! one file is replaced by the input, with environment overrides taken from the input too.
//!
//! Input: the text of the file to replace. Leading `#!` lines (TOML comments, so the rest still parses) say
//! which file it is and which overrides to apply; without them it is the main file:
//!
//! ```text
//! #! flow                                 <- main (default), calendar (us.toml), flow, or oncall
//! #! env AFTERHOURS_LINES__US__MODE=open  <- any number of these
//! description = "..."                     <- the file's text
//! ```
//!
//! Crashes: any panic. Errors are expected; each must say something.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use afterhours::assembly::Config;
use libfuzzer_sys::fuzz_target;

/// A private copy of `config/` and `voice-flows/`, made once per process under `fuzz/target/` (ignored by git).
static COPY: LazyLock<PathBuf> = LazyLock::new(|| {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz.join("..");
    let copy = fuzz.join("target/config-copies").join(std::process::id().to_string());
    for dir in ["config", "config/calendars", "voice-flows"] {
        std::fs::create_dir_all(copy.join(dir)).expect("a temporary folder");
        for entry in std::fs::read_dir(repo.join(dir)).expect("the shipped configuration") {
            let path = entry.expect("a folder entry").path();
            if path.is_file() {
                std::fs::copy(&path, copy.join(dir).join(path.file_name().expect("a file name"))).expect("a copy");
            }
        }
    }
    copy
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut file = "config/afterhours.toml";
    let mut env: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some(directive) = line.strip_prefix("#!") else {
            break;
        };
        match directive.trim() {
            "main" => file = "config/afterhours.toml",
            "calendar" => file = "config/calendars/us.toml",
            "flow" => file = "voice-flows/critical-incident.toml",
            "oncall" => file = "config/oncall.toml",
            other => {
                if let Some((key, value)) = other.strip_prefix("env ").and_then(|kv| kv.split_once('=')) {
                    env.push((key.trim().to_owned(), value.to_owned()));
                }
            }
        }
    }

    let path = COPY.join(file);
    let shipped = std::fs::read(&path).expect("the copied file");
    std::fs::write(&path, text.as_bytes()).expect("the fuzzed file");
    let loaded = Config::load_with_env(&COPY.join("config/afterhours.toml"), &env);
    std::fs::write(&path, shipped).expect("the copied file back");

    match loaded {
        Ok(config) => {
            let _ = config.missing_secrets();
            for line in config.lines.iter() {
                assert!(line.flow.mermaid().starts_with("flowchart TD"));
            }
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error without a problem");
            for error in &errors.0 {
                assert!(!error.to_string().is_empty(), "an empty message: {error:?}");
            }
        }
    }
});
