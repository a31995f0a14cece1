//! The `new_sendable` primitives serialize as their memfds and come back as the same shared
//! memory (here in one process: decoding maps the memfd a second time); fork-only ones and a
//! memfd too small for the type are refused. Across real forkserver and spawn children:
//! crates/forkway-start/tests/shared_all.rs.

use forkway_ipc::fds::{decode_with_fds, encode_with_fds};
use forkway_sync::{Array, Barrier, Condition, Event, RawArray, RawLock, RawValue, Semaphore, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes `value` with its descriptors and decodes it again: a second handle on the same memory.
fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
    let (bytes, fds) = encode_with_fds(value).expect("encode");
    decode_with_fds(&bytes, fds).expect("decode")
}

#[test]
fn each_sendable_primitive_comes_back_as_the_same_shared_memory() {
    let event = Event::new_sendable().expect("event");
    round_trip(&event).set();
    assert!(event.is_set());

    let lock = RawLock::new_sendable().expect("raw lock");
    round_trip(&lock).lock();
    assert!(lock.locked());

    let sem = Semaphore::bounded_sendable(3).expect("semaphore");
    let other = round_trip(&sem);
    assert!(other.try_acquire());
    assert_eq!((sem.value(), other.max()), (2, Some(3)));

    let barrier = Barrier::new_sendable(4).expect("barrier");
    assert_eq!(round_trip(&barrier).parties(), 4);

    let cond = Condition::new_sendable().expect("condition");
    let other = round_trip(&cond);
    let held = other.acquire().expect("acquire");
    assert!(cond.get_lock().locked());
    drop(held);

    let v = Value::new_sendable(5u64).expect("value");
    round_trip(&v).set(6);
    assert_eq!(v.get(), 6);

    let a = Array::new_sendable(&[1u32, 2, 3]).expect("array");
    let other = round_trip(&a);
    assert!(other.set(2, 30));
    assert_eq!((other.len(), a.to_vec()), (3, vec![1, 2, 30]));

    let rv = RawValue::new_sendable(1i32).expect("raw value");
    round_trip(&rv).set(-1);
    assert_eq!(rv.get(), -1);

    let ra: RawArray<u8> = RawArray::zeroed_sendable(2).expect("raw array");
    assert!(round_trip(&ra).set(1, 9));
    assert_eq!(ra.get(1), Some(9));
}

#[test]
fn fork_only_primitives_refuse_to_serialize_with_pythons_reason() {
    let refusals = [
        ("Event", encode_with_fds(&Event::new().expect("event")).err()),
        (
            "Barrier",
            encode_with_fds(&Barrier::new(2).expect("barrier")).err(),
        ),
        (
            "Synchronized",
            encode_with_fds(&Value::new(0u8).expect("value")).err(),
        ),
        (
            "SynchronizedArray",
            encode_with_fds(&Array::<u8>::zeroed(1).expect("array")).err(),
        ),
    ];
    for (python, e) in refusals {
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains(&format!(
                "{python} objects should only be shared between processes through inheritance"
            )),
            "{python}: {e:?}"
        );
    }
    // A sendable one still needs the side list of descriptors that only encode_with_fds keeps.
    let plain = serde_json::to_string(&Event::new_sendable().expect("event"));
    assert!(plain.is_err());
}

#[test]
fn a_memfd_too_small_for_the_receiving_type_is_refused() {
    let small = Value::new_sendable(0u8).expect("value");
    let (bytes, fds) = encode_with_fds(&small).expect("encode");
    let big: Result<Value<[u64; 1024]>, _> = decode_with_fds(&bytes, fds);
    assert!(big.is_err(), "8 KiB of data read from a one-page memfd");

    let short = Array::<u8>::zeroed_sendable(4000).expect("array");
    let (bytes, fds) = encode_with_fds(&short).expect("encode");
    let long: Result<Array<u64>, _> = decode_with_fds(&bytes, fds);
    assert!(long.is_err(), "4000 u64 read from a one-page memfd");
}
