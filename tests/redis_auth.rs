//! Redis that asks for a password (`requirepass`) or an ACL user: the credentials come from the environment
//! (`AFTERHOURS_REDIS__USERNAME`, `AFTERHOURS_REDIS__PASSWORD`), reach Redis, and never show; wrong ones give
//! an error that says so. The Redis here is a private redis-server of each test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/redis_servers.rs"]
#[allow(dead_code)]
mod redis_servers;

use std::path::Path;

use std::time::Duration;

use afterhours::calllog::{CallClose, CallEntry};
use afterhours::oncall::file;
use afterhours::store::redis::{Access, CREDENTIALS_REFUSED, RedisStore, Topology};
use afterhours::store::{Store, import};
use chrono::Utc;
use redis_servers::{RedisServer, afterhours};
use secrecy::SecretString;

const PASSWORD: &str = "correct-horse-battery-staple";

fn shipped_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml")
}

fn store(port: u16, username: Option<&str>, password: Option<&str>) -> RedisStore {
    let access = Access {
        username: username.map(|u| SecretString::from(u.to_owned())),
        password: password.map(|p| SecretString::from(p.to_owned())),
        ca_pem: None,
    };
    RedisStore::open(&Topology::Single(format!("redis://127.0.0.1:{port}")), &access, "auth:").unwrap()
}

#[tokio::test]
async fn the_password_from_the_environment_opens_redis_and_a_wrong_one_is_named() {
    let redis = RedisServer::start(&["--requirepass", PASSWORD]);
    let data = file::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")).unwrap();

    let good = store(redis.port, None, Some(PASSWORD));
    import(&good, &data).await.unwrap();
    assert_eq!(good.load().await.unwrap().rotations.len(), data.rotations.len());

    for (what, wrong) in [
        ("a wrong password", store(redis.port, None, Some("not-the-password"))),
        ("no password", store(redis.port, None, None)),
    ] {
        let error = wrong.load().await.unwrap_err().to_string();
        assert!(error.contains(CREDENTIALS_REFUSED), "{what}: {error}");
        assert!(error.contains("AFTERHOURS_REDIS__PASSWORD"), "{what}: {error}");
        assert!(
            !error.contains(PASSWORD) && !error.contains("not-the-password"),
            "{what}: {error}"
        );
    }
}

#[tokio::test]
async fn an_acl_user_from_the_environment_opens_redis() {
    // The rule docs/operations.md suggests: the service's prefix, no dangerous commands.
    let redis = RedisServer::start(&[
        "--user",
        "afterhours",
        "on",
        ">s3cret-acl",
        "~auth:*",
        "+@all",
        "-@dangerous",
    ]);
    let user = store(redis.port, Some("afterhours"), Some("s3cret-acl"));
    // Everything the service does: the import (scripts), the load (pipelines), a call closed into the log.
    let data = file::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")).unwrap();
    import(&user, &data).await.unwrap();
    assert_eq!(user.load().await.unwrap().engineers.len(), data.engineers.len());
    let entry = CallEntry {
        call_sid: "CAacl".into(),
        webhook: "incoming".into(),
        started: Utc::now(),
        summary: vec![("line".into(), "us".into())],
        events: Vec::new(),
        ttl: Duration::from_secs(60),
    };
    user.append_entries(&[entry]).await.unwrap();
    let close = CallClose {
        call_sid: "CAacl".into(),
        status: None,
        duration_secs: None,
        max_records: 10,
    };
    assert_eq!(user.close_calls(&[close]).await.unwrap(), [true]);
    assert_eq!(user.calls(None, 10).await.unwrap().len(), 1);

    let error = store(redis.port, Some("afterhours"), Some("wrong"))
        .load()
        .await
        .unwrap_err();
    assert!(error.to_string().contains(CREDENTIALS_REFUSED), "{error}");
}

#[tokio::test]
async fn check_uses_the_password_from_the_environment_and_never_shows_it() {
    let redis = RedisServer::start(&["--requirepass", PASSWORD]);
    let data = file::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/oncall.toml")).unwrap();
    let seeded = RedisStore::open(
        &Topology::Single(format!("redis://127.0.0.1:{}", redis.port)),
        &Access {
            password: Some(SecretString::from(PASSWORD.to_owned())),
            ..Access::default()
        },
        "afterhours:",
    )
    .unwrap();
    import(&seeded, &data).await.unwrap();

    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let bin = env!("CARGO_BIN_EXE_afterhours");
    let base = [
        ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "test-token"),
        ("AFTERHOURS_REDIS__URL", url.as_str()),
    ];
    let with = |password: &'static str| {
        let mut env = base.to_vec();
        env.push(("AFTERHOURS_REDIS__PASSWORD", password));
        env
    };

    let (ok, stdout, stderr) = afterhours(bin, &shipped_config(), &["check"], &with(PASSWORD));
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stdout}{stderr}"
    );

    let (ok, stdout, stderr) = afterhours(bin, &shipped_config(), &["check"], &with("guessed-wrong"));
    assert!(!ok, "a wrong password fails check: {stdout}{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error: ") && l.contains(CREDENTIALS_REFUSED)),
        "{stderr}"
    );
    assert!(
        !stdout.contains("guessed-wrong") && !stderr.contains("guessed-wrong"),
        "{stdout}{stderr}"
    );
}
