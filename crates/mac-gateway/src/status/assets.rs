//! The page's files, embedded in the binary (no build step, nothing fetched at run time: the
//! page works offline), and the headers every HTML answer carries: a content security policy
//! that allows only the gateway's own script, style and requests, no framing and no referrer.

use axum::http::header::{self, HeaderName};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The status page.
pub(crate) const PAGE_HTML: &str = include_str!("../../assets/status.html");
/// The sign-in form (`<!--note-->` is replaced by a fixed sentence).
pub(crate) const SIGN_IN_HTML: &str = include_str!("../../assets/sign-in.html");
/// The page's stylesheet (also the sign-in form's).
const STYLE_CSS: &str = include_str!("../../assets/status.css");
/// The page's script.
const SCRIPT_JS: &str = include_str!("../../assets/status.js");

/// Where the stylesheet is served (the HTML names it).
pub(crate) const STYLE_PATH: &str = "/status/status.css";
/// Where the script is served (the HTML names it).
pub(crate) const SCRIPT_PATH: &str = "/status/status.js";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// The headers of an HTML answer.
pub(crate) fn html_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

/// `GET /status/status.css`.
pub(crate) async fn style() -> Response {
    static_file("text/css; charset=utf-8", STYLE_CSS)
}

/// `GET /status/status.js`.
pub(crate) async fn script() -> Response {
    static_file("text/javascript; charset=utf-8", SCRIPT_JS)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Small, and a new binary may change them: always asked again.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_names_the_served_files_and_nothing_outside() {
        for html in [PAGE_HTML, SIGN_IN_HTML] {
            assert!(html.contains(STYLE_PATH));
            assert!(!html.contains("http://") && !html.contains("https://"), "no external URL");
        }
        assert!(PAGE_HTML.contains(SCRIPT_PATH));
        assert!(SIGN_IN_HTML.contains("<!--note-->"));
        for text in [PAGE_HTML, SIGN_IN_HTML, STYLE_CSS, SCRIPT_JS] {
            assert!(!text.contains("@import") && !text.contains("fonts."), "no external font");
        }
    }
}
