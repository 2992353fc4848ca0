//! The Redis store: the source of truth for rotations, overrides, policies and call records, shared by every
//! replica.
//!
//! The keys it writes, their types and lifetimes are documented once, in `docs/oncall.md` ("Redis key
//! layout"): keep that table true when a key changes. Keys that a script changes together share a cluster
//! hash tag (`{...}`), so they live in one slot.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::{Arc, RwLock};

use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{AsyncCommands, Script};

mod connection;

pub use connection::Access;
use connection::Connection;

use super::{Change, MAX_CHANGES, Store, StoreError};
use crate::BoxFuture;
use crate::calllog::{CallClose, CallEntry, CallRecord, MAX_ENTRIES_PER_CALL};
use crate::oncall::feed_tokens::Feed;
use crate::oncall::import::CalendarCopy;
use crate::oncall::model::{Engineer, ImportedShift, OnCallData, Override, Policy, Rotation};
use chrono::{DateTime, Utc};

/// Replaces a rotation if its version is the expected one (or none is expected), and bumps the version.
const REPLACE_ROTATION: &str = r"
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then
  return {0, current}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], current + 1)
return {1, current + 1}
";

/// Removes the override with id ARGV[1]; with ARGV[2] set, adds ARGV[3] scored ARGV[2] in the same step,
/// provided the rotation (KEYS[2]) exists (else -1).
const PUT_OR_REMOVE_OVERRIDE: &str = r"
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local ok, item = pcall(cjson.decode, member)
  if ok and item.id == ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
    removed = 1
  end
end
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
end
return removed
";

/// Adds a webhook's entry to its call's working record, once per webhook and at most ARGV[4] entries a call:
/// KEYS are the call's once-marker of the log (`once:logged`), its entries list and its webhooks hash (the
/// identities of the webhooks the list holds, and `dropped`, how many came past the cap); ARGV the webhook's
/// identity, the entry's JSON, the record's time to live in seconds and the cap. Nothing is added once the
/// call was logged, nor for a webhook the list holds already; past the cap, the webhook is only counted.
/// Returns 1 when it added the entry, 0 when not, -1 when it counted it as dropped.
const APPEND_ENTRY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return 0
end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[4]) then
  redis.call('HINCRBY', KEYS[3], 'dropped', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  return -1
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], '1')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
";

/// Closes a call's working record, once: KEYS are the once-marker, the entries list and the webhooks hash
/// ([`APPEND_ENTRY`]), all in the call's hash slot; ARGV the CallSid, the status and the duration (as JSON)
/// and the cap of entries a call. Builds the record's JSON (`CallRecord`) from at most the cap of entries
/// (`started` from the first, the latest value of each summary field, the events in order), sets the marker
/// (for a day: later webhooks of the call add nothing), deletes the working record and returns the record;
/// false when it was closed already or there is none. The caller adds the record to the log stream: the
/// stream is a key of another slot, which a script may not touch in a cluster. The marker lets the record
/// out once, so it reaches the log at most once.
const CLOSE_CALL: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local entries = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[4]) - 1)
if #entries == 0 then
  return false
end
redis.call('SET', KEYS[1], '1', 'EX', 86400)
local started, summary, events = nil, {}, {}
for _, raw in ipairs(entries) do
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' then
    if started == nil and type(entry.t) == 'string' then started = entry.t end
    for _, pair in ipairs(entry.s or {}) do summary[pair[1]] = pair[2] end
    for _, event in ipairs(entry.e or {}) do events[#events + 1] = cjson.encode(event) end
  end
end
local summary_json = '{}'
if next(summary) ~= nil then summary_json = cjson.encode(summary) end
local dropped = tonumber(redis.call('HGET', KEYS[3], 'dropped') or '0') or 0
local record = '{"call_sid":' .. cjson.encode(ARGV[1])
  .. ',"started":' .. (started and cjson.encode(started) or 'null')
  .. ',"summary":' .. summary_json
  .. ',"events":[' .. table.concat(events, ',') .. ']'
  .. ',"status":' .. ARGV[2] .. ',"duration_secs":' .. ARGV[3]
  .. ',"entries_dropped":' .. string.format('%d', dropped) .. '}'
redis.call('DEL', KEYS[2], KEYS[3])
return record
"#;

/// Claims KEYS[1] for ARGV[1] for ARGV[2] seconds unless another holds it (renewing ARGV[1]'s own claim): 1
/// when ARGV[1] holds it after.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
";

/// Deletes KEYS[1] if ARGV[1] holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A webhook's entry as the entries list keeps it (short names: one is written per webhook). Times are
/// RFC 3339, formatted once per entry: its events almost always happened at the entry's time.
#[derive(serde::Serialize)]
struct StoredEntry<'a> {
    t: &'a str,
    s: &'a [(String, String)],
    e: Vec<StoredEvent<'a>>,
}

