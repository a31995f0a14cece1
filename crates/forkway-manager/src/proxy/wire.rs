//! A proxy's bytes, and the values inside replies: how references travel.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

use crate::client;
use crate::connection::Address;
use crate::error::ManagerError;
use crate::protocol::Token;

use super::handle::Handle;

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

pub(super) fn serialize_handle<S: Serializer>(handle: &Handle, s: S) -> Result<S::Ok, S::Error> {
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

pub(super) fn deserialize_handle<'de, D: Deserializer<'de>>(
    d: D,
    tag: &'static str,
) -> Result<Handle, D::Error> {
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
