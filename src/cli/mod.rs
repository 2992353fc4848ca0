//! The command line: `serve`, `check`, `simulate`, `flow graph`, `sign`, and the on-call commands
//! (`oncall`, `rotation`, `override`) in its `oncall` module, and `feed` (calendar feed tokens) in `feeds`.

/// `println!` for the commands' output, minus its panic when the reader has gone (`afterhours calls | head`):
/// the command then stops quietly, as Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!`, the same way as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod feeds;
mod oncall;
mod simulate;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::assembly::AppState;
use crate::assembly::{Config, DEFAULT_PATH};
use crate::cases::CaseSystem;
use crate::cases::file::FileCases;
use crate::clock::{Clock, FixedClock, SystemClock};
use crate::flow::Flow;
use crate::http::server::Application;
use crate::settings::{ConfigErrors, ProviderKind};

#[derive(Debug, Parser)]
#[command(
    name = "afterhours",
    version,
    about = "After-hours critical-incident phone line (Twilio webhooks)"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "AFTERHOURS_CONFIG", default_value = DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The server logs what it does; the other commands keep the terminal for their own output.
    pub fn default_log_level(&self) -> Option<&'static str> {
        match self.command {
            Command::Serve => None,
            _ => Some("warn"),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook server.
    Serve,
    /// Validate the configuration, calendars and voice flows; exit non-zero on problems.
    Check,
    /// Walk a call through its flow in the terminal, without a provider.
    Simulate(SimulateArgs),
    /// Voice flow tools.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Who is on call: the whole escalation chain of a line (or of every line), now or at a given time.
    Oncall(oncall::OncallArgs),
    /// The call log, newest first.
    Calls(oncall::CallsArgs),
    /// Rotations in the store: import a rotation file, export the store as one.
    Rotation {
        #[command(subcommand)]
        command: oncall::RotationCommand,
    },
    /// Overrides: someone else on call in a rotation for a while.
    Override {
        #[command(subcommand)]
        command: oncall::OverrideCommand,
    },
    /// Calendar feeds of shifts: issue a feed's URL token, list the feeds, revoke one.
    Feed {
        #[command(subcommand)]
        command: feeds::FeedCommand,
    },
    /// Print the signature of a request, as the provider signs it: Twilio's X-Twilio-Signature alone; the
    /// other providers' headers as `Name: value` lines. Twilio, SignalWire and Plivo sign with
    /// AFTERHOURS_PROVIDER__AUTH_TOKEN; Telnyx with a private key of the test's own (--seed).
    Sign(SignArgs),
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The full URL, as the provider requests it.
    #[arg(long)]
    url: String,
    /// twilio, signalwire, telnyx or plivo; provider.kind of the configuration when absent.
    #[arg(long, value_parser = parse_provider)]
    provider: Option<ProviderKind>,
    /// Plivo: the nonce (X-Plivo-Signature-V3-Nonce); the current time in nanoseconds when absent.
    #[arg(long)]
    nonce: Option<String>,
    /// Telnyx: the Unix time signed (telnyx-timestamp); now when absent.
    #[arg(long)]
    timestamp: Option<i64>,
    /// Telnyx: the 32-byte seed of the Ed25519 key, as 64 hex digits (a key of the test's own: its public
    /// key, printed too, goes in provider.public_key).
    #[arg(long)]
    seed: Option<String>,
    /// POST parameters as NAME=VALUE.
    params: Vec<String>,
}

/// `--provider`: one of the names `provider.kind` takes.
fn parse_provider(name: &str) -> Result<ProviderKind, String> {
    ProviderKind::parse(name).ok_or_else(|| format!("unknown provider {name:?}: twilio, signalwire, telnyx or plivo"))
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// The dialled number (the line).
    #[arg(long)]
    to: String,
    /// The caller's number.
    #[arg(long)]
    from: String,
    /// When the call happens (RFC 3339, e.g. 2026-11-27T20:00:00-05:00); now when absent.
    #[arg(long)]
    at: Option<DateTime<chrono::FixedOffset>>,
    /// What the caller presses at each prompt, in order (e.g. 123456#); repeat for later prompts.
    #[arg(long)]
    digits: Vec<String>,
    /// At each dial, the engineer (id) who answers and accepts, or `none`; repeat for later tiers. Nobody
    /// answers once they run out.
    #[arg(long = "answer")]
    answers: Vec<String>,
    /// Answer case lookups from this JSON file (one case, or a list matched by `id`) instead of the case
    /// system in the configuration.
    #[arg(long)]
    case_file: Option<PathBuf>,
    /// Play this provider (twilio, signalwire, telnyx, plivo): its webhook fields and its voice XML;
    /// provider.kind of the configuration when absent.
    #[arg(long, value_parser = parse_provider)]
    provider: Option<ProviderKind>,
    /// Print each answer as the provider's voice XML too.
    #[arg(long)]
    xml: bool,
}

