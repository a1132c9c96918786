//! Response builders: `application/x-www-form-urlencoded` bodies (RFC 5849 §2.1, §2.3) that
//! must not be cached, and the redirect back to the client's callback (§2.2).

use crate::common::encoding::encode_form;
use http::{HeaderValue, StatusCode, header};

/// The media type of every credential response (RFC 5849 §2.1, §2.3).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// A response with a form-encoded `body`, `Cache-Control: no-store` and `Pragma: no-cache`:
/// credentials must never be kept by a cache.
pub(crate) fn form(status: StatusCode, body: String) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::new(body.into_bytes());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// `200 OK` with the given pairs form-encoded.
pub(crate) fn form_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> http::Response<Vec<u8>> {
    form(StatusCode::OK, encode_form(pairs))
}

/// A `302 Found` to `location` with `pairs` added to its query, keeping the query it has
/// (RFC 5849 §2.2: "the server MUST ... add the parameters to the callback URI query").
///
/// Returns `None` when `location` is not an absolute URL.
pub(crate) fn redirect<'a>(
    location: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<http::Response<Vec<u8>>> {
    let mut url = url::Url::parse(location).ok()?;
    if url.cannot_be_a_base() {
        return None;
    }
    let mut query = url.query().unwrap_or_default().to_owned();
    let extra = encode_form(pairs);
    if !extra.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&extra);
    }
    url.set_query(if query.is_empty() { None } else { Some(&query) });
    let value = HeaderValue::from_str(url.as_str()).ok()?;
    let mut resp = http::Response::new(Vec::new());
    *resp.status_mut() = StatusCode::FOUND;
    let h = resp.headers_mut();
    h.insert(header::LOCATION, value);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_responses_are_not_cached() {
        let r = form_pairs([("oauth_token", "a b"), ("x", "&")]);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.body(), b"oauth_token=a%20b&x=%26");
        assert_eq!(r.headers()[header::CONTENT_TYPE], FORM_CONTENT_TYPE);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn redirect_keeps_the_callback_query() {
        let r = redirect("https://c.example/cb?state=1", [("oauth_token", "t"), ("oauth_verifier", "v")])
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[header::LOCATION],
            "https://c.example/cb?state=1&oauth_token=t&oauth_verifier=v"
        );
        let r = redirect("https://c.example/cb", [("error", "access_denied")]).unwrap();
        assert_eq!(r.headers()[header::LOCATION], "https://c.example/cb?error=access_denied");
        assert!(redirect("/relative", [("a", "b")]).is_none());
        assert!(redirect("mailto:x@example.com", [("a", "b")]).is_none());
    }
}
