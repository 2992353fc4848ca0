//! `afterhours check`, `simulate` and `flow graph`, run as a user runs them: the built binary, a chosen
//! configuration and nothing in the environment but `PATH` and what the test sets.
//!
//! Tests that break the configuration work on a copy of the shipped `config/` and `voice-flows/` in a fresh
//! temporary folder of their own.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOKEN: (&str, &str) = ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "test-token");

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_config() -> PathBuf {
    manifest_dir().join("config/afterhours.toml")
}

/// What one run of the program did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "success: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.success, self.stdout, self.stderr
        )
    }
}

/// Runs `afterhours --config CONFIG ARGS...` with only `PATH` and `env` in its environment.
fn afterhours(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_afterhours"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A copy of the shipped `config/` and `voice-flows/` in a temporary folder, removed when dropped.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "afterhours-check-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        for dir in ["config", "voice-flows"] {
            copy_dir(&manifest_dir().join(dir), &root.join(dir));
        }
        Self { root }
    }

    /// The path of a file of the copy, e.g. `config/afterhours.toml`.
    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The 1-based line of the first line of `relative` that contains `needle`.
    fn line_of(&self, relative: &str, needle: &str) -> usize {
        let text = std::fs::read_to_string(self.path(relative)).unwrap();
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle} not in {relative}"))
    }

    fn config(&self) -> PathBuf {
        self.path("config/afterhours.toml")
    }

    /// Replaces the one occurrence of `from` in the file with `to`.
    fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "{from:?} is not in {relative} exactly once"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// `afterhours --config <the copy's afterhours.toml> check`, with the auth token set.
    fn check(&self) -> Run {
        afterhours(&self.config(), &["check"], &[TOKEN])
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Asserts that the run failed and that one `error:` line of stderr contains every part.
fn assert_error_line(run: &Run, parts: &[&str]) {
    assert!(!run.success, "expected a failure:\n{run:?}");
    assert!(
        run.stderr
            .lines()
            .any(|line| line.starts_with("error: ") && parts.iter().all(|part| line.contains(part))),
        "no error line contains all of {parts:#?}:\n{run:?}"
    );
}

// --- check ---

#[test]
fn the_shipped_config_passes_check_with_the_auth_token_set() {
    let config = shipped_config();
    let run = afterhours(&config, &["check"], &[TOKEN]);
    assert!(run.success, "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("{}: OK; lines: ", config.display())),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("us (+18005550100, America/New_York, flow critical-incident, mode auto)"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("uk (+442079460000, Europe/London, flow critical-incident, mode auto)"),
        "{run:?}"
    );
    assert_eq!(run.stderr, "", "{run:?}");
}

#[test]
fn check_without_the_auth_token_fails_naming_the_variable() {
    let run = afterhours(&shipped_config(), &["check"], &[]);
    assert_error_line(
        &run,
        &[
            "environment variable AFTERHOURS_PROVIDER__AUTH_TOKEN",
            "provider.auth_token",
            "not set",
        ],
    );
    assert_eq!(run.stdout, "", "{run:?}");
}

#[test]
fn an_empty_auth_token_counts_as_not_set() {
    let run = afterhours(&shipped_config(), &["check"], &[(TOKEN.0, "")]);
    assert_error_line(&run, &["AFTERHOURS_PROVIDER__AUTH_TOKEN", "not set"]);
}

#[test]
fn an_unknown_key_names_the_file_the_line_and_the_key() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "listen = \"127.0.0.1:8080\"",
        "listn = \"127.0.0.1:8080\"",
    );
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "listn =")
    );
    assert_error_line(&run, &[&at, "server.listn: unknown field `listn`", "`listen`"]);
}

#[test]
fn a_misspelt_time_zone_names_the_key_and_expects_an_iana_name() {
    let scratch = Scratch::new();
    scratch.edit("config/afterhours.toml", "\"America/New_York\"", "\"America/New_Yrok\"");
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "New_Yrok")
    );
    assert_error_line(
        &run,
        &[
            &at,
            "lines.us.time_zone",
            "\"America/New_Yrok\"",
            "expected an IANA name",
        ],
    );
}

#[test]
fn a_number_not_in_e164_form_names_the_key() {
    let scratch = Scratch::new();
    scratch.edit("config/afterhours.toml", "\"+18005550100\"", "\"1-800-555-0100\"");
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "1-800-555-0100")
    );
    assert_error_line(&run, &[&at, "lines.us.number", "\"1-800-555-0100\"", "expected E.164"]);
}

