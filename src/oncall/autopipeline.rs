//! Auto-pipelining for the commands a webhook waits on (the rate-limit count, the acceptance of a dial, the
//! once-per-call claims): while one round trip to Redis is in flight, the commands that concurrent webhooks
//! send queue up, and all of them go in the next round trip, as one pipeline.
//!
//! An idle line pays one round trip per webhook, as with a plain connection. Under load, each webhook's
//! share of a round trip (the socket write and read, the wake-ups of the connection's task, Redis reading a
//! request) shrinks with the number of webhooks that share it, where a plain multiplexed connection writes
//! each command as soon as it is sent and so pays them per webhook.

use std::sync::{Arc, RwLock};

use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, Value};
use tokio::sync::{mpsc, oneshot};

use super::redis_store::Counted;
use super::store::StoreError;
use crate::background::Deferred;

/// Webhooks' command groups that may wait for the next round trip; past that, a group fails at once.
const QUEUE: usize = 8192;
/// The most groups sent in one round trip.
const BATCH: usize = 256;

/// One webhook's commands and where their replies go.
struct Group {
    commands: Vec<Cmd>,
    reply: oneshot::Sender<Result<Vec<Value>, StoreError>>,
}

/// Sends groups of commands to Redis, the groups that queued up meanwhile together. Cheap to clone.
#[derive(Clone)]
pub(super) struct AutoPipeline {
    queue: mpsc::Sender<Group>,
    task: Arc<Deferred>,
}

impl AutoPipeline {
    /// Sends through the connection in `connection` (read again for every round trip: it is replaced after a
    /// Sentinel failover). The task starts with the first query.
    pub(super) fn new(connection: Arc<RwLock<ConnectionManager>>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Self {
            queue,
            task: Arc::new(Deferred::new(run(receiver, connection))),
        }
    }

    /// Runs `commands` in order, in one round trip with whatever else is waiting, and returns their replies
    /// read as `T` (a tuple of one value per command, or a `Vec`). A command Redis refused fails the group.
    pub(super) async fn query<T: FromRedisValue>(&self, commands: Vec<Cmd>) -> Result<T, StoreError> {
        self.task.start();
        let (reply, replied) = oneshot::channel();
        self.queue
            .try_send(Group { commands, reply })
            .map_err(|_| StoreError::Backend(format!("{QUEUE} webhooks are already waiting for Redis")))?;
        let values = replied
            .await
            .map_err(|_| StoreError::Backend("the Redis pipeline stopped".to_owned()))??;
        if let Some(Value::ServerError(error)) = values.iter().find(|v| matches!(v, Value::ServerError(_))) {
            return Err(StoreError::Backend(format!("Redis refused a command: {error:?}")));
        }
        redis::from_redis_value(Value::Array(values)).map_err(|e| StoreError::Backend(e.to_string()))
    }
}

async fn run(mut queue: mpsc::Receiver<Group>, connection: Arc<RwLock<ConnectionManager>>) {
    let mut groups = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut groups, BATCH).await > 0 {
        // A webhook that stopped waiting (its deadline passed) still has its commands sent: an acceptance or a
        // count written late is still right, and a later webhook of the call may read it.
        let mut pipe = redis::pipe();
        // Each group's replies, errors included, go back to it: one group's refused command is not another's.
        pipe.ignore_errors();
        let mut sizes = Vec::with_capacity(groups.len());
        for group in &mut groups {
            sizes.push(group.commands.len());
            for command in group.commands.drain(..) {
                pipe.add_command(command);
            }
        }
        let mut connection = Counted::of(&connection);
        match pipe.query_async::<Vec<Value>>(&mut connection).await {
            Ok(values) => {
                let mut values = values.into_iter();
                for (group, size) in groups.drain(..).zip(sizes) {
                    let _ = group.reply.send(Ok(values.by_ref().take(size).collect()));
                }
            }
            Err(error) => {
                let error = StoreError::Backend(error.to_string());
                for group in groups.drain(..) {
                    let _ = group.reply.send(Err(error.clone()));
                }
            }
        }
    }
}
