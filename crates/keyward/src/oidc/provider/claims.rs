//! Claims (OpenID Connect Core §5): the application's claims hook, the claims each scope asks
//! for (§5.4), the `claims` request parameter (§5.5), and what the provider keeps for itself.

use serde_json::{Map, Value};

use crate::common::store::{BoxFuture, StoreError};
use crate::oauth2::provider::ProviderError;

/// Where the claims asked of a [`ClaimsSource`] go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimsTarget {
    /// Into an ID token (Core §2; the `id_token` member of the `claims` parameter, §5.5).
    IdToken,
    /// Into a UserInfo response (§5.3; the scopes of §5.4 and the `userinfo` member, §5.5).
    UserInfo,
}

/// What the provider asks the application's [`ClaimsSource`] for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimsRequest<'a> {
    /// The resource owner, as the application knows them (never the pairwise `sub`).
    pub subject: &'a str,
    /// The client the claims are released to.
    pub client_id: &'a str,
    /// The scopes granted.
    pub scopes: &'a [String],
    /// The claim names asked: those of the scopes (§5.4, UserInfo only) and of the `claims`
    /// parameter (§5.5), without the ones the provider sets itself. Only these are released.
    pub names: Vec<String>,
    /// The names the `claims` parameter marks essential (§5.5.1), for the application's
    /// information: an essential claim the application cannot give is simply left out.
    pub essential: Vec<String>,
    /// Where the claims go.
    pub target: ClaimsTarget,
}

/// The application's claims hook: the values of a user's claims (Core §5.1 names such as
/// `name`, `email`, `email_verified`, `address`, …), for ID tokens and UserInfo.
///
/// The provider passes the names asked in [`ClaimsRequest::names`] and keeps only those of
/// the answer: a claim that was not asked is dropped, and the hook can never set or override
/// the claims the provider sets itself (`sub`, `iss`, `aud`, `exp`, `iat`, `nonce`,
/// `auth_time`, `acr`, `amr`, `azp`, `sid`, `at_hash`, …). It is only called when at least
/// one name is asked.
pub trait ClaimsSource: Send + Sync {
    /// The claims of `request.subject`, for `request.names` (any subset of them).
    fn claims<'a>(
        &'a self,
        request: &'a ClaimsRequest<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StoreError>>;
}

/// A [`ClaimsSource`] that gives no claims: ID tokens and UserInfo carry only `sub` and the
/// protocol's claims.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClaims;

impl ClaimsSource for NoClaims {
    fn claims<'a>(
        &'a self,
        _request: &'a ClaimsRequest<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StoreError>> {
        Box::pin(async { Ok(Map::new()) })
    }
}

/// A [`ClaimsSource`] from a closure over the request, for claims at hand (tests, static
/// users): `|request| map`.
impl<F> ClaimsSource for F
where
    F: Fn(&ClaimsRequest<'_>) -> Map<String, Value> + Send + Sync,
{
    fn claims<'a>(
        &'a self,
        request: &'a ClaimsRequest<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StoreError>> {
        let claims = self(request);
        Box::pin(async move { Ok(claims) })
    }
}

/// The claims the provider sets itself; the claims hook cannot give them (Core §2, §3.1.3.6,
/// Back-Channel Logout §2.1, RFC 7519 §4.1).
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "cnf",
    "events",
    "client_id",
    "scope",
];

/// The standard claims each scope asks for (Core §5.4).
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// The longest claim name accepted in the `claims` parameter, and the most names per member.
const MAX_NAME: usize = 256;
const MAX_NAMES: usize = 100;

/// Parses the `claims` request parameter (Core §5.5): a JSON object whose optional members
/// `userinfo` and `id_token` are objects mapping claim names to `null` or to an object with
/// `essential` (a boolean), `value` or `values` (an array). Anything else is
/// `invalid_request`.
pub fn parse_claims_parameter(text: &str) -> Result<Value, ProviderError> {
    let bad = ProviderError::InvalidRequest;
    let value: Value = serde_json::from_str(text).map_err(|_| bad("the claims parameter is not JSON"))?;
    let Value::Object(top) = &value else { return Err(bad("the claims parameter is not a JSON object")) };
    for (member, asked) in top {
        if member != "userinfo" && member != "id_token" {
            // Core §5.5: other members may be defined by extensions; they are ignored.
            continue;
        }
        let Value::Object(names) = asked else {
            return Err(bad("a member of the claims parameter is not an object"));
        };
        if names.len() > MAX_NAMES {
            return Err(bad("the claims parameter asks for too many claims"));
        }
        for (name, request) in names {
            if name.is_empty() || name.len() > MAX_NAME {
                return Err(bad("a claim name in the claims parameter is empty or too long"));
            }
            match request {
                Value::Null => {}
                Value::Object(o) => {
                    if o.get("essential").is_some_and(|e| !e.is_boolean()) {
                        return Err(bad("`essential` in the claims parameter is not a boolean"));
                    }
                    if o.get("values").is_some_and(|v| !v.is_array()) {
                        return Err(bad("`values` in the claims parameter is not an array"));
                    }
                }
                _ => return Err(bad("a claim request is neither null nor an object")),
            }
        }
    }
    Ok(value)
}

