//! OpenID Connect RP-Initiated Logout 1.0, the provider's side: the `end_session_endpoint`
//! (§2), sans-IO.
//!
//! The application owns the session, the confirmation page and the logout itself:
//!
//! 1. [`AuthorizationServer::end_session_request`] validates the request (the query of a
//!    GET or the form of a POST) into a typed [`LogoutRequest`]: the `id_token_hint`
//!    verified with the server's own keys (an expired one is fine, §2), `client_id`
//!    matched with the hint's audience, `post_logout_redirect_uri` matched exactly with
//!    the client's registered `post_logout_redirect_uris` (§3). A request that fails is an
//!    [`EndSessionError`], shown to the user and never redirected (§4).
//! 2. [`AuthorizationServer::logout_confirmation_needed`] says whether to ask the user
//!    first (§2: when there is no hint, or it names someone other than the signed-in
//!    user). The request is serde, to keep across the confirmation page; keep it in the
//!    server-side session rather than in the page.
//! 3. The application ends its own session (and, with Back-Channel Logout, hands
//!    [`AuthorizationServer::backchannel_logout`]'s deliveries to its notifier), then
//!    answers with [`AuthorizationServer::end_session_response`]: the redirect to the
//!    post-logout URI with `state` (§3), or a plain "signed out" page.
//!
//! Ending a session does not revoke tokens (see [`backchannel`](super::backchannel)).

use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::common::encoding::encode_form;
use crate::common::store::StoreError;
use crate::oauth2::provider::client::RegisteredClient;
use crate::oauth2::provider::error::ProviderError;
use crate::oauth2::provider::server::{AuthorizationServer, Form};

/// The longest parameter value accepted (an ID token fits many times over).
const MAX_VALUE: usize = 8 * 1024;

/// A validated RP-Initiated Logout request (§2), for the application to act on. Serde, so
/// that it can be kept across a confirmation page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutRequest {
    /// The client that asked: `client_id`, or the audience of the hint.
    pub client_id: Option<String>,
    /// The `sub` of the verified `id_token_hint`: the user as that client knows them
    /// (pairwise when the client's subjects are).
    pub hint_subject: Option<String>,
    /// The `sid` of the verified `id_token_hint`, when it carried one.
    pub hint_sid: Option<String>,
    /// Where to send the browser afterwards: registered by the client, exact match.
    pub post_logout_redirect_uri: Option<String>,
    /// Returned to the client with the redirect.
    pub state: Option<String>,
    /// The user's preferred languages for the logout pages (`ui_locales`).
    pub ui_locales: Option<String>,
    /// A hint of which user to log out (`logout_hint`), for the application to read.
    pub logout_hint: Option<String>,
}

/// Why an end-session request was refused. Shown to the user as a `400` page (or `405`,
/// `500`, `503`), never redirected (§4): [`EndSessionError::to_response`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndSessionError {
    /// Neither GET nor POST.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A malformed request: not a form, not UTF-8, badly encoded, too large, or a
    /// parameter given twice.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The `id_token_hint` is not an ID token this server signed for a known client (its
    /// signature, issuer or form does not hold).
    #[error("the id_token_hint is not valid")]
    InvalidHint,
    /// `client_id` is not the client the `id_token_hint` was issued to.
    #[error("client_id does not match the id_token_hint")]
    ClientMismatch,
    /// No client is registered under `client_id`.
    #[error("unknown client")]
    UnknownClient,
    /// `post_logout_redirect_uri` was given without `client_id` or `id_token_hint`, so it
    /// cannot be checked.
    #[error("post_logout_redirect_uri needs client_id or id_token_hint")]
    RedirectWithoutClient,
    /// `post_logout_redirect_uri` is not one the client registered.
    #[error("post_logout_redirect_uri is not registered")]
    UnregisteredRedirect,
    /// The store failed.
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
}

impl From<ProviderError> for EndSessionError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Store(e) => Self::Store(e),
            ProviderError::MethodNotAllowed => Self::MethodNotAllowed,
            ProviderError::InvalidRequest(m) => Self::InvalidRequest(m),
            _ => Self::InvalidRequest("the request is malformed"),
        }
    }
}

