//! Redis behind Sentinel: the store finds the primary through Sentinel, authenticates to it with the password
//! from the environment, and follows a failover by itself. A primary and a replica (both with a password) and a
//! Sentinel are started here on free ports; `scripts/test` installs redis-server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use afterhours::store::redis::{Access, RedisStore, Topology};
use afterhours::store::{Store, import};
use secrecy::SecretString;

/// The primary's and the replica's password (`requirepass`; the replica's `masterauth`, Sentinel's
/// `auth-pass`).
const PASSWORD: &str = "sentinel-test-password";

/// A redis-server (or Sentinel) process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(args: &[&str]) -> Server {
    let child = Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed: run the tests with ./scripts/test");
    Server(child)
}

/// `args` sent to the server on `port`: with the password, except to the Sentinel, which has none.
async fn query(port: u16, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let url = match args {
        ["INFO", "sentinel"] => format!("redis://127.0.0.1:{port}"),
        _ => format!("redis://:{PASSWORD}@127.0.0.1:{port}"),
    };
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut connection).await
}

/// Waits until `check` holds, for up to `seconds`.
async fn until<F: AsyncFn() -> bool>(seconds: u64, what: &str, check: F) {
    for _ in 0..seconds * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting: {what}");
}

async fn info_has(port: u16, section: &str, needle: &str) -> bool {
    match query(port, &["INFO", section]).await {
        Ok(redis::Value::BulkString(bytes)) => String::from_utf8_lossy(&bytes).contains(needle),
        Ok(redis::Value::VerbatimString { text, .. }) => text.contains(needle),
        _ => false,
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afterhours-sentinel-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_store_finds_the_primary_through_sentinel_and_follows_a_failover() {
    let (primary_port, replica_port, sentinel_port) = (free_port(), free_port(), free_port());
    let dir = temp_dir();
    let (p, r) = (primary_port.to_string(), replica_port.to_string());
    let work = dir.to_str().unwrap();
    let mut primary = Some(spawn(&[
        "--port",
        &p,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        work,
        "--requirepass",
        PASSWORD,
        "--masterauth",
        PASSWORD,
    ]));
    let replica_dir = dir.join("replica");
    std::fs::create_dir_all(&replica_dir).unwrap();
    let _replica = spawn(&[
        "--port",
        &r,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        replica_dir.to_str().unwrap(),
        "--replicaof",
        "127.0.0.1",
        &p,
        "--requirepass",
        PASSWORD,
        "--masterauth",
        PASSWORD,
    ]);
    let config = dir.join("sentinel.conf");
    std::fs::write(
        &config,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {primary_port} 1\n\
             sentinel down-after-milliseconds mymaster 500\nsentinel failover-timeout mymaster 3000\nsentinel auth-pass mymaster {PASSWORD}\n",
            dir.display()
        ),
    )
    .unwrap();
    let _sentinel = spawn(&[config.to_str().unwrap(), "--sentinel"]);
    until(10, "the replica syncs", || {
        info_has(replica_port, "replication", "master_link_status:up")
    })
    .await;
    until(10, "Sentinel sees the replica", || {
        info_has(sentinel_port, "sentinel", "slaves=1")
    })
    .await;

    let sentinels = vec![format!("redis://127.0.0.1:{sentinel_port}")];
    let topology = Topology::Sentinel {
        nodes: sentinels,
        master_name: "mymaster".into(),
    };
    let access = Access {
        password: Some(SecretString::from(PASSWORD.to_owned())),
        ..Access::default()
    };
    let store = RedisStore::open(&topology, &access, "ha:").unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml");
    import(&store, &afterhours::oncall::file::load(&file).unwrap())
        .await
        .unwrap();
    // Make sure the replica has it all before the primary goes.
    query(primary_port, &["WAIT", "1", "2000"]).await.unwrap();
    assert_eq!(store.load().await.unwrap().rotations.len(), 3);

    drop(primary.take());

    // Sentinel's failover takes a few seconds; the bound is generous for a machine busy with other builds.
    until(60, "the store works on the new primary", || async {
        let Ok(data) = store.load().await else { return false };
        let Some(rotation) = data.rotations.get("primary").cloned() else {
            return false;
        };
        store.replace_rotation(rotation, None).await.is_ok()
    })
    .await;
    assert!(
        info_has(replica_port, "replication", "role:master").await,
        "the replica was promoted"
    );
    assert_eq!(store.load().await.unwrap().engineers.len(), 4, "nothing was lost");
    let _ = std::fs::remove_dir_all(&dir);
}