#[test]
fn a_missing_flow_file_and_a_missing_calendar_are_both_reported_in_one_run() {
    let scratch = Scratch::new();
    scratch.edit("config/afterhours.toml", "calendar = \"us\"", "calendar = \"mars\"");
    scratch.edit(
        "config/afterhours.toml",
        "flow = \"critical-incident\"\nescalation_policy = \"default\"\nmode = \"auto\"",
        "flow = \"lost-flow\"\nescalation_policy = \"default\"\nmode = \"auto\"",
    );
    let run = scratch.check();
    let calendar = scratch.path("config/calendars/mars.toml");
    let flow = scratch.path("config/../voice-flows/lost-flow.toml");
    assert_error_line(&run, &[&format!("{}: cannot read the file", calendar.display())]);
    assert_error_line(&run, &[&format!("{}: cannot read the file", flow.display())]);
    assert_eq!(run.stderr.lines().count(), 2, "{run:?}");
}

#[test]
fn a_flow_whose_outcome_leads_nowhere_names_the_flow_file_line_and_key() {
    let scratch = Scratch::new();
    scratch.edit(
        "voice-flows/critical-incident.toml",
        "next = \"hours\"",
        "next = \"hourz\"",
    );
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.path("config/../voice-flows/critical-incident.toml").display(),
        scratch.line_of("voice-flows/critical-incident.toml", "[steps.greeting]")
    );
    assert_error_line(&run, &[&at, "steps.greeting.next", "leads to unknown step \"hourz\""]);
    // Both lines use the flow; it is loaded, and reported, once.
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
}

#[test]
fn the_auth_token_written_in_the_file_is_refused() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "kind = \"twilio\"",
        "kind = \"twilio\"\nauth_token = \"0123456789abcdef\"",
    );
    let run = scratch.check();
    assert_error_line(
        &run,
        &[
            &scratch.config().display().to_string(),
            "provider.auth_token",
            "read from the environment only",
            "AFTERHOURS_PROVIDER__AUTH_TOKEN",
        ],
    );
    assert!(
        !run.stderr.contains("0123456789abcdef"),
        "the secret is echoed:\n{run:?}"
    );
}

#[test]
fn a_wrong_value_from_the_environment_names_the_variable() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_LINES__US__MODE", "sometimes")],
    );
    assert_error_line(
        &run,
        &[
            "environment variable AFTERHOURS_LINES__US__MODE: ",
            "lines.us.mode",
            "sometimes",
        ],
    );
}

#[test]
fn an_override_from_the_environment_shows_in_checks_output() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_LINES__US__MODE", "always-after-hours")],
    );
    assert!(run.success, "{run:?}");
    assert!(
        run.stdout
            .contains("us (+18005550100, America/New_York, flow critical-incident, mode always-after-hours)"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("uk (+442079460000, Europe/London, flow critical-incident, mode auto)"),
        "{run:?}"
    );
}

#[test]
fn turning_signature_checks_off_passes_with_a_warning() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "validate_signatures = true",
        "validate_signatures = false",
    );
    // No token: without signature checks it is not needed.
    let run = afterhours(&scratch.config(), &["check"], &[]);
    assert!(run.success, "{run:?}");
    assert!(run.stdout.contains(": OK; lines: "), "{run:?}");
    assert!(
        run.stderr
            .starts_with("warning: provider.validate_signatures is false: webhooks are NOT checked"),
        "{run:?}"
    );
}

#[test]
fn turning_signature_checks_off_on_a_public_listener_is_refused() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "validate_signatures = true",
        "validate_signatures = false",
    );
    let public = [("AFTERHOURS_SERVER__LISTEN", "0.0.0.0:8080")];

    let run = afterhours(&scratch.config(), &["check"], &public);
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr.contains("provider.validate_signatures: false is refused while server.listen (0.0.0.0:8080) is not a loopback address"),
        "{run:?}"
    );

    // `serve` refuses the same way, before it binds anything.
    let run = afterhours(&scratch.config(), &["serve"], &public);
    assert!(!run.success, "{run:?}");
    assert!(run.stderr.contains("is not a loopback address"), "{run:?}");
}

#[test]
fn an_operators_listener_off_loopback_passes_with_a_warning() {
    let private = [TOKEN, ("AFTERHOURS_SERVER__OPS_LISTEN", "10.1.2.3:9090")];
    let run = afterhours(&shipped_config(), &["check"], &private);
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: server.ops_listen (10.1.2.3:9090) is not a loopback address: /admin, /metrics"),
        "{run:?}"
    );
}

#[test]
fn a_connection_cap_above_the_open_file_limit_is_warned_about() {
    // `ulimit` in a shell that then runs the program, as a service manager's limit would.
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 512 && exec \"$0\" --config \"$1\" check")
        .arg(env!("CARGO_BIN_EXE_afterhours"))
        .arg(shipped_config())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(TOKEN.0, TOKEN.1)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: server.max_connections (768) plus about 128 other descriptors exceed this process's open-file limit (512)"),
        "{stderr}"
    );
}

