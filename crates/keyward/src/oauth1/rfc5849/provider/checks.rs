//! Checks shared by every endpoint that need no store: the timestamp window (RFC 5849 §3.3)
//! and the transport (§4.8: the protocol relies on TLS for what it does not sign).

use super::error::{InvalidRequest, ProviderError};
use std::net::{IpAddr, SocketAddr};

/// The TCP peer of a request, set by the glue as an extension of the core request when it
/// knows it. The transport check (RFC 5849 §4.8: without TLS, anything unsigned can be
/// read and altered) then accepts plain http only between loopback addresses, whatever the
/// `Host` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Checks that `oauth_timestamp` is within `window` seconds of `now`, in the past *or in
/// the future* (RFC 5849 §3.3). `ts` is [`SignedRequest::timestamp_secs`]: parsing has
/// already refused a value that is not a positive integer.
///
/// [`SignedRequest::timestamp_secs`]: crate::oauth1::rfc5849::SignedRequest::timestamp_secs
pub(crate) fn check_timestamp(ts: i64, now: i64, window: i64) -> Result<(), ProviderError> {
    if now.abs_diff(ts) > window.unsigned_abs() {
        return Err(InvalidRequest::StaleTimestamp.into());
    }
    Ok(())
}

/// Accepts a request made over https, or to a loopback host (`localhost`, `127.0.0.0/8`,
/// `::1`) from a loopback peer, or any request when `allow_insecure` (tests only).
///
/// The URI must be absolute: the glue reconstructs it from the `Host` header and its
/// configured scheme. The `Host` header is the client's word, so when the glue knows the
/// TCP peer it records it as a [`PeerAddr`] extension, and plain http is then accepted only
/// if that peer is a loopback address too.
pub(crate) fn check_transport(
    req: &http::Request<Vec<u8>>,
    allow_insecure: bool,
) -> Result<(), ProviderError> {
    let uri = req.uri();
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(InvalidRequest::RelativeUri.into());
    };
    let peer_is_loopback = req.extensions().get::<PeerAddr>().is_none_or(|p| p.0.ip().is_loopback());
    if allow_insecure || scheme.eq_ignore_ascii_case("https") || (is_loopback(host) && peer_is_loopback) {
        return Ok(());
    }
    Err(ProviderError::InsecureTransport)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<impl Sized, ProviderError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn timestamp_window_is_symmetric() {
        let now = 1_700_000_000;
        for ok in [now, now - 300, now + 300] {
            assert!(check_timestamp(ok, now, 300).is_ok(), "{ok}");
        }
        for stale in [now - 301, now + 301, 1, i64::MAX] {
            let e = check_timestamp(stale, now, 300).unwrap_err();
            assert!(matches!(e, ProviderError::InvalidRequest(InvalidRequest::StaleTimestamp)), "{stale}");
        }
    }

    #[test]
    fn transport_needs_https_or_loopback() {
        let req = |u: &str| http::Request::builder().uri(u).body(Vec::new()).unwrap();
        let ok = |u: &str| code(check_transport(&req(u), false));
        assert_eq!(ok("https://api.example.com/x"), "ok");
        assert_eq!(ok("http://127.0.0.1:8080/x"), "ok");
        assert_eq!(ok("http://127.1.2.3/x"), "ok");
        assert_eq!(ok("http://[::1]:80/x"), "ok");
        assert_eq!(ok("http://localhost/x"), "ok");
        assert_eq!(ok("http://api.example.com/x"), "insecure_transport");
        assert_eq!(ok("http://10.0.0.1/x"), "insecure_transport");
        assert_eq!(ok("http://localhost.evil.example/x"), "insecure_transport");
        assert_eq!(ok("/relative"), "invalid_request");
        assert_eq!(code(check_transport(&req("http://api.example.com/"), true)), "ok");
        // A loopback Host from a remote peer is not loopback transport.
        let from = |u: &str, peer: &str| {
            let mut r = req(u);
            r.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
            code(check_transport(&r, false))
        };
        assert_eq!(from("http://127.0.0.1:8080/x", "127.0.0.1:50000"), "ok");
        assert_eq!(from("http://[::1]:8080/x", "[::1]:50000"), "ok");
        assert_eq!(from("http://127.0.0.1:8080/x", "203.0.113.9:50000"), "insecure_transport");
        assert_eq!(from("http://localhost/x", "10.1.2.3:50000"), "insecure_transport");
        assert_eq!(from("https://api.example.com/x", "203.0.113.9:50000"), "ok");
    }
}
