//! Tokens as the registry hands them to the application, and the application's token hooks:
//! `fetch_token` (which token acts for this user?) and `update_token` (persist a renewed
//! token), plus the [`TokenUpdate`] event (Authlib's `token_update` signal).

use crate::oauth2::{OldToken, Token as OAuth2Token};
use keyward::common::http_client::BoxFuture;
use keyward::common::secret::SecretString;
use keyward::oauth1::rfc5849::TokenCredentials;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;

/// An error returned by an application hook.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// OAuth 1.0a token credentials (RFC 5849 §2.3) with the other parameters of the token
/// response (`user_id`, `screen_name`, …), in Authlib's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuth1Token {
    /// `oauth_token`.
    pub oauth_token: String,
    /// `oauth_token_secret`.
    pub oauth_token_secret: SecretString,
    /// Every other parameter of the token response.
    #[serde(flatten)]
    pub params: BTreeMap<String, String>,
}

impl OAuth1Token {
    /// The credentials to sign with.
    pub fn credentials(&self) -> TokenCredentials {
        TokenCredentials::new(self.oauth_token.clone(), self.oauth_token_secret.secret())
    }
}

/// A token of either protocol, as `authorize_access_token` returns it and `fetch_token`
/// gives it back. It serialises to the provider's own JSON shape, so an application can
/// store it as it comes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum AppToken {
    /// An OAuth 2.0 token (RFC 6749 §5.1), with `userinfo` after an OpenID Connect login.
    OAuth2(OAuth2Token),
    /// OAuth 1.0a token credentials.
    OAuth1(OAuth1Token),
}

impl AppToken {
    /// The OAuth 2.0 token, if it is one.
    pub fn oauth2(&self) -> Option<&OAuth2Token> {
        match self {
            AppToken::OAuth2(t) => Some(t),
            AppToken::OAuth1(_) => None,
        }
    }

    /// The OAuth 1.0a token, if it is one.
    pub fn oauth1(&self) -> Option<&OAuth1Token> {
        match self {
            AppToken::OAuth1(t) => Some(t),
            AppToken::OAuth2(_) => None,
        }
    }

    /// The validated ID-token claims of an OpenID Connect login.
    pub fn userinfo(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.oauth2().and_then(|t| t.userinfo.as_ref())
    }
}

impl From<OAuth2Token> for AppToken {
    fn from(t: OAuth2Token) -> Self {
        AppToken::OAuth2(t)
    }
}

impl From<OAuth1Token> for AppToken {
    fn from(t: OAuth1Token) -> Self {
        AppToken::OAuth1(t)
    }
}

/// The application's `fetch_token` hook: the token an API call makes on behalf of `user`
/// (whatever key the application uses for its users), for app `app`.
pub trait FetchToken: Send + Sync {
    /// Looks the token up; `None` when the user has none for this app.
    fn fetch_token<'a>(
        &'a self,
        app: &'a str,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<AppToken>, HookError>>;
}

impl<F, Fut> FetchToken for F
where
    F: Fn(String, String) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Option<AppToken>, HookError>> + Send + 'static,
{
    fn fetch_token<'a>(
        &'a self,
        app: &'a str,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<AppToken>, HookError>> {
        Box::pin(self(app.to_owned(), user.to_owned()))
    }
}

/// A renewed OAuth 2.0 token: what the `update_token` hook and the event receive.
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    /// The app whose token was renewed.
    pub app: String,
    /// The new token (it keeps the old refresh token when the response had none).
    pub token: OAuth2Token,
    /// The access and refresh tokens it replaces, to find the stored row.
    pub old: OldToken,
}

/// The application's `update_token` hook: persist a renewed token. It runs once per
/// renewal, before any request uses the new token; when it fails, the requests waiting on
/// the renewal fail, since the new token would otherwise be lost.
pub trait UpdateToken: Send + Sync {
    /// Stores `update.token` in place of `update.old`.
    fn update_token<'a>(&'a self, update: &'a TokenUpdate) -> BoxFuture<'a, Result<(), HookError>>;
}

impl<F, Fut> UpdateToken for F
where
    F: Fn(TokenUpdate) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HookError>> + Send + 'static,
{
    fn update_token<'a>(&'a self, update: &'a TokenUpdate) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(self(update.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_their_provider_shapes() {
        let t: AppToken = serde_json::from_str(
            r#"{"access_token":"at","token_type":"Bearer","expires_in":"3600","refresh_token":"rt"}"#,
        )
        .unwrap();
        let o2 = t.oauth2().unwrap();
        assert_eq!(o2.access_token.secret(), "at");
        assert_eq!(o2.expires_in, Some(3600));
        let t: AppToken =
            serde_json::from_str(r#"{"oauth_token":"ot","oauth_token_secret":"ots","screen_name":"alice"}"#)
                .unwrap();
        let o1 = t.oauth1().unwrap();
        assert_eq!(o1.oauth_token, "ot");
        assert_eq!(o1.params.get("screen_name").map(String::as_str), Some("alice"));
        let again: AppToken = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(again, t);
        assert!(serde_json::from_str::<AppToken>(r#"{"token":"x"}"#).is_err());
        assert!(!format!("{t:?}").contains("ots"), "secrets are redacted in Debug");
    }
}
