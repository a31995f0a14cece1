//! Plain data: values that are a fixed set of primitives, written as fixed-width records
//! instead of in the pool's own format (for the shared arena, `arena.rs`).
//!
//! A map of many tiny tasks spends most of its time in serialization: a profile of `map` of
//! 100 000 `u64`s put four fifths of all three processes' time in encoding and decoding (the
//! parent's arguments and results, the workers' arguments and results), the format's
//! variable-width integers costing a branch and a length check per value. Values that
//! serialize as a fixed set of primitives (a `u64`, an `f64`, a `(u32, bool)`, a struct of
//! numbers) need none of that: each is a *record* of the same little-endian fields.
//!
//! Which values are plain is found at run time, from what they serialize to: the first value's
//! primitives make the *shape* (their kinds, in order), and every other value must serialize to
//! exactly that shape, or the whole job takes the ordinary path. No bound changes: an argument
//! type need not be `'static`. Reading a record back calls the type's own `Deserialize`, which
//! sees the same primitive calls it would see from the pool's format (and, as there, no
//! `deserialize_any`), so a type travels the same either way. Lengths are checked, bools and
//! chars validated: bytes from another process make an error, never garbage.
//!
//! A record of one field, the common case, has fast paths: one store to write it
//! ([`OneField`]), and a reader whose kind is a constant, so reading a `u64` is one load.

use std::fmt::Display;

use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{self, Impossible, Serialize};

/// The most fields a record may have (beyond, a value takes the ordinary path).
const MAX_FIELDS: usize = 32;

/// The primitive a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Bool = 1,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Char,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::Bool,
        Kind::U8,
        Kind::U16,
        Kind::U32,
        Kind::U64,
        Kind::I8,
        Kind::I16,
        Kind::I32,
        Kind::I64,
        Kind::F32,
        Kind::F64,
        Kind::Char,
    ];

    pub(crate) const fn width(self) -> usize {
        match self {
            Kind::Bool | Kind::U8 | Kind::I8 => 1,
            Kind::U16 | Kind::I16 => 2,
            Kind::U32 | Kind::I32 | Kind::F32 | Kind::Char => 4,
            Kind::U64 | Kind::I64 | Kind::F64 => 8,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u8 == b)
    }
}

/// Why a value is not plain, or a frame of records does not decode.
#[derive(Debug)]
pub(crate) struct NotPlain(pub(crate) String);

impl Display for NotPlain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotPlain {}

impl ser::Error for NotPlain {
    fn custom<T: Display>(msg: T) -> Self {
        NotPlain(msg.to_string())
    }
}

impl de::Error for NotPlain {
    fn custom<T: Display>(msg: T) -> Self {
        NotPlain(msg.to_string())
    }
}

fn not_plain() -> NotPlain {
    NotPlain("not a plain value".to_owned())
}

/// Appends records to a buffer, learning the shape from the first one.
pub(crate) struct RecordWriter {
    shape: Vec<Kind>,
    learning: bool,
    field: usize,
}

impl RecordWriter {
    pub(crate) fn new() -> RecordWriter {
        RecordWriter {
            shape: Vec::new(),
            learning: true,
            field: 0,
        }
    }

    /// Appends `value` as one record. Fails (and `out` may hold part of the record) when the
    /// value is not plain or not of the shape of the first record.
    #[inline]
    pub(crate) fn record<T: Serialize + ?Sized, O: Out>(
        &mut self,
        value: &T,
        out: &mut O,
    ) -> Result<(), NotPlain> {
        self.field = 0;
        value.serialize(&mut Fields { writer: self, out })?;
        if self.field != self.shape.len() || self.shape.is_empty() {
            return Err(not_plain());
        }
        self.learning = false;
        Ok(())
    }

    /// The header of a frame of `count` records of the learned shape.
    pub(crate) fn header(&self, count: usize, out: &mut Vec<u8>) {
        out.push(self.shape.len() as u8);
        out.extend(self.shape.iter().map(|k| *k as u8));
        out.extend_from_slice(&(count as u64).to_le_bytes());
    }

    /// The kind of the records' one field, when they have one field.
    pub(crate) fn single(&self) -> Option<Kind> {
        match *self.shape {
            [kind] => Some(kind),
            _ => None,
        }
    }

    /// The bytes of one record (0 before the first).
    pub(crate) fn width(&self) -> usize {
        self.shape.iter().map(|k| k.width()).sum()
    }

