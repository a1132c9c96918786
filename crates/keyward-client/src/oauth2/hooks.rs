//! Compliance hooks for providers that deviate from the specifications (Authlib's
//! `register_compliance_hook`): each edits a request before it is sent or a response
//! before it is read, and hooks of one kind run in registration order.

use keyward::oauth2::FormRequest;
use std::sync::Arc;

/// Edits a response before it is parsed.
pub type ResponseHook = Arc<dyn Fn(&mut http::Response<Vec<u8>>) + Send + Sync>;
/// Edits a form request (token refresh, revocation, introspection) before it is sent.
pub type FormHook = Arc<dyn Fn(&mut FormRequest) + Send + Sync>;
/// Edits a protected-resource request after the token is placed.
pub type RequestHook = Arc<dyn Fn(&mut http::Request<Vec<u8>>) + Send + Sync>;

/// A hook and the point it runs at.
#[derive(Clone)]
#[non_exhaustive]
pub enum Hook {
    /// The token response of a grant (code, password, client credentials, device).
    AccessTokenResponse(ResponseHook),
    /// The refresh request.
    RefreshTokenRequest(FormHook),
    /// The refresh response.
    RefreshTokenResponse(ResponseHook),
    /// Each request to a protected resource.
    ProtectedRequest(RequestHook),
    /// The revocation request.
    RevokeTokenRequest(FormHook),
    /// The introspection request.
    IntrospectTokenRequest(FormHook),
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hook::AccessTokenResponse(_) => "Hook::AccessTokenResponse",
            Hook::RefreshTokenRequest(_) => "Hook::RefreshTokenRequest",
            Hook::RefreshTokenResponse(_) => "Hook::RefreshTokenResponse",
            Hook::ProtectedRequest(_) => "Hook::ProtectedRequest",
            Hook::RevokeTokenRequest(_) => "Hook::RevokeTokenRequest",
            Hook::IntrospectTokenRequest(_) => "Hook::IntrospectTokenRequest",
        })
    }
}

/// The registered hooks, by kind, in registration order.
#[derive(Clone, Default)]
pub struct ComplianceHooks {
    pub(crate) access_token_response: Vec<ResponseHook>,
    pub(crate) refresh_token_request: Vec<FormHook>,
    pub(crate) refresh_token_response: Vec<ResponseHook>,
    pub(crate) protected_request: Vec<RequestHook>,
    pub(crate) revoke_token_request: Vec<FormHook>,
    pub(crate) introspect_token_request: Vec<FormHook>,
}

impl std::fmt::Debug for ComplianceHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplianceHooks")
            .field("access_token_response", &self.access_token_response.len())
            .field("refresh_token_request", &self.refresh_token_request.len())
            .field("refresh_token_response", &self.refresh_token_response.len())
            .field("protected_request", &self.protected_request.len())
            .field("revoke_token_request", &self.revoke_token_request.len())
            .field("introspect_token_request", &self.introspect_token_request.len())
            .finish()
    }
}

impl ComplianceHooks {
    /// Adds a hook after those of its kind.
    pub fn register(&mut self, hook: Hook) {
        match hook {
            Hook::AccessTokenResponse(h) => self.access_token_response.push(h),
            Hook::RefreshTokenRequest(h) => self.refresh_token_request.push(h),
            Hook::RefreshTokenResponse(h) => self.refresh_token_response.push(h),
            Hook::ProtectedRequest(h) => self.protected_request.push(h),
            Hook::RevokeTokenRequest(h) => self.revoke_token_request.push(h),
            Hook::IntrospectTokenRequest(h) => self.introspect_token_request.push(h),
        }
    }
}

pub(crate) fn run_form(hooks: &[FormHook], request: &mut FormRequest) {
    for h in hooks {
        h(request);
    }
}

pub(crate) fn run_response(hooks: &[ResponseHook], response: &mut http::Response<Vec<u8>>) {
    for h in hooks {
        h(response);
    }
}
