//! The load driver (`afterhours-load`), run briefly as `benches/load.sh` runs it: the built server on the real
//! redis-server that `scripts/test` starts (AFTERHOURS_TEST_REDIS_URL) under a key prefix of its own, the fake
//! case system and the ceiling as processes of their own. Every phase runs for a moment; every call it places
//! must end where its scenario says, and every webhook must answer 200 with valid TwiML. This checks that the
//! driver and the server agree on the whole call, not how fast either is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DRIVER: &str = env!("CARGO_BIN_EXE_afterhours-load");
const SERVER: &str = env!("CARGO_BIN_EXE_afterhours");
const TOKEN: &str = "load-test-token";

fn redis_url() -> String {
    std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server")
}

fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `afterhours-load SUBCOMMAND` on a free port and returns it with the URL it says it listens on.
fn helper_server(subcommand: &str) -> (Process, String) {
    let mut child = Command::new(DRIVER)
        .args([subcommand, "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("{subcommand} did not say where it listens: {line:?}"))
        .to_owned();
    (Process(child), url)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn afterhours(prefix: &str, (port, ops_port): (u16, u16), cases: &str) -> Command {
    let mut command = Command::new(SERVER);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AFTERHOURS_CONFIG", shipped("config/afterhours.toml"))
        .env("AFTERHOURS_PROVIDER__AUTH_TOKEN", TOKEN)
        .env("AFTERHOURS_REDIS__URL", redis_url())
        .env("AFTERHOURS_REDIS__PREFIX", prefix)
        .env("AFTERHOURS_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("AFTERHOURS_SERVER__OPS_LISTEN", format!("127.0.0.1:{ops_port}"))
        .env("AFTERHOURS_SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("AFTERHOURS_CASES__BASE_URL", cases)
        .env("AFTERHOURS_LINES__US__MODE", "always-after-hours")
        .env("AFTERHOURS_LINES__US__REQUIRE_REGISTERED_CALLER", "false")
        .env("AFTERHOURS_LOG", "error");
    command
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "afterhours serve did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `afterhours serve` on the test Redis under `prefix`, with the shipped rotation imported there first, on
/// `ports` (webhooks, operators) with `env` besides; returns once it listens.
fn serve_on_redis(prefix: &str, ports: (u16, u16), cases: &str, env: &[(&str, &str)]) -> Process {
    let imported = afterhours(prefix, ports, cases)
        .args(["rotation", "import"])
        .arg(shipped("config/oncall.toml"))
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let server = Process(
        afterhours(prefix, ports, cases)
            .envs(env.iter().copied())
            .arg("serve")
            .spawn()
            .unwrap(),
    );
    wait_for_port(ports.0);
    server
}

/// The driver's `run` against `server` on `ports` (webhooks, operators) and the `ceiling` at its URL, with
/// the test's token; the phases' own arguments are added to it.
fn driver(server: &Process, ports: (u16, u16), (ceiling, ceiling_url): (&Process, &str)) -> Command {
    let mut command = Command::new(DRIVER);
    command
        .args(["run", "--server", &format!("http://127.0.0.1:{}", ports.0)])
        .args(["--ops", &format!("http://127.0.0.1:{}", ports.1)])
        .args(["--server-pid", &server.0.id().to_string()])
        .args(["--ceiling", ceiling_url, "--ceiling-pid", &ceiling.0.id().to_string()])
        .args(["--token", TOKEN]);
    command
}

/// Runs the driver; its report and its log, once it says it saw no errors (`what` says which run failed).
fn run_driver(command: &mut Command, what: &str) -> (String, String) {
    let output = command.output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{what}the driver saw errors:\n{report}\n{log}");
    (report, log)
}

#[test]
fn every_call_the_driver_places_ends_where_its_scenario_says() {
    let prefix = format!("test:load:{}:", std::process::id());
    let (_cases, cases_url) = helper_server("cases");
    let (ceiling, ceiling_url) = helper_server("ceiling");
    let (port, ops_port) = (free_port(), free_port());
    let server = serve_on_redis(&prefix, (port, ops_port), &cases_url, &[]);

    let (report, log) = run_driver(
        driver(&server, (port, ops_port), (&ceiling, &ceiling_url))
            .args(["--calls", "60", "--ramp-ms", "50", "--think-ms", "20"])
            .args(["--seconds", "0.5", "--latency-seconds", "0.5", "--rounds", "1"])
            .args(["--connections", "8", "--only", "bridge/dialed,case lookup"])
            .args([
                "--redis",
                &redis_url(),
                "--redis-prefix",
                &prefix,
                "--cases",
                &cases_url,
            ]),
        "",
    );
    assert!(!log.contains("setup") && !log.contains("cannot remove"), "{log}");
    for section in [
        "### 60 complete calls",
        "### Maximum: complete calls",
        "### Latency at half the maximum",
        // The fake case system's own time per lookup, as it measured it, is taken out.
        "as it measured it",
        // Replayed on its own call, after that call's acceptance (its setup): it answers as a bridged call.
        "| bridge/dialed (bridged) | Redis |",
        // Replayed as fresh calls, each on a case of its own: each rings the next tier (a <Dial>, checked
        // against the template's answer), none finds its case already being rung (which leaves a message).
        "| bridge/dialed (no answer) | Redis |",
        "| case_number/digits (case lookup) | the case system, Redis |",
        "Errors: none",
    ] {
        assert!(report.contains(section), "no {section:?} in the report:\n{report}");
    }
    // Each scenario's webhooks were measured: the main path, the decline, the wrong entry and the voicemail.
    for label in [
        "| incoming |",
        "| case_number/digits (case lookup) |",
        "| case_number/digits (wrong entry) |",
        "| bridge/accept (decline) |",
        "| voicemail/recorded |",
        "| status |",
    ] {
        assert!(report.contains(label), "no latency row {label:?}:\n{report}");
    }
}

/// The `replay` phase, for a second against each store: one call replayed leaves one call-log record, on the
/// embedded store and on Redis, and the report says what the call's working record took.
#[test]
fn the_replay_phase_leaves_one_record_for_the_call_in_each_store() {
    let prefix = format!("test:load-replay:{}:", std::process::id());
    let (_cases, cases_url) = helper_server("cases");
    let (ceiling, ceiling_url) = helper_server("ceiling");
    let (ports, embedded_ports) = ((free_port(), free_port()), (free_port(), free_port()));
    let server = serve_on_redis(&prefix, ports, &cases_url, &[]);
    let embedded = Process(
        afterhours(&prefix, embedded_ports, &cases_url)
            .env_remove("AFTERHOURS_REDIS__URL")
            .arg("serve")
            .spawn()
            .unwrap(),
    );
    wait_for_port(embedded_ports.0);

    let (report, _) = run_driver(
        driver(&server, ports, (&ceiling, &ceiling_url))
            .args(["--embedded", &format!("http://127.0.0.1:{}", embedded_ports.0)])
            .args(["--embedded-ops", &format!("http://127.0.0.1:{}", embedded_ports.1)])
            .args(["--embedded-pid", &embedded.0.id().to_string()])
            .args(["--phases", "replay", "--replay-seconds", "1"])
            .args(["--connections", "8", "--redis", &redis_url(), "--redis-prefix", &prefix]),
        "",
    );
    for section in [
        "### Replay: one signed call replayed at full speed",
        "| embedded |",
        "| Redis |",
        "1 entries, 1 hash fields",
        "Errors: none",
    ] {
        assert!(report.contains(section), "no {section:?} in the report:\n{report}");
    }
}

/// The `slow` phase, briefly and small: 40 slow clients against a server that takes 16 connections, while
/// real calls come for 2 s. Every real webhook must answer 200 (the report's "Errors: none"); the report
/// says what became of the slow clients and what the server held. The counts are figures, not asserts.
#[test]
fn the_slow_phase_reports_real_calls_answered_among_slow_clients() {
    let prefix = format!("test:load-slow:{}:", std::process::id());
    let (_cases, cases_url) = helper_server("cases");
    let (ceiling, ceiling_url) = helper_server("ceiling");
    let ports = (free_port(), free_port());
    let limits = [
        ("AFTERHOURS_SERVER__MAX_CONNECTIONS", "16"),
        ("AFTERHOURS_SERVER__HEADER_TIMEOUT_SECS", "1"),
        ("AFTERHOURS_SERVER__IDLE_TIMEOUT_SECS", "2"),
    ];
    let server = serve_on_redis(&prefix, ports, &cases_url, &limits);

    let (report, _) = run_driver(
        driver(&server, ports, (&ceiling, &ceiling_url))
            .args(["--phases", "slow", "--slow-clients", "40"])
            .args(["--slow-seconds", "2", "--slow-rate", "5", "--slow-linger-seconds", "4"])
            .args(["--connections", "8", "--redis", &redis_url(), "--redis-prefix", &prefix]),
        "",
    );
    for section in [
        "### Slow clients: 40 held against the webhook listener",
        "| a request head, a byte a second, never ended |",
        "| one request, then silent on the kept-alive connection |",
        "The server's closes by its limits",
        "| real calls | webhooks sent | answered 200 | success |",
        "| server open files, most |",
        "Errors: none",
    ] {
        assert!(report.contains(section), "no {section:?} in the report:\n{report}");
    }
}

/// The `calls` phase as SignalWire, Telnyx and Plivo: the driver plays each provider against a server that
/// takes its webhooks, and every call ends where its scenario says (the whisper and the acceptance included).
#[test]
fn the_driver_plays_each_provider() {
    let seed = "0707070707070707070707070707070707070707070707070707070707070707";
    let public_key = {
        use base64::Engine;
        let key = afterhours::dialect::signing_key(&[7; 32]).verifying_key();
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
    };
    for provider in ["signalwire", "telnyx", "plivo"] {
        let prefix = format!("test:load-{provider}:{}:", std::process::id());
        let (_cases, cases_url) = helper_server("cases");
        let (ceiling, ceiling_url) = helper_server("ceiling");
        let ports = (free_port(), free_port());
        let mut env = vec![("AFTERHOURS_PROVIDER__KIND", provider)];
        match provider {
            "telnyx" => env.push(("AFTERHOURS_PROVIDER__PUBLIC_KEY", &public_key)),
            "plivo" => env.push(("AFTERHOURS_PROVIDER__VOICE", "WOMAN")),
            _ => {}
        }
        let server = serve_on_redis(&prefix, ports, &cases_url, &env);
        let (report, _) = run_driver(
            driver(&server, ports, (&ceiling, &ceiling_url))
                .args(["--provider", provider, "--telnyx-seed", seed])
                .args([
                    "--phases",
                    "calls",
                    "--calls",
                    "20",
                    "--ramp-ms",
                    "20",
                    "--think-ms",
                    "10",
                ])
                .args([
                    "--redis",
                    &redis_url(),
                    "--redis-prefix",
                    &prefix,
                    "--cases",
                    &cases_url,
                ]),
            &format!("{provider}: "),
        );
        for section in ["### 20 complete calls", "Errors: none"] {
            assert!(
                report.contains(section),
                "{provider}: no {section:?} in the report:\n{report}"
            );
        }
    }
}
