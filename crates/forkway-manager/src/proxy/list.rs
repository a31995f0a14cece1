//! Python's `Manager().list()`.

use super::*;

proxy_type! {
    /// A list in the manager: Python's `Manager().list()`.
    ListProxy<T>
}

impl<T: Serialize + DeserializeOwned> ListProxy<T> {
    /// Appends an item. Python's `l.append(x)`.
    ///
    /// # Errors
    /// The connection and encoding errors.
    pub fn push(&self, item: &T) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Push { item: encode(item)? })?)
    }

    /// Appends many items in one round trip. Python's `l.extend(xs)` / `l += xs`.
    ///
    /// # Errors
    /// The connection and encoding errors; nothing is appended if one item does not encode.
    pub fn extend<'a>(&self, items: impl IntoIterator<Item = &'a T>) -> Result<(), ManagerError>
    where
        T: 'a,
    {
        let items = items.into_iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        done(self.handle.call(Call::Extend { items })?)
    }

    /// The item at `index` (a copy), `None` past the end. Python's `l[i]`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn get(&self, index: usize) -> Result<Option<T>, ManagerError> {
        maybe(
            self.handle.call(Call::ListGet { index: index as u64 })?,
            Arrival::Copied,
        )
    }

    /// Replaces the item at `index`, returning the old one. Python's `l[i] = x`.
    ///
    /// # Errors
    /// [`ManagerError::IndexOutOfRange`] past the end.
    pub fn set(&self, index: usize, item: &T) -> Result<T, ManagerError> {
        let reply = self.handle.call(Call::ListSet {
            index: index as u64,
            item: encode(item)?,
        })?;
        self::item(reply, Arrival::Moved)
    }

    /// Inserts an item before `index` (`index == len` appends). Python's `l.insert(i, x)`.
    ///
    /// # Errors
    /// [`ManagerError::IndexOutOfRange`] past the end.
    pub fn insert(&self, index: usize, item: &T) -> Result<(), ManagerError> {
        done(self.handle.call(Call::ListInsert {
            index: index as u64,
            item: encode(item)?,
        })?)
    }

    /// Removes and returns the last item. Python's `l.pop()`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn pop(&self) -> Result<Option<T>, ManagerError> {
        maybe(self.handle.call(Call::ListPop)?, Arrival::Moved)
    }

    /// Removes and returns the item at `index`. Python's `l.pop(i)`.
    ///
    /// # Errors
    /// [`ManagerError::IndexOutOfRange`] past the end.
    pub fn remove(&self, index: usize) -> Result<T, ManagerError> {
        item(
            self.handle.call(Call::ListRemove { index: index as u64 })?,
            Arrival::Moved,
        )
    }

    /// How many items. Python's `len(l)`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn len(&self) -> Result<usize, ManagerError> {
        count(self.handle.call(Call::Len)?)
    }

    /// Whether the list is empty.
    ///
    /// # Errors
    /// The connection errors.
    pub fn is_empty(&self) -> Result<bool, ManagerError> {
        Ok(self.len()? == 0)
    }

    /// A plain `Vec` copy. Python's `l[:]` / `list(l)`.
    ///
    /// # Errors
    /// The connection and decoding errors.
    pub fn to_vec(&self) -> Result<Vec<T>, ManagerError> {
        items(self.handle.call(Call::ToVec)?, Arrival::Copied)
    }

    /// Removes every item. Python's `l.clear()`.
    ///
    /// # Errors
    /// The connection errors.
    pub fn clear(&self) -> Result<(), ManagerError> {
        done(self.handle.call(Call::Clear)?)
    }

    /// Iterates by index, one round trip per item — like Python's iterator over a list proxy,
    /// it sees items appended while it runs, and ends at the first index past the end.
    pub fn iter(&self) -> impl Iterator<Item = Result<T, ManagerError>> + '_ {
        let mut index = 0;
        std::iter::from_fn(move || {
            let next = self.get(index).transpose();
            index += 1;
            next
        })
    }
}
