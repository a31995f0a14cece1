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

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

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

// ----- encoding -----

/// Writes values at the end of a buffer.
pub(crate) struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    #[inline(always)]
    fn unsigned(&mut self, v: u64) {
        if v < u64::from(TAG_U16) {
            self.out.push(v as u8);
        } else {
            self.wide(v);
        }
    }

    /// An integer of 251 or more: its tag, then its low 2, 4 or 8 bytes.
    #[inline(always)]
    fn wide(&mut self, v: u64) {
        let (tag, len) = if v <= u64::from(u16::MAX) {
            (TAG_U16, 3)
        } else if v <= u64::from(u32::MAX) {
            (TAG_U32, 5)
        } else {
            (TAG_U64, 9)
        };
        let mut bytes = [0u8; 9];
        bytes[0] = tag;
        bytes[1..].copy_from_slice(&v.to_le_bytes());
        // Write all nine bytes and keep `len` of them: two fixed-size stores, where copying
        // `len` bytes would be a call to memcpy.
        self.out.reserve(bytes.len());
        let at = self.out.len();
        // SAFETY: `reserve` made room for nine bytes after `at`, which this initializes; `len`
        // is at most nine.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.out.as_mut_ptr().add(at), bytes.len());
            self.out.set_len(at + len);
        }
    }

    #[inline]
    fn unsigned128(&mut self, v: u128) {
        match u64::try_from(v) {
            Ok(v) => self.unsigned(v),
            Err(_) => {
                self.out.push(TAG_U128);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn len(&mut self, len: Option<usize>) -> Result<()> {
        let len = len.ok_or_else(|| FormatError::new("a sequence or map must know its length to be sent"))?;
        self.unsigned(len as u64);
        Ok(())
    }
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn zigzag128(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

impl<'a> ser::Serializer for &mut Encoder<'a> {
    type Ok = ();
    type Error = FormatError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push(u8::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.out.push(v as u8);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.unsigned(zigzag(v.into()));
        Ok(())
    }
    #[inline]
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.unsigned(zigzag(v.into()));
        Ok(())
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.unsigned(zigzag(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        self.unsigned128(zigzag128(v));
        Ok(())
    }
    #[inline]
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.out.push(v);
        Ok(())
    }
    #[inline]
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.unsigned(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.unsigned(v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.unsigned(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        self.unsigned128(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.unsigned(u64::from(u32::from(v)));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.unsigned(v.len() as u64);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.out.push(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        self.out.push(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> Result<()> {
        self.unsigned(index.into());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.unsigned(index.into());
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self> {
        self.unsigned(index.into());
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self> {
        self.len(len)?;
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self> {
        self.unsigned(index.into());
        Ok(self)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl<'a> ser::$trait for &mut Encoder<'a> {
            type Ok = ();
            type Error = FormatError;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, $($key: &'static str,)? value: &T) -> Result<()> {
                $(let _ = $key;)?
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<()> {
                Ok(())
            }
        }
    };
}
compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);
compound!(SerializeStruct, serialize_field, key);
compound!(SerializeStructVariant, serialize_field, key);

impl<'a> ser::SerializeMap for &mut Encoder<'a> {
    type Ok = ();
    type Error = FormatError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<()> {
        Ok(())
    }
}

// ----- decoding -----

/// Reads values from the front of a frame.
pub(crate) struct Decoder<'de> {
    input: &'de [u8],
    /// Elements the rest of the frame may still announce.
    budget: u64,
    depth: u32,
}

impl<'de> Decoder<'de> {
    pub(crate) fn new(input: &'de [u8]) -> Decoder<'de> {
        Decoder {
            input,
            budget: ELEMENT_BUDGET.saturating_add((input.len() as u64).saturating_mul(16)),
            depth: 0,
        }
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(FormatError(
                format!(
                    "{} bytes left over after the value (corrupt message)",
                    self.input.len()
                )
                .into(),
            ))
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self.input.split_first().ok_or_else(eof)?;
        self.input = rest;
        Ok(b)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (a, rest) = self.input.split_first_chunk::<N>().ok_or_else(eof)?;
        self.input = rest;
        Ok(*a)
    }

    #[inline]
    pub(crate) fn unsigned(&mut self) -> Result<u64> {
        match self.byte()? {
            b if b < TAG_U16 => Ok(b.into()),
            TAG_U16 => Ok(u16::from_le_bytes(self.array()?).into()),
            TAG_U32 => Ok(u32::from_le_bytes(self.array()?).into()),
            TAG_U64 => Ok(u64::from_le_bytes(self.array()?)),
            _ => Err(FormatError::new(
                "an integer too large for its type (corrupt message)",
            )),
        }
    }

    fn unsigned128(&mut self) -> Result<u128> {
        if self.input.first() == Some(&TAG_U128) {
            self.input = &self.input[1..];
            return Ok(u128::from_le_bytes(self.array()?));
        }
        self.unsigned().map(u128::from)
    }

    #[inline]
    fn narrow<T: TryFrom<u64>>(&mut self) -> Result<T> {
        T::try_from(self.unsigned()?)
            .map_err(|_| FormatError::new("an integer too large for its type (corrupt message)"))
    }

    #[inline]
    fn signed(&mut self) -> Result<i64> {
        let v = self.unsigned()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline]
    fn narrow_signed<T: TryFrom<i64>>(&mut self) -> Result<T> {
        T::try_from(self.signed()?)
            .map_err(|_| FormatError::new("an integer too large for its type (corrupt message)"))
    }

    /// A length of that many bytes, which must still be in the frame.
    fn bytes(&mut self) -> Result<&'de [u8]> {
        let len = self.unsigned()?;
        let len = usize::try_from(len).map_err(|_| eof())?;
        if len > self.input.len() {
            return Err(eof());
        }
        let (bytes, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'de str> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|_| FormatError::new("a string that is not UTF-8 (corrupt message)"))
    }

    /// A sequence's or map's length, charged to the frame's element budget.
    pub(crate) fn seq_len(&mut self) -> Result<u64> {
        let len = self.unsigned()?;
        self.budget = self.budget.checked_sub(len).ok_or_else(|| {
            FormatError::new("a sequence longer than any message can hold (corrupt message)")
        })?;
        Ok(len)
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(FormatError::new("values nested too deeply (corrupt message)"));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = FormatError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(FormatError::new(
            "the pool's format is not self-describing: a type that needs deserialize_any cannot travel",
        ))
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            _ => Err(FormatError::new(
                "a bool that is neither 0 nor 1 (corrupt message)",
            )),
        }
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i8(self.byte()? as i8)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i16(self.narrow_signed()?)
    }
    #[inline]
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i32(self.narrow_signed()?)
    }
    #[inline]
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i64(self.signed()?)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let v = self.unsigned128()?;
        visitor.visit_i128(((v >> 1) as i128) ^ -((v & 1) as i128))
    }
    #[inline]
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u8(self.byte()?)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u16(self.narrow()?)
    }
    #[inline]
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u32(self.narrow()?)
    }
    #[inline]
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u64(self.unsigned()?)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u128(self.unsigned128()?)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let c = char::from_u32(self.narrow()?)
            .ok_or_else(|| FormatError::new("an invalid char (corrupt message)"))?;
        visitor.visit_char(c)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.str()?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.str()?)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => self.nest(|d| visitor.visit_some(d)),
            _ => Err(FormatError::new(
                "an Option tag that is neither 0 nor 1 (corrupt message)",
            )),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.nest(|d| visitor.visit_newtype_struct(d))
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let len = self.seq_len()?;
        self.nest(|d| visitor.visit_seq(Elements { de: d, left: len }))
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.nest(|d| {
            visitor.visit_seq(Elements {
                de: d,
                left: len as u64,
            })
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(len, visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let len = self.seq_len()?;
        self.nest(|d| visitor.visit_map(Elements { de: d, left: len }))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(fields.len(), visitor)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.nest(|d| visitor.visit_enum(d))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(FormatError::new("the pool's format has no identifiers"))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(FormatError::new(
            "the pool's format is not self-describing: a value cannot be skipped",
        ))
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The elements of a sequence, tuple or map.
struct Elements<'a, 'de> {
    de: &'a mut Decoder<'de>,
    left: u64,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = FormatError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // What the rest of the frame could hold at one byte per element, at most: a corrupt
        // length then costs no allocation beyond a small multiple of the frame.
        Some(self.left.min(self.de.input.len() as u64) as usize)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = FormatError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.de.input.len() as u64) as usize)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Decoder<'de> {
    type Error = FormatError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let index: u32 = self.narrow()?;
        let value = seed.deserialize(index.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Decoder<'de> {
    type Error = FormatError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, fields.len(), visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Point(i32),
        Pair(u8, String),
        Named { x: f64, tags: Vec<char> },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: u64,
        delta: i64,
        big: u128,
        small: i128,
        flag: bool,
        name: String,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        maybe: Option<Box<Record>>,
        shapes: Vec<Shape>,
        index: BTreeMap<String, (u16, i8)>,
        unit: (),
    }

    fn sample() -> Record {
        let leaf = Record {
            id: 7,
            delta: -1,
            big: 0,
            small: -5,
            flag: false,
            name: String::new(),
            blob: vec![],
            maybe: None,
            shapes: vec![],
            index: BTreeMap::new(),
            unit: (),
        };
        Record {
            id: u64::MAX,
            delta: i64::MIN,
            big: u128::MAX,
            small: i128::MIN,
            flag: true,
            name: "héllo".into(),
            blob: vec![0, 255, 251, 254],
            maybe: Some(Box::new(leaf)),
            shapes: vec![
                Shape::Empty,
                Shape::Point(-300),
                Shape::Pair(9, "x".into()),
                Shape::Named {
                    x: 1.5,
                    tags: vec!['a', '€'],
                },
            ],
            index: [("k".to_owned(), (65535, -128))].into_iter().collect(),
            unit: (),
        }
    }

    fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(value, &mut out).expect("encodes");
        out
    }

    #[test]
    fn integers_round_trip_at_every_width_boundary() {
        let values = [
            0,
            250,
            251,
            255,
            256,
            65535,
            65536,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ];
        let bytes = encode(&values[..]);
        assert_eq!(decode::<Vec<u64>>(&bytes).expect("decodes"), values);
        let signed = [0, 1, -1, 125, -126, i64::from(i32::MIN), i64::MAX, i64::MIN];
        assert_eq!(decode::<Vec<i64>>(&encode(&signed[..])).expect("decodes"), signed);
        assert_eq!(encode(&250u64), [250]);
        assert_eq!(encode(&251u64), [TAG_U16, 251, 0]);
    }

    #[test]
    fn a_nested_value_round_trips() {
        let value = sample();
        assert_eq!(decode::<Record>(&encode(&value)).expect("decodes"), value);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample());
        for end in 0..bytes.len() {
            assert!(
                decode::<Record>(&bytes[..end]).is_err(),
                "prefix of {end} bytes decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let error = decode::<Record>(&longer).expect_err("a byte left over");
        assert!(error.to_string().contains("left over"), "{error}");
    }

    #[test]
    fn a_huge_announced_length_is_an_error_without_allocating() {
        // A string, a byte string and a vector each announcing 2^63 elements in a few bytes.
        let mut huge = vec![TAG_U64];
        huge.extend_from_slice(&(1u64 << 63).to_le_bytes());
        assert!(decode::<String>(&huge).is_err());
        assert!(decode::<serde_bytes::ByteBuf>(&huge).is_err());
        assert!(decode::<Vec<u64>>(&huge).is_err());
        assert!(decode::<Vec<Vec<u64>>>(&huge).is_err());
        assert!(decode::<BTreeMap<u64, u64>>(&huge).is_err());
    }

    #[test]
    fn zero_sized_elements_cannot_keep_the_decoder_looping() {
        let mut huge = vec![TAG_U64];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        let started = std::time::Instant::now();
        let error = decode::<Vec<()>>(&huge).expect_err("2^64 units");
        assert!(error.to_string().contains("longer than"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // A long sequence of units is still fine.
        let units = vec![(); 1_000_000];
        assert_eq!(
            decode::<Vec<()>>(&encode(&units)).expect("decodes").len(),
            1_000_000
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Chain(Option<Box<Chain>>);
        // 100 000 levels of Some(...), as a hostile peer could send in 100 000 bytes.
        let bytes = vec![1u8; 100_000];
        let error = decode::<Chain>(&bytes).expect_err("too deep");
        assert!(error.to_string().contains("nested too deeply"), "{error}");
        // A legitimately nested value decodes.
        let mut chain = Chain(None);
        for _ in 0..100 {
            chain = Chain(Some(Box::new(chain)));
        }
        assert!(decode::<Chain>(&encode(&chain)).is_ok());
    }

    #[test]
    fn invalid_scalars_are_errors() {
        assert!(decode::<bool>(&[2]).is_err());
        assert!(decode::<Option<u8>>(&[2, 0]).is_err());
        assert!(decode::<char>(&encode(&0xD800u32)).is_err());
        assert!(decode::<String>(&[2, 0xC3, 0x28]).is_err());
        assert!(decode::<u16>(&encode(&70_000u32)).is_err());
        assert!(decode::<i8>(&[]).is_err());
        assert!(decode::<u64>(&[255]).is_err());
        assert!(decode::<Shape>(&[9]).is_err());
    }

    #[test]
    fn a_sequence_of_unknown_length_does_not_encode() {
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                s.serialize_seq(None)?.end()
            }
        }
        assert!(encode_into(&Unsized, &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_value_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode::<Record>(&bytes);
            let _ = decode::<Vec<Shape>>(&bytes);
            let _ = decode::<crate::wire::ChunkOutcome<Vec<(u32, String, Option<i64>)>>>(&bytes);
        }

        #[test]
        fn values_round_trip(values in proptest::collection::vec((any::<u64>(), any::<i32>(), any::<String>(), any::<Option<f64>>()), 0..64)) {
            let bytes = encode(&values);
            let back: Vec<(u64, i32, String, Option<f64>)> = decode(&bytes).expect("decodes");
            prop_assert_eq!(back.len(), values.len());
            for (a, b) in back.iter().zip(&values) {
                prop_assert_eq!((a.0, a.1, &a.2), (b.0, b.1, &b.2));
                prop_assert_eq!(a.3.map(f64::to_bits), b.3.map(f64::to_bits));
            }
        }
    }
}
