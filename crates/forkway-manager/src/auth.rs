//! The authkey handshake of `multiprocessing.connection`: an HMAC challenge and response.
//!
//! The verifier sends `#CHALLENGE#` and a random message; the prover answers with the HMAC of
//! that message under the shared key; the verifier replies `#WELCOME#` or `#FAILURE#`. Only a
//! peer that knows the key can answer, and the key itself never crosses the wire. This is
//! CPython 3.12's protocol (`{sha256}`-prefixed messages and replies), which also understands the
//! legacy HMAC-MD5 form of CPython ≤ 3.11 in both roles, the way 3.12 does: the length of a
//! message tells which protocol the other side speaks.

use forkway_ipc::{Connection, RecvError};
use hmac::{Hmac, Mac};

/// The handshake's messages (CPython's constants).
pub const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// Sent by the verifier when the response was right.
pub const WELCOME: &[u8] = b"#WELCOME#";
/// Sent by the verifier when it was not.
pub const FAILURE: &[u8] = b"#FAILURE#";

/// Random bytes in a challenge (CPython 3.12's `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// The shortest challenge a prover accepts, and the legacy challenge's length.
const LEGACY_CHALLENGE_LENGTH: usize = 20;
/// Before authentication no frame may be longer than this (CPython reads with `recv_bytes(256)`):
/// an unauthenticated peer cannot make us allocate more.
pub const PRE_AUTH_MAX: usize = 256;

/// Why a handshake failed. The messages are CPython's (`AuthenticationError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The verifier side: the peer's response was not the HMAC under our key.
    #[error("digest received was wrong")]
    WrongDigest,
    /// The prover side: the verifier said `#FAILURE#` (or anything but `#WELCOME#`).
    #[error("digest sent was rejected")]
    Rejected,
    /// The peer does not speak the protocol (garbage, a keyless peer, an unknown digest).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The peer did not answer within the handshake timeout.
    #[error("the peer did not complete the handshake in time")]
    Timeout,
    /// The connection failed or ended during the handshake; the source is what the
    /// connection reported (a [`RecvError`], a [`SendError`](forkway_ipc::SendError), an OS
    /// error).
    #[error("connection failed during the handshake: {0}")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The OS gave no random bytes for a challenge.
    #[error("no random bytes: {0}")]
    Random(#[source] std::io::Error),
}

impl From<RecvError> for AuthError {
    fn from(e: RecvError) -> AuthError {
        match e {
            RecvError::TooLarge { .. } => AuthError::Protocol(format!("{e} before authentication")),
            // The handshake's reads time out (SO_RCVTIMEO): a silent peer is dropped.
            RecvError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                AuthError::Timeout
            }
            other => AuthError::Connection(Box::new(other)),
        }
    }
}

impl From<forkway_ipc::SendError> for AuthError {
    fn from(e: forkway_ipc::SendError) -> AuthError {
        AuthError::Connection(Box::new(e))
    }
}

/// The digests this side computes: SHA-256 (CPython 3.12+) and legacy MD5 (≤ 3.11).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Digest {
    Sha256,
    Md5,
}

