//! `afterhours-load`: measures afterhours as the telephony provider sees it. `benches/load.sh` runs it all in
//! one command; the subcommands are its parts:
//! - `run` places calls against a running `afterhours serve` (Redis, the fake case system behind it) and
//!   against the ceiling, and prints the report;
//! - `cases` serves the fake case system, answering after a fixed delay;
//! - `ceiling` serves a bare axum handler with a fixed TwiML body.

mod leftovers;
mod phases;
mod process;
mod provider;
mod replay;
mod servers;
mod slow;
mod stats;
mod twiml;
mod webhook;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The same allocator as `afterhours`, so that the ceiling is built exactly as the server is.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "afterhours-load",
    about = "Load driver for afterhours: plays the telephony provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure: complete calls, each webhook's throughput against the ceiling, latency at half the maximum
    Run(Box<RunArgs>),
    /// Serve the fake case system (generic HTTP/JSON adapter format)
    Cases {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// How long every answer takes, in milliseconds
        #[arg(long, default_value_t = 5)]
        delay_ms: u64,
    },
    /// Serve the ceiling: a bare axum handler returning a fixed TwiML body (which the driver may set)
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Args, Clone)]
pub(crate) struct RunArgs {
    /// The afterhours server; its `server.public_url` must be this same URL
    #[arg(long)]
    pub(crate) server: String,
    /// The server's operators' listener (`server.ops_listen`), where `/readyz` and `/metrics` answer
    #[arg(long)]
    pub(crate) ops: String,
    /// The server's process id, for its memory and CPU time
    #[arg(long)]
    pub(crate) server_pid: u32,
    /// The ceiling server (`afterhours-load ceiling`)
    #[arg(long)]
    pub(crate) ceiling: String,
    /// The ceiling's process id
    #[arg(long)]
    pub(crate) ceiling_pid: u32,
    /// Redis's process id, for its CPU time (optional)
    #[arg(long)]
    pub(crate) redis_pid: Option<u32>,
    /// The server's Redis: before each measurement, the calls and rate-limit windows earlier ones left are
    /// removed from it (optional)
    #[arg(long)]
    pub(crate) redis: Option<String>,
    /// The server's Redis key prefix (`redis.prefix`)
    #[arg(long, default_value = "afterhours:")]
    pub(crate) redis_prefix: String,
    /// The provider's auth token the server checks signatures with
    #[arg(long, env = "AFTERHOURS_PROVIDER__AUTH_TOKEN")]
    pub(crate) token: String,
    /// The provider to play (the server's `provider.kind`): twilio, signalwire, telnyx or plivo
    #[arg(long, default_value = "twilio", value_parser = parse_provider)]
    pub(crate) provider: afterhours::settings::ProviderKind,
    /// Telnyx: the 32-byte seed (64 hex digits) of the key to sign with; the server's `provider.public_key`
    /// must be its public key
    #[arg(long, value_parser = parse_seed)]
    pub(crate) telnyx_seed: Option<[u8; 32]>,
    /// The fake case system (`afterhours-load cases`): its own time per lookup, read from its `/stats`, is
    /// taken out of the latency the service adds (without it, `--case-delay-ms` is)
    #[arg(long)]
    pub(crate) cases: Option<String>,
    /// The fake case system's delay
    #[arg(long, default_value_t = 5)]
    pub(crate) case_delay_ms: u64,
    /// Complete calls in the concurrency phase
    #[arg(long, default_value_t = 1000)]
    pub(crate) calls: u64,
    /// Pause between the webhooks of one call in the concurrency phase (a caller listening), in milliseconds
    #[arg(long, default_value_t = 500)]
    pub(crate) think_ms: u64,
    /// The concurrency phase's calls start evenly over this many milliseconds (0: all at the same instant)
    #[arg(long, default_value_t = 500)]
    pub(crate) ramp_ms: u64,
    /// Connections (callers or requests in flight) in the throughput phases
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: usize,
    /// The phases to run, of `calls`, `maximum`, `webhooks`, `latency` (latency needs maximum), `replay`,
    /// `slow`
    #[arg(long, value_delimiter = ',', default_value = "calls,maximum,webhooks,latency")]
    pub phases: Vec<String>,
    /// Turns of afterhours then the ceiling for each webhook; the ratio is their median
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Only the webhooks whose label contains one of these (the `webhooks` phase; comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// What the ceiling answers each webhook with in the `webhooks` phase: `same`, the bytes afterhours
    /// answered it with, so that the driver reads as much from both; or `fixed`, its own 204-byte TwiML
    #[arg(long, value_enum, default_value_t = CeilingAnswer::Same)]
    pub(crate) ceiling_answer: CeilingAnswer,
    /// Length of each throughput measurement (each side of each round), in seconds
    #[arg(long, default_value_t = 2.0)]
    pub(crate) seconds: f64,
    /// A second afterhours server, on the embedded store (no Redis), for the `replay` phase (optional)
    #[arg(long, requires_all = ["embedded_pid", "embedded_ops"])]
    pub(crate) embedded: Option<String>,
    /// The embedded store's server's operators' listener, for its `/metrics`
    #[arg(long)]
    pub(crate) embedded_ops: Option<String>,
    /// The embedded store's server's process id
    #[arg(long)]
    pub(crate) embedded_pid: Option<u32>,
    /// How long the `replay` phase replays one call's incoming webhook, against each store, in seconds
    #[arg(long, default_value_t = 60.0)]
    pub(crate) replay_seconds: f64,
    /// Slow clients the `slow` phase opens against the webhook listener (more than `server.max_connections`),
    /// as many as the driver's own open-file limit allows
    #[arg(long, default_value_t = 2000)]
    pub(crate) slow_clients: u64,
    /// Complete calls started per second while the slow clients hold the listener
    #[arg(long, default_value_t = 10.0)]
    pub(crate) slow_rate: f64,
    /// How long the `slow` phase places calls among the slow clients, in seconds
    #[arg(long, default_value_t = 20.0)]
    pub(crate) slow_seconds: f64,
    /// After the calls, how long the slow clients left are watched for the server to close them, in seconds
    /// (past `server.idle_timeout_secs`, 60 by default, to see the idle ones closed)
    #[arg(long, default_value_t = 65.0)]
    pub(crate) slow_linger_seconds: f64,
    /// Length of the latency measurement, in seconds
    #[arg(long, default_value_t = 8.0)]
    pub(crate) latency_seconds: f64,
}

fn parse_provider(name: &str) -> Result<afterhours::settings::ProviderKind, String> {
    afterhours::settings::ProviderKind::parse(name)
        .ok_or_else(|| format!("unknown provider {name:?}: twilio, signalwire, telnyx or plivo"))
}

fn parse_seed(hex: &str) -> Result<[u8; 32], String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "expected 64 hex digits".to_owned())
}

/// See `--ceiling-answer`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CeilingAnswer {
    Same,
    Fixed,
}

impl RunArgs {
    pub(crate) fn runs(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.5))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("afterhours-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => phases::run(*args).await,
            Command::Cases { listen, delay_ms } => servers::cases(listen, Duration::from_millis(delay_ms))
                .await
                .map(|()| true)
                .map_err(|e| e.to_string()),
            Command::Ceiling { listen } => servers::ceiling(listen).await.map(|()| true).map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("afterhours-load: {error}");
            ExitCode::from(2)
        }
    }
}