#[test]
fn an_operators_listener_on_the_webhook_port_is_refused() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_SERVER__OPS_LISTEN", "0.0.0.0:8080")],
    );
    assert_error_line(
        &run,
        &["server.ops_listen: 0.0.0.0:8080 takes the port of server.listen (127.0.0.1:8080)"],
    );
}

#[test]
fn a_connection_limit_out_of_range_names_the_line_and_the_key() {
    let scratch = Scratch::new();
    scratch.edit("config/afterhours.toml", "max_connections = 768", "max_connections = 0");
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "max_connections = 0")
    );
    assert_error_line(
        &run,
        &[&at, "server.max_connections: 0 is out of range: expected 1 to 1000000"],
    );
}

#[test]
fn a_calendar_with_bad_hours_names_the_calendar_file_and_the_day() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/calendars/us.toml",
        "monday = \"09:00-18:00\"",
        "monday = \"9 to 6\"",
    );
    let run = scratch.check();
    let at = format!("{}:4: ", scratch.path("config/calendars/us.toml").display());
    assert_error_line(&run, &[&at, "hours.monday", "invalid opening hours \"9 to 6\""]);
}

#[test]
fn a_case_timeout_out_of_range_names_the_line_and_the_key() {
    let scratch = Scratch::new();
    scratch.edit("config/afterhours.toml", "timeout_ms = 2500", "timeout_ms = 20000");
    let run = scratch.check();
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "timeout_ms = 20000")
    );
    assert_error_line(
        &run,
        &[&at, "cases.timeout_ms: 20000 is out of range: expected 100 to 10000"],
    );
}

#[test]
fn a_case_timeout_out_of_range_from_the_environment_names_the_variable() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TIMEOUT_MS", "5")],
    );
    assert_error_line(
        &run,
        &[
            "environment variable AFTERHOURS_CASES__TIMEOUT_MS: ",
            "cases.timeout_ms: 5 is out of range: expected 100 to 10000",
        ],
    );
}

#[test]
fn a_zendesk_section_without_the_agents_email_names_the_line_and_the_key() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "adapter = \"http-json\"",
        "adapter = \"zendesk\"",
    );
    scratch.edit(
        "config/afterhours.toml",
        "# [cases.zendesk]\n# email = \"oncall-bot@example.com\"\n# environment_field",
        "[cases.zendesk]\nenvironment_field",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TOKEN", "zd-token")],
    );
    // The header, not the comment above that names it.
    let text = std::fs::read_to_string(scratch.config()).unwrap();
    let header = text.lines().position(|l| l == "[cases.zendesk]").unwrap() + 1;
    let at = format!("{}:{header}: ", scratch.config().display());
    assert_error_line(&run, &[&at, "cases.zendesk: missing field `email`"]);

    scratch.edit(
        "config/afterhours.toml",
        "[cases.zendesk]\n",
        "[cases.zendesk]\nemail = \" \"\n",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TOKEN", "zd-token")],
    );
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "email = \" \"")
    );
    assert_error_line(
        &run,
        &[&at, "cases.zendesk.email: empty: expected the email of the agent"],
    );
}

#[test]
fn the_zendesk_adapter_without_its_section_names_the_key() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "adapter = \"http-json\"",
        "adapter = \"zendesk\"",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TOKEN", "zd-token")],
    );
    // No line: the key the rule is about is not written.
    let at = format!("{}: ", scratch.config().display());
    assert_error_line(
        &run,
        &[
            &at,
            "cases.zendesk: missing: adapter \"zendesk\" needs a [cases.zendesk] section",
        ],
    );
}

