//! The test harness's Redis is really there: `scripts/test` starts a redis-server and names it in
//! AFTERHOURS_TEST_REDIS_URL. Tests that need Redis fail loudly without it; none skips.
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
