//! A background task that starts on first use: what lets the call log's writer and the Redis store's
//! auto-pipeline be made outside a runtime (at configuration time, in tests, by the command line) and spawn
//! their task only once something is sent to them, inside one.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};

/// A task to spawn once, the first time [`Deferred::start`] is called.
pub struct Deferred {
    /// Set once the task is spawned: later starts are one atomic read, no lock.
    started: OnceLock<()>,
    waiting: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl Deferred {
    pub fn new(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            started: OnceLock::new(),
            waiting: Mutex::new(Some(Box::pin(task))),
        }
    }

    /// Spawns the task on the current runtime, the first time; later calls do nothing. Must be called from
    /// within a Tokio runtime.
    pub fn start(&self) {
        self.started.get_or_init(|| {
            let taken = self.waiting.lock().ok().and_then(|mut waiting| waiting.take());
            if let Some(task) = taken {
                tokio::spawn(task);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_task_runs_once_however_often_it_is_started() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let deferred = Deferred::new(async move {
            let _ = sender.send("ran");
        });
        deferred.start();
        deferred.start();
        assert_eq!(receiver.recv().await, Some("ran"));
        assert_eq!(receiver.recv().await, None, "the sender is dropped after one run");
    }
}
