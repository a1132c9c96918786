//! RFC 7636, Proof Key for Code Exchange (PKCE).

use super::OAuth2Error;
use crate::common::random::RandomSource;
use crate::secret_type;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::str::FromStr;

secret_type! {
    /// A PKCE `code_verifier` (§4.1): 43 to 128 characters of `[A-Z] / [a-z] / [0-9] /
    /// "-" / "." / "_" / "~"`. Single-use, so not `Clone`.
    pub struct CodeVerifier;
}

/// The length of a generated verifier.
pub const VERIFIER_LENGTH: usize = 48;

/// The verifier's alphabet (§4.1: unreserved characters).
const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// The `code_challenge_method` (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeMethod {
    /// `S256`: `BASE64URL(SHA256(ASCII(code_verifier)))`.
    S256,
    /// `plain`: the verifier itself. Refused unless explicitly allowed (§4.2: a client
    /// capable of S256 must use it).
    Plain,
}

impl ChallengeMethod {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }

    /// Parses a configured method; `plain` only with `allow_plain`.
    pub fn parse(s: &str, allow_plain: bool) -> Result<Self, OAuth2Error> {
        match s {
            "S256" => Ok(ChallengeMethod::S256),
            "plain" if allow_plain => Ok(ChallengeMethod::Plain),
            "plain" => {
                Err(OAuth2Error::Config("PKCE `plain` refused; use S256 or allow plain explicitly".into()))
            }
            other => Err(OAuth2Error::Config(format!("unknown PKCE method `{other}`"))),
        }
    }
}

impl FromStr for ChallengeMethod {
    type Err = OAuth2Error;
    /// Parses `S256`; `plain` is refused (use [`ChallengeMethod::parse`] to allow it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, false)
    }
}

impl CodeVerifier {
    /// A fresh verifier of [`VERIFIER_LENGTH`] unreserved characters (§4.1).
    pub fn generate(random: &dyn RandomSource) -> Self {
        CodeVerifier::new(random.string(VERIFIER_LENGTH, UNRESERVED))
    }

    /// Checks the §4.1 syntax of a verifier received from elsewhere.
    pub fn parse(value: &str) -> Result<Self, OAuth2Error> {
        let ok = (43..=128).contains(&value.len()) && value.bytes().all(|b| UNRESERVED.contains(&b));
        if ok {
            Ok(CodeVerifier::new(value))
        } else {
            Err(OAuth2Error::Config("malformed PKCE code_verifier".into()))
        }
    }

    /// The `code_challenge` for `method` (§4.2).
    pub fn challenge(&self, method: ChallengeMethod) -> String {
        match method {
            ChallengeMethod::S256 => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(self.secret().as_bytes())),
            ChallengeMethod::Plain => self.secret().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::random::OsRandom;

    #[test]
    fn generated_verifiers_are_well_formed() {
        let v = CodeVerifier::generate(&OsRandom);
        assert_eq!(v.secret().len(), VERIFIER_LENGTH);
        assert!(CodeVerifier::parse(v.secret()).is_ok());
        assert!(CodeVerifier::parse("short").is_err());
        assert!("plain".parse::<ChallengeMethod>().is_err());
        assert_eq!(ChallengeMethod::parse("plain", true).unwrap(), ChallengeMethod::Plain);
    }
}
