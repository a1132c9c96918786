//! URLs of API calls, relative to an app's `api_base_url`.

use url::Url;

/// A request URL that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// A relative URL was given but the app has no `api_base_url`.
    #[error("`{path}` is relative but app `{app}` has no api_base_url")]
    NoBase {
        /// The app.
        app: String,
        /// The relative URL.
        path: String,
    },
    /// The URL (or the base joined with it) does not parse, or is not http(s).
    #[error("invalid request URL `{0}`")]
    Invalid(String),
}

/// Resolves `url` for `app`: an absolute `http(s)://` URL is used as it is; anything else is
/// appended to `api_base_url`.
///
/// Unlike Authlib (which uses `urljoin`, so that `https://api.example.com/v1` + `users`
/// gives `https://api.example.com/users`), the base is always a directory: a missing
/// trailing slash is added and a leading slash of the path is dropped, so `…/v1` + `/users`
/// and `…/v1/` + `users` both give `…/v1/users`. `..` segments cannot climb above the base.
pub fn resolve(app: &str, api_base_url: Option<&str>, url: &str) -> Result<Url, UrlError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return parse_http(url);
    }
    let Some(base) = api_base_url else {
        return Err(UrlError::NoBase { app: app.to_owned(), path: url.to_owned() });
    };
    let mut base = parse_http(base)?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let relative = url.trim_start_matches('/');
    if relative.split(['/', '?', '#']).any(|seg| seg.to_ascii_lowercase().replace("%2e", ".") == "..") {
        return Err(UrlError::Invalid(url.to_owned()));
    }
    base.join(relative).map_err(|_| UrlError::Invalid(url.to_owned()))
}

fn parse_http(url: &str) -> Result<Url, UrlError> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        _ => Err(UrlError::Invalid(url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: Option<&str>, url: &str) -> Result<String, UrlError> {
        resolve("app", base, url).map(String::from)
    }

    #[test]
    fn relative_urls_join_the_base_as_a_directory() {
        for base in ["https://api.example.com/v1", "https://api.example.com/v1/"] {
            for path in ["users/me", "/users/me"] {
                assert_eq!(r(Some(base), path).unwrap(), "https://api.example.com/v1/users/me");
            }
        }
        assert_eq!(r(Some("https://api.github.com"), "user").unwrap(), "https://api.github.com/user");
        assert_eq!(
            r(Some("https://api.example.com/v1"), "search?q=a%20b").unwrap(),
            "https://api.example.com/v1/search?q=a%20b"
        );
    }

    #[test]
    fn absolute_urls_pass_through_and_bad_ones_are_typed_errors() {
        assert_eq!(r(Some("https://a.example"), "https://b.example/x").unwrap(), "https://b.example/x");
        assert_eq!(r(None, "HTTP://b.example/x").unwrap(), "http://b.example/x");
        assert!(matches!(r(None, "user"), Err(UrlError::NoBase { .. })));
        assert!(matches!(r(Some("ftp://a.example"), "x"), Err(UrlError::Invalid(_))));
        assert!(matches!(r(Some("https://a.example/v1"), "../admin"), Err(UrlError::Invalid(_))));
        assert!(matches!(r(Some("https://a.example/v1"), "x/%2E%2E/y"), Err(UrlError::Invalid(_))));
        assert!(matches!(r(Some("https://a.example/v1"), "x/.%2e"), Err(UrlError::Invalid(_))));
    }
}
