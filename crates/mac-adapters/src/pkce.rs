//! PKCE (RFC 7636, S256) and the OAuth `state` of the login flows.
//!
//! Two improvements on the seed: the verifier's characters are drawn by rejection sampling, so
//! every one of the 66 characters is equally likely (the seed took `byte % 66`, which favours the
//! first 58); and `state` is 32 random bytes of its own, never the verifier (Anthropic's login
//! reused the verifier as `state`, putting it in the URL and giving no CSRF protection).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mac_storage::Secret;
use sha2::{Digest as _, Sha256};
use snafu::{ResultExt, Snafu};

/// The characters a verifier is made of: RFC 7636's unreserved set.
const VERIFIER_CHARSET: &[u8; 66] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// The verifier's length (RFC 7636 allows 43 to 128).
pub const PKCE_VERIFIER_LEN: usize = 64;

/// Random bytes at or above this are thrown away: 198 = 3 × 66, so the bytes kept map onto
/// the 66 characters exactly three times each.
const ACCEPT_BELOW: u8 = 198;

/// The number of random bytes behind a `state`.
const STATE_BYTES: usize = 32;

/// The operating system's random source failed.
#[derive(Debug, Snafu)]
#[snafu(display("the system random number generator failed while making the OAuth {what}"))]
pub struct RandomnessError {
    /// `PKCE verifier` or `state`.
    what: &'static str,
    /// The cause.
    source: getrandom::Error,
}

/// A PKCE pair: the verifier stays in the process until the code exchange; the challenge goes
/// into the authorize URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkce {
    /// 64 characters of `A-Z a-z 0-9 - . _ ~`. A secret until the exchange: `Debug` hides it.
    pub verifier: Secret,
    /// `base64url(SHA-256(verifier))` without padding.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair from the operating system's random source.
    pub fn generate() -> Result<Self, RandomnessError> {
        let verifier =
            verifier_from(getrandom::fill).context(RandomnessSnafu { what: "PKCE verifier" })?;
        let challenge = pkce_challenge(&verifier);
        Ok(Self { verifier: Secret::new(verifier), challenge })
    }
}

/// The S256 challenge of `verifier`: unpadded base64url of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A fresh OAuth `state`: 32 random bytes, base64url without padding (43 characters),
/// independent of any verifier.
pub fn generate_state() -> Result<String, RandomnessError> {
    let mut bytes = [0_u8; STATE_BYTES];
    getrandom::fill(&mut bytes).context(RandomnessSnafu { what: "state" })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A verifier drawn from `fill` by rejection sampling: a byte below 198 picks the character
/// `byte % 66`, a larger one is skipped.
fn verifier_from<E>(mut fill: impl FnMut(&mut [u8]) -> Result<(), E>) -> Result<String, E> {
    let mut verifier = String::with_capacity(PKCE_VERIFIER_LEN);
    // 96 bytes yield 64 characters with probability ≈ 0.9; rarely a second batch is needed.
    let mut buf = [0_u8; 96];
    while verifier.len() < PKCE_VERIFIER_LEN {
        fill(&mut buf)?;
        for c in buf.iter().filter_map(|&byte| pick(byte)) {
            if verifier.len() == PKCE_VERIFIER_LEN {
                break;
            }
            verifier.push(char::from(c));
        }
    }
    Ok(verifier)
}

/// The character a random byte stands for, or `None` for a byte that must be skipped.
fn pick(byte: u8) -> Option<u8> {
    (byte < ACCEPT_BELOW).then(|| VERIFIER_CHARSET[usize::from(byte % 66)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn every_character_is_equally_likely() {
        let mut counts = [0_u32; 66];
        let mut skipped = 0;
        for byte in 0..=u8::MAX {
            match pick(byte) {
                Some(c) => counts[VERIFIER_CHARSET.iter().position(|&x| x == c).unwrap()] += 1,
                None => skipped += 1,
            }
        }
        assert!(counts.iter().all(|&n| n == 3), "{counts:?}");
        assert_eq!(skipped, 256 - 198);
    }

    #[test]
    fn high_bytes_are_skipped_and_more_are_drawn() {
        let mut calls = 0;
        let verifier = verifier_from(|buf: &mut [u8]| {
            calls += 1;
            buf.fill(if calls == 1 { 255 } else { 65 });
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!((verifier.as_str(), calls), ("~".repeat(64).as_str(), 2));
        let verifier = verifier_from(|buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { 200 } else { 1 };
            }
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(verifier, "B".repeat(64));
    }

    #[test]
    fn real_pairs_have_the_right_shape() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier.expose().len(), PKCE_VERIFIER_LEN);
        assert!(a.verifier.expose().bytes().all(|c| VERIFIER_CHARSET.contains(&c)));
        assert_eq!(a.challenge, pkce_challenge(a.verifier.expose()));
        assert_ne!(a.verifier, b.verifier);
        assert!(!format!("{a:?}").contains(a.verifier.expose()));
        let state = generate_state().unwrap();
        assert_eq!(state.len(), 43);
        assert!(state.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(state, generate_state().unwrap());
    }

    #[test]
    fn randomness_failure_is_an_error() {
        let err = verifier_from(|_: &mut [u8]| Err("no entropy")).unwrap_err();
        assert_eq!(err, "no entropy");
    }
}
