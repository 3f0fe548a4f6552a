//! The grant state machine of both providers, in one place: an authorization code is checked and
//! spent once, a grant mints its tokens in the provider's formats, and a refresh token is spent
//! once, its answer replayed within the app's grace period. The provider modules only word the
//! refusals (Notion's messages, Slack's error codes).

use crate::model::App;
use crate::state::{
    CodeRec, Flow, Grant, GrantKind, Inner, PKCE_REFRESH_TTL_SECS, SLACK_ACCESS_TTL_SECS,
    TokenKind, TokenState,
};

/// Why a code is refused, before any provider-specific check (redirect URI, PKCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRefusal {
    /// No such code.
    Unknown,
    /// Issued to another client.
    OtherClient,
    /// Issued by another authorize endpoint.
    OtherFlow,
    /// Already exchanged.
    Used,
    /// Older than [`CODE_TTL_SECS`](crate::state::CODE_TTL_SECS).
    Expired,
}

/// The code `code` as issued to `client_id` by `flow`, if it may be exchanged; it stays unspent
/// until [`spend_code`], so that the provider's own checks come first.
pub(crate) fn check_code(
    inner: &Inner,
    code: &str,
    client_id: &str,
    flow: Flow,
) -> Result<CodeRec, CodeRefusal> {
    let rec = inner.codes.get(code).cloned().ok_or(CodeRefusal::Unknown)?;
    if rec.client_id != client_id {
        return Err(CodeRefusal::OtherClient);
    }
    if rec.flow != flow {
        return Err(CodeRefusal::OtherFlow);
    }
    if rec.used {
        return Err(CodeRefusal::Used);
    }
    if inner.now() - rec.issued_at >= crate::state::CODE_TTL_SECS {
        return Err(CodeRefusal::Expired);
    }
    Ok(rec)
}

/// Marks a code exchanged.
pub(crate) fn spend_code(inner: &mut Inner, code: &str) {
    if let Some(c) = inner.codes.get_mut(code) {
        c.used = true;
    }
}

/// Why a refresh token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    /// Unknown, revoked or expired.
    Invalid,
    /// Issued to another client.
    OtherClient,
    /// Spent, and its grace period is over.
    Spent,
}

/// What a refresh token that may be used gives.
#[derive(Debug)]
pub(crate) enum Refresh {
    /// Spent within the grace period: the pair it minted, again.
    Replay {
        grant: usize,
        access: String,
        refresh: String,
    },
    /// Not spent yet: the caller mints a new pair and calls [`record_rotation`].
    Rotate { grant: usize },
}

/// Checks the refresh token `token` of `client_id` (counting a replay).
pub(crate) fn check_refresh(
    inner: &mut Inner,
    token: &str,
    client_id: &str,
) -> Result<Refresh, RefreshRefusal> {
    let (state, grant) = inner.token_state(token, TokenKind::Refresh);
    let grant = grant
        .filter(|_| state == TokenState::Live)
        .ok_or(RefreshRefusal::Invalid)?;
    if inner
        .grants
        .get(grant)
        .is_none_or(|g| g.client_id != client_id)
    {
        return Err(RefreshRefusal::OtherClient);
    }
    let now = inner.now();
    let grace = inner.apps.get(client_id).map_or(0, |a| {
        i64::try_from(a.refresh_grace_secs).unwrap_or(i64::MAX)
    });
    let rec = inner.tokens.get(token).cloned();
    let Some(used_at) = rec.as_ref().and_then(|r| r.used_at) else {
        return Ok(Refresh::Rotate { grant });
    };
    if now < used_at.saturating_add(grace)
        && let Some((access, refresh)) = rec.and_then(|r| r.replay)
    {
        *inner
            .counters
            .refresh_replays
            .entry(client_id.to_owned())
            .or_default() += 1;
        return Ok(Refresh::Replay {
            grant,
            access,
            refresh,
        });
    }
    Err(RefreshRefusal::Spent)
}

