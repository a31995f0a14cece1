//! The pool's own serde format: what a chunk's arguments and results travel as.
//!
//! A map of many tiny tasks spends almost all of its time turning values into bytes and back,
//! so the format is made for that: compact (an integer below 251 is one byte; larger ones a tag
//! byte and 2, 4, 8 or 16 bytes, little-endian; signed integers zigzagged first), and with a
//! small error type, so that decoding a `u64` is a few instructions and a predictable branch.
//! Everything else is laid out as bincode would: a sequence, map, string or byte string is its
//! length then its contents, a struct or tuple its fields in order, an enum its variant's index
//! then its fields, an `Option` a 0 or 1 byte then the value.
//!
//! Decoding takes bytes from another process, so it must hold against any bytes at all: a
//! corrupt or truncated frame is an error, never a panic, a hang or a huge allocation.
//! - A string or byte string may not announce more bytes than remain.
//! - A sequence or map reports at most the bytes that remain as its size hint, so serde's
//!   collections pre-allocate no more than a small multiple of the frame.
//! - Elements announced in a frame are counted: at most [`ELEMENT_BUDGET`] plus 16 per byte, so
//!   a few bytes announcing 2⁶⁴ zero-sized elements cannot keep a decoder looping.
//! - Nesting is limited to [`MAX_DEPTH`], so a recursive type cannot exhaust the stack.

use std::fmt::Display;

use serde::de::{self, DeserializeOwned};
use serde::ser::{self, Serialize};

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub(crate) use decode::Decoder;
pub(crate) use encode::Encoder;

/// Why a value did not encode, or bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormatError(Box<str>);

impl Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

impl ser::Error for FormatError {
    fn custom<T: Display>(msg: T) -> Self {
        FormatError(msg.to_string().into())
    }
}

impl de::Error for FormatError {
    fn custom<T: Display>(msg: T) -> Self {
        FormatError(msg.to_string().into())
    }
}

impl FormatError {
    fn new(msg: &str) -> FormatError {
        FormatError(msg.into())
    }
}

fn eof() -> FormatError {
    FormatError::new("the message ends in the middle of a value (truncated or corrupt)")
}

type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Elements (of sequences and maps) a frame may announce beyond 16 per byte of the frame: room
/// for long sequences of zero-sized values (`()`), which take no bytes at all.
pub(crate) const ELEMENT_BUDGET: u64 = 1 << 28;

/// The deepest nesting of sequences, structs, enums and options a frame may hold.
pub(crate) const MAX_DEPTH: u32 = 256;

const TAG_U16: u8 = 251;
const TAG_U32: u8 = 252;
const TAG_U64: u8 = 253;
const TAG_U128: u8 = 254;

/// Appends `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(&mut Encoder { out })
}

/// Decodes a whole frame as a `T`; bytes left over are an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let mut decoder = Decoder::new(bytes);
    let value = T::deserialize(&mut decoder)?;
    decoder.finish()?;
    Ok(value)
}
