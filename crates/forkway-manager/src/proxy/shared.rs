//! Python's `Manager().Value()`, `Lock()` and `Event()`.

use super::*;

proxy_type! {
    /// One value in the manager: Python's `Manager().Value(typecode, v)` (the typecode is
    /// ignored there too). `set(get() + 1)` is two round trips and not atomic: that race is the
    /// lesson-3 counter's, one network hop wider.
    ValueProxy<T>
}

impl<T: Serialize + DeserializeOwned> ValueProxy<T> {
    /// The value (a copy). Python's `v.value`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn get(&self) -> Result<T, ManagerError> {
        item(self.handle.call(Call::ValueGet)?, Arrival::Copied)
    }

    /// Replaces the value. Python's `v.value = x`.
    ///
    /// # Errors
    /// The connection and encoding errors.
    pub fn set(&self, value: &T) -> Result<(), ManagerError> {
        done(self.handle.call(Call::ValueSet {
            value: encode(value)?,
        })?)
    }
}

proxy_type! {
    /// A lock in the manager: Python's `Manager().Lock()`, a `threading.Lock` in the server.
    /// Ownership is not tied to a process — one process may acquire and another release, as
    /// in Python — so a holder that is killed leaves it locked: use
    /// [`acquire_timeout`](Self::acquire_timeout), or, among processes of one program, the
    /// lesson-3 [`Lock`](https://docs.rs/forkway-sync), which notices its owner's death.
    /// A process killed while it *waits* for the lock never takes it.
    LockProxy<>
}

impl LockProxy {
    /// Waits for the lock and takes it.
    ///
    /// # Errors
    /// The connection errors.
    pub fn acquire(&self) -> Result<(), ManagerError> {
        flag(self.handle.call(Call::Acquire { wait: Wait::Forever })?).map(drop)
    }

    /// Takes the lock if it is free now. Python's `acquire(False)`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn try_acquire(&self) -> Result<bool, ManagerError> {
        flag(self.handle.call(Call::Acquire { wait: Wait::Never })?)
    }

    /// Waits at most `timeout` for the lock. Python's `acquire(timeout=t)`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        flag(self.handle.call(Call::Acquire {
            wait: wait_for(timeout),
        })?)
    }

    /// Releases the lock, whoever took it.
    ///
    /// # Errors
    /// [`ManagerError::ReleaseUnlocked`] when it is not locked (Python's RuntimeError).
    pub fn release(&self) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Release)?)
    }
}

proxy_type! {
    /// An event in the manager: Python's `Manager().Event()`.
    EventProxy<>
}

impl EventProxy {
    /// Sets the flag and wakes every waiter.
    ///
    /// # Errors
    /// The connection errors.
    pub fn set(&self) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Set)?)
    }

    /// Clears the flag.
    ///
    /// # Errors
    /// The connection errors.
    pub fn clear(&self) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Unset)?)
    }

    /// Whether the flag is set.
    ///
    /// # Errors
    /// The connection errors.
    pub fn is_set(&self) -> Result<bool, ManagerError> {
        flag(self.handle.call(Call::IsSet)?)
    }

    /// Waits until the flag is set.
    ///
    /// # Errors
    /// The connection errors.
    pub fn wait(&self) -> Result<(), ManagerError> {
        flag(self.handle.call(Call::WaitSet { wait: Wait::Forever })?).map(drop)
    }

    /// Waits at most `timeout`; whether the flag was set.
    ///
    /// # Errors
    /// The connection errors.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ManagerError> {
        flag(self.handle.call(Call::WaitSet {
            wait: wait_for(timeout),
        })?)
    }
}