/// A [`crate::calllog::CallEvent`] as a entry keeps it: the fields of its JSON.
#[derive(serde::Serialize)]
struct StoredEvent<'a> {
    at: std::borrow::Cow<'a, str>,
    what: &'a str,
}

impl StoredEntry<'_> {
    fn json(entry: &CallEntry) -> Result<String, serde_json::Error> {
        let t = entry.started.to_rfc3339();
        let e = entry
            .events
            .iter()
            .map(|event| StoredEvent {
                at: if event.at == entry.started {
                    std::borrow::Cow::Borrowed(t.as_str())
                } else {
                    std::borrow::Cow::Owned(event.at.to_rfc3339())
                },
                what: &event.what,
            })
            .collect();
        serde_json::to_string(&StoredEntry {
            t: &t,
            s: &entry.summary,
            e,
        })
    }
}

/// The SHA1 that `EVALSHA` names [`CLOSE_CALL`] by, computed once.
static CLOSE_CALL_SHA: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| Script::new(CLOSE_CALL).get_hash().to_owned());

/// Where the store's Redis is: one, the primary Sentinel names, or a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One Redis: `redis://host:port/db`, or `rediss://` for TLS.
    Single(String),
    /// The primary that the Sentinel nodes at these URLs name for `master_name`.
    Sentinel { nodes: Vec<String>, master_name: String },
    /// A Redis Cluster, found through these nodes' URLs.
    Cluster(Vec<String>),
}

/// The SHA1 that `EVALSHA` names [`APPEND_ENTRY`] by, computed once.
static APPEND_ENTRY_SHA: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| Script::new(APPEND_ENTRY).get_hash().to_owned());

