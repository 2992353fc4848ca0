//! The Redis store: the source of truth for rotations, overrides, policies and call records, shared by every
//! replica.
//!
//! The keys it writes, their types and lifetimes are documented once, in `docs/oncall.md` ("Redis key
//! layout"): keep that table true when a key changes. Keys that a script changes together share a cluster
//! hash tag (`{...}`), so they live in one slot.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::{Arc, RwLock};

use redis::aio::ConnectionManager;
use redis::sentinel::Sentinel;
use redis::{AsyncCommands, Script};

use super::{Store, StoreError};
use crate::BoxFuture;
use crate::calllog::{CallClose, CallEntry, CallRecord, MAX_ENTRIES_PER_CALL};
use crate::oncall::model::{Engineer, OnCallData, Override, Policy, Rotation};
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

/// Closes a call's working record into the log, once: KEYS are the once-marker, the entries list, the log
/// stream and the webhooks hash ([`APPEND_ENTRY`]); ARGV the CallSid, the status and the duration (as JSON),
/// the log's length and the cap of entries a call. Builds the record's JSON (`CallRecord`) from at most the
/// cap of entries (`started` from the first, the latest value of each summary field, the events in order),
/// adds it to the stream, sets the marker (for a day: later webhooks of the call add nothing) and deletes the
/// working record. Returns 1 when it closed the record, 0 when it was closed already or there is none.
const CLOSE_CALL: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local entries = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[5]) - 1)
if #entries == 0 then
  return 0
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
local dropped = tonumber(redis.call('HGET', KEYS[4], 'dropped') or '0') or 0
local record = '{"call_sid":' .. cjson.encode(ARGV[1])
  .. ',"started":' .. (started and cjson.encode(started) or 'null')
  .. ',"summary":' .. summary_json
  .. ',"events":[' .. table.concat(events, ',') .. ']'
  .. ',"status":' .. ARGV[2] .. ',"duration_secs":' .. ARGV[3]
  .. ',"entries_dropped":' .. string.format('%d', dropped) .. '}'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'record', record)
redis.call('DEL', KEYS[2], KEYS[4])
return 1
"#;

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

/// The SHA1 that `EVALSHA` names [`APPEND_ENTRY`] by, computed once.
static APPEND_ENTRY_SHA: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| Script::new(APPEND_ENTRY).get_hash().to_owned());

#[derive(Clone)]
pub struct RedisStore {
    /// The connection to the primary; replaced when Sentinel names a new primary.
    connection: Arc<RwLock<ConnectionManager>>,
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

/// A lazily connecting manager: 1 s to connect, 500 ms for an answer, reconnecting in the background.
fn manager(client: redis::Client) -> Result<ConnectionManager, StoreError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(2);
    ConnectionManager::new_lazy_with_config(client, config).map_err(backend)
}

fn backend(error: redis::RedisError) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn corrupt(what: &str, error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

impl RedisStore {
    /// A store on `url` (`redis://host:port/db`). The connection is made lazily and remade in the background
    /// after a failure; a command fails after 500 ms without an answer.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        Ok(Self::on(manager(client)?, prefix))
    }

    /// A store on the primary that Redis Sentinel names for `master_name`, asking `sentinels` (URLs of
    /// Sentinel nodes). A task asks again every second and moves to the new primary after a failover.
    pub fn with_sentinel(sentinels: &[String], master_name: &str, prefix: &str) -> Result<Self, StoreError> {
        let mut sentinel = Sentinel::build(sentinels.to_vec()).map_err(backend)?;
        let client = sentinel.master_for(master_name, None).map_err(backend)?;
        let mut primary = client.get_connection_info().addr().to_string();
        tracing::info!(%primary, master_name, "Redis primary from Sentinel");
        let store = Self::on(manager(client)?, prefix);
        let (connection, name) = (Arc::downgrade(&store.connection), master_name.to_owned());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SENTINEL_POLL);
            loop {
                ticks.tick().await;
                let Some(connection) = connection.upgrade() else { return };
                let asked = tokio::time::timeout(SENTINEL_POLL, sentinel.async_master_for(&name, None)).await;
                let Ok(Ok(client)) = asked else { continue };
                let address = client.get_connection_info().addr().to_string();
                if address == primary {
                    continue;
                }
                match manager(client) {
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

    fn on(manager: ConnectionManager, prefix: &str) -> Self {
        Self {
            connection: Arc::new(RwLock::new(manager)),
            prefix: prefix.to_owned(),
        }
    }

    /// The connection to the current primary. The manager multiplexes: concurrent webhooks share its one
    /// connection without waiting for each other's replies.
    fn conn(&self) -> ConnectionManager {
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
                .zrange(format!("{key}:overrides"), 0, -1);
        }
        let rows: Vec<(Option<String>, Option<u64>, Vec<String>)> = if ids.is_empty() {
            Vec::new()
        } else {
            let flat: Vec<redis::Value> = pipe.query_async(&mut connection).await.map_err(backend)?;
            let parsing = |e: redis::ParsingError| StoreError::Corrupt(e.to_string());
            flat.chunks(3)
                .filter(|c| c.len() == 3)
                .map(|c| {
                    Ok((
                        redis::from_redis_value_ref(&c[0]).map_err(parsing)?,
                        redis::from_redis_value_ref(&c[1]).map_err(parsing)?,
                        redis::from_redis_value_ref(&c[2]).map_err(parsing)?,
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
        for (id, (json, version, overrides)) in ids.into_iter().zip(rows) {
            let Some(json) = json else { continue };
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

    fn count_call<'a>(
        &'a self,
        from: &'a str,
        call_sid: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let seconds = window.as_secs().max(1);
            let slot = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() / seconds);
            let key = self.key(&format!("rate:{{{from}}}:{slot}"));
            // One round trip: add the call to the window's set, count the set, let it expire after the window.
            let (count,): (u64,) = redis::pipe()
                .sadd(&key, call_sid)
                .ignore()
                .scard(&key)
                .expire(&key, seconds as i64)
                .ignore()
                .query_async(&mut self.conn())
                .await
                .map_err(backend)?;
            Ok(count)
        })
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
            // One round trip: the script is loaded (a no-op when Redis has it) and run once per call.
            let mut pipe = redis::pipe();
            pipe.cmd("SCRIPT").arg("LOAD").arg(CLOSE_CALL).ignore();
            for close in closes {
                let sid = &close.call_sid;
                let json = |value: Result<String, serde_json::Error>| value.map_err(|e| corrupt("call status", e));
                pipe.cmd("EVALSHA")
                    .arg(CLOSE_CALL_SHA.as_str())
                    .arg(4)
                    .arg(self.key(&format!("call:{{{sid}}}:once:logged")))
                    .arg(self.key(&format!("call:{{{sid}}}:entries")))
                    .arg(self.key("calls"))
                    .arg(self.key(&format!("call:{{{sid}}}:webhooks")))
                    .arg(sid)
                    .arg(json(serde_json::to_string(&close.status))?)
                    .arg(json(serde_json::to_string(&close.duration_secs))?)
                    .arg(close.max_records.max(1))
                    .arg(MAX_ENTRIES_PER_CALL);
            }
            let mut connection = self.conn();
            let closed: Vec<i64> = pipe.query_async(&mut connection).await.map_err(backend)?;
            Ok(closed.into_iter().map(|c| c == 1).collect())
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
}
