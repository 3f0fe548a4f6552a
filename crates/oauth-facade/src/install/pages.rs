//! The pages the install flow shows, the one place their text is escaped, and the headers every
//! answer of the flow carries.
//!
//! Every answer of the install and callback routes (redirects, pages, and your hooks' answers)
//! gets, by [`harden`]:
//!
//! | Header | Value | Why |
//! | --- | --- | --- |
//! | `Cache-Control` | `no-store` | a callback's answer, or an install page with its state, is never kept by a browser or a proxy |
//! | `Referrer-Policy` | `no-referrer` | a link followed from the callback's page does not carry the code and state in `Referer` |
//! | `X-Content-Type-Options` | `nosniff` | the answer is read as what it says it is |
//! | `X-Frame-Options` | `DENY` | no other site frames the pages (clickjacking the "Add" link) |
//! | `Content-Security-Policy` | `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'` | the pages load nothing and run nothing; a policy your hook set is kept, with `frame-ancestors 'none'` added if it has no `frame-ancestors` |

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The policy of the flow's own pages.
pub(crate) const CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Sets the flow's security headers on `response` (see the module's table).
pub(crate) fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let policy = match headers.get(CONTENT_SECURITY_POLICY) {
        None => HeaderValue::from_static(CSP),
        Some(theirs) => match theirs.to_str() {
            Ok(text) if text.contains("frame-ancestors") => theirs.clone(),
            Ok(text) => HeaderValue::try_from(format!("{text}; frame-ancestors 'none'"))
                .unwrap_or_else(|_| HeaderValue::from_static(CSP)),
            Err(_) => HeaderValue::from_static(CSP),
        },
    };
    headers.insert(CONTENT_SECURITY_POLICY, policy);
    response
}

/// A link a page may show: a path on this site (not `//host`, which leaves it) or an http(s) URL.
/// Anything else (`javascript:`, `data:`) is not linked.
fn linkable(href: &str) -> bool {
    (href.starts_with('/') && !href.starts_with("//"))
        || href.starts_with("https://")
        || href.starts_with("http://")
}

/// A page: its title as heading, paragraphs, and an optional link (label, href). Every piece of
/// text and the link's address are escaped here, and only here.
pub(crate) fn page(
    status: StatusCode,
    title: &str,
    paragraphs: &[&str],
    link: Option<(&str, &str)>,
) -> Response {
    let title = html_escape::encode_text(title);
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><h1>{title}</h1>"
    );
    for paragraph in paragraphs {
        html.push_str("<p>");
        html.push_str(&html_escape::encode_text(paragraph));
        html.push_str("</p>");
    }
    if let Some((label, href)) = link.filter(|(_, href)| linkable(href)) {
        html.push_str("<p><a rel=\"noreferrer\" href=\"");
        html.push_str(&html_escape::encode_double_quoted_attribute(href));
        html.push_str("\">");
        html.push_str(&html_escape::encode_text(label));
        html.push_str("</a></p>");
    }
    (status, Html(html)).into_response()
}

/// How a provider is named on a page.
pub(crate) fn provider_name(provider: &str) -> String {
    match provider {
        "slack" => "Slack".to_owned(),
        "notion" => "Notion".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn header(response: &Response, name: &str) -> String {
        response.headers()[name].to_str().unwrap().to_owned()
    }

    fn assert_hardened(response: &Response, what: &str) {
        for (name, value) in [
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(header(response, name), value, "{what}: {name}");
        }
        assert!(
            header(response, "content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
    }

    #[test]
    fn every_kind_of_answer_gets_the_headers() {
        let answers = [
            ("a page", page(StatusCode::OK, "Installed", &["done"], None)),
            (
                "a failure page",
                page(
                    StatusCode::BAD_REQUEST,
                    "Installation failed",
                    &["no"],
                    Some(("Try again", "/install")),
                ),
            ),
            (
                "a redirect",
                (StatusCode::FOUND, [("location", "https://slack.com/")]).into_response(),
            ),
            ("an empty answer", StatusCode::NO_CONTENT.into_response()),
            (
                "a hook's answer with caching asked",
                ([("cache-control", "public, max-age=3600")], "hi").into_response(),
            ),
        ];
        for (what, answer) in answers {
            let hardened = harden(answer);
            assert_hardened(&hardened, what);
            assert_eq!(header(&hardened, "content-security-policy"), CSP, "{what}");
        }
    }

    #[test]
    fn a_hooks_own_policy_is_kept_and_framing_still_refused() {
        let theirs = ([("content-security-policy", "default-src 'self'")], "page").into_response();
        let hardened = harden(theirs);
        assert_eq!(
            header(&hardened, "content-security-policy"),
            "default-src 'self'; frame-ancestors 'none'"
        );
        let strict = (
            [(
                "content-security-policy",
                "default-src 'self'; frame-ancestors 'self'",
            )],
            "page",
        )
            .into_response();
        assert_eq!(
            header(&harden(strict), "content-security-policy"),
            "default-src 'self'; frame-ancestors 'self'",
            "a policy that names its frame ancestors is the hook's choice"
        );
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn text_and_links_are_escaped() {
        let shown = page(
            StatusCode::OK,
            "<script>alert(1)</script>",
            &["a & b <img src=x onerror=alert(1)>"],
            Some(("<b>go</b>", "/install?a=1&b=\"><script>")),
        );
        let html = body(shown).await;
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("a &amp; b &lt;img"), "{html}");
        assert!(
            html.contains("href=\"/install?a=1&amp;b=&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
    }

    #[tokio::test]
    async fn only_paths_and_http_urls_are_linked() {
        for (href, linked) in [
            ("/install", true),
            ("https://slack.com/oauth/v2/authorize?state=x", true),
            ("http://127.0.0.1:3000/install", true),
            ("javascript:alert(1)", false),
            ("data:text/html,x", false),
            ("//evil.example/install", false),
            (" /install", false),
        ] {
            let html = body(page(StatusCode::OK, "t", &[], Some(("go", href)))).await;
            assert_eq!(html.contains("<a "), linked, "{href}: {html}");
        }
    }
}