#[derive(Debug, Subcommand)]
enum FlowCommand {
    /// Print a flow as a Mermaid flowchart: NAME under the flows folder, or a path to a .toml file.
    Graph { name: String },
}

/// How long `serve` waits, once stopped, for case notes still being sent.
const NOTES_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// How long `serve` waits, once stopped, for the call log's last writes.
const CALL_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve => serve(&cli.config).await,
        Command::Check => check(&cli.config).await,
        Command::Simulate(args) => simulate(&cli.config, args).await,
        Command::Flow {
            command: FlowCommand::Graph { name },
        } => flow_graph(&cli.config, &name),
        Command::Sign(args) => sign(&cli.config, &args),
        Command::Oncall(args) => oncall::oncall(&cli.config, args).await,
        Command::Calls(args) => oncall::calls(&cli.config, args).await,
        Command::Rotation { command } => oncall::rotation(&cli.config, command).await,
        Command::Override { command } => oncall::override_command(&cli.config, command).await,
        Command::Feed { command } => feeds::feed(&cli.config, command).await,
    }
}

fn print_errors(errors: &ConfigErrors) {
    for error in &errors.0 {
        eprintln!("error: {error}");
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|errors| {
        print_errors(&errors);
        ExitCode::FAILURE
    })
}

/// The configuration with every secret that serving needs.
fn load_complete(path: &Path) -> Result<Config, ExitCode> {
    let config = load(path)?;
    let missing = config.missing_secrets();
    if !missing.is_empty() {
        print_errors(&ConfigErrors(missing));
        return Err(ExitCode::FAILURE);
    }
    Ok(config)
}

