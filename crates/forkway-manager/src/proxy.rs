//! Proxies: typed handles to objects that live in a manager's server.
//!
//! A proxy owns one *reference* to its object; the server deletes the object when the last
//! reference is released. References move the way Rust values do:
//! - `clone()` asks the server for one more;
//! - dropping a proxy releases its reference;
//! - serializing a proxy (a pool task's argument, an item in a queue) counts one more reference
//!   *for the bytes*, in flight until the proxy decoded from them claims it — so a proxy may be
//!   sent and its sender dropped (or exit) at once without the object vanishing in between;
//! - a proxy moved into a [`Process`](forkway_process::Process)'s closure is owned by the child:
//!   the parent's leftover copy puts its reference in flight, and the child claims it.
//!
//! Each reference is a random token the server gave its holder: a client can release only the
//! references it holds, and a process's references are released when it exits or is killed.
//!
//! The authkey is never part of a proxy's bytes: the receiving process uses the key it knows
//! for that manager. A proxy decodes only for a manager the process started, inherited from the
//! parent that started it, or [`connect`](crate::Manager::connect)ed to; bytes naming any other
//! address are refused ([`ManagerError::Untrusted`]) without connecting there.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

use crate::client;
use crate::connection::Address;
use crate::error::ManagerError;
use crate::protocol::{Call, Reply, Request, Token, Wait};

pub(crate) mod handle {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// One reference to one object in one manager.
    pub struct Handle {
        pub(crate) address: Address,
        pub(crate) id: u64,
        pub(crate) tag: &'static str,
        /// `None`: this process's authkey.
        pub(crate) authkey: Option<Arc<[u8]>>,
        /// The reference's token: the server releases a reference only to whoever shows it.
        pub(crate) token: Token,
        /// The process whose session holds the reference. Another process — a forked child
        /// that inherited the proxy, or the decoder of a proxy's bytes (0) — claims it before
        /// its first use, so that it is released if that process dies.
        pub(crate) holder: AtomicU32,
    }

    impl Handle {
        /// A handle for a reference this process's session holds.
        pub(crate) fn new(
            address: Address,
            id: u64,
            tag: &'static str,
            authkey: Option<Arc<[u8]>>,
            token: Token,
        ) -> Handle {
            Handle {
                address,
                id,
                tag,
                authkey,
                token,
                holder: AtomicU32::new(std::process::id()),
            }
        }

        /// Sends a request as is (no claim first).
        pub(crate) fn send(&self, request: &Request) -> Result<Reply, ManagerError> {
            client::call(&self.address, self.authkey.as_deref(), request)
        }

        /// Sends a request, after claiming the reference for this process if it is not ours yet.
        pub(crate) fn request(&self, request: &Request) -> Result<Reply, ManagerError> {
            let pid = std::process::id();
            if self.holder.load(Ordering::Relaxed) != pid {
                self.send(&Request::Claim {
                    id: self.id,
                    token: self.token,
                })?;
                self.holder.store(pid, Ordering::Relaxed);
            }
            self.send(request)
        }

        pub(crate) fn call(&self, call: Call) -> Result<Reply, ManagerError> {
            self.request(&Request::Call { id: self.id, call })
        }

        /// A new reference to the same object: held by this process, or in flight (for a
        /// proxy's bytes).
        pub(crate) fn new_ref(&self, in_flight: bool) -> Result<Token, ManagerError> {
            match self.request(&Request::Incref {
                id: self.id,
                token: self.token,
                tag: self.tag.to_owned(),
                in_flight,
            })? {
                Reply::Ref { token, .. } => Ok(token),
                other => Err(unexpected(&other)),
            }
        }

        /// A second reference to the same object.
        pub(crate) fn incref(&self) -> Result<Handle, ManagerError> {
            let token = self.new_ref(false)?;
            Ok(Handle::new(
                self.address.clone(),
                self.id,
                self.tag,
                self.authkey.clone(),
                token,
            ))
        }
    }

    impl Drop for Handle {
        fn drop(&mut self) {
            // After a shutdown there is nothing left to release; no error to report from a drop.
            let _ = if forkway_process::target_moved_to_child() {
                // The child owns this reference now: it is no longer this process's, so that
                // this process's exit does not release it (the child claims it).
                self.send(&Request::Detach {
                    id: self.id,
                    token: self.token,
                })
            } else {
                self.send(&Request::Decref {
                    id: self.id,
                    token: self.token,
                })
            };
        }
    }
}

