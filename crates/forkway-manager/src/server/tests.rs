//! The server's unit tests: requests handled directly, without a socket or a process.

use super::*;
use crate::protocol::{Call, Token, Wait};
use std::os::unix::net::UnixStream;

fn call(server: &Client<'_>, peer: &UnixStream, request: Request) -> Reply {
    server.handle(request, peer.as_fd()).reply
}

fn create_ref(server: &Client<'_>, peer: &UnixStream, kind: Kind, tag: &str) -> (u64, Token) {
    let init = Init::Empty;
    match call(
        server,
        peer,
        Request::Create {
            kind,
            tag: tag.into(),
            init,
        },
    ) {
        Reply::Ref { id, token } => (id, token),
        other => panic!("no id: {other:?}"),
    }
}

fn create(server: &Client<'_>, peer: &UnixStream, kind: Kind, tag: &str) -> u64 {
    create_ref(server, peer, kind, tag).0
}

fn on(id: u64, call: Call) -> Request {
    Request::Call { id, call }
}

#[test]
fn the_last_decref_deletes_the_object() {
    let s = Server::new(None, None);
    let server = s.client();
    let (peer, _other) = UnixStream::pair().unwrap();
    let (id, token) = create_ref(&server, &peer, Kind::List, "list");
    let incref = |tag: &str| Request::Incref {
        id,
        token,
        tag: tag.into(),
        in_flight: false,
    };
    let Reply::Ref { token: second, .. } = call(&server, &peer, incref("list")) else {
        panic!("incref")
    };
    let wrong = call(&server, &peer, incref("dict"));
    assert!(
        matches!(wrong, Reply::Failed(Failure::WrongType { .. })),
        "{wrong:?}"
    );
    call(&server, &peer, Request::Decref { id, token });
    assert_eq!(s.objects(), 1);
    let again = call(&server, &peer, Request::Decref { id, token });
    assert!(
        matches!(again, Reply::Failed(Failure::NotHeld { .. })),
        "a released reference cannot be released twice: {again:?}"
    );
    assert_eq!(s.objects(), 1);
    call(&server, &peer, Request::Decref { id, token: second });
    assert_eq!(s.objects(), 0);
    let gone = call(&server, &peer, on(id, Call::Len));
    assert!(
        matches!(gone, Reply::Failed(Failure::NoSuchObject { .. })),
        "{gone:?}"
    );
}

#[test]
fn a_waiting_get_gives_up_when_its_client_hangs_up() {
    let s = Server::new(None, None);
    let server = s.client();
    let (peer, other) = UnixStream::pair().unwrap();
    let id = create(&server, &peer, Kind::Queue, "q");
    drop(other);
    let r = call(&server, &peer, on(id, Call::Get { wait: Wait::Forever }));
    assert!(matches!(r, Reply::Failed(Failure::Empty)), "{r:?}");
}

#[test]
fn an_undelivered_get_puts_the_item_back_in_front() {
    let s = Server::new(None, None);
    let server = s.client();
    let (peer, _other) = UnixStream::pair().unwrap();
    let id = create(&server, &peer, Kind::Queue, "q");
    for item in [b"a".to_vec(), b"b".to_vec()] {
        let item = ByteBuf::from(item);
        call(
            &server,
            &peer,
            on(
                id,
                Call::Put {
                    item,
                    wait: Wait::Forever,
                },
            ),
        );
    }
    let handled = server.handle(on(id, Call::Get { wait: Wait::Never }), peer.as_fd());
    handled.undo.expect("a get can be undone").apply();
    let again = call(&server, &peer, on(id, Call::Get { wait: Wait::Never }));
    assert!(
        matches!(again, Reply::Item(ref b) if b.as_slice() == b"a"),
        "{again:?}"
    );
}

#[test]
fn a_method_of_another_kind_is_refused_not_obeyed() {
    let s = Server::new(None, None);
    let server = s.client();
    let (peer, _other) = UnixStream::pair().unwrap();
    let id = create(&server, &peer, Kind::Lock, "lock");
    let r = call(&server, &peer, on(id, Call::Keys));
    assert!(matches!(r, Reply::Failed(Failure::Malformed(_))), "{r:?}");
    let r = call(
        &server,
        &peer,
        Request::Create {
            kind: Kind::Value,
            tag: "v".into(),
            init: Init::Empty,
        },
    );
    assert!(
        matches!(r, Reply::Failed(Failure::Malformed(_))),
        "a value needs one: {r:?}"
    );
}

#[test]
fn a_client_releases_only_what_it_holds_and_a_name_holds_its_own() {
    let s = Server::new(None, None);
    let (peer, _other) = UnixStream::pair().unwrap();
    let a = s.client();
    let (id, token) = create_ref(&a, &peer, Kind::Dict, "v");
    let shared = call(
        &a,
        &peer,
        Request::Share {
            name: "n".into(),
            id,
            token,
        },
    );
    assert!(matches!(shared, Reply::Done), "{shared:?}");
    // Another client knows the id, not the token: its decrefs are refused.
    let b = s.client();
    for guess in [0, 1, token.wrapping_add(1)] {
        let r = call(&b, &peer, Request::Decref { id, token: guess });
        assert!(matches!(r, Reply::Failed(Failure::NotHeld { .. })), "{r:?}");
    }
    call(&a, &peer, Request::Decref { id, token });
    for _ in 0..3 {
        let r = call(
            &b,
            &peer,
            Request::Lookup {
                name: "n".into(),
                tag: "v".into(),
            },
        );
        assert!(matches!(r, Reply::Ref { id: got, .. } if got == id), "{r:?}");
    }
    drop(b); // its three lookups are released with it
    assert_eq!(s.objects(), 1, "the name's reference");
    drop(a);
    assert_eq!(s.objects(), 1, "the name outlives its sharer");
}

#[test]
fn no_request_panics_the_server() {
    let s = Server::new(None, None);
    let (peer, _other) = UnixStream::pair().unwrap();
    let c = s.client();
    let (id, token) = create_ref(&c, &peer, Kind::List, "l");
    for id in [0, id, u64::MAX] {
        for token in [0, token, u128::MAX] {
            let requests = [
                Request::Incref {
                    id,
                    token,
                    tag: "l".into(),
                    in_flight: true,
                },
                Request::Claim { id, token },
                Request::Detach { id, token },
                Request::Share {
                    name: String::new(),
                    id,
                    token,
                },
                Request::Lookup {
                    name: String::new(),
                    tag: "x".into(),
                },
                on(
                    id,
                    Call::ListSet {
                        index: u64::MAX,
                        item: ByteBuf::new(),
                    },
                ),
                on(
                    id,
                    Call::ListInsert {
                        index: u64::MAX,
                        item: ByteBuf::new(),
                    },
                ),
                on(id, Call::ListRemove { index: u64::MAX }),
                on(
                    id,
                    Call::Get {
                        wait: Wait::For(Duration::MAX),
                    },
                ),
                on(
                    id,
                    Call::Acquire {
                        wait: Wait::For(Duration::MAX),
                    },
                ),
                Request::Hello { session: 0 },
                Request::Decref { id, token },
                Request::Decref { id, token },
                Request::Count,
            ];
            for r in requests {
                let _ = call(&c, &peer, r);
            }
        }
    }
}