#[test]
fn a_path_in_a_zendesk_base_url_is_refused_naming_the_line_and_the_key() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "adapter = \"http-json\"\nbase_url = \"http://127.0.0.1:8091\"",
        "adapter = \"zendesk\"\nbase_url = \"https://acme.zendesk.com/api/v2/\"",
    );
    scratch.edit(
        "config/afterhours.toml",
        "# [cases.zendesk]\n# email = \"oncall-bot@example.com\"\n# environment_field",
        "[cases.zendesk]\nemail = \"oncall-bot@example.com\"\nenvironment_field",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TOKEN", "zd-token")],
    );
    let at = format!(
        "{}:{}: ",
        scratch.config().display(),
        scratch.line_of(
            "config/afterhours.toml",
            "base_url = \"https://acme.zendesk.com/api/v2/\""
        )
    );
    assert_error_line(
        &run,
        &[
            &at,
            "cases.base_url: a path (\"/api/v2\") is refused for adapter \"zendesk\"",
            "https://SUBDOMAIN.zendesk.com",
        ],
    );

    // Set through the environment instead, the error names the variable, not the file's line.
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[
            TOKEN,
            ("AFTERHOURS_CASES__TOKEN", "zd-token"),
            ("AFTERHOURS_CASES__BASE_URL", "https://acme.zendesk.com/api/v2"),
        ],
    );
    assert_error_line(
        &run,
        &["environment variable AFTERHOURS_CASES__BASE_URL: cases.base_url: a path (\"/api/v2\") is refused"],
    );

    scratch.edit(
        "config/afterhours.toml",
        "base_url = \"https://acme.zendesk.com/api/v2/\"",
        "base_url = \"https://acme.zendesk.com/\"",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_CASES__TOKEN", "zd-token")],
    );
    assert!(run.success, "{run:?}");
}

// --- simulate ---

fn simulate(to: &str, at: &str, digits: &[&str]) -> Run {
    simulate_with(to, at, digits, &[])
}

fn simulate_with(to: &str, at: &str, digits: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["simulate", "--to", to, "--from", "+15551234567", "--at", at];
    for d in digits {
        args.extend(["--digits", d]);
    }
    args.extend(extra);
    let run = afterhours(&shipped_config(), &args, &[]);
    assert!(run.success, "{run:?}");
    run
}

/// The lines of the walk that start with `say`, without the prefix.
fn said(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("say"))
        .map(str::trim_start)
        .collect()
}

