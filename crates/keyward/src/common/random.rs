//! Injected randomness. Tokens, nonces, state values and PKCE verifiers are drawn from a
//! [`RandomSource`], so that tests can replay exact bytes.

use rand::RngCore;
use std::sync::Arc;

/// Unreserved characters of RFC 3986 without `-._~`: safe in any URL, header or form.
pub const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A cryptographically secure source of random bytes.
pub trait RandomSource: Send + Sync + 'static {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A string of `len` characters drawn uniformly from `alphabet` (at most 256 symbols).
    fn string(&self, len: usize, alphabet: &[u8]) -> String {
        assert!(!alphabet.is_empty() && alphabet.len() <= 256, "alphabet of 1..=256 symbols");
        // Rejection sampling keeps the distribution uniform.
        let limit = 256 - (256 % alphabet.len());
        let mut out = String::with_capacity(len);
        let mut buf = [0u8; 64];
        while out.len() < len {
            self.fill(&mut buf);
            for &b in &buf {
                if (b as usize) < limit && out.len() < len {
                    out.push(alphabet[b as usize % alphabet.len()] as char);
                }
            }
        }
        out
    }

    /// A string of `len` ASCII letters and digits.
    fn alphanumeric(&self, len: usize) -> String {
        self.string(len, ALPHANUMERIC)
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

impl<R: RandomSource + ?Sized> RandomSource for Arc<R> {
    fn fill(&self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_have_length_and_alphabet() {
        let s = OsRandom.alphanumeric(42);
        assert_eq!(s.len(), 42);
        assert!(s.bytes().all(|b| ALPHANUMERIC.contains(&b)));
        assert_ne!(s, OsRandom.alphanumeric(42));
    }
}
