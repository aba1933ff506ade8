//! Who may see the status page. Without an inbound key (loopback only) everyone local may.
//! With one, the page, its event stream and `/v1/pool` ask for it like every other route
//! (`x-api-key` or bearer) — but a browser cannot send a header when it loads a page or opens
//! an `EventSource`. So `GET /` without access answers a small sign-in form; posting the key
//! to `POST /` sets a cookie and sends the browser back to `/`.
//!
//! Why a form and a cookie: the key never travels in a URL (a `?key=` link would sit in the
//! browser's history and in any proxy log); the cookie is `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page can make the browser send it) and holds no key:
//! `<expiry>.<HMAC-SHA256(key, expiry)>`, valid for 12 hours and only while the configured key
//! is the same. It opens only the read-only routes (the page, `/v1/events`, `/v1/pool`): a
//! request through the pool still needs the key itself. The gateway speaks plain HTTP, so on a
//! non-loopback address the form's key and the cookie cross the network in clear, as the
//! `x-api-key` of every proxied request does: expose the gateway only on a network you trust
//! or behind TLS.
//!
//! The static stylesheet and script carry no pool data (they are the same bytes in every
//! build), so they are served to anyone: the sign-in form uses the stylesheet.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mac_storage::{EpochMs, Secret};
use sha2::{Digest, Sha256};

use crate::access::{presents, same};
use crate::reply::retry_after_secs;
use crate::state::AppState;
use crate::status::assets;
use crate::status::limiter::{Admission, BURST, INTERVAL};

/// The cookie's name.
const COOKIE: &str = "mac_status";
/// How long a sign-in lasts.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// The routes a cookie opens besides the status module's own: the page reads the pool.
const READ_ONLY_PATHS: [&str; 1] = ["/v1/pool"];

/// Whether `headers` give access to the page and its stream at `now`: no key configured, the
/// key as `x-api-key` or bearer, or a valid sign-in cookie.
pub(crate) fn granted(state: &AppState, headers: &HeaderMap, now: EpochMs) -> bool {
    match state.settings().inbound_key.as_ref() {
        None => true,
        Some(key) => presents(headers, key) | has_cookie(headers, key, now),
    }
}

/// Whether a request to one of the gateway's read-only routes (`GET /v1/pool`) carries a valid
/// sign-in cookie: the inbound-key check lets such a request through.
pub(crate) fn cookie_opens(method: &Method, path: &str, headers: &HeaderMap, key: &Secret) -> bool {
    method == Method::GET
        && READ_ONLY_PATHS.contains(&path)
        && has_cookie(headers, key, EpochMs::now())
}

/// `POST /`: the sign-in form's answer. The right key → a cookie and back to `/`; a wrong one
/// → the form again with a note (401); too many wrong ones from the client's address → the
/// form with a note and `retry-after` (429), the key not compared ([`limiter`]). The offered
/// key is compared in constant time ([`same`]) and never logged.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let Some(key) = state.settings().inbound_key.as_ref() else {
        return see_other(None);
    };
    // Served without the connection's address (not by `Gateway::start`): every client counts
    // as one, which is stricter, never looser.
    let client = connection
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(peer))| peer.ip());
    let reservation = match state.sign_in_limiter().admit(client, Instant::now()) {
        Admission::Go(reservation) => reservation,
        Admission::Wait(after) => {
            let secs = retry_after_secs(after);
            tracing::warn!(
                %client,
                retry_after_s = secs,
                "status page: sign-in refused, too many wrong inbound keys from this address"
            );
            return too_many(secs);
        }
    };
    let offered = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "key")
        .map(|(_, value)| Secret::new(value.into_owned()));
    if offered.is_some_and(|offered| same(offered.expose(), key.expose())) {
        state.sign_in_limiter().accepted(reservation, Instant::now());
        let expires = EpochMs::now().saturating_add(LIFETIME);
        let cookie = format!(
            "{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
            cookie_value(key, expires),
            LIFETIME.as_secs()
        );
        tracing::info!(%client, "status page: signed in");
        return see_other(HeaderValue::from_str(&cookie).ok());
    }
    tracing::warn!(%client, "status page: sign-in with a wrong inbound key");
    sign_in_form(Note::Refused)
}