impl EndSessionError {
    /// The HTTP status: `405` for a wrong method, `503` when the store was unreachable,
    /// `500` for another store failure, else `400`.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The page shown to the user: the status, a plain-text reason (no detail of a store
    /// failure), `Cache-Control: no-store`. Never a redirect.
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let text = match self {
            Self::Store(_) => "The logout could not be completed; try again later.".to_owned(),
            e => format!("The logout request was refused: {e}."),
        };
        let mut response = http::Response::new(text.into_bytes());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status() == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        }
        response
    }
}

impl AuthorizationServer {
    /// Validates an end-session request (RP-Initiated Logout §2, §3): the query of a GET or
    /// the form body of a POST, no parameter twice, with `id_token_hint`, `client_id`,
    /// `post_logout_redirect_uri`, `state`, `ui_locales` and `logout_hint`.
    ///
    /// - `id_token_hint` must verify with this server's keys and issuer; an expired ID
    ///   token is fine (§2).
    /// - `client_id`, when given with a hint, must be the hint's client (§2); alone, it
    ///   must name a registered client.
    /// - `post_logout_redirect_uri` needs a client (from the hint or `client_id`) and must be
    ///   one of its `post_logout_redirect_uris`, compared as exact strings (§3).
    pub async fn end_session_request(
        &self,
        request: &http::Request<Vec<u8>>,
    ) -> Result<LogoutRequest, EndSessionError> {
        let text = if request.method() == http::Method::GET {
            request.uri().query().unwrap_or("").to_owned()
        } else if request.method() == http::Method::POST {
            if !crate::oauth1::rfc5849::params::is_form(request.headers()) {
                return Err(EndSessionError::InvalidRequest("the body must be a form"));
            }
            if request.body().len() > self.inner.config.max_body {
                return Err(EndSessionError::InvalidRequest("the body is too large"));
            }
            std::str::from_utf8(request.body())
                .map_err(|_| EndSessionError::InvalidRequest("the body is not UTF-8"))?
                .to_owned()
        } else {
            return Err(EndSessionError::MethodNotAllowed);
        };
        let form = Form::parse(&text)?;
        let get = |name: &str| -> Result<Option<String>, EndSessionError> {
            match form.get(name) {
                Some(v) if v.len() > MAX_VALUE => {
                    Err(EndSessionError::InvalidRequest("a parameter is too long"))
                }
                v => Ok(v.map(str::to_owned)),
            }
        };
        let hint = match get("id_token_hint")? {
            Some(token) => Some(self.verify_id_token_hint(&token).ok_or(EndSessionError::InvalidHint)?),
            None => None,
        };
        let client_id = match (get("client_id")?, &hint) {
            (Some(given), Some(hint)) => {
                let issued_to = match &hint.client_id {
                    Some(id) => *id == given,
                    None => hint.audience.contains(&given),
                };
                if !issued_to {
                    return Err(EndSessionError::ClientMismatch);
                }
                Some(given)
            }
            (Some(given), None) => Some(given),
            (None, Some(hint)) => hint.client_id.clone(),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => Some(
                self.inner.store.get_registered_client(id).await?.ok_or(EndSessionError::UnknownClient)?,
            ),
            None => None,
        };
        let post_logout_redirect_uri = get("post_logout_redirect_uri")?;
        if let Some(uri) = &post_logout_redirect_uri {
            let client = client.as_ref().ok_or(EndSessionError::RedirectWithoutClient)?;
            if !post_logout_uri_registered(client, uri) {
                return Err(EndSessionError::UnregisteredRedirect);
            }
        }
        Ok(LogoutRequest {
            client_id,
            hint_subject: hint.as_ref().map(|h| h.subject.clone()),
            hint_sid: hint.and_then(|h| h.sid),
            post_logout_redirect_uri,
            state: get("state")?,
            ui_locales: get("ui_locales")?,
            logout_hint: get("logout_hint")?,
        })
    }

