//! The browser authorize endpoints of both providers (consent is automatic or scripted).

use crate::model::Provider;
use crate::state::{CodeRec, Flow, Inner};
use crate::wire::{Reply, error_page, pkce_shape_ok, redirect_matches, with_params};

fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn split_scopes(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs one authorize request and returns the redirect (or error page).
pub(crate) fn authorize(inner: &mut Inner, flow: Flow, q: &[(String, String)]) -> Reply {
    let op = match flow {
        Flow::Notion => "notion.authorize",
        Flow::SlackV2 => "slack.oauth.v2.authorize",
        Flow::SlackV2User => "slack.oauth.v2_user.authorize",
        Flow::SlackV1 => "slack.oauth.authorize",
        Flow::SlackOidc => "slack.openid.connect.authorize",
    };
    let client_id = get(q, "client_id").unwrap_or("").to_owned();
    let reply = authorize_inner(inner, flow, q, &client_id);
    let known = inner.apps.contains_key(&client_id);
    reply.classify(known.then_some(client_id.as_str()), op)
}

fn authorize_inner(
    inner: &mut Inner,
    flow: Flow,
    q: &[(String, String)],
    client_id: &str,
) -> Reply {
    let notion = flow == Flow::Notion;
    let want = if notion {
        Provider::Notion
    } else {
        Provider::Slack
    };
    let Some(app) = inner
        .apps
        .get(client_id)
        .filter(|a| a.provider == want)
        .cloned()
    else {
        return error_page(if notion {
            "invalid_client"
        } else {
            "invalid_client_id"
        });
    };
    // Redirect URI: must be registered; when absent, Notion needs exactly one registered URI and
    // Slack uses the first one.
    let given = get(q, "redirect_uri").map(str::to_owned);
    let effective = match &given {
        Some(r) => {
            if !app
                .redirect_uris
                .iter()
                .any(|reg| redirect_matches(reg, r, !notion))
            {
                return error_page(if notion {
                    "invalid_redirect_uri"
                } else {
                    "bad_redirect_uri"
                });
            }
            r.clone()
        }
        None => {
            if (notion && app.redirect_uris.len() != 1) || app.redirect_uris.is_empty() {
                return error_page(if notion {
                    "missing_redirect_uri"
                } else {
                    "bad_redirect_uri"
                });
            }
            app.redirect_uris.first().cloned().unwrap_or_default()
        }
    };
    let state = get(q, "state").map(str::to_owned);
    let fail = |code: &str| {
        let st = state.clone().unwrap_or_default();
        Reply::redirect(with_params(
            &effective,
            &[("error", code), ("state", st.as_str())],
        ))
    };

    let mut scopes = Vec::new();
    let mut user_scopes = Vec::new();
    match flow {
        Flow::Notion => {
            if get(q, "response_type") != Some("code") {
                return fail("unsupported_response_type");
            }
            if get(q, "owner") != Some("user") {
                return fail("invalid_request");
            }
            scopes.clone_from(&app.scopes);
        }
        Flow::SlackV2 | Flow::SlackV1 => {
            scopes = split_scopes(get(q, "scope"));
            user_scopes = split_scopes(get(q, "user_scope"));
            if scopes.is_empty() && user_scopes.is_empty() {
                return fail("invalid_scope");
            }
            let bad_bot = !app.scopes.is_empty() && scopes.iter().any(|s| !app.scopes.contains(s));
            let bad_user = !app.user_scopes.is_empty()
                && user_scopes.iter().any(|s| !app.user_scopes.contains(s));
            if bad_bot || bad_user {
                return fail("invalid_scope");
            }
        }
        Flow::SlackV2User => {
            // Every scope of a user-only install is a user scope, in `scope` or `user_scope`.
            user_scopes = split_scopes(get(q, "scope"));
            for s in split_scopes(get(q, "user_scope")) {
                if !user_scopes.contains(&s) {
                    user_scopes.push(s);
                }
            }
            if user_scopes.is_empty()
                || (!app.user_scopes.is_empty()
                    && user_scopes.iter().any(|s| !app.user_scopes.contains(s)))
            {
                return fail("invalid_scope");
            }
        }
        Flow::SlackOidc => {
            if get(q, "response_type") != Some("code") {
                return fail("unsupported_response_type");
            }
            user_scopes = split_scopes(get(q, "scope"));
            if !user_scopes.iter().any(|s| s == "openid")
                || user_scopes
                    .iter()
                    .any(|s| !matches!(s.as_str(), "openid" | "email" | "profile"))
            {
                return fail("invalid_scope");
            }
        }
    }

    // PKCE.
    let challenge = get(q, "code_challenge").map(str::to_owned);
    let method = get(q, "code_challenge_method");
    if challenge.is_some() || method.is_some() {
        if method != Some("S256") || !challenge.as_deref().is_some_and(pkce_shape_ok) {
            return fail("invalid_request");
        }
    } else if !notion {
        let custom_scheme = url::Url::parse(&effective)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true);
        if app.pkce_enabled || custom_scheme {
            return fail("invalid_request");
        }
    }

    let Some(mut identity) = inner.take_consent(&app.client_id, notion, get(q, "team")) else {
        return fail("access_denied");
    };
    // Org-wide installs exist only in the v2 flows; elsewhere the admin's workspace answers.
    identity.org_wide &= matches!(flow, Flow::SlackV2 | Flow::SlackV2User);
    let code = match flow {
        Flow::Notion => inner.uuid(),
        _ => {
            let (a, b, c) = (inner.digits(10), inner.digits(13), inner.hex(64));
            format!("{a}.{b}.{c}")
        }
    };
    let now = inner.now();
    inner.codes.insert(
        code.clone(),
        CodeRec {
            client_id: app.client_id.clone(),
            flow,
            redirect_uri: given,
            effective_redirect: effective.clone(),
            scopes,
            user_scopes,
            challenge,
            nonce: get(q, "nonce").map(str::to_owned),
            identity,
            issued_at: now,
            used: false,
            born: std::time::Instant::now(),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &state {
        params.push(("state", s.as_str()));
    }
    Reply::redirect(with_params(&effective, &params))
}