fn mac(digest: Digest, key: &[u8], message: &[u8]) -> Vec<u8> {
    match digest {
        Digest::Sha256 => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
        Digest::Md5 => {
            let mut m = Hmac::<md5::Md5>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(message);
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// Constant-time comparison: how long it takes says nothing about how much of `a` matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// CPython's `_get_digest_name_and_payload`: a 16- or 20-byte message is legacy (MD5, no
/// prefix); otherwise it must start with `{digest}`.
fn digest_and_payload(message: &[u8]) -> Result<(Digest, &[u8], bool), AuthError> {
    if message.len() == 16 || message.len() == LEGACY_CHALLENGE_LENGTH {
        return Ok((Digest::Md5, message, false));
    }
    if let Some(rest) = message.strip_prefix(b"{") {
        if let Some(end) = rest.iter().take(21).position(|&b| b == b'}') {
            let payload = &rest[end + 1..];
            match &rest[..end] {
                b"sha256" => return Ok((Digest::Sha256, payload, true)),
                b"md5" => return Ok((Digest::Md5, payload, true)),
                other => {
                    return Err(AuthError::Protocol(format!(
                        "unsupported digest {:?}",
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
    }
    Err(AuthError::Protocol(format!(
        "unsupported message length, missing digest prefix, or unsupported digest: {} bytes",
        message.len()
    )))
}

fn random_bytes(n: usize) -> Result<Vec<u8>, AuthError> {
    let mut bytes = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`, which we own.
        let got = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), n - filled, 0) };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(AuthError::Random(e));
        }
        filled += got as usize;
    }
    Ok(bytes)
}

/// A fresh challenge message (what follows `#CHALLENGE#`): `{sha256}` and 40 random bytes.
/// The listener's many-peers handshake ([`crate::handshake`]) works with messages, not
/// connections; these three functions are [`deliver_challenge`] and [`answer_challenge`] cut
/// at their reads.
pub(crate) fn new_challenge() -> Result<Vec<u8>, AuthError> {
    let mut message = b"{sha256}".to_vec();
    message.extend(random_bytes(MESSAGE_LENGTH)?);
    Ok(message)
}

/// Checks a peer's `response` to our challenge `message` (CPython's `_verify_challenge`).
pub(crate) fn verify_response(authkey: &[u8], message: &[u8], response: &[u8]) -> Result<(), AuthError> {
    let (digest, their_mac, _) = digest_and_payload(response)?;
    if same(&mac(digest, authkey, message), their_mac) {
        Ok(())
    } else {
        Err(AuthError::WrongDigest)
    }
}

/// Our answer to a peer's challenge frame, `#CHALLENGE#` included (CPython's
/// `_create_response`, after `answer_challenge`'s checks).
///
/// The same computation as exercise 6.2's reference, on purpose kept apart from it: the
/// server's nonblocking handshake must never run a learner's unfinished `answer_challenge`
/// (every other lesson's tests start managers while lesson 6 is blank).
pub(crate) fn response_to(authkey: &[u8], challenge: &[u8]) -> Result<Vec<u8>, AuthError> {
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(AuthError::Protocol("expected a challenge".into()));
    };
    if message.len() < LEGACY_CHALLENGE_LENGTH {
        return Err(AuthError::Protocol(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    let (digest, _, prefixed) = digest_and_payload(message)?;
    let mut response = Vec::new();
    if prefixed {
        response.extend_from_slice(if digest == Digest::Sha256 {
            b"{sha256}"
        } else {
            b"{md5}"
        });
    }
    response.extend(mac(digest, authkey, message));
    Ok(response)
}

// ANCHOR: deliver_challenge
/// The verifier's half (the listener runs it first): challenge the peer, check its answer.
///
/// # Errors
/// [`AuthError::WrongDigest`] when the answer is wrong (the peer is told `#FAILURE#`);
/// [`AuthError::Protocol`] for an answer that is not a MAC at all; connection errors.
pub fn deliver_challenge<T>(conn: &mut Connection<T>, authkey: &[u8]) -> Result<(), AuthError> {
    // ANCHOR: exercise_6_1
    let mut message = b"{sha256}".to_vec();
    message.extend(random_bytes(MESSAGE_LENGTH)?);
    conn.send_bytes(&[CHALLENGE, &message].concat())?;
    let response = conn.recv_bytes()?;
    let verdict = digest_and_payload(&response).and_then(|(digest, their_mac, _)| {
        // The MAC covers the whole message, `{sha256}` prefix included (as in CPython).
        let expected = mac(digest, authkey, &message);
        if same(&expected, their_mac) {
            Ok(())
        } else {
            Err(AuthError::WrongDigest)
        }
    });
    match verdict {
        Ok(()) => conn.send_bytes(WELCOME)?,
        Err(e) => {
            let _ = conn.send_bytes(FAILURE);
            return Err(e);
        }
    }
    Ok(())
    // ANCHOR_END: exercise_6_1
}
// ANCHOR_END: deliver_challenge

// ANCHOR: answer_challenge
/// The prover's half (the client runs it first): answer the peer's challenge with our key.
///
/// # Errors
/// [`AuthError::Rejected`] when the verifier refuses our answer (a different key);
/// [`AuthError::Protocol`] when what came is not a challenge; connection errors.
pub fn answer_challenge<T>(conn: &mut Connection<T>, authkey: &[u8]) -> Result<(), AuthError> {
    // ANCHOR: exercise_6_2
    let challenge = conn.recv_bytes()?;
    let Some(message) = challenge.strip_prefix(CHALLENGE) else {
        return Err(AuthError::Protocol("expected a challenge".into()));
    };
    if message.len() < LEGACY_CHALLENGE_LENGTH {
        return Err(AuthError::Protocol(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    let (digest, _, prefixed) = digest_and_payload(message)?;
    let mut response = Vec::new();
    if prefixed {
        // Modern protocol: say which digest, then the MAC of the whole message.
        response.extend_from_slice(if digest == Digest::Sha256 {
            b"{sha256}"
        } else {
            b"{md5}"
        });
    }
    response.extend(mac(digest, authkey, message));
    conn.send_bytes(&response)?;
    if conn.recv_bytes()? != WELCOME {
        return Err(AuthError::Rejected);
    }
    Ok(())
    // ANCHOR_END: exercise_6_2
}
// ANCHOR_END: answer_challenge

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_published_test_vectors() {
        // RFC 4231 test case 2 (HMAC-SHA256) and RFC 2104's MD5 example.
        let sha = mac(Digest::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sha.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let md5 = mac(Digest::Md5, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            md5.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "750c783e6ab0b503eaa86e310a5db738"
        );
    }

    #[test]
    fn messages_are_classified_like_cpython() {
        assert_eq!(digest_and_payload(&[0; 20]).unwrap().0, Digest::Md5);
        assert_eq!(digest_and_payload(&[0; 16]).unwrap().0, Digest::Md5);
        let (d, payload, prefixed) = digest_and_payload(b"{sha256}0123456789abcdef0123").unwrap();
        assert_eq!(
            (d, payload, prefixed),
            (Digest::Sha256, &b"0123456789abcdef0123"[..], true)
        );
        assert!(matches!(
            digest_and_payload(b"{sha3_512}xxxxxxxxxxxxxxxxxxxxx"),
            Err(AuthError::Protocol(_))
        ));
        assert!(matches!(
            digest_and_payload(b"garbage of 25 bytes......"),
            Err(AuthError::Protocol(_))
        ));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// CPython 3.12's side of the exchange, recorded from CPython 3.12.1's own
    /// `multiprocessing.connection._create_response` (key `b"forkway test key"`): a 3.12
    /// listener's challenge is `#CHALLENGE#{sha256}` and 40 random bytes (here 0, 1, …, 39);
    /// its client answers `{sha256}` and the HMAC-SHA256 of the whole message, prefix
    /// included; to a 20-byte legacy challenge it answers a bare 16-byte HMAC-MD5.
    #[test]
    fn cpython_312_exchange_test_vector() {
        let key = b"forkway test key";
        let message = [&b"{sha256}"[..], &(0u8..40).collect::<Vec<u8>>()].concat();
        let challenge = [CHALLENGE, &message].concat();
        let response = response_to(key, &challenge).expect("we answer a 3.12 challenge");
        assert_eq!(&response[..8], b"{sha256}");
        assert_eq!(
            hex(&response[8..]),
            "85bedf6b88098795b0e5995b61811d790cbf0e9d086692479d2358b3df04337b",
            "the answer CPython 3.12 gives"
        );
        // As the verifier: a 3.12 client's answer to our message is accepted, a flipped bit
        // is not, and a legacy client's bare MD5 of the same message is accepted too (as
        // 3.12's `_verify_challenge` does).
        verify_response(key, &message, &response).expect("3.12's answer accepted");
        let mut flipped = response.clone();
        flipped[20] ^= 1;
        assert!(matches!(
            verify_response(key, &message, &flipped),
            Err(AuthError::WrongDigest)
        ));
        let legacy_answer = mac(Digest::Md5, key, &message);
        verify_response(key, &message, &legacy_answer).expect("a 3.11 client's answer");
        // A legacy (≤ 3.11) listener's 20-byte challenge: the bare HMAC-MD5 3.12 sends.
        let legacy = [CHALLENGE, &(100u8..120).collect::<Vec<u8>>()].concat();
        assert_eq!(
            hex(&response_to(key, &legacy).expect("legacy")),
            "b655defb709ac87d1236ed9bd65b87e6"
        );
    }
}
