//! Python's `Manager().dict()`.

use super::*;

proxy_type! {
    /// A map in the manager: Python's `Manager().dict()`. Keys keep their insertion order, as
    /// a Python dict's do. Every method is one round trip to the server; a read-modify-write
    /// (`insert(k, get(k) + 1)`) is two, and not atomic — hold a [`LockProxy`] around it.
    DictProxy<K, V>
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> DictProxy<K, V> {
    /// The value for `key` (a copy). Python's `d.get(k)`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn get(&self, key: &K) -> Result<Option<V>, ManagerError> {
        maybe(
            self.handle.call(Call::DictGet { key: encode(key)? })?,
            Arrival::Copied,
        )
    }

    /// Sets `key` to `value`, returning the old value. Python's `d[k] = v`.
    ///
    /// # Errors
    /// The connection and encoding errors.
    pub fn insert(&self, key: &K, value: &V) -> Result<Option<V>, ManagerError> {
        maybe(
            self.handle.call(Call::DictInsert {
                key: encode(key)?,
                value: encode(value)?,
            })?,
            Arrival::Moved,
        )
    }

    /// Sets many keys in one round trip. Python's `d.update(pairs)`.
    ///
    /// # Errors
    /// The connection and encoding errors; nothing is set if one pair does not encode.
    pub fn update<'a>(&self, pairs: impl IntoIterator<Item = (&'a K, &'a V)>) -> Result<(), ManagerError>
    where
        K: 'a,
        V: 'a,
    {
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| Ok((encode(k)?, encode(v)?)))
            .collect::<Result<Vec<_>, ManagerError>>()?;
        done(self.handle.call(Call::DictUpdate { pairs })?)
    }

    /// Removes `key`, returning its value. Python's `d.pop(k, None)`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn remove(&self, key: &K) -> Result<Option<V>, ManagerError> {
        maybe(
            self.handle.call(Call::DictRemove { key: encode(key)? })?,
            Arrival::Moved,
        )
    }

    /// Whether `key` is present. Python's `k in d`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn contains_key(&self, key: &K) -> Result<bool, ManagerError> {
        flag(self.handle.call(Call::DictContains { key: encode(key)? })?)
    }

    /// How many entries. Python's `len(d)`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn len(&self) -> Result<usize, ManagerError> {
        count(self.handle.call(Call::Len)?)
    }

    /// Whether there are no entries.
    ///
    /// # Errors
    /// The connection errors.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// The keys, in insertion order (a snapshot). Python's `d.keys()`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn keys(&self) -> Result<Vec<K>, ManagerError> {
        items(self.handle.call(Call::Keys)?, Arrival::Copied)
    }

    /// The values, in insertion order (a snapshot). Python's `d.values()`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn values(&self) -> Result<Vec<V>, ManagerError> {
        items(self.handle.call(Call::Values)?, Arrival::Copied)
    }

    /// The entries, in insertion order (a snapshot). Python's `d.items()` / `d.copy()`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn items(&self) -> Result<Vec<(K, V)>, ManagerError> {
        match self.handle.call(Call::Items)? {
            Reply::Pairs(pairs) => pairs
                .iter()
                .map(|(k, v)| Ok((decode(k, Arrival::Copied)?, decode(v, Arrival::Copied)?)))
                .collect(),
            other => Err(unexpected(&other)),
        }
    }

    /// Removes every entry. Python's `d.clear()`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn clear(&self) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Clear)?)
    }
}