/// The claim names the `claims` parameter asks for `target`, and those of them marked
/// essential.
pub fn claims_parameter_names(claims: Option<&Value>, target: ClaimsTarget) -> (Vec<String>, Vec<String>) {
    let member = match target {
        ClaimsTarget::IdToken => "id_token",
        ClaimsTarget::UserInfo => "userinfo",
    };
    let Some(Value::Object(names)) = claims.and_then(|c| c.get(member)) else {
        return (Vec::new(), Vec::new());
    };
    let mut all = Vec::new();
    let mut essential = Vec::new();
    for (name, request) in names {
        all.push(name.clone());
        if request.get("essential").and_then(Value::as_bool) == Some(true) {
            essential.push(name.clone());
        }
    }
    (all, essential)
}

/// What the provider asks the hook for: the claims of the scopes (UserInfo only, §5.4) and of
/// the `claims` parameter, without the reserved ones, each name once.
pub(crate) fn asked_names(
    scopes: &[String],
    claims: Option<&Value>,
    target: ClaimsTarget,
) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    if target == ClaimsTarget::UserInfo {
        for scope in scopes {
            for name in scope_claims(scope) {
                if !names.iter().any(|n| n == name) {
                    names.push((*name).to_owned());
                }
            }
        }
    }
    let (asked, essential) = claims_parameter_names(claims, target);
    for name in asked {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.retain(|n| !RESERVED_CLAIMS.contains(&n.as_str()));
    let essential = essential.into_iter().filter(|n| names.contains(n)).collect();
    (names, essential)
}

/// Keeps the claims of `given` that were asked (`names`) and are not reserved.
pub(crate) fn release(given: Map<String, Value>, names: &[String]) -> Map<String, Value> {
    given
        .into_iter()
        .filter(|(k, _)| names.iter().any(|n| n == k) && !RESERVED_CLAIMS.contains(&k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parameter_is_checked() {
        let ok =
            r#"{"id_token":{"email":{"essential":true},"acr":{"values":["a"]}},"userinfo":{"name":null}}"#;
        let v = parse_claims_parameter(ok).unwrap();
        let (names, essential) = claims_parameter_names(Some(&v), ClaimsTarget::IdToken);
        assert_eq!(names, ["acr", "email"]);
        assert_eq!(essential, ["email"]);
        for bad in [
            "",
            "[]",
            "{",
            r#"{"userinfo":[]}"#,
            r#"{"userinfo":{"x":1}}"#,
            r#"{"id_token":{"x":{"essential":"yes"}}}"#,
            r#"{"id_token":{"":null}}"#,
            r#"{"id_token":{"x":{"values":"a"}}}"#,
        ] {
            assert!(matches!(parse_claims_parameter(bad), Err(ProviderError::InvalidRequest(_))), "{bad}");
        }
    }

    #[test]
    fn reserved_claims_are_never_asked_nor_released() {
        let v = parse_claims_parameter(r#"{"userinfo":{"sub":null,"nickname":null}}"#).unwrap();
        let (names, _) = asked_names(&["email".into()], Some(&v), ClaimsTarget::UserInfo);
        assert_eq!(names, ["email", "email_verified", "nickname"]);
        let (names, _) = asked_names(&["email".into()], Some(&v), ClaimsTarget::IdToken);
        assert!(names.is_empty());
        let mut given = Map::new();
        given.insert("sub".into(), "evil".into());
        given.insert("email".into(), "a@b".into());
        given.insert("phone_number".into(), "1".into());
        let out = release(given, &["email".into(), "sub".into()]);
        assert_eq!(Value::Object(out), serde_json::json!({"email": "a@b"}));
    }
}