#[test]
fn a_friday_night_call_gathers_the_case_number_and_gives_the_deadline() {
    let case_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cases.example.json");
    let run = simulate_with(
        "+18005550100",
        "2026-11-27T20:00:00-05:00",
        &["222222#"],
        &["--case-file", case_file.to_str().unwrap()],
    );
    let said = said(&run);
    assert_eq!(said.len(), 3, "{run:?}");
    assert!(said[0].contains("North America"), "{run:?}");
    assert!(said[0].contains("English only"), "{run:?}");
    assert!(
        run.stdout
            .contains("business hours: closed at Friday, November 27, 8 PM Eastern time (mode auto)"),
        "{run:?}"
    );
    assert!(said[1].contains("please enter your case number"), "{run:?}");
    assert!(run.stdout.contains("caller  presses 222222#"), "{run:?}");
    assert!(
        said[2].starts_with("Case 2 2 2 2 2 2 is not marked as critical."),
        "{run:?}"
    );
    assert!(
        said[2].contains("you will hear from us by Monday, November 30, 6 PM Eastern time"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("  note    case 222222 (not sent by simulate): "),
        "{run:?}"
    );
    assert_eq!(run.stdout.lines().last(), Some("  hangup"), "{run:?}");
}

#[test]
fn a_verified_case_from_the_case_file_is_read_back_with_its_customer() {
    let case_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cases.example.json");
    let run = simulate_with(
        "+18005550100",
        "2026-11-27T20:00:00-05:00",
        &["999#", "123456#"],
        &["--case-file", case_file.to_str().unwrap()],
    );
    // The shipped line requires a registered caller: a case that does not exist is not the caller's.
    assert!(
        run.stdout
            .contains("this phone number cannot be helped with case 9 9 9."),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("Case 1 2 3 4 5 6 for ACME Corp is a critical incident in production."),
        "{run:?}"
    );
}

#[test]
fn a_weekday_morning_call_hears_the_business_hours() {
    let run = simulate("+18005550100", "2026-11-24T10:00:00-05:00", &[]);
    assert!(
        run.stdout
            .contains("business hours: open at Tuesday, November 24, 10 AM Eastern time (mode auto)"),
        "{run:?}"
    );
    let said = said(&run);
    assert_eq!(said.len(), 2, "{run:?}");
    assert!(
        said[1].contains("Our business hours are Monday to Friday, 9 AM to 6 PM Eastern time."),
        "{run:?}"
    );
    assert!(!run.stdout.contains("case number"), "{run:?}");
    assert_eq!(run.stdout.lines().last(), Some("  hangup"), "{run:?}");
}

#[test]
fn a_number_no_line_answers_goes_to_the_default_line() {
    let run = simulate("+19995550000", "2026-11-24T10:00:00-05:00", &[]);
    assert!(
        run.stdout.starts_with("call from +*******4567 to +19995550000 at "),
        "{run:?}"
    );
    assert!(said(&run)[0].contains("Thank you for calling North America"), "{run:?}");
    assert!(run.stdout.contains("Eastern time"), "{run:?}");
    assert_eq!(run.stdout.lines().last(), Some("  hangup"), "{run:?}");
}

#[test]
fn the_uk_number_reaches_the_uk_line_in_its_own_time_zone() {
    // 10:00 in New York is 15:00 in London: still open there.
    let run = simulate("+442079460000", "2026-11-24T10:00:00-05:00", &[]);
    assert!(
        said(&run)[0].contains("Thank you for calling United Kingdom"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("business hours: open at Tuesday, November 24, 3 PM"),
        "{run:?}"
    );
}

// --- flow graph ---

#[test]
fn flow_graph_prints_the_flow_as_a_mermaid_flowchart() {
    let run = afterhours(&shipped_config(), &["flow", "graph", "critical-incident"], &[]);
    assert!(run.success, "{run:?}");
    assert!(run.stdout.starts_with("flowchart TD\n"), "{run:?}");
    assert!(run.stdout.contains("\n    s_hours -->|closed| s_status\n"), "{run:?}");
    assert!(run.stdout.contains("\n    s_hours -->|open| s_daytime\n"), "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
}

#[test]
fn flow_graph_of_a_broken_flow_prints_its_errors() {
    let scratch = Scratch::new();
    scratch.edit(
        "voice-flows/critical-incident.toml",
        "next = \"hours\"",
        "next = \"hourz\"",
    );
    let run = afterhours(&scratch.config(), &["flow", "graph", "critical-incident"], &[]);
    let at = format!(
        "critical-incident.toml:{}: ",
        scratch.line_of("voice-flows/critical-incident.toml", "[steps.greeting]")
    );
    assert_error_line(&run, &[&at, "steps.greeting.next", "\"hourz\""]);
    assert_eq!(run.stdout, "", "{run:?}");
}

/// The README's first command, `cargo run --release -- serve`: with the load driver beside it, the package has
/// two binaries, and `cargo run` must know which one is the service.
#[test]
fn cargo_run_runs_the_service() {
    let manifest: toml::Table = std::fs::read_to_string(manifest_dir().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(manifest["package"]["default-run"].as_str(), Some("afterhours"));
}

/// Redis that answers without the lines' on-call data (restarted without persistence, flushed) fails
/// `check`, which names what is missing and how to write it back.
#[test]
fn check_fails_when_redis_answers_without_the_lines_policy_or_its_rotations() {
    let url = std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server");
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!(
        "check-lost-{}-{}:",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    );
    let env = [
        TOKEN,
        ("AFTERHOURS_REDIS__URL", url.as_str()),
        ("AFTERHOURS_REDIS__PREFIX", prefix.as_str()),
    ];
    let config = shipped_config();

    let empty = afterhours(&config, &["check"], &env);
    assert!(!empty.success, "{empty:?}");
    assert!(
        empty
            .stderr
            .contains("line us: escalation policy \"default\" is not in Redis"),
        "{empty:?}"
    );
    assert!(empty.stderr.contains("restarted without persistence"), "{empty:?}");
    assert!(empty.stderr.contains("afterhours rotation import FILE"), "{empty:?}");

    let oncall = manifest_dir().join("config/oncall.toml");
    let imported = afterhours(&config, &["rotation", "import", oncall.to_str().unwrap()], &env);
    assert!(imported.success, "{imported:?}");
    let whole = afterhours(&config, &["check"], &env);
    assert!(whole.success, "{whole:?}");

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}rotation:{{secondary}}"))
        .query(&mut connection)
        .unwrap();
    let lost = afterhours(&config, &["check"], &env);
    assert!(!lost.success, "{lost:?}");
    assert!(
        lost.stderr
            .contains("escalation policy \"default\" rings rotation \"secondary\", which is not in Redis"),
        "{lost:?}"
    );
}

/// An alert target's secret is read from the environment only: without it `check` fails and names the
/// variable; written into the file, it is refused with its line.
#[test]
fn check_fails_on_an_alert_target_without_its_secret_or_with_it_in_the_file() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "[paths]",
        "[alerts.night-pager]\nkind = \"pagerduty\"\n\n[paths]",
    );
    let without = afterhours(&scratch.config(), &["check"], &[TOKEN]);
    assert_error_line(
        &without,
        &[
            "AFTERHOURS_ALERTS__NIGHT_PAGER__SECRET",
            "alerts.night-pager.secret",
            "routing key",
        ],
    );
    let with = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_ALERTS__NIGHT_PAGER__SECRET", "R0UT1NG")],
    );
    assert!(with.success, "{with:?}");
    assert!(
        !with.stdout.contains("R0UT1NG") && !with.stderr.contains("R0UT1NG"),
        "{with:?}"
    );

    scratch.edit(
        "config/afterhours.toml",
        "kind = \"pagerduty\"",
        "kind = \"pagerduty\"\nsecret = \"R0UT1NG\"",
    );
    let in_file = afterhours(&scratch.config(), &["check"], &[TOKEN]);
    assert_error_line(
        &in_file,
        &[
            "alerts.night-pager.secret",
            "environment only",
            "AFTERHOURS_ALERTS__NIGHT_PAGER__SECRET",
        ],
    );
}