    #[inline]
    fn field<O: Out>(&mut self, kind: Kind, bytes: &[u8], out: &mut O) -> Result<(), NotPlain> {
        if self.learning {
            if self.shape.len() == MAX_FIELDS {
                return Err(not_plain());
            }
            self.shape.push(kind);
        } else if self.shape.get(self.field) != Some(&kind) {
            return Err(not_plain());
        }
        self.field += 1;
        out.put(bytes)
    }
}

/// Where records are written.
pub(crate) trait Out {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NotPlain>;
}

impl Out for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), NotPlain> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A bounded area of shared memory that records are written into (the arena).
pub(crate) struct RawOut {
    ptr: *mut u8,
    pos: usize,
    end: usize,
}

impl RawOut {
    /// # Safety
    /// `ptr .. ptr + len` must stay mapped and writable while this is used, and no other
    /// process or thread may read or write it meanwhile.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> RawOut {
        RawOut {
            ptr,
            pos: 0,
            end: len,
        }
    }

    /// Counts `len` bytes as written (by another writer, into the same area).
    pub(crate) fn skip(&mut self, len: usize) {
        self.pos = (self.pos + len).min(self.end);
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> usize {
        self.pos
    }
}

impl Out for RawOut {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), NotPlain> {
        if bytes.len() > self.end - self.pos {
            return Err(NotPlain("the arena is full".to_owned()));
        }
        // SAFETY: `pos + len <= end` (checked above), and `ptr .. ptr + end` is ours to write
        // (`RawOut::new`'s contract); `bytes` is ordinary memory, not inside that area.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.pos), bytes.len()) };
        self.pos += bytes.len();
        Ok(())
    }
}

/// Encodes a frame of `values`: `None` when they are not all plain records of one shape (an
/// empty frame has no shape).
#[cfg(test)]
fn encode_frame<T: Serialize>(values: &[T]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    encode_frame_into(values, &mut out).then_some(out)
}

/// Appends a frame of `values` to `out`; false (and `out` holds part of a frame) when they are
/// not all plain records of one shape.
#[cfg(test)]
fn encode_frame_into<T: Serialize>(values: &[T], out: &mut Vec<u8>) -> bool {
    let Some(first) = values.first() else {
        return false;
    };
    let mut writer = RecordWriter::new();
    let mut body = Vec::new();
    if writer.record(first, &mut body).is_err() {
        return false;
    }
    out.reserve(1 + MAX_FIELDS + 8 + writer.width() * values.len());
    writer.header(values.len(), out);
    out.extend_from_slice(&body);
    values[1..].iter().all(|value| writer.record(value, out).is_ok())
}

/// The serializer of one record's fields.
struct Fields<'a, O> {
    writer: &'a mut RecordWriter,
    out: &'a mut O,
}

impl<O: Out> Fields<'_, O> {
    #[inline]
    fn put(&mut self, kind: Kind, bytes: &[u8]) -> Result<(), NotPlain> {
        self.writer.field(kind, bytes, self.out)
    }
}