async fn serve(path: &Path) -> ExitCode {
    let config = match load_complete(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    for warning in config.warnings.iter().chain(&descriptor_warning(&config)) {
        tracing::warn!("{warning}");
    }
    for line in &config.overrides {
        tracing::info!("environment override: {line}");
    }
    if config.settings.redis.configured_url().is_none() {
        tracing::warn!(
            "no Redis configured: running on the embedded in-memory store; NOTHING PERSISTS across restarts"
        );
    }
    let state = match AppState::new(Arc::new(config), Arc::new(SystemClock)) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (notes, call_log, alerts) = (state.notes.clone(), state.call_log.clone(), state.alerts.clone());
    state.start_background();
    let public_url = state.config.settings.server.public_url.as_str().to_owned();
    let app = match Application::build(state).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: cannot listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = app.local_addr() {
        tracing::info!(%addr, "webhooks: listening; point the provider's voice webhook at {public_url}/voice/incoming (POST)");
    }
    if let Ok(addr) = app.ops_addr() {
        tracing::info!(%addr, "operators: listening for /admin, /metrics, /readyz and /healthz");
    }
    let served = app.run_until_stopped(shutdown_signal()).await;
    // Before the call log's flush: each alert's delivery is written to its call's record.
    if let Some(alerts) = alerts
        && !alerts.drain(NOTES_DRAIN).await
    {
        tracing::error!("stopped with missed-call alerts unsent");
    }
    if !call_log.flush(CALL_LOG_FLUSH).await {
        tracing::error!("stopped with call-log writes unwritten");
    }
    if let Some(notes) = notes {
        let pending = notes.pending();
        if pending > 0 {
            tracing::info!(pending, "waiting for case notes still being sent");
        }
        if !notes.drain(NOTES_DRAIN).await {
            tracing::error!(pending = notes.pending(), "stopped with case notes unsent");
        }
    }
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Descriptors the process holds besides client connections: Redis, the case system, the status page, logs,
/// with room to spare.
const OTHER_DESCRIPTORS: u64 = 128;

/// A warning when `server.max_connections` and the other descriptors do not fit under this process's soft
/// open-file limit: accepting would then fail (`Too many open files`) before the cap makes room. Linux only;
/// elsewhere the limit is not read.
fn descriptor_warning(config: &Config) -> Option<String> {
    let max = config.settings.server.max_connections.get();
    let soft = crate::http::connections::open_file_limit("self")?;
    (max + OTHER_DESCRIPTORS > soft).then(|| {
        format!(
            "server.max_connections ({max}) plus about {OTHER_DESCRIPTORS} other descriptors exceed this process's \
             open-file limit ({soft}): raise the limit (systemd LimitNOFILE=, ulimit -n) or lower max_connections"
        )
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn check(path: &Path) -> ExitCode {
    let config = match load_complete(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    for warning in config.warnings.iter().chain(&descriptor_warning(&config)) {
        eprintln!("warning: {warning}");
    }
    for line in &config.overrides {
        outln!("environment override: {line}");
    }
    if let Err(code) = check_redis(&config).await {
        return code;
    }
    check_calendars(&config).await;
    let lines: Vec<String> = config
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} ({}, {}, flow {}, mode {})",
                l.key, l.number, l.tz, l.flow.name, l.mode
            )
        })
        .collect();
    outln!("{}: OK; lines: {}", path.display(), lines.join("; "));
    ExitCode::SUCCESS
}

/// With Redis configured: that it answers, and holds every line's escalation policy.
async fn check_redis(config: &Config) -> Result<(), ExitCode> {
    let Some(url) = config.settings.redis.configured_url() else {
        return Ok(());
    };
    let store = crate::assembly::store_for(config).map_err(|error| {
        eprintln!("error: redis: {error}");
        ExitCode::FAILURE
    })?;
    let loaded = tokio::time::timeout(std::time::Duration::from_secs(3), store.load()).await;
    let data = match loaded {
        Ok(Ok(data)) => data,
        Ok(Err(error)) if error.to_string().contains(crate::store::redis::CREDENTIALS_REFUSED) => {
            eprintln!("error: redis: {error}");
            return Err(ExitCode::FAILURE);
        }
        Ok(Err(error)) => {
            eprintln!(
                "warning: Redis at {} cannot be read ({error}): the rotations there are not checked",
                redact(url)
            );
            return Ok(());
        }
        Err(_) => {
            eprintln!(
                "warning: Redis at {} does not answer: the rotations there are not checked",
                redact(url)
            );
            return Ok(());
        }
    };
    let missing = missing_oncall_data(config, &data);
    if missing.is_empty() {
        return Ok(());
    }
    for message in missing {
        eprintln!("error: {message}");
    }
    eprintln!(
        "Redis at {} answers without this on-call data: was it restarted without persistence? A running \
         server keeps bridging from its last good copy until `afterhours rotation import FILE` writes it again",
        redact(url)
    );
    Err(ExitCode::FAILURE)
}

/// Warnings about the rotations that follow an outside calendar: one that fails, events that match no
/// engineer. With Redis, as the servers last kept it; without, fetched now into the embedded store.
async fn check_calendars(config: &Config) {
    let Ok(store) = crate::assembly::store_for(config) else {
        return;
    };
    let loaded = tokio::time::timeout(std::time::Duration::from_secs(3), store.load()).await;
    let Ok(Ok(data)) = loaded else { return };
    let embedded = config.settings.redis.configured_url().is_none();
    for rotation in data.rotations.values().filter(|r| r.source.is_some()) {
        let copy = if embedded {
            crate::store::calendars::refresh(store.as_ref(), &data, rotation, Utc::now()).await
        } else {
            store.calendar(&rotation.id).await
        };
        let copy = match copy {
            Ok(copy) => copy,
            Err(error) => {
                eprintln!(
                    "warning: rotation {}: its outside calendar cannot be read: {error}",
                    rotation.id
                );
                continue;
            }
        };
        for problem in crate::store::calendars::problems(&rotation.id, copy.as_ref()) {
            eprintln!("warning: {problem}");
        }
    }
}

/// What the lines need from the store and it does not hold: each line's escalation policy, and the rotations
/// that policy rings. Empty when nothing is missing.
fn missing_oncall_data(config: &Config, data: &crate::oncall::model::OnCallData) -> Vec<String> {
    use crate::oncall::model::Target;
    let mut missing = Vec::new();
    for line in config.lines.iter() {
        let Some(policy) = data.policies.get(&line.escalation_policy) else {
            missing.push(format!(
                "line {}: escalation policy {:?} is not in Redis",
                line.key, line.escalation_policy
            ));
            continue;
        };
        let rotations = policy.tiers.iter().flat_map(|tier| &tier.targets);
        for target in rotations {
            if let Target::Rotation(rotation) = target
                && !data.rotations.contains_key(rotation)
            {
                missing.push(format!(
                    "line {}: escalation policy {:?} rings rotation {rotation:?}, which is not in Redis",
                    line.key, policy.id
                ));
            }
        }
    }
    missing.dedup();
    missing
}

/// A Redis URL without user, password or query, for messages. The settings refuse credentials in a URL; this
/// keeps a message clean whatever the URL holds.
fn redact(url: &str) -> String {
    let without_query = url.split_once('?').map_or(url, |(base, _)| base);
    match (without_query.find("://"), without_query.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &without_query[..scheme], &without_query[at..])
        }
        _ => without_query.to_owned(),
    }
}