/// Marks `token` spent now, by the pair it minted (replayed within the grace period).
pub(crate) fn record_rotation(inner: &mut Inner, token: &str, access: &str, refresh: &str) {
    let now = inner.now();
    if let Some(r) = inner.tokens.get_mut(token) {
        r.used_at = Some(now);
        r.replay = Some((access.to_owned(), refresh.to_owned()));
    }
}

/// A Notion grant of a consented code.
pub(crate) fn new_notion_grant(inner: &mut Inner, client_id: &str, rec: CodeRec) -> usize {
    let bot_id = inner.uuid();
    inner.new_grant(Grant {
        client_id: client_id.to_owned(),
        kind: GrantKind::Notion,
        identity: rec.identity,
        scopes: rec.scopes,
        rotating: true,
        pkce: false,
        access: Vec::new(),
        legacy_token: None,
        exchanged: false,
        revoked: false,
        bot_id,
        bot_user_id: String::new(),
    })
}

/// Mints a Notion pair (`ntn_…`, `nrt_…`): (access, refresh).
pub(crate) fn mint_notion(inner: &mut Inner, grant: usize) -> (String, String) {
    let access = format!("ntn_{}{}", inner.digits(11), inner.alnum(35));
    let refresh = format!("nrt_{}{}", inner.digits(11), inner.alnum(35));
    inner.add_token(&access, TokenKind::Access, grant, None);
    inner.add_token(&refresh, TokenKind::Refresh, grant, None);
    (access, refresh)
}

/// A Slack grant (bot or user) of a consented code. A bot grant takes the bot user and bot id of
/// the app's installation in the workspace (or org), the same across reinstalls.
pub(crate) fn new_slack_grant(
    inner: &mut Inner,
    app: &App,
    kind: GrantKind,
    rec: &CodeRec,
    scopes: Vec<String>,
) -> usize {
    let (bot_user_id, bot_id) = if kind == GrantKind::SlackBot {
        inner.bot_identity(&app.client_id, &rec.identity)
    } else {
        (String::new(), String::new())
    };
    inner.new_grant(Grant {
        client_id: app.client_id.clone(),
        kind,
        identity: rec.identity.clone(),
        scopes,
        rotating: app.token_rotation_enabled || app.pkce_enabled,
        pkce: app.pkce_enabled,
        access: Vec::new(),
        legacy_token: None,
        exchanged: false,
        revoked: false,
        bot_id,
        bot_user_id,
    })
}

/// Mints a Slack access token (and a refresh token when rotating): (access, refresh,
/// expires_in).
pub(crate) fn mint_slack(
    inner: &mut Inner,
    grant: usize,
    rotating: bool,
) -> (String, Option<String>, Option<i64>) {
    let Some(g) = inner.grants.get(grant) else {
        return (String::new(), None, None);
    };
    let bot = g.kind == GrantKind::SlackBot;
    let pkce = g.pkce;
    let ttl = inner
        .apps
        .get(&g.client_id)
        .and_then(|app| app.access_token_ttl_secs)
        .map_or(SLACK_ACCESS_TTL_SECS, |secs| {
            i64::try_from(secs).unwrap_or(i64::MAX)
        });
    if rotating {
        let access = format!(
            "xoxe.{}-1-{}",
            if bot { "xoxb" } else { "xoxp" },
            inner.alnum(150)
        );
        let refresh = format!("xoxe-1-{}", inner.alnum(140));
        inner.add_token(&access, TokenKind::Access, grant, Some(ttl));
        inner.add_token(
            &refresh,
            TokenKind::Refresh,
            grant,
            pkce.then_some(PKCE_REFRESH_TTL_SECS),
        );
        (access, Some(refresh), Some(ttl))
    } else {
        let access = if bot {
            format!(
                "xoxb-{}-{}-{}",
                inner.digits(11),
                inner.digits(13),
                inner.alnum(24)
            )
        } else {
            format!(
                "xoxp-{}-{}-{}-{}",
                inner.digits(11),
                inner.digits(11),
                inner.digits(13),
                inner.alnum(32)
            )
        };
        inner.add_token(&access, TokenKind::Access, grant, None);
        (access, None, None)
    }
}