#[derive(Clone)]
pub struct RedisStore {
    /// The connection to Redis; with Sentinel, replaced when Sentinel names a new primary.
    connection: Arc<RwLock<Connection>>,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How often Sentinel is asked who the primary is.
const SENTINEL_POLL: Duration = Duration::from_secs(1);

/// The start of the message of a store error that is Redis refusing the credentials.
pub const CREDENTIALS_REFUSED: &str = "Redis refused the credentials";

fn backend(error: redis::RedisError) -> StoreError {
    // A pipeline's error gathers its commands' errors: their codes are in its text.
    let text = error.to_string();
    let refused = error.kind() == redis::ErrorKind::AuthenticationFailed
        || ["NOAUTH", "WRONGPASS"].iter().any(|code| text.contains(code));
    if refused {
        // The crate's message names no secret; the variables are where the fix goes.
        return StoreError::Backend(format!(
            "{CREDENTIALS_REFUSED} (AFTERHOURS_REDIS__USERNAME, AFTERHOURS_REDIS__PASSWORD): {error}"
        ));
    }
    StoreError::Backend(text)
}

fn corrupt(what: &str, error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

impl RedisStore {
    /// A store on `url` (`redis://host:port/db`) without credentials. The connection is made lazily and
    /// remade in the background after a failure; a command fails after 500 ms without an answer.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::open(&Topology::Single(url.to_owned()), &Access::default(), prefix)
    }

    /// A store on the primary that Redis Sentinel names for `master_name`, asking `sentinels` (URLs of
    /// Sentinel nodes), without credentials.
    pub fn with_sentinel(sentinels: &[String], master_name: &str, prefix: &str) -> Result<Self, StoreError> {
        let topology = Topology::Sentinel {
            nodes: sentinels.to_vec(),
            master_name: master_name.to_owned(),
        };
        Self::open(&topology, &Access::default(), prefix)
    }

    /// A store on `topology`, authenticated and trusting as `access` says. Connections are made lazily: a
    /// Redis or cluster that is down fails the commands, not this (Sentinel alone must answer here, to name the
    /// primary). With Sentinel, a task asks again every second and moves to the new primary after a
    /// failover; a cluster follows its own redirections.
    pub fn open(topology: &Topology, access: &Access, prefix: &str) -> Result<Self, StoreError> {
        match topology {
            Topology::Single(url) => {
                let client = access.client(access.info(url).map_err(backend)?).map_err(backend)?;
                Ok(Self::on(Connection::single(client).map_err(backend)?, prefix))
            }
            Topology::Sentinel { nodes, master_name } => Self::sentinel(nodes, master_name, access, prefix),
            Topology::Cluster(nodes) => Ok(Self::on(Connection::cluster(nodes, access).map_err(backend)?, prefix)),
        }
    }

    fn sentinel(sentinels: &[String], master_name: &str, access: &Access, prefix: &str) -> Result<Self, StoreError> {
        let mut sentinel = Sentinel::build(sentinels.to_vec()).map_err(backend)?;
        // The primary speaks TLS when the Sentinel nodes do, and takes the credentials.
        let mut node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(access.apply(redis::RedisConnectionInfo::default()));
        if sentinels.iter().any(|url| url.starts_with("rediss:")) {
            node = node.set_tls_mode(redis::TlsMode::Secure);
        }
        let primary_client = |client: redis::Client| access.client(client.get_connection_info().clone());
        let client = sentinel
            .master_for(master_name, Some(&node))
            .and_then(primary_client)
            .map_err(backend)?;
        let mut primary = client.get_connection_info().addr().to_string();
        tracing::info!(%primary, master_name, "Redis primary from Sentinel");
        let store = Self::on(Connection::single(client).map_err(backend)?, prefix);
        let (connection, name, access) = (
            Arc::downgrade(&store.connection),
            master_name.to_owned(),
            access.clone(),
        );
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SENTINEL_POLL);
            loop {
                ticks.tick().await;
                let Some(connection) = connection.upgrade() else { return };
                let asked = tokio::time::timeout(SENTINEL_POLL, sentinel.async_master_for(&name, Some(&node))).await;
                let Ok(Ok(client)) = asked else { continue };
                let address = client.get_connection_info().addr().to_string();
                if address == primary {
                    continue;
                }
                let fresh = access
                    .client(client.get_connection_info().clone())
                    .and_then(Connection::single);
                match fresh {
                    Ok(fresh) => {
                        tracing::warn!(old = %primary, new = %address, "Redis failover: moving to the new primary");
                        if let Ok(mut slot) = connection.write() {
                            *slot = fresh;
                        }
                        primary = address;
                    }
                    Err(error) => tracing::error!(%error, "cannot connect to the new Redis primary"),
                }
            }
        });
        Ok(store)
    }

    fn on(connection: Connection, prefix: &str) -> Self {
        Self {
            connection: Arc::new(RwLock::new(connection)),
            prefix: prefix.to_owned(),
        }
    }

    /// The connection to Redis. It multiplexes: concurrent webhooks share its connections without waiting for
    /// each other's replies.
    fn conn(&self) -> Connection {
        match self.connection.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn rotation_key(&self, id: &str) -> String {
        self.key(&format!("rotation:{{{id}}}"))
    }

    /// An outside calendar's copy; `:shifts` beside it holds its shifts. Both in the rotation's slot.
    fn calendar_key(&self, rotation: &str) -> String {
        self.key(&format!("calendar:{{{rotation}}}"))
    }

    fn acceptance_key(&self, call_sid: &str, attempt: u32) -> String {
        self.key(&format!("call:{{{call_sid}}}:accepted:{attempt}"))
    }

    async fn load_all(&self) -> Result<OnCallData, StoreError> {
        let mut connection = self.conn();
        let (ids, engineers, policies): (Vec<String>, BTreeMap<String, String>, BTreeMap<String, String>) =
            redis::pipe()
                .smembers(self.key("rotations"))
                .hgetall(self.key("engineers"))
                .hgetall(self.key("policies"))
                .query_async(&mut connection)
                .await
                .map_err(backend)?;
        let mut pipe = redis::pipe();
        for id in &ids {
            let key = self.rotation_key(id);
            pipe.get(&key)
                .get(format!("{key}:version"))
                .zrange(format!("{key}:overrides"), 0, -1)
                .get(format!("{}:shifts", self.calendar_key(id)));
        }
        type Row = (Option<String>, Option<u64>, Vec<String>, Option<String>);
        let rows: Vec<Row> = if ids.is_empty() {
            Vec::new()
        } else {
            let flat: Vec<redis::Value> = pipe.query_async(&mut connection).await.map_err(backend)?;
            let parsing = |e: redis::ParsingError| StoreError::Corrupt(e.to_string());
            flat.chunks(4)
                .filter(|c| c.len() == 4)
                .map(|c| {
                    Ok((
                        redis::from_redis_value_ref(&c[0]).map_err(parsing)?,
                        redis::from_redis_value_ref(&c[1]).map_err(parsing)?,
                        redis::from_redis_value_ref(&c[2]).map_err(parsing)?,
                        redis::from_redis_value_ref(&c[3]).map_err(parsing)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?
        };
        let mut data = OnCallData::default();
        for (id, json) in engineers {
            data.engineers
                .insert(id, serde_json::from_str(&json).map_err(|e| corrupt("engineer", e))?);
        }
        for (id, json) in policies {
            data.policies
                .insert(id, serde_json::from_str(&json).map_err(|e| corrupt("policy", e))?);
        }
        for (id, (json, version, overrides, shifts)) in ids.into_iter().zip(rows) {
            let Some(json) = json else { continue };
            if let Some(shifts) = shifts {
                let shifts = serde_json::from_str(&shifts).map_err(|e| corrupt("calendar shifts", e))?;
                data.imported.insert(id.clone(), shifts);
            }
            let mut rotation: Rotation = serde_json::from_str(&json).map_err(|e| corrupt("rotation", e))?;
            rotation.version = version.unwrap_or(0);
            let overrides = overrides
                .iter()
                .map(|o| serde_json::from_str(o).map_err(|e| corrupt("override", e)))
                .collect::<Result<Vec<Override>, _>>()?;
            if !overrides.is_empty() {
                data.overrides.insert(id.clone(), overrides);
            }
            data.rotations.insert(id, rotation);
        }
        Ok(data)
    }

    async fn replace(&self, rotation: Rotation, expected: Option<u64>) -> Result<u64, StoreError> {
        let mut connection = self.conn();
        let key = self.rotation_key(&rotation.id);
        let json = serde_json::to_string(&rotation).map_err(|e| corrupt("rotation", e))?;
        let _: () = connection
            .sadd(self.key("rotations"), &rotation.id)
            .await
            .map_err(backend)?;
        let (written, version): (u8, u64) = Script::new(REPLACE_ROTATION)
            .key(&key)
            .key(format!("{key}:version"))
            .arg(json)
            .arg(expected.map(|e| e.to_string()).unwrap_or_default())
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        match (written, expected) {
            (1, _) => Ok(version),
            (_, Some(expected)) => Err(StoreError::StaleVersion {
                rotation: rotation.id,
                expected,
                current: version,
            }),
            (_, None) => Err(StoreError::Backend(
                "the rotation script refused an unconditional write".into(),
            )),
        }
    }

    async fn override_script(&self, rotation: &str, id: &str, add: Option<&Override>) -> Result<bool, StoreError> {
        let mut connection = self.conn();
        let (score, json) = match add {
            Some(item) => (
                item.start.timestamp().to_string(),
                serde_json::to_string(item).map_err(|e| corrupt("override", e))?,
            ),
            None => (String::new(), String::new()),
        };
        let removed: i8 = Script::new(PUT_OR_REMOVE_OVERRIDE)
            .key(format!("{}:overrides", self.rotation_key(rotation)))
            .key(self.rotation_key(rotation))
            .arg(id)
            .arg(score)
            .arg(json)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        if removed < 0 {
            return Err(StoreError::NotFound {
                what: "rotation",
                id: rotation.to_owned(),
            });
        }
        Ok(removed == 1)
    }

    /// SET key value NX EX ttl: true when this call set it.
    async fn set_once(&self, key: String, value: &str, ttl: Duration) -> Result<bool, StoreError> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl.as_secs().max(1)));
        let set: Option<String> = self.conn().set_options(key, value, options).await.map_err(backend)?;
        Ok(set.is_some())
    }

    async fn hset_json(&self, hash: &str, id: &str, json: Result<String, serde_json::Error>) -> Result<(), StoreError> {
        let json = json.map_err(|e| corrupt(hash, e))?;
        let mut connection = self.conn();
        connection.hset(self.key(hash), id, json).await.map_err(backend)
    }
}

impl Store for RedisStore {
    fn load(&self) -> BoxFuture<'_, Result<OnCallData, StoreError>> {
        Box::pin(self.load_all())
    }

    fn replace_rotation(&self, rotation: Rotation, expected: Option<u64>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.replace(rotation, expected))
    }

    fn put_engineer(&self, engineer: Engineer) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.hset_json("engineers", &engineer.id, serde_json::to_string(&engineer))
                .await
        })
    }

    fn put_policy(&self, policy: Policy) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.hset_json("policies", &policy.id, serde_json::to_string(&policy))
                .await
        })
    }

    fn add_override(&self, item: Override) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.override_script(&item.rotation, &item.id, Some(&item))
                .await
                .map(|_| ())
        })
    }

    fn remove_override<'a>(&'a self, rotation: &'a str, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.override_script(rotation, id, None))
    }

    fn record_acceptance<'a>(
        &'a self,
        call_sid: &'a str,
        attempt: u32,
        engineer: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.set_once(self.acceptance_key(call_sid, attempt), engineer, ttl)
                .await
                .map(|_| ())
        })
    }

    fn claim_once<'a>(
        &'a self,
        call_sid: &'a str,
        what: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.set_once(self.key(&format!("call:{{{call_sid}}}:once:{what}")), "1", ttl))
    }

    fn append_entries<'a>(&'a self, entries: &'a [CallEntry]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // One round trip: the script is loaded (a no-op when Redis has it) and run once per webhook.
            let mut pipe = redis::pipe();
            pipe.cmd("SCRIPT").arg("LOAD").arg(APPEND_ENTRY).ignore();
            for entry in entries {
                let sid = &entry.call_sid;
                let json = StoredEntry::json(entry).map_err(|e| corrupt("call entry", e))?;
                pipe.cmd("EVALSHA")
                    .arg(APPEND_ENTRY_SHA.as_str())
                    .arg(3)
                    .arg(self.key(&format!("call:{{{sid}}}:once:logged")))
                    .arg(self.key(&format!("call:{{{sid}}}:entries")))
                    .arg(self.key(&format!("call:{{{sid}}}:webhooks")))
                    .arg(&entry.webhook)
                    .arg(json)
                    .arg(entry.ttl.as_secs().max(1))
                    .arg(MAX_ENTRIES_PER_CALL)
                    .ignore();
            }
            let mut connection = self.conn();
            pipe.query_async::<()>(&mut connection).await.map_err(backend)
        })
    }

    fn close_calls<'a>(&'a self, closes: &'a [CallClose]) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            // Two round trips: the script closes each call in its own slot (loaded first: a no-op when Redis
            // has it), then the records it gave are added to the log stream.
            let mut pipe = redis::pipe();
            pipe.cmd("SCRIPT").arg("LOAD").arg(CLOSE_CALL).ignore();
            for close in closes {
                let sid = &close.call_sid;
                let json = |value: Result<String, serde_json::Error>| value.map_err(|e| corrupt("call status", e));
                pipe.cmd("EVALSHA")
                    .arg(CLOSE_CALL_SHA.as_str())
                    .arg(3)
                    .arg(self.key(&format!("call:{{{sid}}}:once:logged")))
                    .arg(self.key(&format!("call:{{{sid}}}:entries")))
                    .arg(self.key(&format!("call:{{{sid}}}:webhooks")))
                    .arg(sid)
                    .arg(json(serde_json::to_string(&close.status))?)
                    .arg(json(serde_json::to_string(&close.duration_secs))?)
                    .arg(MAX_ENTRIES_PER_CALL);
            }
            let mut connection = self.conn();
            let records: Vec<Option<String>> = pipe.query_async(&mut connection).await.map_err(backend)?;
            let mut log = redis::pipe();
            for (close, record) in closes.iter().zip(&records) {
                if let Some(record) = record {
                    log.cmd("XADD")
                        .arg(self.key("calls"))
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(close.max_records.max(1))
                        .arg("*")
                        .arg("record")
                        .arg(record)
                        .ignore();
                }
            }
            if !log.is_empty() {
                log.query_async::<()>(&mut connection).await.map_err(|error| {
                    tracing::error!(%error, "call log: closed records could not be added to the log and are lost");
                    backend(error)
                })?;
            }
            Ok(records.iter().map(Option::is_some).collect())
        })
    }

    fn calls(&self, since: Option<DateTime<Utc>>, limit: usize) -> BoxFuture<'_, Result<Vec<CallRecord>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.conn();
            let start = since.map_or_else(|| "-".to_owned(), |t| t.timestamp_millis().max(0).to_string());
            let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
                .arg(self.key("calls"))
                .arg("+")
                .arg(start)
                .arg("COUNT")
                .arg(limit.max(1))
                .query_async(&mut connection)
                .await
                .map_err(backend)?;
            entries
                .into_iter()
                .filter_map(|(_, fields)| fields.into_iter().find(|(k, _)| k == "record").map(|(_, v)| v))
                .map(|json| serde_json::from_str(&json).map_err(|e| corrupt("call record", e)))
                .collect()
        })
    }

    fn acceptance<'a>(&'a self, call_sid: &'a str, attempt: u32) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            self.conn()
                .get(self.acceptance_key(call_sid, attempt))
                .await
                .map_err(backend)
        })
    }

    // Who may call about what: guesses, trusted callers, the case being rung, the engineer on a case.

    fn add_guess<'a>(
        &'a self,
        bucket: &'a str,
        guess: &'a str,
        at: DateTime<Utc>,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("guesses:{{{bucket}}}"));
            let (since, at_ms) = (at.timestamp_millis() - window.as_millis() as i64, at.timestamp_millis());
            // One round trip, one step (MULTI): forget the guesses out of the window, add this one (once),
            // count, expire.
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .zrembyscore(&key, "-inf", since)
                .ignore()
                .zadd_options(&key, guess, at_ms, &redis::SortedSetAddOptions::add_only())
                .ignore()
                .zcard(&key)
                .pexpire(&key, window.as_millis().max(1) as i64)
                .ignore()
                .query_async(&mut self.conn())
                .await
                .map_err(backend)?;
            Ok(count)
        })
    }

    fn remove_guess<'a>(&'a self, bucket: &'a str, guess: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("guesses:{{{bucket}}}"));
            self.conn().zrem(key, guess).await.map_err(backend)
        })
    }

    fn trust<'a>(&'a self, number: &'a str, case: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("trusted:{{{number}}}:{case}"));
            self.conn()
                .set_ex(key, "1", ttl.as_secs().max(1))
                .await
                .map_err(backend)
        })
    }

    fn trusted<'a>(&'a self, number: &'a str, case: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("trusted:{{{number}}}:{case}"));
            self.conn().exists(key).await.map_err(backend)
        })
    }

    fn claim_case<'a>(
        &'a self,
        case: &'a str,
        call_sid: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let held: i64 = Script::new(CLAIM)
                .key(self.key(&format!("case:{{{case}}}:ringing")))
                .arg(call_sid)
                .arg(ttl.as_secs().max(1))
                .invoke_async(&mut self.conn())
                .await
                .map_err(backend)?;
            Ok(held == 1)
        })
    }

    fn release_case<'a>(&'a self, case: &'a str, call_sid: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _: i64 = Script::new(RELEASE)
                .key(self.key(&format!("case:{{{case}}}:ringing")))
                .arg(call_sid)
                .invoke_async(&mut self.conn())
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn set_sticky<'a>(
        &'a self,
        case: &'a str,
        engineer: &'a str,
        at: DateTime<Utc>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("case:{{{case}}}:sticky"));
            self.conn()
                .set_ex(key, super::sticky_value(engineer, at), ttl.as_secs().max(1))
                .await
                .map_err(backend)
        })
    }

    fn sticky<'a>(&'a self, case: &'a str) -> BoxFuture<'a, Result<Option<super::Sticky>, StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("case:{{{case}}}:sticky"));
            let value: Option<String> = self.conn().get(key).await.map_err(backend)?;
            Ok(value.as_deref().and_then(super::parse_sticky))
        })
    }

    fn end_session<'a>(&'a self, session: &'a str, ttl: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("session:{{{session}}}:ended"));
            self.conn()
                .set_ex(key, "1", ttl.as_secs().max(1))
                .await
                .map_err(backend)
        })
    }

    fn session_ended<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.key(&format!("session:{{{session}}}:ended"));
            self.conn().exists(key).await.map_err(backend)
        })
    }

    fn record_change<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(change).map_err(|e| StoreError::Backend(e.to_string()))?;
            let key = self.key("changes");
            // One key, so one slot in a cluster: the push and the trim go together.
            redis::pipe()
                .atomic()
                .lpush(&key, json)
                .ignore()
                .ltrim(&key, 0, MAX_CHANGES as isize - 1)
                .ignore()
                .query_async::<()>(&mut self.conn())
                .await
                .map_err(backend)
        })
    }

    fn changes(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Change>, StoreError>> {
        Box::pin(async move {
            let limit = limit.min(MAX_CHANGES);
            if limit == 0 {
                return Ok(Vec::new());
            }
            let items: Vec<String> = self
                .conn()
                .lrange(self.key("changes"), 0, limit as isize - 1)
                .await
                .map_err(backend)?;
            items
                .iter()
                .map(|item| serde_json::from_str(item).map_err(|e| StoreError::Corrupt(format!("a change: {e}"))))
                .collect()
        })
    }

    // Calendar feeds: one hash, token digest → the feed's JSON. A handful of feeds: listing and revoking
    // read it whole.

    fn put_feed<'a>(&'a self, digest: &'a str, feed: Feed) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.hset_json("feeds", digest, serde_json::to_string(&feed)).await })
    }

    fn feed<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Feed>, StoreError>> {
        Box::pin(async move {
            let json: Option<String> = self.conn().hget(self.key("feeds"), digest).await.map_err(backend)?;
            json.map(|json| serde_json::from_str(&json).map_err(|e| corrupt("feed", e)))
                .transpose()
        })
    }

    fn feeds(&self) -> BoxFuture<'_, Result<Vec<Feed>, StoreError>> {
        Box::pin(async move {
            let all: BTreeMap<String, String> = self.conn().hgetall(self.key("feeds")).await.map_err(backend)?;
            let mut feeds = all
                .values()
                .map(|json| serde_json::from_str(json).map_err(|e| corrupt("feed", e)))
                .collect::<Result<Vec<Feed>, _>>()?;
            super::sort_feeds(&mut feeds);
            Ok(feeds)
        })
    }

    fn revoke_feed<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let all: BTreeMap<String, String> = self.conn().hgetall(self.key("feeds")).await.map_err(backend)?;
            // A feed's id is the start of its digest, the field it is kept under.
            let fields: Vec<&String> = all
                .keys()
                .filter(|digest| digest.get(..crate::oncall::feed_tokens::ID_LEN) == Some(id))
                .collect();
            if fields.is_empty() {
                return Ok(false);
            }
            let removed: u64 = self.conn().hdel(self.key("feeds"), fields).await.map_err(backend)?;
            Ok(removed > 0)
        })
    }

    fn put_calendar<'a>(
        &'a self,
        rotation: &'a str,
        copy: CalendarCopy,
        shifts: Vec<ImportedShift>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.calendar_key(rotation);
            let copy = serde_json::to_string(&copy).map_err(|e| corrupt("calendar", e))?;
            let shifts = serde_json::to_string(&shifts).map_err(|e| corrupt("calendar shifts", e))?;
            // One step (MULTI, one slot): a replica never reads shifts of another copy than the one kept.
            redis::pipe()
                .atomic()
                .set(&key, copy)
                .ignore()
                .set(format!("{key}:shifts"), shifts)
                .ignore()
                .query_async::<()>(&mut self.conn())
                .await
                .map_err(backend)
        })
    }

    fn calendar<'a>(&'a self, rotation: &'a str) -> BoxFuture<'a, Result<Option<CalendarCopy>, StoreError>> {
        Box::pin(async move {
            let json: Option<String> = self.conn().get(self.calendar_key(rotation)).await.map_err(backend)?;
            json.map(|json| serde_json::from_str(&json).map_err(|e| corrupt("calendar", e)))
                .transpose()
        })
    }
}