impl<'a, 'b, O: Out> ser::Serializer for &'a mut Fields<'b, O> {
    type Ok = ();
    type Error = NotPlain;
    type SerializeSeq = Impossible<(), NotPlain>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), NotPlain>;
    type SerializeMap = Impossible<(), NotPlain>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), NotPlain>;

    fn serialize_bool(self, v: bool) -> Result<(), NotPlain> {
        self.put(Kind::Bool, &[u8::from(v)])
    }
    fn serialize_i8(self, v: i8) -> Result<(), NotPlain> {
        self.put(Kind::I8, &v.to_le_bytes())
    }
    fn serialize_i16(self, v: i16) -> Result<(), NotPlain> {
        self.put(Kind::I16, &v.to_le_bytes())
    }
    fn serialize_i32(self, v: i32) -> Result<(), NotPlain> {
        self.put(Kind::I32, &v.to_le_bytes())
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), NotPlain> {
        self.put(Kind::I64, &v.to_le_bytes())
    }
    fn serialize_u8(self, v: u8) -> Result<(), NotPlain> {
        self.put(Kind::U8, &[v])
    }
    fn serialize_u16(self, v: u16) -> Result<(), NotPlain> {
        self.put(Kind::U16, &v.to_le_bytes())
    }
    fn serialize_u32(self, v: u32) -> Result<(), NotPlain> {
        self.put(Kind::U32, &v.to_le_bytes())
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), NotPlain> {
        self.put(Kind::U64, &v.to_le_bytes())
    }
    fn serialize_f32(self, v: f32) -> Result<(), NotPlain> {
        self.put(Kind::F32, &v.to_le_bytes())
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), NotPlain> {
        self.put(Kind::F64, &v.to_le_bytes())
    }
    fn serialize_char(self, v: char) -> Result<(), NotPlain> {
        self.put(Kind::Char, &u32::from(v).to_le_bytes())
    }
    fn serialize_str(self, _: &str) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_none(self) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_unit(self) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotPlain> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotPlain> {
        Err(not_plain())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, NotPlain> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, NotPlain> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotPlain> {
        Err(not_plain())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotPlain> {
        Err(not_plain())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, NotPlain> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotPlain> {
        Err(not_plain())
    }
    fn serialize_u128(self, _: u128) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn serialize_i128(self, _: i128) -> Result<(), NotPlain> {
        Err(not_plain())
    }
    fn is_human_readable(&self) -> bool {
        // As the pool's format: a type that serializes differently for humans travels the
        // same compact way on both paths.
        false
    }
}

impl<O: Out> ser::SerializeTuple for &mut Fields<'_, O> {
    type Ok = ();
    type Error = NotPlain;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotPlain> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), NotPlain> {
        Ok(())
    }
}

impl<O: Out> ser::SerializeTupleStruct for &mut Fields<'_, O> {
    type Ok = ();
    type Error = NotPlain;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotPlain> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), NotPlain> {
        Ok(())
    }
}

impl<O: Out> ser::SerializeStruct for &mut Fields<'_, O> {
    type Ok = ();
    type Error = NotPlain;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), NotPlain> {
        value.serialize(&mut **self)
    }
    fn skip_field(&mut self, _: &'static str) -> Result<(), NotPlain> {
        // A skipped field changes the shape from one value to the next: the pool's format
        // would tell the decoder nothing of it either, so such a struct takes that path.
        Err(not_plain())
    }
    fn end(self) -> Result<(), NotPlain> {
        Ok(())
    }
}

/// A frame of records, checked: its shape, and a length that is exactly its records'.
pub(crate) struct Frame<'a> {
    shape: Vec<Kind>,
    count: usize,
    records: &'a [u8],
}

impl<'a> Frame<'a> {
    #[cfg(test)]
    fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, NotPlain> {
        let (shape, count, records) = parse_header(bytes)?;
        let width: usize = shape.iter().map(|k| k.width()).sum();
        if (records.len() as u64).checked_div(width as u64) != Some(count as u64)
            || !records.len().is_multiple_of(width)
        {
            return Err(corrupt());
        }
        Ok(Frame {
            shape,
            count,
            records,
        })
    }

