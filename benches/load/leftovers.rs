//! What earlier measurements left in Redis: the working records of calls that never ended (each replayed
//! webhook is a fresh call), once-markers, acceptances, guesses and the cases' ringing and sticky records.
//! Production's keyspace holds the calls of the last day; a load test creates hundreds of thousands a minute, and Redis would spend the next
//! measurement growing and rehashing its key table. They are removed before each measurement, so each one
//! starts from the same keyspace (the rotation data is kept).

use redis::AsyncCommands;

/// Deletes the keys under `prefix` that hold calls (`call:*`), guesses (`guesses:*`) and cases' ringing and
/// sticky records (`case:*`). Returns how many.
pub(crate) async fn remove(url: &str, prefix: &str) -> Result<u64, String> {
    let client = redis::Client::open(url).map_err(|e| format!("Redis at {url}: {e}"))?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("Redis at {url}: {e}"))?;
    let mut removed = 0;
    for pattern in [
        format!("{prefix}call:*"),
        format!("{prefix}guesses:*"),
        format!("{prefix}case:*"),
    ] {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut connection)
                .await
                .map_err(|e| format!("SCAN: {e}"))?;
            if !keys.is_empty() {
                let count: u64 = connection.unlink(&keys).await.map_err(|e| format!("UNLINK: {e}"))?;
                removed += count;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(removed)
}