    /// Whether to ask the user before logging out (RP-Initiated Logout §2): when there was
    /// no `id_token_hint`, or its `sub` is not `signed_in` (the user signed in here, as this
    /// server knows them) as the hint's client knows them (pairwise or public). `false`
    /// when nobody is signed in: there is no session to end.
    pub async fn logout_confirmation_needed(
        &self,
        request: &LogoutRequest,
        signed_in: Option<&str>,
    ) -> Result<bool, ProviderError> {
        let Some(user) = signed_in else { return Ok(false) };
        let (Some(hint_subject), Some(client_id)) = (&request.hint_subject, &request.client_id) else {
            return Ok(true);
        };
        let Some(client) = self.inner.store.get_registered_client(client_id).await? else {
            return Ok(true);
        };
        Ok(self.subject_for(&client, user)? != *hint_subject)
    }

    /// The answer once the application has ended its session (RP-Initiated Logout §3): a
    /// `302` to `post_logout_redirect_uri` with `state`, or, when there is none (or the
    /// client no longer has it registered), a `200` "signed out" page. `Cache-Control:
    /// no-store` either way.
    pub async fn end_session_response(&self, request: &LogoutRequest) -> http::Response<Vec<u8>> {
        if let (Some(uri), Some(client_id)) = (&request.post_logout_redirect_uri, &request.client_id) {
            // The request may have been kept outside this server since it was validated:
            // redirect only where the client still has registered.
            let registered = matches!(
                self.inner.store.get_registered_client(client_id).await,
                Ok(Some(client)) if post_logout_uri_registered(&client, uri)
            );
            if registered {
                return post_logout_redirect(uri, request.state.as_deref());
            }
        }
        signed_out_page()
    }
}

/// Whether `uri` is one of `client`'s `post_logout_redirect_uris`, by exact string (§3).
fn post_logout_uri_registered(client: &RegisteredClient, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|r| r == uri)
}

/// The `302` to `uri` with `state` added to its query (§3).
fn post_logout_redirect(uri: &str, state: Option<&str>) -> http::Response<Vec<u8>> {
    let location = match state {
        Some(state) => {
            let (base, fragment) = match uri.split_once('#') {
                Some((b, f)) => (b, Some(f)),
                None => (uri, None),
            };
            let sep = if base.contains('?') { '&' } else { '?' };
            let mut l = format!("{base}{sep}{}", encode_form([("state", state)]));
            if let Some(f) = fragment {
                l.push('#');
                l.push_str(f);
            }
            l
        }
        None => uri.to_owned(),
    };
    let mut response = http::Response::new(Vec::new());
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            *response.status_mut() = StatusCode::FOUND;
            response.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return signed_out_page(),
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The plain "signed out" page.
fn signed_out_page() -> http::Response<Vec<u8>> {
    let body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signed out</title></head>\n\
                <body><p>You are signed out.</p></body></html>\n";
    let mut response = http::Response::new(body.as_bytes().to_vec());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_adds_state_to_the_query_before_a_fragment() {
        let r = post_logout_redirect("https://rp.example/bye?x=1#top", Some("a b&c"));
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "https://rp.example/bye?x=1&state=a%20b%26c#top");
        let r = post_logout_redirect("https://rp.example/bye", None);
        assert_eq!(r.headers()[header::LOCATION], "https://rp.example/bye");
    }

    #[test]
    fn errors_are_pages_not_redirects() {
        for e in [
            EndSessionError::UnregisteredRedirect,
            EndSessionError::InvalidHint,
            EndSessionError::ClientMismatch,
        ] {
            let r = e.to_response();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            assert!(r.headers().get(header::LOCATION).is_none());
        }
        assert_eq!(EndSessionError::MethodNotAllowed.to_response().status(), StatusCode::METHOD_NOT_ALLOWED);
        let e = EndSessionError::Store(StoreError::Unavailable("db down".into()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!String::from_utf8(e.to_response().into_body()).unwrap().contains("db down"));
    }
}