    /// Decodes every record onto the end of `values`.
    pub(crate) fn decode_onto<T: DeserializeOwned>(&self, values: &mut Vec<T>) -> Result<(), NotPlain> {
        values.reserve(self.count);
        let mut reader = RecordReader {
            shape: &self.shape,
            field: 0,
            input: self.records,
        };
        for _ in 0..self.count {
            reader.field = 0;
            values.push(T::deserialize(&mut reader)?);
            if reader.field != self.shape.len() {
                return Err(NotPlain(
                    "a plain record read back with a different number of fields".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

#[cold]
fn corrupt() -> NotPlain {
    NotPlain("a frame of plain records that is corrupt".to_owned())
}

/// A frame's shape and record count, and the bytes after them.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<(Vec<Kind>, usize, &[u8]), NotPlain> {
    let (&fields, rest) = bytes.split_first().ok_or_else(corrupt)?;
    let fields = usize::from(fields);
    if fields == 0 || fields > MAX_FIELDS || rest.len() < fields + 8 {
        return Err(corrupt());
    }
    let (kinds, rest) = rest.split_at(fields);
    let shape = kinds
        .iter()
        .map(|b| Kind::from_byte(*b))
        .collect::<Option<Vec<Kind>>>()
        .ok_or_else(corrupt)?;
    let (count, rest) = rest.split_at(8);
    let count = u64::from_le_bytes(count.try_into().map_err(|_| corrupt())?);
    let count = usize::try_from(count).map_err(|_| corrupt())?;
    Ok((shape, count, rest))
}

/// The bytes of a record of `shape`.
pub(crate) fn width_of(shape: &[Kind]) -> usize {
    shape.iter().map(|k| k.width()).sum()
}

/// Decodes `count` records of `shape` from `records` (exactly their bytes) as `T`s.
pub(crate) fn decode_records<T: DeserializeOwned>(
    shape: &[Kind],
    count: usize,
    records: &[u8],
) -> Result<Vec<T>, NotPlain> {
    if count.checked_mul(width_of(shape)) != Some(records.len()) {
        return Err(corrupt());
    }
    if let [kind] = *shape {
        // One field a record: no shape to follow, and the same calls of `T::deserialize`.
        let width = kind.width();
        return match kind {
            Kind::Bool => decode_one_field::<T, { Kind::Bool as u8 }>(width, records),
            Kind::U8 => decode_one_field::<T, { Kind::U8 as u8 }>(width, records),
            Kind::U16 => decode_one_field::<T, { Kind::U16 as u8 }>(width, records),
            Kind::U32 => decode_one_field::<T, { Kind::U32 as u8 }>(width, records),
            Kind::U64 => decode_one_field::<T, { Kind::U64 as u8 }>(width, records),
            Kind::I8 => decode_one_field::<T, { Kind::I8 as u8 }>(width, records),
            Kind::I16 => decode_one_field::<T, { Kind::I16 as u8 }>(width, records),
            Kind::I32 => decode_one_field::<T, { Kind::I32 as u8 }>(width, records),
            Kind::I64 => decode_one_field::<T, { Kind::I64 as u8 }>(width, records),
            Kind::F32 => decode_one_field::<T, { Kind::F32 as u8 }>(width, records),
            Kind::F64 => decode_one_field::<T, { Kind::F64 as u8 }>(width, records),
            Kind::Char => decode_one_field::<T, { Kind::Char as u8 }>(width, records),
        };
    }
    let frame = Frame {
        shape: shape.to_vec(),
        count,
        records,
    };
    let mut values = Vec::new();
    frame.decode_onto(&mut values)?;
    Ok(values)
}

/// The field a result of type `R` is, when `R` is one of the primitive types: what lets the
/// parent size a result area before any result exists.
pub(crate) fn kind_of<R: 'static>() -> Option<Kind> {
    use std::any::TypeId;
    let t = TypeId::of::<R>();
    let table = [
        (TypeId::of::<bool>(), Kind::Bool),
        (TypeId::of::<u8>(), Kind::U8),
        (TypeId::of::<u16>(), Kind::U16),
        (TypeId::of::<u32>(), Kind::U32),
        (TypeId::of::<u64>(), Kind::U64),
        (TypeId::of::<usize>(), Kind::U64),
        (TypeId::of::<i8>(), Kind::I8),
        (TypeId::of::<i16>(), Kind::I16),
        (TypeId::of::<i32>(), Kind::I32),
        (TypeId::of::<i64>(), Kind::I64),
        (TypeId::of::<isize>(), Kind::I64),
        (TypeId::of::<f32>(), Kind::F32),
        (TypeId::of::<f64>(), Kind::F64),
        (TypeId::of::<char>(), Kind::Char),
    ];
    table.iter().find(|(id, _)| *id == t).map(|(_, k)| *k)
}

/// Appends the values of `bytes`, records of one field of `kind`, to `values`: a plain copy
/// for the fixed-width numbers, the type's `Deserialize` otherwise (checking bools and chars).
pub(crate) fn read_results<R: DeserializeOwned + 'static>(
    kind: Kind,
    bytes: &[u8],
    values: &mut Vec<R>,
) -> Result<(), NotPlain> {
    use std::any::Any;
    let width = kind.width();
    if !bytes.len().is_multiple_of(width) {
        return Err(corrupt());
    }
    macro_rules! copy {
        ($($t:ty => $k:ident),*) => {
            $(
                if kind == Kind::$k && std::mem::size_of::<$t>() == width {
                    if let Some(v) = (values as &mut dyn Any).downcast_mut::<Vec<$t>>() {
                        v.extend(bytes.chunks_exact(width).map(|c| {
                            <$t>::from_le_bytes(c.try_into().expect("chunks of the type's width"))
                        }));
                        return Ok(());
                    }
                }
            )*
        };
    }
    copy!(u64 => U64, i64 => I64, f64 => F64, usize => U64, isize => I64,
          u32 => U32, i32 => I32, f32 => F32, u16 => U16, i16 => I16, u8 => U8, i8 => I8);
    let frame = Frame {
        shape: vec![kind],
        count: bytes.len() / width,
        records: bytes,
    };
    frame.decode_onto(values)
}

/// Decodes a whole frame of records as `T`s.
#[cfg(test)]
fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, NotPlain> {
    let frame = Frame::parse(bytes)?;
    let mut values = Vec::new();
    frame.decode_onto(&mut values)?;
    Ok(values)
}

/// The deserializer of one record's fields.
struct RecordReader<'a> {
    shape: &'a [Kind],
    field: usize,
    input: &'a [u8],
}

impl RecordReader<'_> {
    #[inline]
    fn take<const N: usize>(&mut self) -> [u8; N] {
        // `Frame::parse` checked that the records are exactly `count` times the shape's width,
        // and a record reads only the shape's fields, so the bytes are there.
        let (head, rest) = self.input.split_first_chunk::<N>().expect("checked by parse");
        self.input = rest;
        *head
    }

    /// Visits the next field as the primitive it was written as.
    #[inline]
    fn primitive<'de, V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, NotPlain> {
        let Some(&kind) = self.shape.get(self.field) else {
            return Err(NotPlain(
                "a plain record read with more fields than it has".to_owned(),
            ));
        };
        self.field += 1;
        match kind {
            Kind::U64 => visitor.visit_u64(u64::from_le_bytes(self.take())),
            Kind::I64 => visitor.visit_i64(i64::from_le_bytes(self.take())),
            Kind::F64 => visitor.visit_f64(f64::from_le_bytes(self.take())),
            Kind::U32 => visitor.visit_u32(u32::from_le_bytes(self.take())),
            Kind::I32 => visitor.visit_i32(i32::from_le_bytes(self.take())),
            Kind::F32 => visitor.visit_f32(f32::from_le_bytes(self.take())),
            Kind::U16 => visitor.visit_u16(u16::from_le_bytes(self.take())),
            Kind::I16 => visitor.visit_i16(i16::from_le_bytes(self.take())),
            Kind::U8 => visitor.visit_u8(self.take::<1>()[0]),
            Kind::I8 => visitor.visit_i8(i8::from_le_bytes(self.take())),
            Kind::Bool => match self.take::<1>()[0] {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                _ => Err(NotPlain("an invalid bool (corrupt message)".to_owned())),
            },
            Kind::Char => match char::from_u32(u32::from_le_bytes(self.take())) {
                Some(c) => visitor.visit_char(c),
                None => Err(NotPlain("an invalid char (corrupt message)".to_owned())),
            },
        }
    }
}