async fn simulate(path: &Path, args: SimulateArgs) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let clock: Arc<dyn Clock> = match args.at {
        Some(at) => Arc::new(FixedClock(at.with_timezone(&Utc))),
        None => Arc::new(FixedClock(SystemClock.now())),
    };
    let cases = match &args.case_file {
        Some(file) => {
            let settings = config.settings.cases.clone();
            let fields = settings.as_ref().map(|c| c.fields.clone()).unwrap_or_default();
            let values = settings.as_ref().map(|c| c.values.clone()).unwrap_or_default();
            match FileCases::load(file, fields, values) {
                Ok(cases) => Some(Arc::new(cases) as Arc<dyn CaseSystem>),
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => match crate::cases::build(&config.settings, &config.secrets) {
            Ok(cases) => cases,
            Err(error) => {
                eprintln!("error: cannot set up the case system: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let store = match crate::assembly::store_for(&config) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: cannot set up the on-call store: {error}");
            return ExitCode::FAILURE;
        }
    };
    let state = AppState::with(Arc::new(config), clock, cases, store);
    let mut out = std::io::stdout().lock();
    let script = crate::cli::simulate::Script {
        digits: args.digits,
        answers: args.answers,
        provider: args.provider.unwrap_or(state.config.settings.provider.kind),
        xml: args.xml,
    };
    match crate::cli::simulate::walk(&state, &args.to, &args.from, &script, &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has gone (`afterhours simulate ... | head`): it read what it wanted.
        Err(crate::cli::simulate::SimulateError::Io(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn flow_graph(config_path: &Path, name: &str) -> ExitCode {
    let path = if name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        // The flows folder of the configuration, without loading the rest of it.
        let base = config_path.parent().unwrap_or(Path::new("."));
        let flows = Config::load(config_path)
            .map(|c| c.settings.paths.flows)
            .unwrap_or_else(|_| crate::settings::PathSettings::default().flows);
        base.join(flows).join(format!("{name}.toml"))
    };
    match Flow::load(&path) {
        Ok(flow) => {
            out!("{}", flow.mermaid());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_errors(&ConfigErrors(errors));
            ExitCode::FAILURE
        }
    }
}

fn sign(path: &Path, args: &SignArgs) -> ExitCode {
    let (secrets, configured) = match Config::load(path) {
        Ok(config) => (config.secrets, config.settings.provider.kind),
        Err(_) => (
            crate::settings::Secrets::from_env(&std::env::vars().collect::<Vec<_>>()),
            ProviderKind::default(),
        ),
    };
    let kind = args.provider.unwrap_or(configured);
    let mut pairs = Vec::new();
    for param in &args.params {
        let Some((name, value)) = param.split_once('=') else {
            eprintln!("error: parameter {param:?} is not NAME=VALUE");
            return ExitCode::FAILURE;
        };
        pairs.push((name.to_owned(), value.to_owned()));
    }
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(&pairs);
        form.finish()
    };
    let now = SystemClock.now();
    let headers = if kind == ProviderKind::Telnyx {
        let Some(seed) = args.seed.as_deref().and_then(seed_of) else {
            eprintln!("error: Telnyx signs with a private key: give its seed with --seed (64 hex digits)");
            return ExitCode::FAILURE;
        };
        let key = crate::dialect::signing_key(&seed);
        let public = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
        };
        let signing = crate::dialect::Signing::Ed25519 {
            key: &key,
            at_unix: args.timestamp.unwrap_or(now.timestamp()),
        };
        let mut headers = crate::dialect::sign(kind, &signing, &args.url, body.as_bytes(), &pairs);
        headers.push(("public key (provider.public_key)", public));
        headers
    } else {
        let Some(token) = secrets.provider_auth_token else {
            eprintln!("error: set {} to {}", crate::settings::SECRETS[0].0, kind.token_name());
            return ExitCode::FAILURE;
        };
        let nonce = args
            .nonce
            .clone()
            .unwrap_or_else(|| now.timestamp_nanos_opt().unwrap_or_default().to_string());
        let signing = crate::dialect::Signing::Token {
            token: token.expose_secret().as_bytes(),
            nonce: &nonce,
        };
        crate::dialect::sign(kind, &signing, &args.url, body.as_bytes(), &pairs)
    };
    if kind == ProviderKind::Twilio {
        // Twilio's one header: the signature alone, for scripts.
        for (_, value) in headers {
            outln!("{value}");
        }
    } else {
        for (name, value) in headers {
            outln!("{name}: {value}");
        }
    }
    ExitCode::SUCCESS
}

/// 64 hex digits as 32 bytes.
fn seed_of(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

/// Writes to standard output. When the reader closed the pipe, the process exits at once with success: what
/// it was asked for was read as far as the reader wanted. Any other failure to write is an error (exit 1).
fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {error}");
        std::process::exit(1);
    }
}
