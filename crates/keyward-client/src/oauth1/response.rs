//! Reading the temporary-credential (RFC 5849 §2.1) and token-credential (§2.3)
//! responses: a form or, as some providers answer, a JSON object.

use super::OAuth1Error;
use keyward::common::ErrorBody;
use keyward::common::encoding::parse_form;
use keyward::oauth1::rfc5849::{TokenCredentials, names};
use std::collections::BTreeMap;

/// Credentials returned by the temporary-credential (§2.1) or token (§2.3) endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsResponse {
    /// `oauth_token` and `oauth_token_secret`.
    pub credentials: TokenCredentials,
    /// Every other parameter of the response (`user_id`, `screen_name`, …), JSON
    /// non-string values in their JSON text. `oauth_callback_confirmed` is consumed.
    pub params: BTreeMap<String, String>,
}

fn is_json(response: &http::Response<Vec<u8>>) -> bool {
    response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// Reads a form or JSON object body into its parameters; duplicated names are refused.
fn read_params(json: bool, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if json {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err("the JSON body is not an object".to_owned());
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, v);
        }
    } else {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        for (k, v) in parse_form(text.trim()).map_err(|e| format!("malformed form: {e}"))? {
            if out.contains_key(&k) {
                return Err(format!("parameter `{k}` appears more than once"));
            }
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// Reads a credential endpoint's response: its parameters, and its raw body for errors.
pub(super) fn read_response(
    endpoint: &'static str,
    response: http::Response<Vec<u8>>,
) -> Result<Response, OAuth1Error> {
    let json = is_json(&response);
    let status = response.status();
    let body = response.into_body();
    let lossy = || String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        let error = read_params(json, &body).ok().and_then(|mut p| {
            let code = p.remove("error")?;
            Some(ErrorBody {
                error: code,
                error_description: p.remove("error_description"),
                error_uri: p.remove("error_uri"),
            })
        });
        return Err(OAuth1Error::Status { endpoint, status, error, body: lossy() });
    }
    match read_params(json, &body) {
        Ok(params) => Ok(Response { params, body: lossy() }),
        Err(reason) => Err(OAuth1Error::InvalidResponse { endpoint, reason, body: lossy() }),
    }
}

pub(super) struct Response {
    pub(super) params: BTreeMap<String, String>,
    body: String,
}

pub(super) fn credentials(
    endpoint: &'static str,
    response: Response,
) -> Result<CredentialsResponse, OAuth1Error> {
    let Response { mut params, body } = response;
    let missing = |name: &str| OAuth1Error::InvalidResponse {
        endpoint,
        reason: format!("no `{name}`"),
        body: body.clone(),
    };
    let token = params.remove(names::TOKEN).filter(|t| !t.is_empty()).ok_or_else(|| missing(names::TOKEN))?;
    let secret = params.remove(names::TOKEN_SECRET).ok_or_else(|| missing(names::TOKEN_SECRET))?;
    Ok(CredentialsResponse { credentials: TokenCredentials::new(token, secret), params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_and_json() {
        let form = read_params(false, b"oauth_token=a%20b&x=1\n").unwrap();
        assert_eq!(form["oauth_token"], "a b");
        let json = read_params(true, br#"{"oauth_token":"t","user_id":42,"ok":true}"#).unwrap();
        assert_eq!((json["user_id"].as_str(), json["ok"].as_str()), ("42", "true"));
        assert!(read_params(false, b"a=1&a=2").unwrap_err().contains("more than once"));
        assert!(read_params(true, b"[1]").is_err());
        assert!(read_params(false, b"a=\xff").is_err());
    }
}
