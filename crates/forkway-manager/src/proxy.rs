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
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::connection::Address;
use crate::error::ManagerError;
use crate::protocol::{Call, Reply, Wait};

pub(crate) mod handle;
mod wire;

pub(crate) use wire::{decode, encode, short, Arrival};
use wire::{deserialize_handle, serialize_handle};

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

mod dict;
mod list;
mod queue;
mod shared;

pub use dict::DictProxy;
pub use list::ListProxy;
pub use queue::QueueProxy;
pub use shared::{EventProxy, LockProxy, ValueProxy};
