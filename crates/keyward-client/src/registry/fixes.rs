//! Named compliance fixes: hooks for providers that deviate from RFC 6749, selected by
//! `compliance_fix = "name"` in an app's configuration.

use crate::oauth2::Hook;
use std::collections::HashMap;
use std::sync::Arc;

/// The hooks of one fix, registered in this order.
pub type FixHooks = Vec<Hook>;

/// The fixes known to a registry: the built-in ones and the application's.
#[derive(Clone)]
pub(crate) struct ComplianceFixes(HashMap<String, FixHooks>);

impl ComplianceFixes {
    /// The built-in fixes: `slack`.
    pub(crate) fn with_builtins() -> Self {
        let mut fixes = Self(HashMap::new());
        fixes.insert("slack", vec![Hook::AccessTokenResponse(Arc::new(slack_token_response))]);
        fixes
    }

    pub(crate) fn insert(&mut self, name: &str, hooks: FixHooks) {
        self.0.insert(name.to_owned(), hooks);
    }

    pub(crate) fn get(&self, name: &str) -> Option<FixHooks> {
        self.0.get(name).cloned()
    }
}

/// Slack answers token errors with `200 OK` and `{"ok": false, "error": "…"}`, and nests
/// the user token of "Sign in with Slack" under `authed_user`. This turns the first into
/// a `400` so that it is read as the RFC 6749 §5.2 error it is, and lifts the second to
/// the top level when the response has no top-level `access_token`.
pub fn slack_token_response(response: &mut http::Response<Vec<u8>>) {
    let Ok(serde_json::Value::Object(mut body)) =
        serde_json::from_slice::<serde_json::Value>(response.body())
    else {
        return;
    };
    if body.get("ok") == Some(&serde_json::Value::Bool(false)) {
        *response.status_mut() = http::StatusCode::BAD_REQUEST;
        return;
    }
    if body.contains_key("access_token") {
        return;
    }
    let Some(serde_json::Value::Object(user)) = body.remove("authed_user") else {
        return;
    };
    for (k, v) in user {
        body.entry(k).or_insert(v);
    }
    if let Ok(bytes) = serde_json::to_vec(&body) {
        *response.body_mut() = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> http::Response<Vec<u8>> {
        http::Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn slack_errors_become_400_and_user_tokens_are_lifted() {
        let mut r = response(200, r#"{"ok":false,"error":"invalid_code"}"#);
        slack_token_response(&mut r);
        assert_eq!(r.status(), 400);
        let mut r = response(200, r#"{"ok":true,"authed_user":{"access_token":"xoxp","token_type":"user"}}"#);
        slack_token_response(&mut r);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["access_token"], "xoxp");
        assert_eq!(r.status(), 200);
        let mut r = response(200, "not json");
        slack_token_response(&mut r);
        assert_eq!((r.status().as_u16(), r.body().as_slice()), (200, &b"not json"[..]));
    }
}
