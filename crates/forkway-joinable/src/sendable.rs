//! A [`JoinableQueue`] that can be handed to a forkserver or spawn child (lesson 7).
//!
//! A joinable queue is two shared things: its queue and its task count. Made with
//! [`JoinableQueue::new_sendable`], both live in memfds, and as a target's argument the queue
//! serializes as the pair of them — so `task_done` in the child lowers the count that the
//! parent's `join` waits on, and a consumer killed holding tasks is reported as with fork.

use std::io;
use std::sync::Arc;

use forkway_sys::fds::{take_memfd, MemfdRef};
use forkway_sys::Shm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{JoinableQueue, Queue};

impl<T> JoinableQueue<T> {
    /// An unbounded joinable queue that can also be passed to a forkserver or spawn child as a
    /// target's argument (lesson 7). It costs two descriptors per process that holds it.
    ///
    /// # Errors
    /// The OS error when a memfd cannot be made or mapped.
    pub fn new_sendable() -> io::Result<JoinableQueue<T>> {
        JoinableQueue::with_queue(Queue::new_sendable()?, true)
    }
}

/// The task count's memfd first, then the queue: an ordinary joinable queue fails with
/// Python's message for a `JoinableQueue`.
impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tasks = MemfdRef {
            memfd: self.tasks.memfd(),
            python: "JoinableQueue",
            rust: "JoinableQueue",
        };
        (tasks, &self.queue).serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (index, queue) = <(u32, Queue<T>)>::deserialize(deserializer)?;
        let fd = take_memfd(index, "JoinableQueue", "JoinableQueue")?;
        let tasks = Shm::from_memfd(fd, 4096).map_err(serde::de::Error::custom)?;
        Ok(JoinableQueue {
            queue,
            tasks: Arc::new(tasks),
        })
    }
}
