//! Encoding: values written at the end of a buffer.

use serde::ser::{self, Serialize};

use super::{FormatError, Result, TAG_U128, TAG_U16, TAG_U32, TAG_U64};

/// Writes values at the end of a buffer.
pub(crate) struct Encoder<'a> {
    pub(super) out: &'a mut Vec<u8>,
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
