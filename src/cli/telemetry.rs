//! Logging: human-readable by default, JSON lines with `AFTERHOURS_LOG_FORMAT=json`; the level from
//! `AFTERHOURS_LOG` (a tracing filter such as `info` or `afterhours=debug`), `info` by default.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool, filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
