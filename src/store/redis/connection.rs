//! The Redis store's connection: one Redis (named by URL or by Sentinel) or a Redis Cluster, behind one
//! [`Connection`] that every command, pipeline and script of the store goes through, so that the store's
//! operations are written once for all three. Also how a connection is opened: the credentials and the TLS
//! trust ([`Access`]), the time limits.
//!
//! In a cluster a pipeline may only name keys of one hash slot. The store's pipelines batch many calls or
//! rotations, so [`Connection`] splits a pipeline by slot and sends the parts at once, each to its node; the
//! answers come back in the pipeline's order. Scripts are not split: each names the keys of one slot.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};
use secrecy::{ExposeSecret, SecretString};

/// Connecting gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A command fails after this long without an answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// What a connection needs besides an address: the credentials, and the certificate authorities that a
/// `rediss://` server's certificate must chain to (none: the system's roots). Prints without the secrets.
#[derive(Clone, Default)]
pub struct Access {
    /// The ACL user; without it, AUTH names the default user.
    pub username: Option<SecretString>,
    pub password: Option<SecretString>,
    /// PEM certificates of a private CA, trusted instead of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("username", &self.username.as_ref().map(|_| "[REDACTED]"))
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "set"))
            .finish()
    }
}

impl Access {
    /// `url`'s connection details with these credentials.
    pub(super) fn info(&self, url: &str) -> RedisResult<ConnectionInfo> {
        let info = url.into_connection_info()?;
        let redis = self.apply(info.redis_settings().clone());
        Ok(info.set_redis_settings(redis))
    }

    /// `settings` with these credentials.
    pub(super) fn apply(&self, mut settings: redis::RedisConnectionInfo) -> redis::RedisConnectionInfo {
        if let Some(username) = &self.username {
            settings = settings.set_username(username.expose_secret());
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password.expose_secret());
        }
        settings
    }

    /// The private CA, for the crate's TLS set-up.
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        self.ca_pem.as_ref().map(|pem| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        })
    }

    /// A client for `info`, trusting the private CA when the address is TLS.
    pub(super) fn client(&self, info: ConnectionInfo) -> RedisResult<redis::Client> {
        match self.certificates() {
            Some(certificates) if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) => {
                redis::Client::build_with_tls(info, certificates)
            }
            _ => redis::Client::open(info),
        }
    }
}

/// A connection to the store's Redis, cheap to clone: clones share the underlying connections.
#[derive(Clone)]
pub(super) enum Connection {
    /// One Redis: a manager that connects lazily, multiplexes and reconnects in the background.
    Single(ConnectionManager),
    /// A cluster: commands go to the node of their key's slot, following the cluster's redirections.
    Cluster(ClusterConnection),
}

impl Connection {
    /// A lazily connecting manager for one Redis: 1 s to connect, 500 ms for an answer.
    pub(super) fn single(client: redis::Client) -> RedisResult<Self> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2);
        ConnectionManager::new_lazy_with_config(client, config).map(Self::Single)
    }

    /// A cluster found through `nodes`, connected in the background: the first command waits for it.
    pub(super) fn cluster(nodes: &[String], access: &Access) -> RedisResult<Self> {
        let infos = nodes
            .iter()
            .map(|url| access.info(url))
            .collect::<RedisResult<Vec<_>>>()?;
        let mut builder = redis::cluster::ClusterClient::builder(infos)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(2);
        if let Some(certificates) = access.certificates() {
            builder = builder.certs(certificates);
        }
        let client = builder.build()?;
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        Ok(Self::Cluster(client.get_pending_async_connection_with_config(config)))
    }
}

/// The slot of the key a command names, as the store's commands name them: the first argument, or the first
/// key of a script; `None` for a command without a key (`SCRIPT LOAD`).
fn slot_of(cmd: &Cmd) -> Option<Slot> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?.to_ascii_uppercase();
    match name.as_slice() {
        b"SCRIPT" | b"PING" | b"INFO" => None,
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" => {
            let _script = args.next()?;
            let count = std::str::from_utf8(args.next()?).ok()?.parse::<usize>().ok()?;
            if count == 0 {
                return None;
            }
            args.next().map(Slot::for_key)
        }
        _ => args.next().map(Slot::for_key),
    }
}

/// Sends `pipeline` to a cluster one slot at a time, the parts at once; keyless commands (`SCRIPT LOAD`) go
/// with every part, since a script must be known to the node that runs it. Answers in the pipeline's order.
async fn split_by_slot(connection: &ClusterConnection, pipeline: &Pipeline) -> RedisResult<Vec<Value>> {
    let commands: Vec<&Cmd> = pipeline.cmd_iter().collect();
    let slots: Vec<Option<Slot>> = commands.iter().map(|cmd| slot_of(cmd)).collect();
    let mut part_of: HashMap<Slot, usize> = HashMap::new();
    for slot in slots.iter().flatten() {
        let next = part_of.len();
        part_of.entry(*slot).or_insert(next);
    }
    if part_of.len() <= 1 {
        let mut connection = connection.clone();
        return connection.req_packed_commands(pipeline, 0, commands.len()).await;
    }
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); part_of.len()];
    for (index, slot) in slots.iter().enumerate() {
        match slot.and_then(|slot| part_of.get(&slot)) {
            Some(&part) => parts[part].push(index),
            None => parts.iter_mut().for_each(|part| part.push(index)),
        }
    }
    let sends = parts.into_iter().map(|indices| {
        let mut connection = connection.clone();
        let mut part = redis::pipe();
        for &index in &indices {
            part.add_command(commands[index].clone());
        }
        async move {
            let values = connection.req_packed_commands(&part, 0, indices.len()).await?;
            Ok::<_, redis::RedisError>((indices, values))
        }
    });
    let mut answers: Vec<Option<Value>> = vec![None; commands.len()];
    for (indices, values) in futures_util::future::try_join_all(sends).await? {
        for (index, value) in indices.into_iter().zip(values) {
            answers[index].get_or_insert(value);
        }
    }
    Ok(answers.into_iter().map(|a| a.unwrap_or(Value::Nil)).collect())
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            // A transaction stays whole: the cluster refuses it if it spans slots.
            Self::Cluster(connection) => {
                if pipeline.is_transaction() {
                    connection.req_packed_commands(pipeline, offset, count)
                } else {
                    Box::pin(split_by_slot(connection, pipeline))
                }
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_in_its_first_keys_slot_and_a_script_in_its_first_keys() {
        let key = "p:call:{CA1}:entries";
        assert_eq!(slot_of(redis::cmd("RPUSH").arg(key).arg("x")), Some(Slot::for_key(key)));
        let script = redis::cmd("EVALSHA")
            .arg("abc")
            .arg(2)
            .arg("p:call:{CA1}:once:logged")
            .arg(key)
            .arg("CA1")
            .clone();
        assert_eq!(slot_of(&script), Some(Slot::for_key("{CA1}")));
        assert_eq!(slot_of(redis::cmd("EVALSHA").arg("abc").arg(0).arg("argument")), None);
        assert_eq!(slot_of(redis::cmd("SCRIPT").arg("LOAD").arg("return 1")), None);
    }

    #[test]
    fn access_prints_without_its_secrets() {
        let access = Access {
            username: Some(SecretString::from("alice".to_owned())),
            password: Some(SecretString::from("hunter2".to_owned())),
            ca_pem: None,
        };
        let printed = format!("{access:?}");
        assert!(!printed.contains("alice") && !printed.contains("hunter2"), "{printed}");
    }
}
