//! The checks a console's writes pass before any handler runs: the bearer token (when the
//! server has one) and the refusal of writes from another site's page.
//!
//! Without the cross-site check a page elsewhere could post to a console on loopback that
//! has no token: the browser sends the request even though it hides the answer.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// `401` asking for a bearer token.
fn unauthorized() -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Why a request may not go on, or `None`: a write (anything but `GET`/`HEAD`) needs the
/// token (`401`) and must not come from another site's page (`403`, token or not).
pub(crate) fn refuse_write(token: Option<&str>, request: &Request) -> Option<Response> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return None;
    }
    if !has_token(token, request.headers()) {
        return Some(unauthorized());
    }
    if cross_site(request.headers()) {
        return Some(error(StatusCode::FORBIDDEN, "a write from another site's page is refused"));
    }
    None
}

/// Whether `headers` carry `token` (always true without one) as `Authorization: Bearer`.
fn has_token(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()))
        .is_some_and(|given| same_secret(given, token.as_bytes()))
}

/// Whether a browser says the request comes from another site's page: `Sec-Fetch-Site`
/// says so, or `Origin` names another host than `Host`. Clients that send neither (curl,
/// scripts) pass.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let origin_host = split_once(origin.as_bytes(), b"://").map(|(_, h)| h);
    origin_host.is_none() || origin_host != host
}

fn split_once<'a>(bytes: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = bytes.windows(sep.len()).position(|w| w == sep)?;
    Some((&bytes[..at], &bytes[at + sep.len()..]))
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials of an `Authorization: Bearer CREDENTIALS` header value; the scheme is
/// matched in any case (RFC 7235 §2.1), as curl, browsers and proxies may write it.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    (scheme.eq_ignore_ascii_case(b"bearer") && rest.first() == Some(&b' ')).then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_from_other_sites_are_told_apart() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert!(!cross_site(&headers(&[])), "curl sends neither");
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        let same = [("origin", "http://127.0.0.1:9480"), ("host", "127.0.0.1:9480")];
        assert!(!cross_site(&headers(&same)));
        let other = [("origin", "http://evil.example"), ("host", "127.0.0.1:9480")];
        assert!(cross_site(&headers(&other)));
        assert!(cross_site(&headers(&[("origin", "null"), ("host", "127.0.0.1:9480")])));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for value in ["Bearer s3", "bearer s3", "BEARER s3", "bEaReR   s3 "] {
            assert_eq!(bearer(value.as_bytes()), Some(&b"s3"[..]), "{value}");
        }
        for value in ["Bearers3", "Basic s3", "s3", "Bear s3", ""] {
            assert_eq!(bearer(value.as_bytes()), None, "{value}");
        }
    }

    #[test]
    fn a_token_is_needed_only_when_set() {
        let mut headers = HeaderMap::new();
        assert!(has_token(None, &headers));
        assert!(!has_token(Some("s3"), &headers));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3"));
        assert!(has_token(Some("s3"), &headers));
        assert!(!has_token(Some("s4"), &headers));
    }
}
