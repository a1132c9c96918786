//! The pages: plain HTML written here, every value escaped.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;\
color:#222}header{display:flex;justify-content:space-between;align-items:center;border-bottom:1px solid #ddd;\
margin-bottom:1.5rem}header a{color:#333;text-decoration:none;margin-right:1rem}\
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3rem .5rem;\
text-align:left;font-size:.9rem;vertical-align:top}code,pre{background:#f4f4f4;padding:.1rem .3rem;\
border-radius:3px;overflow-x:auto}pre{padding:.6rem}button,.button{padding:.45rem .9rem;border-radius:4px;\
border:1px solid #888;background:#fff;cursor:pointer;font-size:1rem;text-decoration:none;color:#222;\
display:inline-block;margin:.2rem 0}.primary{background:#1f5fbf;color:#fff;border-color:#1f5fbf}\
.error{border-left:4px solid #c0392b;padding:.5rem 1rem;background:#fdf0ee}\
.ok{border-left:4px solid #27ae60;padding:.5rem 1rem;background:#eefaf1}\
label{display:block;margin:.6rem 0}input,textarea{font-size:1rem;padding:.3rem;width:100%;box-sizing:border-box}\
form.inline{display:inline}nav.tabs{display:flex;gap:.5rem;border-bottom:1px solid #ddd;margin-bottom:1rem}\
.tab{padding:.4rem .9rem;border:1px solid #ddd;border-bottom:none;border-radius:4px 4px 0 0;color:#1f5fbf;\
text-decoration:none}.tab.current{background:#1f5fbf;color:#fff;border-color:#1f5fbf}";

/// A whole page: `title` and already-escaped `body`.
pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Keyward demo</title><style>{STYLE}</style></head><body>\
         <header><nav><a href=\"/\"><b>Keyward demo</b></a><a href=\"/profile\">Profile</a>\
         <a href=\"/developer\">Developers</a></nav></header><main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    ))
}

/// A failure shown to a person: a status, a title and what happened, as a page.
#[derive(Debug)]
pub(crate) struct ErrorPage {
    pub(crate) status: StatusCode,
    pub(crate) title: String,
    pub(crate) detail: String,
    /// The provider's own words (its `error_description`), shown apart and marked as such.
    pub(crate) provider_words: Option<String>,
    /// A button offered before "Back to the home page": a local path and its label.
    pub(crate) action: Option<(String, String)>,
}

impl ErrorPage {
    pub(crate) fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { status, title: title.into(), detail: detail.into(), provider_words: None, action: None }
    }

    /// The failure was reported by the remote provider, in `words` if it gave any (shown
    /// apart, marked as the provider's, without control characters).
    pub(crate) fn with_provider_words(mut self, words: Option<&str>) -> Self {
        self.provider_words =
            words.map(|w| w.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect());
        self
    }

    /// Offers a button to `href` (a local path) labelled `label`.
    pub(crate) fn with_action(mut self, href: impl Into<String>, label: impl Into<String>) -> Self {
        self.action = Some((href.into(), label.into()));
        self
    }

    /// A failure of the demo's own storage: logged, and shown without its detail.
    pub(crate) fn internal(what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{what} failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            format!("{what} failed; the server log has the details. Try again in a moment."),
        )
    }

    /// The CSRF check of a form failed.
    pub(crate) fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this site's current page (its anti-forgery token does not match \
             your session). Go back, reload the page and try again.",
        )
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let words = match &self.provider_words {
            Some(w) => format!(
                "<p>The provider's own words (not this site's): <q id=\"provider-words\">{}</q></p>",
                esc(w)
            ),
            None => String::new(),
        };
        let action = match &self.action {
            Some((href, label)) => {
                format!(
                    "<a class=\"button primary\" id=\"action\" href=\"{}\">{}</a> ",
                    esc(href),
                    esc(label)
                )
            }
            None => String::new(),
        };
        let body = format!(
            "<div class=\"error\"><p>{}</p>{words}</div><p>{action}<a class=\"button\" href=\"/\">Back to the home page</a></p>",
            esc(&self.detail)
        );
        (self.status, [(axum::http::header::CACHE_CONTROL, "no-store")], page(&self.title, &body))
            .into_response()
    }
}

/// A hidden CSRF field.
pub(crate) fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(token))
}
