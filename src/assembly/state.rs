//! The service assembled: the state every webhook and command shares ([`AppState`]), built from a loaded
//! [`Config`]: the store it names (Redis, Sentinel, or the embedded one seeded from `config/`), the case
//! system and its note sender, the call log's writer, the status page's cache; and the background tasks
//! that keep the caches fresh ([`AppState::start_background`]).

use std::sync::Arc;
use std::time::Duration;

use super::Config;
use crate::alerts::Alerts;
use crate::cases::notes::{Notes, Schedule};
use crate::cases::{CaseError, CaseSystem};
use crate::clock::Clock;
use crate::flow::engine::Services;
use crate::settings::Packages;
use crate::settings::{RedisMode, RedisUrl};
use crate::store::cache::OnCallCache;
use crate::store::call_log;
use crate::store::memory::MemoryStore;
use crate::store::redis::{Access, RedisStore, Topology};
use crate::store::{Store, StoreError};
use crate::twiml::Voice;

/// What every handler shares: one reference-counted [`Shared`], cheap to clone for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state's contents.
pub struct Shared {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// The voice, our base URL and the case system, as the flow engine uses them.
    pub services: Arc<Services>,
    /// Case notes sent in the background; none without a case system or with notes turned off.
    pub(crate) notes: Option<Notes>,
    /// The call log's writer, on the same store.
    pub(crate) call_log: call_log::Writer,
    /// Missed-call alerts; none without `[alerts.NAME]` targets.
    pub(crate) alerts: Option<Alerts>,
}

/// Why the state for a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot set up the case system: {0}")]
    Cases(#[from] CaseError),
    #[error("cannot set up the on-call store: {0}")]
    Store(#[from] StoreError),
}

impl AppState {
    /// The state for `config`: the case system it names, and Redis when it names one, else the embedded store
    /// seeded with the configuration's on-call data.
    pub fn new(config: Arc<Config>, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let cases = crate::cases::build(&config.settings, &config.secrets)?;
        let store = store_for(&config)?;
        Ok(Self::with(config, clock, cases, store))
    }

    /// The state for `config` with a given case system and store (`simulate --case-file`, tests).
    pub fn with(
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        cases: Option<Arc<dyn CaseSystem>>,
        store: Arc<dyn Store>,
    ) -> Self {
        let settings = &config.settings;
        let voice = Voice {
            name: settings.provider.voice.clone(),
            language: settings.provider.language.as_str().to_owned(),
        };
        let case_settings = settings.cases.as_ref();
        let notes_settings = case_settings.map(|c| c.notes.clone()).unwrap_or_default();
        let notes = cases.clone().filter(|_| notes_settings.enabled).map(|cases| {
            Notes::new(
                cases,
                Schedule {
                    attempts: notes_settings.attempts.get_u32(),
                    backoff: Duration::from_millis(notes_settings.backoff_ms.get()),
                    deadline: Duration::from_secs(notes_settings.deadline_secs.get()),
                },
            )
        });
        let call_log = call_log::Writer::new(store.clone());
        let alerts = alerts_for(&config);
        let packages = Packages::new(&settings.packages);
        let services = Services {
            voice,
            base_url: settings.server.public_url.as_str().to_owned(),
            cases,
            case_timeout: Duration::from_millis(case_settings.map_or(2500, |c| c.timeout_ms.get())),
            // The older list only without [packages] tables, which replace it; empty means any package.
            entitled_packages: case_settings
                .map(|c| c.after_hours_packages.clone())
                .filter(|list| !list.is_empty() && settings.packages.is_empty()),
            refused_packages: packages.refused(),
            packages,
            store: Some(store),
            status: crate::status::StatusCache::for_settings(settings.status_page.as_ref()),
            oncall_cache: OnCallCache::default(),
            limits: settings.limits.clone(),
        };
        Self(Arc::new(Shared {
            config,
            clock,
            services: Arc::new(services),
            notes,
            call_log,
            alerts,
        }))
    }

    /// The on-call store the handlers use.
    pub(crate) fn store(&self) -> Option<&Arc<dyn Store>> {
        self.services.store.as_ref()
    }
}

/// The configured alert targets that have their secret (serving refuses to start while one lacks it); none
/// without targets.
fn alerts_for(config: &Config) -> Option<Alerts> {
    let secrets = &config.secrets;
    let targets: Vec<_> = config
        .settings
        .alerts
        .iter()
        .filter_map(|(name, target)| {
            // Text messages go through the provider's API with its auth token; the others have a secret of
            // their own.
            let secret = if target.kind.has_own_secret() {
                secrets.alert_secret(name.as_str())
            } else {
                secrets.provider_auth_token.as_ref()
            };
            Some((name.to_string(), target.clone(), secret?.clone()))
        })
        .collect();
    if targets.is_empty() {
        return None;
    }
    Alerts::new(targets)
        .inspect_err(|error| tracing::error!(%error, "alerts are off"))
        .ok()
}

/// Redis when the configuration names it; else memory, seeded with the configuration's on-call data.
pub fn store_for(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let redis = &config.settings.redis;
    let urls = |nodes: &[RedisUrl]| nodes.iter().map(|n| n.as_str().to_owned()).collect();
    let topology = match &redis.mode {
        None => return Ok(Arc::new(MemoryStore::new(config.oncall.clone()))),
        Some(RedisMode::Single(url)) => Topology::Single(url.as_str().to_owned()),
        Some(RedisMode::Sentinel { nodes, master_name }) => Topology::Sentinel {
            nodes: urls(nodes),
            master_name: master_name.clone(),
        },
        Some(RedisMode::Cluster(nodes)) => Topology::Cluster(urls(nodes)),
    };
    let ca_pem = match &redis.ca_file {
        Some(file) => {
            let path = config.path.parent().unwrap_or(std::path::Path::new(".")).join(file);
            let pem = std::fs::read(&path).map_err(|error| {
                StoreError::Backend(format!("redis.ca_file: cannot read {}: {error}", path.display()))
            })?;
            Some(pem)
        }
        None => None,
    };
    let access = Access {
        username: config.secrets.redis_username.clone(),
        password: config.secrets.redis_password.clone(),
        ca_pem,
    };
    Ok(Arc::new(RedisStore::open(&topology, &access, &redis.prefix)?))
}

impl AppState {
    /// Starts what keeps the caches fresh while the process serves: the status page's refresher (with a
    /// `[status_page]`) and the on-call cache's (so that a dial reads Redis only when the data has aged).
    /// They run until the runtime ends: nothing awaits or aborts them.
    pub fn start_background(&self) {
        let settings = &self.config.settings;
        crate::status::start_refresher(
            settings.status_page.as_ref(),
            self.services.status.clone(),
            self.clock.clone(),
        );
        if let Some(store) = self.store().cloned() {
            self.services.oncall_cache.spawn_refresher(store);
        }
    }
}
