//! Decoding: values read from the front of a frame, against any bytes at all.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{eof, FormatError, Result, ELEMENT_BUDGET, MAX_DEPTH, TAG_U128, TAG_U16, TAG_U32, TAG_U64};

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