macro_rules! primitives {
    ($($name:ident)*) => {
        $(
            #[inline]
            fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
                self.primitive(visitor)
            }
        )*
    };
}

macro_rules! refused {
    ($($name:ident)*) => {
        $(
            fn $name<V: Visitor<'de>>(self, _: V) -> Result<V::Value, NotPlain> {
                Err(not_plain())
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut RecordReader<'_> {
    type Error = NotPlain;

    primitives! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char
    }

    refused! {
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map deserialize_identifier
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, NotPlain> {
        // As the pool's format, which is not self-describing: a type travels the same way on
        // both paths.
        Err(NotPlain(
            "the pool's format is not self-describing: a type that needs deserialize_any cannot travel"
                .to_owned(),
        ))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
        self.deserialize_any(visitor)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, NotPlain> {
        Err(not_plain())
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(Elements {
            reader: self,
            left: len,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(Elements {
            reader: self,
            left: len,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(Elements {
            reader: self,
            left: fields.len(),
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, NotPlain> {
        Err(not_plain())
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The fields of a tuple or struct inside a record.
struct Elements<'r, 'a> {
    reader: &'r mut RecordReader<'a>,
    left: usize,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = NotPlain;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, NotPlain> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The refusal of the one-field fast paths: no message, so that their results stay a byte.
#[derive(Debug)]
pub(crate) struct Refused;

impl Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a plain value of the expected kind")
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: Display>(_: T) -> Self {
        Refused
    }
}

/// Writes a value that is a single field of `kind` (a `u64`, a newtype of one) as one store:
/// the common case of a map's arguments and results, with no shape to follow.
pub(crate) struct OneField {
    kind: Kind,
    dst: *mut u8,
}

impl OneField {
    /// # Safety
    /// `dst .. dst + kind.width()` must be writable, and read or written by nobody else until
    /// the value is written.
    pub(crate) unsafe fn new(kind: Kind, dst: *mut u8) -> OneField {
        OneField { kind, dst }
    }

    /// Writes `value`; `Refused` (and nothing written) unless it is one field of this kind.
    #[inline]
    pub(crate) fn write<T: Serialize + ?Sized>(mut self, value: &T) -> Result<(), Refused> {
        value.serialize(&mut self)
    }
}

macro_rules! one_field {
    ($($method:ident($t:ty) => $kind:ident;)*) => {
        $(
            #[inline]
            fn $method(self, v: $t) -> Result<(), Refused> {
                if self.kind != Kind::$kind {
                    return Err(Refused);
                }
                let bytes = v.to_le_bytes();
                // SAFETY: `dst` has room for `kind.width()` bytes (`OneField::new`'s contract),
                // and a value of this kind is exactly that wide.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.dst, bytes.len()) };
                Ok(())
            }
        )*
    };
}

macro_rules! one_field_refused {
    ($($method:ident($($t:ty),*);)*) => {
        $(
            fn $method(self, $(_: $t),*) -> Result<(), Refused> {
                Err(Refused)
            }
        )*
    };
}

impl ser::Serializer for &mut OneField {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Impossible<(), Refused>;
    type SerializeTuple = Impossible<(), Refused>;
    type SerializeTupleStruct = Impossible<(), Refused>;
    type SerializeTupleVariant = Impossible<(), Refused>;
    type SerializeMap = Impossible<(), Refused>;
    type SerializeStruct = Impossible<(), Refused>;
    type SerializeStructVariant = Impossible<(), Refused>;

    one_field! {
        serialize_u8(u8) => U8;
        serialize_u16(u16) => U16;
        serialize_u32(u32) => U32;
        serialize_u64(u64) => U64;
        serialize_i8(i8) => I8;
        serialize_i16(i16) => I16;
        serialize_i32(i32) => I32;
        serialize_i64(i64) => I64;
        serialize_f32(f32) => F32;
        serialize_f64(f64) => F64;
    }

    fn serialize_bool(self, v: bool) -> Result<(), Refused> {
        self.serialize_u8_as(Kind::Bool, u8::from(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Refused> {
        if self.kind != Kind::Char {
            return Err(Refused);
        }
        let bytes = u32::from(v).to_le_bytes();
        // SAFETY: as in `one_field!`: a char is 4 bytes, the width of its kind.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.dst, bytes.len()) };
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Refused> {
        value.serialize(self)
    }

    one_field_refused! {
        serialize_u128(u128);
        serialize_i128(i128);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Refused> {
        Err(Refused)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Refused> {
        Err(Refused)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Refused> {
        Err(Refused)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Refused> {
        Err(Refused)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Refused> {
        Err(Refused)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Refused> {
        Err(Refused)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Refused> {
        Err(Refused)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Refused> {
        Err(Refused)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Refused> {
        Err(Refused)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl OneField {
    /// Writes `value` of the primitive type `R` whose kind is `kind` (as [`OneField::write`]),
    /// with no serializer at all for the numbers: their record is their little-endian bytes.
    ///
    /// # Safety
    /// As [`OneField::new`].
    #[inline]
    pub(crate) unsafe fn store<R: Serialize + 'static>(
        kind: Kind,
        dst: *mut u8,
        value: &R,
    ) -> Result<(), Refused> {
        use std::any::Any;
        macro_rules! direct {
            ($($t:ty => $k:ident),*) => {
                $(
                    if let Some(v) = (value as &dyn Any).downcast_ref::<$t>() {
                        if kind == Kind::$k && std::mem::size_of::<$t>() == kind.width() {
                            // SAFETY: `dst` has room for `kind.width()` bytes (the caller's
                            // promise), which is this type's size (checked).
                            unsafe { dst.cast::<[u8; std::mem::size_of::<$t>()]>().write_unaligned(v.to_le_bytes()) };
                            return Ok(());
                        }
                    }
                )*
            };
        }
        direct!(u64 => U64, i64 => I64, f64 => F64, usize => U64, isize => I64,
                u32 => U32, i32 => I32, f32 => F32, u16 => U16, i16 => I16, u8 => U8, i8 => I8);
        // SAFETY: the caller's promise, passed on.
        unsafe { OneField::new(kind, dst) }.write(value)
    }

    fn serialize_u8_as(&mut self, kind: Kind, v: u8) -> Result<(), Refused> {
        if self.kind != kind {
            return Err(Refused);
        }
        // SAFETY: as in `one_field!`: one byte, the width of a bool.
        unsafe { self.dst.write(v) };
        Ok(())
    }
}

/// Reads one record of a single field of kind `K` (a `Kind as u8`), with no shape to follow:
/// the kind is a constant, so reading a `u64` is one load.
struct OneReader<'a, const K: u8> {
    /// Exactly the field's bytes.
    bytes: &'a [u8],
}

impl<const K: u8> OneReader<'_, K> {
    #[inline]
    fn array<const N: usize>(&self) -> Result<[u8; N], NotPlain> {
        self.bytes.try_into().map_err(|_| corrupt())
    }

    #[inline]
    fn primitive<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
        const fn is<const K: u8>(kind: Kind) -> bool {
            K == kind as u8
        }
        if is::<K>(Kind::U64) {
            visitor.visit_u64(u64::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::I64) {
            visitor.visit_i64(i64::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::F64) {
            visitor.visit_f64(f64::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::U32) {
            visitor.visit_u32(u32::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::I32) {
            visitor.visit_i32(i32::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::F32) {
            visitor.visit_f32(f32::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::U16) {
            visitor.visit_u16(u16::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::I16) {
            visitor.visit_i16(i16::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::U8) {
            visitor.visit_u8(u8::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::I8) {
            visitor.visit_i8(i8::from_le_bytes(self.array()?))
        } else if is::<K>(Kind::Bool) {
            match self.array::<1>()? {
                [0] => visitor.visit_bool(false),
                [1] => visitor.visit_bool(true),
                _ => Err(NotPlain("an invalid bool (corrupt message)".to_owned())),
            }
        } else if is::<K>(Kind::Char) {
            match char::from_u32(u32::from_le_bytes(self.array()?)) {
                Some(c) => visitor.visit_char(c),
                None => Err(NotPlain("an invalid char (corrupt message)".to_owned())),
            }
        } else {
            Err(corrupt())
        }
    }
}

/// Decodes records of one field of kind `K` (exactly their bytes).
fn decode_one_field<T: DeserializeOwned, const K: u8>(
    width: usize,
    records: &[u8],
) -> Result<Vec<T>, NotPlain> {
    let mut values = Vec::with_capacity(records.len() / width);
    for bytes in records.chunks_exact(width) {
        values.push(T::deserialize(OneReader::<K> { bytes })?);
    }
    Ok(values)
}

/// The width of a field of kind `K` (a `Kind as u8`).
const fn width_of_kind(k: u8) -> usize {
    let mut i = 0;
    while i < Kind::ALL.len() {
        if Kind::ALL[i] as u8 == k {
            return Kind::ALL[i].width();
        }
        i += 1;
    }
    1
}

/// Records of one field of kind `K`, read one at a time where they lie: what lets a worker run
/// a chunk's tasks straight from the arena, without first copying every argument into a
/// vector and then reading the vector again.
pub(crate) struct OneFieldRecords<'a, const K: u8> {
    /// Exactly the records' bytes.
    records: &'a [u8],
}

impl<'a, const K: u8> OneFieldRecords<'a, K> {
    const WIDTH: usize = width_of_kind(K);

    /// `records` read as records of kind `K`; an error unless they are whole records.
    pub(crate) fn new(records: &'a [u8]) -> Result<Self, NotPlain> {
        if Kind::from_byte(K).is_none() || !records.len().is_multiple_of(Self::WIDTH) {
            return Err(corrupt());
        }
        Ok(OneFieldRecords { records })
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.records.len() / Self::WIDTH
    }

    /// Whether every record decodes as a `T`: each is decoded and dropped. For the primitive
    /// types nothing is left to do after inlining (a `u64` record always is a `u64`), so the
    /// check costs nothing where it is not needed, and checks bools, chars and narrower types
    /// where it is.
    pub(crate) fn check<T: DeserializeOwned>(&self) -> Result<(), NotPlain> {
        for bytes in self.records.chunks_exact(Self::WIDTH) {
            T::deserialize(OneReader::<K> { bytes })?;
        }
        Ok(())
    }

    /// Record `i` decoded as a `T`.
    #[inline(always)]
    pub(crate) fn get<T: DeserializeOwned>(&self, i: usize) -> Result<T, NotPlain> {
        let Some(bytes) = self.records.get(i * Self::WIDTH..(i + 1) * Self::WIDTH) else {
            return Err(corrupt());
        };
        T::deserialize(OneReader::<K> { bytes })
    }
}

/// The single field of a one-field tuple or struct.
struct OneElement<'a, const K: u8>(Option<OneReader<'a, K>>);

impl<'de, const K: u8> SeqAccess<'de> for OneElement<'_, K> {
    type Error = NotPlain;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, NotPlain> {
        self.0.take().map(|reader| seed.deserialize(reader)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(self.0.is_some()))
    }
}

macro_rules! one_primitives {
    ($($name:ident)*) => {
        $(
            #[inline]
            fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NotPlain> {
                self.primitive(visitor)
            }
        )*
    };
}

impl<'de, const K: u8> de::Deserializer<'de> for OneReader<'_, K> {
    type Error = NotPlain;

    one_primitives! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char
    }

    refused! {
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, NotPlain> {
        Err(NotPlain(
            "the pool's format is not self-describing: a type that needs deserialize_any cannot travel"
                .to_owned(),
        ))
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, NotPlain> {
        Err(not_plain())
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NotPlain> {
        visitor.visit_seq(OneElement(Some(self)))
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, NotPlain> {
        Err(not_plain())
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(values: &[T]) {
        let frame = encode_frame(values).expect("plain");
        assert_eq!(decode_frame::<T>(&frame).expect("decodes"), values);
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Point {
        x: f64,
        y: i32,
        on: bool,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Meters(u16);

    #[test]
    fn plain_values_round_trip() {
        round_trip(&[0u64, 1, u64::MAX]);
        round_trip(&[i8::MIN, 0, i8::MAX]);
        round_trip(&[-1i64, i64::MIN]);
        round_trip(&[1.5f64, f64::INFINITY, -0.0]);
        round_trip(&[0.25f32]);
        round_trip(&[true, false]);
        round_trip(&['a', '€', '\u{10FFFF}']);
        round_trip(&[usize::MAX, 3]);
        round_trip(&[(1u32, 2u8), (3, 4)]);
        round_trip(&[Point {
            x: 1.0,
            y: -2,
            on: true,
        }]);
        round_trip(&[Meters(7), Meters(9)]);
        round_trip(&[(1u64, (2i16, 'x'))]);
        round_trip(&[(5u64,)]);
        round_trip(&[(Meters(5),)]);
    }

    #[test]
    fn values_that_are_not_plain_or_change_shape_are_refused() {
        assert!(encode_frame::<u64>(&[]).is_none());
        assert!(encode_frame(&["a".to_owned()]).is_none());
        assert!(encode_frame(&[Some(1u8)]).is_none());
        assert!(encode_frame(&[vec![1u8]]).is_none());
        assert!(encode_frame(&[()]).is_none());
        assert!(encode_frame(&[1u128]).is_none());
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Either {
            Small(u8),
            Big(u64),
        }
        assert!(encode_frame(&[Either::Small(1)]).is_some());
        assert!(encode_frame(&[Either::Small(1), Either::Big(2)]).is_none());
    }

    #[test]
    fn corrupt_frames_are_errors() {
        let frame = encode_frame(&[1u64, 2, 3]).expect("plain");
        for cut in 0..frame.len() {
            assert!(decode_frame::<u64>(&frame[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_kind = frame.clone();
        bad_kind[1] = 99;
        assert!(decode_frame::<u64>(&bad_kind).is_err());
        let mut bad_count = frame.clone();
        bad_count[2] = 4;
        assert!(decode_frame::<u64>(&bad_count).is_err());
        let bools = encode_frame(&[true]).expect("plain");
        let mut bad_bool = bools.clone();
        *bad_bool.last_mut().expect("a record") = 2;
        assert!(decode_frame::<bool>(&bad_bool).is_err());
        // Read back as another type: an error, not a value made of the wrong bytes.
        assert!(decode_frame::<(u64, u64)>(&frame).is_err());
        assert!(decode_frame::<String>(&frame).is_err());
        assert_eq!(
            decode_frame::<u32>(&encode_frame(&[7u64]).expect("plain")).expect("fits"),
            [7]
        );
        assert!(decode_frame::<u8>(&encode_frame(&[700u64]).expect("plain")).is_err());
    }
}
