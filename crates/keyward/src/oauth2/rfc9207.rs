//! RFC 9207, OAuth 2.0 Authorization Server Issuer Identification: the `iss` parameter
//! of the authorization response, which defeats mix-up attacks.

/// Why the callback's `iss` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssError {
    /// The server advertises `authorization_response_iss_parameter_supported` but the
    /// response has no `iss` (§2.4: the client must reject it).
    #[error("the authorization response has no `iss` although the server promises one")]
    Missing,
    /// `iss` is not the issuer the request was sent to (§2.4).
    #[error("the authorization response came from issuer `{got}`, expected `{expected}`")]
    Mismatch {
        /// The expected issuer.
        expected: String,
        /// The `iss` received.
        got: String,
    },
}

/// Checks a callback's `iss` (§2.4): when present it must equal the issuer (simple string
/// comparison); when the server advertises support it must be present.
pub fn check_iss(iss: Option<&str>, expected_issuer: &str, advertised: bool) -> Result<(), IssError> {
    match iss {
        Some(got) if got == expected_issuer => Ok(()),
        Some(got) => Err(IssError::Mismatch { expected: expected_issuer.to_owned(), got: got.to_owned() }),
        None if advertised => Err(IssError::Missing),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check_iss(Some("https://as"), "https://as", true).is_ok());
        assert!(check_iss(None, "https://as", false).is_ok());
        assert_eq!(check_iss(None, "https://as", true), Err(IssError::Missing));
        assert!(matches!(
            check_iss(Some("https://evil"), "https://as", false),
            Err(IssError::Mismatch { .. })
        ));
    }
}