use handle::Handle;
use private::Sealed as _;

/// A proxy type: [`QueueProxy`], [`DictProxy`], [`ListProxy`], [`ValueProxy`], [`LockProxy`],
/// [`EventProxy`]. Sealed: the server knows only these kinds.
pub trait Proxy: Sized + private::Sealed {
    /// The object's id in its manager.
    fn id(&self) -> u64;
    /// The manager's address.
    fn address(&self) -> &Address;
}

pub(crate) mod private {
    /// Builds a proxy around a reference.
    pub trait Sealed {
        /// This proxy type's tag, checked by the server before it hands out a reference.
        fn tag() -> &'static str;
        fn from_handle(handle: super::Handle) -> Self;
        fn handle(&self) -> &super::Handle;
    }
}

/// How a proxy found inside a reply takes its reference: an item *taken* from the server
/// (a queue's `get`, a `pop`) brings the reference its bytes held; an item *copied* (a dict's
/// `get`) needs one of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    Moved,
    Copied,
}

thread_local! {
    static ARRIVAL: std::cell::Cell<Arrival> = const { std::cell::Cell::new(Arrival::Moved) };
}

/// Decodes a value from the server, telling any proxies inside how they arrived.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], arrival: Arrival) -> Result<T, ManagerError> {
    let before = ARRIVAL.with(|a| a.replace(arrival));
    let out = forkway_ipc::codec::decode::<T>(bytes).map_err(ManagerError::from);
    ARRIVAL.with(|a| a.set(before));
    out
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<ByteBuf, ManagerError> {
    forkway_ipc::codec::encode(value)
        .map(ByteBuf::from)
        .map_err(ManagerError::from)
}

/// A proxy's bytes: where its object lives, what type it is, and the token of the reference
/// the bytes carry — no key.
#[derive(Serialize, Deserialize)]
struct WireProxy {
    address: WireAddress,
    id: u64,
    tag: String,
    token: Token,
}