/// What the sign-in form says above the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    /// The form's first showing.
    Asked,
    /// A key was just refused.
    Refused,
    /// Too many wrong keys: wait this many seconds.
    Wait(u64),
}

/// The form again (429) with `retry-after`.
fn too_many(secs: u64) -> Response {
    let mut response = sign_in_form(Note::Wait(secs));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// The sign-in form (401), with its note.
pub(crate) fn sign_in_form(note: Note) -> Response {
    let note = match note {
        Note::Asked => "This gateway asks for its inbound key ([gateway] inbound_key).".to_owned(),
        Note::Refused => "That is not this gateway's inbound key.".to_owned(),
        Note::Wait(secs) => format!(
            "Too many wrong keys from your address: try again in {secs} seconds \
             ({BURST} tries, then one every {} seconds).",
            INTERVAL.as_secs()
        ),
    };
    let body = assets::SIGN_IN_HTML.replace("<!--note-->", &note);
    (StatusCode::UNAUTHORIZED, assets::html_headers(), body).into_response()
}

fn see_other(cookie: Option<HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/"))])
        .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether a `mac_status` cookie of `headers` is unexpired and made with `key`.
fn has_cookie(headers: &HeaderMap, key: &Secret, now: EpochMs) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .fold(false, |found, value| found | cookie_valid(value, key, now))
}

fn cookie_valid(value: &str, key: &Secret, now: EpochMs) -> bool {
    let Some((expires, _)) = value.split_once('.') else { return false };
    let Ok(expires) = expires.parse::<i64>() else { return false };
    let expires = EpochMs::from_millis(expires);
    expires > now && same(value, &cookie_value(key, expires))
}

/// `<expiry ms>.<hex HMAC-SHA256(key, "mac status page\n<expiry ms>")>`.
fn cookie_value(key: &Secret, expires: EpochMs) -> String {
    let ms = expires.as_millis();
    let mac = hmac_sha256(key.expose().as_bytes(), format!("mac status page\n{ms}").as_bytes());
    format!("{ms}.{}", hex(&mac))
}

/// Lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// HMAC-SHA256 (RFC 2104) over the `sha2` the crate already uses.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0_u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_cookie_opens_only_while_unexpired_and_for_its_key() {
        let key = Secret::new("gw-key");
        let now = EpochMs::from_millis(1_000_000);
        let value = cookie_value(&key, now.saturating_add(Duration::from_secs(60)));
        assert!(!value.contains("gw-key"));
        let headers = with_cookie(&format!("other=1; {COOKIE}={value}"));
        assert!(has_cookie(&headers, &key, now));
        assert!(!has_cookie(&headers, &Secret::new("new-key"), now), "the key changed");
        assert!(!has_cookie(&headers, &key, now.saturating_add(Duration::from_secs(61))));
        // Moving the expiry breaks the MAC.
        let (_, mac) = value.split_once('.').unwrap();
        let later = now.saturating_add(Duration::from_secs(3600)).as_millis();
        assert!(!has_cookie(&with_cookie(&format!("{COOKIE}={later}.{mac}")), &key, now));
        assert!(!has_cookie(&with_cookie(&format!("{COOKIE}=garbage")), &key, now));
        assert!(!has_cookie(&with_cookie(&format!("x{COOKIE}={value}")), &key, now));
    }

    #[test]
    fn the_cookie_opens_the_pool_json_to_get_only() {
        let key = Secret::new("gw-key");
        let value = cookie_value(&key, EpochMs::now().saturating_add(LIFETIME));
        let headers = with_cookie(&format!("{COOKIE}={value}"));
        assert!(cookie_opens(&Method::GET, "/v1/pool", &headers, &key));
        assert!(!cookie_opens(&Method::POST, "/v1/messages", &headers, &key));
        assert!(!cookie_opens(&Method::GET, "/metrics", &headers, &key));
        assert!(!cookie_opens(&Method::GET, "/v1/pool", &HeaderMap::new(), &key));
    }
}