/// An alert target for a line that does not exist is refused with the target's key.
#[test]
fn check_fails_on_an_alert_target_for_an_unknown_line() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "[paths]",
        "[alerts.relay]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/a\"\nlines = [\"eu\"]\n\n[paths]",
    );
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_ALERTS__RELAY__SECRET", "s")],
    );
    assert_error_line(&run, &["alerts.relay.lines", "no line \"eu\"", "uk, us"]);
}

#[test]
fn a_password_in_the_redis_url_is_refused_naming_file_line_and_variable() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "# url = \"redis://127.0.0.1:6379/0\"",
        "url = \"redis://:hunter2-in-the-file@127.0.0.1:6379/0\"",
    );
    let at = format!(
        "{}:{}",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "hunter2-in-the-file")
    );
    for command in ["check", "serve"] {
        let run = afterhours(&scratch.config(), &[command], &[TOKEN]);
        assert_error_line(&run, &[&at, "redis.url", "password", "AFTERHOURS_REDIS__PASSWORD"]);
        assert!(
            !run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"),
            "the password is echoed:\n{run:?}"
        );
    }
}

#[test]
fn a_password_in_a_redis_url_from_the_environment_names_the_variable() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[
            TOKEN,
            (
                "AFTERHOURS_REDIS__CLUSTER",
                "[\"redis://default:hunter2@10.0.0.1:7000\"]",
            ),
        ],
    );
    assert_error_line(
        &run,
        &[
            "AFTERHOURS_REDIS__CLUSTER",
            "redis.cluster",
            "AFTERHOURS_REDIS__PASSWORD",
        ],
    );
    assert!(!run.stderr.contains("hunter2"), "the password is echoed:\n{run:?}");
}

#[test]
fn the_redis_password_written_in_the_file_is_refused() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "# url = \"redis://127.0.0.1:6379/0\"",
        "password = \"hunter2\"",
    );
    let run = scratch.check();
    assert_error_line(
        &run,
        &[
            "redis.password",
            "read from the environment only",
            "AFTERHOURS_REDIS__PASSWORD",
        ],
    );
    assert!(!run.stderr.contains("hunter2"), "the password is echoed:\n{run:?}");
}

#[test]
fn one_redis_a_sentinel_set_and_a_cluster_are_not_named_together() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "# url = \"redis://127.0.0.1:6379/0\"",
        "url = \"redis://127.0.0.1:6379/0\"\ncluster = [\"redis://127.0.0.1:7000\"]",
    );
    let run = scratch.check();
    let at = format!(
        "{}:{}",
        scratch.config().display(),
        scratch.line_of("config/afterhours.toml", "[redis]")
    );
    assert_error_line(
        &run,
        &[&at, "redis", "url and cluster are set together", "set one of them"],
    );
}

#[test]
fn a_guess_limit_of_zero_from_the_environment_names_the_variable() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_LIMITS__GUESSES_PER_WINDOW", "0")],
    );
    assert_error_line(
        &run,
        &[
            "environment variable AFTERHOURS_LIMITS__GUESSES_PER_WINDOW: ",
            "limits.guesses_per_window: 0 is out of range: expected 1 to 1000",
        ],
    );
}

/// A prompt that promises a call-back is refused on a line no alert target covers, with the flow file, the
/// step's line and key; an alert target for the line makes it valid.
#[test]
fn a_call_back_promise_needs_an_alert_target_for_the_line() {
    let scratch = Scratch::new();
    scratch.edit(
        "voice-flows/critical-incident.toml",
        "text = \"We did not get a message. Case {case_number} stays open, and you will hear from us by {deadline} at the latest. Goodbye.\"",
        "text = \"We did not get a message. An engineer will call you back about case {case_number}. Goodbye.\"",
    );
    let at = format!(
        "critical-incident.toml:{}: ",
        scratch.line_of("voice-flows/critical-incident.toml", "[steps.no_message]")
    );
    let run = afterhours(&scratch.config(), &["check"], &[TOKEN]);
    assert_error_line(
        &run,
        &[
            &at,
            "steps.no_message.text",
            "call-back",
            "line uk, us",
            "[alerts.NAME]",
        ],
    );

    let alerted = afterhours(
        &scratch.config(),
        &["check"],
        &[
            TOKEN,
            ("AFTERHOURS_ALERTS__PAGER__KIND", "pagerduty"),
            ("AFTERHOURS_ALERTS__PAGER__SECRET", "R0UT1NG"),
        ],
    );
    assert!(alerted.success, "{alerted:?}");
}

