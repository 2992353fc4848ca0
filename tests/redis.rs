//! The test harness's Redis is really there: `scripts/test` starts a redis-server and names it in
//! AFTERHOURS_TEST_REDIS_URL, and a three-primary Redis Cluster named in AFTERHOURS_TEST_REDIS_CLUSTER_URLS.
//! Tests that need them fail loudly without them; none skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn the_test_redis_server_answers_ping() {
    let url = std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server");
    let address = url.trim_start_matches("redis://").trim_end_matches('/');
    let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("no Redis at {address}: {e}"));
    stream.write_all(b"PING\r\n").unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
}

#[test]
fn the_test_redis_cluster_is_up_with_three_primaries() {
    let urls = std::env::var("AFTERHOURS_TEST_REDIS_CLUSTER_URLS").expect(
        "AFTERHOURS_TEST_REDIS_CLUSTER_URLS is not set: run the tests with ./scripts/test, which starts a Redis Cluster",
    );
    let nodes: Vec<&str> = urls.split(',').collect();
    assert_eq!(nodes.len(), 3, "{urls}");
    for node in nodes {
        let address = node.trim_start_matches("redis://").trim_end_matches('/');
        let mut stream = TcpStream::connect(address).unwrap_or_else(|e| panic!("no Redis at {address}: {e}"));
        stream.write_all(b"CLUSTER INFO\r\n").unwrap();
        let mut reply = vec![0u8; 4096];
        let read = stream.read(&mut reply).unwrap();
        let info = String::from_utf8_lossy(&reply[..read]);
        assert!(info.contains("cluster_state:ok"), "{address}: {info}");
        assert!(info.contains("cluster_size:3"), "{address}: {info}");
    }
}
