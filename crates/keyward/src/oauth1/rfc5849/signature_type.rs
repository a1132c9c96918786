//! Where the protocol parameters travel (RFC 5849 §3.5): the Authorization header, the
//! query or a form body.

use std::fmt;

/// Where the protocol parameters travel (RFC 5849 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureType {
    /// The `Authorization: OAuth …` header (§3.5.1), the recommended place.
    #[default]
    Header,
    /// The request URI's query (§3.5.3).
    Query,
    /// An `application/x-www-form-urlencoded` entity-body (§3.5.2).
    Body,
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "Authorization header",
            Self::Query => "query",
            Self::Body => "form body",
        })
    }
}

/// A signature type name that is not one of Authlib's (`HEADER`, `QUERY`, `BODY`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signature type `{0}` (expected HEADER, QUERY or BODY)")]
pub struct UnknownSignatureType(pub String);

impl std::str::FromStr for SignatureType {
    type Err = UnknownSignatureType;

    /// Reads Authlib's names: `HEADER`, `QUERY`, `BODY` (any case), and the aliases
    /// `AUTH_HEADER` and `URI`.
    fn from_str(s: &str) -> Result<Self, UnknownSignatureType> {
        match s.to_ascii_uppercase().as_str() {
            "HEADER" | "AUTH_HEADER" => Ok(Self::Header),
            "QUERY" | "URI" => Ok(Self::Query),
            "BODY" => Ok(Self::Body),
            _ => Err(UnknownSignatureType(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_authlib_names_in_any_case() {
        for (name, want) in [
            ("HEADER", SignatureType::Header),
            ("auth_header", SignatureType::Header),
            ("Query", SignatureType::Query),
            ("uri", SignatureType::Query),
            ("body", SignatureType::Body),
        ] {
            assert_eq!(name.parse::<SignatureType>(), Ok(want), "{name}");
        }
        assert_eq!("form".parse::<SignatureType>(), Err(UnknownSignatureType("form".to_owned())));
    }
}
