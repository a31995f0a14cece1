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