// --- rotations that follow an outside calendar ---

/// A calendar server on a free local port that answers every request with `body`: its URL.
fn calendar_server(body: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/calendar\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/schedules/primary.ics")
}

/// Bob every other week and someone the rotation file does not know in between, weekly from January.
const TWO_WEEK_CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Grafana Labs//Grafana On-Call//\r\n\
BEGIN:VEVENT\r\nUID:bob\r\nDTSTART;TZID=America/New_York:20260105T100000\r\n\
DTEND;TZID=America/New_York:20260112T100000\r\nRRULE:FREQ=WEEKLY;INTERVAL=2\r\n\
SUMMARY:Bob Okafor\r\nATTENDEE:mailto:bob.okafor@example.com\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:zed\r\nDTSTART;TZID=America/New_York:20260112T100000\r\n\
DTEND;TZID=America/New_York:20260119T100000\r\nRRULE:FREQ=WEEKLY;INTERVAL=2\r\n\
SUMMARY:Zed Unknown\r\nATTENDEE:mailto:zed@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// `check` fetches a rotation's outside calendar (without Redis, into the embedded store) and warns of each
/// event that matches no engineer, which is never rung; the configuration still passes.
#[test]
fn check_reports_the_events_of_an_outside_calendar_that_match_no_engineer() {
    let scratch = Scratch::new();
    let url = calendar_server(TWO_WEEK_CALENDAR);
    scratch.edit(
        "config/oncall.toml",
        "participants = [\"alice\", \"bob\", \"carol\"]",
        &format!("source = \"{url}\"\nrefresh_secs = 300"),
    );
    let run = scratch.check();
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr.lines().any(
            |l| l.starts_with("warning: rotation primary: the event \"Zed Unknown\"")
                && l.contains("attendees zed@example.com")
                && l.contains("matches no engineer")
        ),
        "{run:?}"
    );
    assert!(!run.stderr.contains("Bob Okafor"), "{run:?}");
}

/// An outside calendar that cannot be fetched is a warning naming the failure, not the URL's secret.
#[test]
fn check_warns_of_an_outside_calendar_that_cannot_be_fetched() {
    let scratch = Scratch::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    scratch.edit(
        "config/oncall.toml",
        "participants = [\"alice\", \"bob\", \"carol\"]",
        &format!("source = \"http://{closed}/feed.ics?token=s3cret\""),
    );
    let run = scratch.check();
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: rotation primary: its outside calendar fails (fetching the calendar failed"),
        "{run:?}"
    );
    assert!(run.stderr.contains("nobody is on call in it"), "{run:?}");
    assert!(!run.stderr.contains("s3cret"), "{run:?}");
}

// --- providers ---

#[test]
fn each_provider_passes_check_with_its_key() {
    let telnyx_key = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=";
    for env in [
        vec![TOKEN, ("AFTERHOURS_PROVIDER__KIND", "signalwire")],
        vec![
            ("AFTERHOURS_PROVIDER__KIND", "telnyx"),
            ("AFTERHOURS_PROVIDER__PUBLIC_KEY", telnyx_key),
        ],
        vec![
            TOKEN,
            ("AFTERHOURS_PROVIDER__KIND", "plivo"),
            ("AFTERHOURS_PROVIDER__VOICE", "WOMAN"),
        ],
    ] {
        let run = afterhours(&shipped_config(), &["check"], &env);
        assert!(run.success, "{env:?}: {run:?}");
    }
}

#[test]
fn telnyx_without_its_public_key_fails_naming_the_key() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[("AFTERHOURS_PROVIDER__KIND", "telnyx")],
    );
    assert_error_line(&run, &["provider.public_key", "missing", "Ed25519"]);
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[
            ("AFTERHOURS_PROVIDER__KIND", "telnyx"),
            ("AFTERHOURS_PROVIDER__PUBLIC_KEY", "bm90IGEga2V5"),
        ],
    );
    assert_error_line(
        &run,
        &[
            "AFTERHOURS_PROVIDER__PUBLIC_KEY",
            "provider.public_key",
            "invalid public key",
        ],
    );
}

