//! Python's `Manager().Queue()`.

use super::*;

proxy_type! {
    /// A queue in the manager: Python's `Manager().Queue()`. Unlike a lesson-2
    /// [`Queue`](forkway_ipc::Queue) it can be handed to processes that were not forked from
    /// its maker — pool workers, above all — because it travels as an address.
    QueueProxy<T>
}

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// Puts an item, waiting for room in a bounded queue. It takes the item, as
    /// [`Queue::put`](forkway_ipc::Queue::put) does; the item is encoded here, so a value that
    /// does not serialize fails now.
    ///
    /// # Errors
    /// [`ManagerError::Encode`] when `item` does not serialize; the connection errors.
    pub fn put(&self, item: T) -> Result<(), ManagerError> {
        self.put_waiting(&item, Wait::Forever)
    }

    /// Puts an item, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`ManagerError::Full`] when no room came in time.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), ManagerError> {
        self.put_waiting(&item, wait_for(timeout))
    }

    /// Puts an item only if there is room now.
    ///
    /// # Errors
    /// [`ManagerError::Full`].
    pub fn put_nowait(&self, item: T) -> Result<(), ManagerError> {
        self.put_waiting(&item, Wait::Never)
    }

    fn put_waiting(&self, item: &T, wait: Wait) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Put {
            item: encode(item)?,
            wait,
        })?)
    }

    /// Takes the oldest item, waiting for one.
    ///
    /// # Errors
    /// [`ManagerError::Decode`] when the item is not a `T`; the connection errors.
    pub fn get(&self) -> Result<T, ManagerError> {
        item(
            self.handle.call(Call::Get { wait: Wait::Forever })?,
            Arrival::Moved,
        )
    }

    /// Takes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`ManagerError::Empty`] when nothing came in time.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, ManagerError> {
        item(
            self.handle.call(Call::Get {
                wait: wait_for(timeout),
            })?,
            Arrival::Moved,
        )
    }

    /// Takes the oldest item if there is one now.
    ///
    /// # Errors
    /// [`ManagerError::Empty`].
    pub fn get_nowait(&self) -> Result<T, ManagerError> {
        item(self.handle.call(Call::Get { wait: Wait::Never })?, Arrival::Moved)
    }

    /// How many items are queued (a snapshot, as in Python).
    ///
    /// # Errors
    /// The connection errors.
    pub fn qsize(&self) -> Result<usize, ManagerError> {
        count(self.handle.call(Call::Len)?)
    }

    /// Whether the queue is empty (a snapshot).
    ///
    /// # Errors
    /// The connection errors.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.qsize()? == 0)
    }
}
