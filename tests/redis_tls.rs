//! Redis over TLS (`rediss://`, rustls): a private CA's certificate is trusted through `redis.ca_file`, a
//! certificate nobody vouches for is refused, and the whole store works over the encrypted connection. The
//! redis-server (started here, TLS port and password) and the certificates (made with the openssl command
//! line) are the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/redis_servers.rs"]
#[allow(dead_code)]
mod redis_servers;

use std::path::Path;
use std::time::Duration;

use afterhours::calllog::{CallClose, CallEntry, CallEvent};
use afterhours::oncall::file;
use afterhours::store::redis::{Access, RedisStore, Topology};
use afterhours::store::{Store, import};
use chrono::Utc;
use redis_servers::{Pki, RedisServer, afterhours};
use secrecy::SecretString;

const PASSWORD: &str = "tls-and-a-password";

fn oncall() -> afterhours::oncall::model::OnCallData {
    file::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")).unwrap()
}

fn access(ca_pem: Option<Vec<u8>>) -> Access {
    Access {
        username: None,
        password: Some(SecretString::from(PASSWORD.to_owned())),
        ca_pem,
    }
}

#[tokio::test]
async fn the_whole_store_works_over_tls_trusting_a_private_ca() {
    let pki = Pki::new();
    let (_redis, tls_port) = RedisServer::start_tls(&pki, &["--requirepass", PASSWORD]);
    let topology = Topology::Single(format!("rediss://localhost:{tls_port}/0"));
    let store = RedisStore::open(&topology, &access(Some(pki.ca_pem())), "tls:").unwrap();

    let data = oncall();
    import(&store, &data).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.rotations.len(), data.rotations.len());
    assert_eq!(loaded.policies.len(), data.policies.len());

    let now = Utc::now();
    let sid = "CAtls000000000000000000000000000000";
    let entry = CallEntry {
        call_sid: sid.into(),
        webhook: "incoming".into(),
        started: now,
        summary: vec![("from".into(), "+1555***4567".into())],
        events: vec![CallEvent {
            at: now,
            what: "answered".into(),
        }],
        ttl: Duration::from_secs(600),
    };
    store.append_entries(&[entry]).await.unwrap();
    let close = CallClose {
        call_sid: sid.into(),
        status: Some("completed".into()),
        duration_secs: Some(42),
        max_records: 100,
    };
    assert_eq!(
        store.close_calls(std::slice::from_ref(&close)).await.unwrap(),
        vec![true]
    );
    assert_eq!(store.close_calls(&[close]).await.unwrap(), vec![false], "closed once");
    let calls = store.calls(None, 10).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].call_sid, sid);
}

#[tokio::test]
async fn a_certificate_no_trusted_authority_signed_is_refused() {
    let pki = Pki::new();
    let (_redis, tls_port) = RedisServer::start_tls(&pki, &["--requirepass", PASSWORD]);
    let topology = Topology::Single(format!("rediss://localhost:{tls_port}/0"));
    // The system's roots do not know the test's CA.
    let store = RedisStore::open(&topology, &access(None), "tls:").unwrap();
    let refused = store.load().await;
    let error = refused.expect_err("a TLS server that no trusted CA vouches for was accepted");
    assert!(error.to_string().contains("certificate"), "{error}");
    // Plain text to the TLS port gets nowhere either.
    let plain = RedisStore::open(
        &Topology::Single(format!("redis://localhost:{tls_port}/0")),
        &access(None),
        "tls:",
    )
    .unwrap();
    assert!(plain.load().await.is_err());
}

#[tokio::test]
async fn check_reaches_redis_over_tls_with_the_ca_file_setting() {
    let pki = Pki::new();
    let (_redis, tls_port) = RedisServer::start_tls(&pki, &["--requirepass", PASSWORD]);
    let url = format!("rediss://localhost:{tls_port}/0");
    let seeded = RedisStore::open(
        &Topology::Single(url.clone()),
        &access(Some(pki.ca_pem())),
        "afterhours:",
    )
    .unwrap();
    import(&seeded, &oncall()).await.unwrap();

    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
    let ca_file = pki.ca_cert.to_str().unwrap();
    let (ok, stdout, stderr) = afterhours(
        env!("CARGO_BIN_EXE_afterhours"),
        &config,
        &["check"],
        &[
            ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "test-token"),
            ("AFTERHOURS_REDIS__URL", &url),
            ("AFTERHOURS_REDIS__CA_FILE", ca_file),
            ("AFTERHOURS_REDIS__PASSWORD", PASSWORD),
        ],
    );
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.is_empty(), "check warned: {stderr}");
    assert!(!stdout.contains(PASSWORD), "{stdout}");
}

/// A one-node Redis Cluster (every slot on it) that speaks TLS to clients and asks for a password: the
/// cluster client takes the CA and the credentials for every node it learns of.
#[tokio::test]
async fn a_cluster_over_tls_with_a_password_works_with_the_private_ca() {
    let pki = Pki::new();
    let bus = redis_servers::free_port().to_string();
    let (redis, tls_port) = RedisServer::start_tls(
        &pki,
        &[
            "--requirepass",
            PASSWORD,
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus,
            "--tls-cluster",
            "yes",
        ],
    );
    // Every slot to the one node, over its plain port; then wait for the cluster to say ok.
    let plain = redis::Client::open(format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port)).unwrap();
    let mut admin = plain.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut admin)
        .await
        .unwrap();
    let mut info = String::new();
    for _ in 0..100 {
        info = redis::cmd("CLUSTER").arg("INFO").query_async(&mut admin).await.unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(info.contains("cluster_state:ok"), "{info}");

    let topology = Topology::Cluster(vec![format!("rediss://127.0.0.1:{tls_port}")]);
    let store = RedisStore::open(&topology, &access(Some(pki.ca_pem())), "tls-cluster:").unwrap();
    let data = oncall();
    import(&store, &data).await.unwrap();
    assert_eq!(store.load().await.unwrap().rotations.len(), data.rotations.len());

    let unknown = RedisStore::open(&topology, &access(None), "tls-cluster:").unwrap();
    assert!(
        unknown.load().await.is_err(),
        "the test CA is not in the system's roots"
    );
}