#[test]
fn plivo_without_its_auth_token_fails_naming_the_variable() {
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[
            ("AFTERHOURS_PROVIDER__KIND", "plivo"),
            ("AFTERHOURS_PROVIDER__VOICE", "WOMAN"),
        ],
    );
    assert_error_line(&run, &["AFTERHOURS_PROVIDER__AUTH_TOKEN", "not set", "plivo"]);
}

#[test]
fn a_voice_the_provider_does_not_have_is_refused_naming_the_key() {
    // alice is Twilio's and Telnyx's, not Plivo's; Telnyx's man speaks en-US only.
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[
            TOKEN,
            ("AFTERHOURS_PROVIDER__KIND", "plivo"),
            ("AFTERHOURS_PROVIDER__VOICE", "alice"),
        ],
    );
    assert_error_line(&run, &["provider.voice", "not a plivo voice", "WOMAN"]);
    let run = afterhours(
        &shipped_config(),
        &["check"],
        &[
            ("AFTERHOURS_PROVIDER__KIND", "telnyx"),
            (
                "AFTERHOURS_PROVIDER__PUBLIC_KEY",
                "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
            ),
            ("AFTERHOURS_PROVIDER__VOICE", "man"),
            ("AFTERHOURS_PROVIDER__LANGUAGE", "en-GB"),
        ],
    );
    assert_error_line(&run, &["provider.voice", "en-US only"]);
}

#[test]
fn sign_signs_as_each_provider() {
    let url = "https://voice.example.com/voice/incoming";
    let params = [("CallUUID", "u-1"), ("From", "15551234567")];
    let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut args = vec!["sign", "--url", url, "--provider", "plivo", "--nonce", "42"];
    args.extend(["CallUUID=u-1", "From=15551234567"]);
    let run = afterhours(&shipped_config(), &args, &[TOKEN]);
    assert!(run.success, "{run:?}");
    let signature = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("X-Plivo-Signature-V3: "))
        .unwrap();
    assert!(afterhours::signature::plivo::is_valid(
        TOKEN.1.as_bytes(),
        url,
        &pairs,
        "42",
        signature
    ));
    assert!(run.stdout.contains("X-Plivo-Signature-V3-Nonce: 42\n"), "{run:?}");

    let seed = "0101010101010101010101010101010101010101010101010101010101010101";
    let args = [
        "sign",
        "--url",
        url,
        "--provider",
        "telnyx",
        "--timestamp",
        "1795898400",
        "--seed",
        seed,
        "A=1",
    ];
    let run = afterhours(&shipped_config(), &args, &[]);
    assert!(run.success, "{run:?}");
    let signature = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("telnyx-signature-ed25519: "))
        .unwrap();
    let public = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key (provider.public_key): "))
        .unwrap();
    let key = afterhours::signature::telnyx::public_key(public).unwrap();
    assert_eq!(
        afterhours::signature::telnyx::verify(&key, "1795898400", b"A=1", signature, 1795898400),
        Ok(())
    );

    let run = afterhours(
        &shipped_config(),
        &["sign", "--url", url, "--provider", "signalwire", "A=1"],
        &[TOKEN],
    );
    assert!(run.stdout.starts_with("X-SignalWire-Signature: "), "{run:?}");
}

#[test]
fn simulate_plays_plivo_with_its_fields_and_xml() {
    let case_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/cases.example.json");
    let run = afterhours(
        &shipped_config(),
        &[
            "simulate",
            "--to",
            "+18005550100",
            "--from",
            "+15551234567",
            "--at",
            "2026-11-27T20:00:00-05:00",
            "--digits",
            "222222#",
            "--case-file",
            case_file.to_str().unwrap(),
            "--provider",
            "plivo",
            "--xml",
        ],
        &[("AFTERHOURS_PROVIDER__VOICE", "WOMAN")],
    );
    assert!(run.success, "{run:?}");
    assert!(run.stdout.contains("<GetDigits action=\"http"), "{run:?}");
    assert!(
        run.stdout.contains("<Speak voice=\"WOMAN\" language=\"en-US\">"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("<Say"), "{run:?}");
    assert!(run.stdout.contains("please enter your case number"), "{run:?}");
}

#[test]
fn text_message_alerts_are_refused_on_a_provider_other_than_twilio() {
    let scratch = Scratch::new();
    scratch.edit(
        "config/afterhours.toml",
        "[lines.us]",
        "[alerts.texts]\nkind = \"sms\"\n\n[lines.us]",
    );
    assert!(scratch.check().success, "{:?}", scratch.check());
    let run = afterhours(
        &scratch.config(),
        &["check"],
        &[TOKEN, ("AFTERHOURS_PROVIDER__KIND", "signalwire")],
    );
    assert_error_line(&run, &["alerts.texts.kind", "Twilio's Messages API", "signalwire"]);
}