#[derive(Serialize, Deserialize)]
enum WireAddress {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

fn serialize_handle<S: Serializer>(handle: &Handle, s: S) -> Result<S::Ok, S::Error> {
    // The bytes carry a reference of their own, in flight until whoever decodes them claims it.
    let token = handle.new_ref(true).map_err(|e| {
        serde::ser::Error::custom(format!("cannot send a proxy for object {}: {e}", handle.id))
    })?;
    WireProxy {
        address: match &handle.address {
            Address::Unix(p) => WireAddress::Unix(p.clone()),
            Address::Tcp(a) => WireAddress::Tcp(*a),
        },
        id: handle.id,
        tag: handle.tag.to_owned(),
        token,
    }
    .serialize(s)
}

fn deserialize_handle<'de, D: Deserializer<'de>>(d: D, tag: &'static str) -> Result<Handle, D::Error> {
    let wire = WireProxy::deserialize(d)?;
    let address = match wire.address {
        WireAddress::Unix(p) => Address::Unix(p),
        WireAddress::Tcp(a) => Address::Tcp(a),
    };
    // Bytes can come from anyone: a proxy may only lead to a manager this process already
    // trusts. Connecting elsewhere would answer that server's challenge with our key — and a
    // relay there could pass the answer on to a real manager and walk in.
    let Some(authkey) = client::trusted_key(&address) else {
        return Err(serde::de::Error::custom(ManagerError::Untrusted { address }));
    };
    let arrival = ARRIVAL.with(std::cell::Cell::get);
    let handle = Handle::new(address, wire.id, tag, authkey, wire.token);
    if wire.tag != tag {
        let message = format!("object {} is a {}, not a {tag}", wire.id, short(&wire.tag));
        if arrival == Arrival::Copied {
            std::mem::forget(handle); // it holds no reference to give back
        }
        // A moved reference is released by dropping the handle.
        return Err(serde::de::Error::custom(message));
    }
    match arrival {
        Arrival::Moved => {
            // In flight until now: claimed (and so tied to this process) at its first use.
            handle.holder.store(0, std::sync::atomic::Ordering::Relaxed);
            Ok(handle)
        }
        Arrival::Copied => {
            // The bytes stay in the server with their reference; we take one of our own.
            let own = handle
                .incref()
                .map_err(|e| serde::de::Error::custom(e.to_string()));
            std::mem::forget(handle);
            own
        }
    }
}

/// `forkway_manager::proxy::DictProxy<alloc::string::String, u32>` → `DictProxy<String, u32>`.
pub(crate) fn short(tag: &str) -> String {
    let mut result = String::new();
    let mut word = String::new();
    for c in tag.chars() {
        if matches!(c, '<' | '>' | ',' | ' ' | '(' | ')') {
            result.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            result.push(c);
        } else {
            word.push(c);
        }
    }
    result.push_str(word.rsplit("::").next().unwrap_or(&word));
    result
}

macro_rules! proxy_type {
    ($(#[$doc:meta])* $name:ident < $($t:ident),* >) => {
        $(#[$doc])*
        pub struct $name<$($t),*> {
            handle: Handle,
            _types: PhantomData<fn() -> ($($t,)*)>,
        }

        impl<$($t),*> private::Sealed for $name<$($t),*> {
            fn tag() -> &'static str {
                std::any::type_name::<Self>()
            }
            fn from_handle(handle: Handle) -> Self {
                $name { handle, _types: PhantomData }
            }
            fn handle(&self) -> &Handle {
                &self.handle
            }
        }

        impl<$($t),*> Proxy for $name<$($t),*> {
            fn id(&self) -> u64 {
                self.handle.id
            }
            fn address(&self) -> &Address {
                &self.handle.address
            }
        }

        impl<$($t),*> $name<$($t),*> {
            /// Another proxy for the same object (one more reference, counted by the server).
            ///
            /// # Errors
            /// [`ManagerError::Unreachable`]/[`ManagerError::Lost`] when the manager is gone.
            pub fn try_clone(&self) -> Result<Self, ManagerError> {
                Ok(Self::from_handle(self.handle.incref()?))
            }
        }

        /// # Panics
        /// When the manager cannot be reached; use [`try_clone`](Self::try_clone) to handle that.
        impl<$($t),*> Clone for $name<$($t),*> {
            fn clone(&self) -> Self {
                match self.try_clone() {
                    Ok(p) => p,
                    Err(e) => panic!("cannot clone a {}: {e}", short(Self::tag())),
                }
            }
        }

        impl<$($t),*> Serialize for $name<$($t),*> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_handle(&self.handle, s)
            }
        }

        impl<'de, $($t),*> Deserialize<'de> for $name<$($t),*> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::from_handle(deserialize_handle(d, Self::tag())?))
            }
        }

        /// Python's repr: `<DictProxy object, typeid 'dict' at …>`.
        impl<$($t),*> std::fmt::Debug for $name<$($t),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "<{} object {} at {}>", short(Self::tag()), self.handle.id, self.handle.address)
            }
        }
    };
}

fn wait_for(timeout: Duration) -> Wait {
    Wait::For(timeout)
}

fn unexpected(reply: &Reply) -> ManagerError {
    ManagerError::Remote(format!("unexpected reply {reply:?}"))
}

fn items<T: DeserializeOwned>(reply: Reply, arrival: Arrival) -> Result<Vec<T>, ManagerError> {
    match reply {
        Reply::Items(items) => items.iter().map(|b| decode(b, arrival)).collect(),
        other => Err(unexpected(&other)),
    }
}

fn maybe<T: DeserializeOwned>(reply: Reply, arrival: Arrival) -> Result<Option<T>, ManagerError> {
    match reply {
        Reply::MaybeItem(None) => Ok(None),
        Reply::MaybeItem(Some(b)) => decode(&b, arrival).map(Some),
        other => Err(unexpected(&other)),
    }
}

fn item<T: DeserializeOwned>(reply: Reply, arrival: Arrival) -> Result<T, ManagerError> {
    match reply {
        Reply::Item(b) => decode(&b, arrival),
        other => Err(unexpected(&other)),
    }
}

fn count(reply: Reply) -> Result<usize, ManagerError> {
    match reply {
        Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        other => Err(unexpected(&other)),
    }
}

fn flag(reply: Reply) -> Result<bool, ManagerError> {
    match reply {
        Reply::Flag(b) => Ok(b),
        other => Err(unexpected(&other)),
    }
}

fn done(reply: Reply) -> Result<(), ManagerError> {
    match reply {
        Reply::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

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
