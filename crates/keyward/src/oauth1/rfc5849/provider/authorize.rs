//! The resource owner authorization endpoint, RFC 5849 §2.2.
//!
//! The application renders the consent page itself: it calls
//! [`check_authorization_request`](AuthorizationServer::check_authorization_request) to learn
//! which client asks and where the user will be sent, then
//! [`create_authorization_response`](AuthorizationServer::create_authorization_response) with
//! the user's decision.

use super::checks::check_transport;
use super::config::CredentialKind;
use super::error::{InvalidRequest, ProviderError};
use super::response::{form_pairs, redirect};
use super::server::AuthorizationServer;
use crate::common::encoding::parse_form;
use crate::common::secret::SecretString;
use crate::oauth1::rfc5849::names;
use crate::oauth1::rfc5849::params::is_form;
use crate::oauth1::rfc5849::store::{Authorization, AuthorizeOutcome, Client, TemporaryCredential};

/// What a consent page needs to know (RFC 5849 §2.2).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsentRequest {
    /// The client asking for access.
    pub client: Client,
    /// The temporary credential identifier (`oauth_token`), to carry through the consent form.
    pub token: String,
    /// Where the resource owner is sent afterwards: the callback the client gave, or the
    /// client's default redirect URI when it gave `oob`; `None` when there is nowhere to
    /// send them (the verifier is then shown to the user, §2.2 "out-of-band").
    pub redirect_uri: Option<String>,
    /// When the temporary credential expires, in seconds since the Unix epoch.
    pub expires_at: i64,
}

/// The resource owner's decision (RFC 5849 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consent<'a> {
    /// Access granted by the user with this identifier.
    Grant {
        /// The resource owner's identifier, bound to the token credential issued later.
        user_id: &'a str,
    },
    /// Access denied.
    Deny,
}

/// `oauth_token` from the query, or from a form body (a consent form posted back).
fn temporary_token(req: &http::Request<Vec<u8>>) -> Result<String, ProviderError> {
    let mut pairs = match req.uri().query() {
        Some(q) => parse_form(q).map_err(|_| InvalidRequest::Encoding)?,
        None => Vec::new(),
    };
    if is_form(req.headers()) && !req.body().is_empty() {
        let body = std::str::from_utf8(req.body()).map_err(|_| InvalidRequest::Encoding)?;
        pairs.extend(parse_form(body).map_err(|_| InvalidRequest::Encoding)?);
    }
    let mut found = None;
    for (name, value) in pairs {
        if name == names::TOKEN && found.replace(value).is_some() {
            return Err(ProviderError::DuplicatedOAuthProtocolParameter(names::TOKEN.to_owned()));
        }
    }
    found.filter(|t| !t.is_empty()).ok_or(ProviderError::MissingRequiredParameter(names::TOKEN))
}

impl AuthorizationServer {
    async fn pending_authorization(
        &self,
        req: &http::Request<Vec<u8>>,
    ) -> Result<(TemporaryCredential, Client), ProviderError> {
        let inner = &self.inner;
        check_transport(req, inner.config.allow_insecure_transport)?;
        let token = temporary_token(req)?;
        let now = inner.clock.now();
        let credential = inner
            .store
            .get_temporary_credential(&token, now)
            .await?
            .filter(|c| !c.is_expired(now) && c.authorization.is_none())
            .ok_or(ProviderError::InvalidToken)?;
        let client =
            inner.store.get_client(&credential.client_id).await?.ok_or(ProviderError::InvalidClient)?;
        // Judged again here: a callback whose registration was withdrawn after the
        // temporary credential was issued is no longer sent a verifier.
        let callback = match credential.callback_uri.as_str() {
            "" => "oob",
            uri => uri,
        };
        if !client.accepts_callback(callback) {
            return Err(InvalidRequest::UnregisteredCallback.into());
        }
        Ok((credential, client))
    }

    /// Checks an authorization request (RFC 5849 §2.2): its `oauth_token` names a temporary
    /// credential that exists, has not expired and has not been authorized yet, and whose
    /// callback the client still has registered (else `400 invalid_request`,
    /// [`InvalidRequest::UnregisteredCallback`]).
    pub async fn check_authorization_request(
        &self,
        req: &http::Request<Vec<u8>>,
    ) -> Result<ConsentRequest, ProviderError> {
        let (credential, client) = self.pending_authorization(req).await?;
        let redirect_uri = redirect_uri(&credential, &client);
        Ok(ConsentRequest {
            token: credential.token,
            redirect_uri,
            expires_at: credential.expires_at,
            client,
        })
    }

    /// Answers the resource owner's decision (RFC 5849 §2.2).
    ///
    /// On [`Consent::Grant`], draws a verifier, records the authorization once (a second
    /// grant is `invalid_token`) and redirects to the callback with `oauth_token` and
    /// `oauth_verifier`; with no callback (`oob` and no default), answers `200` with the two
    /// form-encoded for the application to show. On [`Consent::Deny`], deletes the temporary
    /// credential and redirects with `error=access_denied`, or fails with
    /// [`ProviderError::AccessDenied`] when there is nowhere to redirect.
    pub async fn create_authorization_response(
        &self,
        req: &http::Request<Vec<u8>>,
        consent: Consent<'_>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let (credential, client) = self.pending_authorization(req).await?;
        let inner = &self.inner;
        let now = inner.clock.now();
        let target = redirect_uri(&credential, &client);
        match consent {
            Consent::Grant { user_id } => {
                let verifier = inner.generate(CredentialKind::Verifier);
                let authorization = Authorization {
                    user_id: user_id.to_owned(),
                    verifier: SecretString::new(verifier.clone()),
                };
                match inner
                    .store
                    .authorize_temporary_credential(&credential.token, &authorization, now)
                    .await?
                {
                    AuthorizeOutcome::Authorized => {}
                    _ => return Err(ProviderError::InvalidToken),
                }
                let pairs = [(names::TOKEN, credential.token.as_str()), (names::VERIFIER, verifier.as_str())];
                match target {
                    Some(uri) => redirect(&uri, pairs).ok_or(InvalidRequest::InvalidCallback.into()),
                    None => Ok(form_pairs(pairs)),
                }
            }
            Consent::Deny => {
                inner.store.take_temporary_credential(&credential.token, now).await?;
                let err = ProviderError::AccessDenied;
                let body = err.body();
                let mut pairs = vec![("error", body.error.as_str())];
                if let Some(d) = &body.error_description {
                    pairs.push(("error_description", d));
                }
                match target.and_then(|uri| redirect(&uri, pairs)) {
                    Some(resp) => Ok(resp),
                    None => Err(err),
                }
            }
        }
    }
}

/// The callback, or the client's default for `oob` (RFC 5849 §2.1, §2.2).
fn redirect_uri(credential: &TemporaryCredential, client: &Client) -> Option<String> {
    match credential.callback_uri.as_str() {
        "oob" | "" => client.default_redirect_uri.clone(),
        uri => Some(uri.to_owned()),
    }
}
