//! An offline emulator of Notion's and Slack's OAuth endpoints, for tests and benchmarks.
//!
//! One HTTP server on `127.0.0.1` hosts both providers on their real paths, so clients (ours, or
//! the official SDKs) only need a different base URL:
//!
//! | Provider | Paths | Client configuration |
//! | --- | --- | --- |
//! | Notion | `GET /v1/oauth/authorize`, `POST /v1/oauth/token`, `/v1/oauth/introspect`, `/v1/oauth/revoke` | `@notionhq/client`: `baseUrl` = sandbox URL |
//! | Slack | `GET /oauth/v2/authorize`, `/oauth/v2_user/authorize` (user-only), `/oauth/authorize` (v1), `/openid/connect/authorize`, `/api/<method>`, `/openid/connect/keys`, `/.well-known/openid-configuration` | `@slack/web-api`: `slackApiUrl` = sandbox URL + `/api/` |
//!
//! Slack methods: `oauth.v2.access` (code, PKCE public client, refresh grant),
//! `oauth.v2.user.access` (user-only installs: code, PKCE, refresh grant), `oauth.v2.exchange`,
//! `oauth.access`, `openid.connect.token` (RS256 `id_token`), `openid.connect.userInfo`,
//! `auth.test` (with `x-oauth-scopes`), `auth.revoke` (with `test`; sends `tokens_revoked` to an
//! app with an event request URL), `auth.teams.list` (cursor pagination),
//! `apps.auth.external.get`, `apps.auth.external.delete`.
//!
//! # Starting it in your tests
//!
//! ```
//! use oauth_sandbox::{
//!     DEFAULT_SLACK_CLIENT_ID, DEFAULT_SLACK_CLIENT_SECRET, Fault, FaultKind, Sandbox,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::builder().start().await?; // 127.0.0.1, random port
//! let base = sandbox.base_url().to_owned(); // e.g. http://127.0.0.1:49152
//! let control = sandbox.control();
//!
//! // An authorization code without a browser (GET {base}/oauth/v2/authorize gives the real 302).
//! let outcome = control.authorize(&format!(
//!     "/oauth/v2/authorize?client_id={DEFAULT_SLACK_CLIENT_ID}&scope=chat:write&state=xyz"
//! ))?;
//! let code = outcome.code.ok_or("no code")?;
//!
//! // Your client (here plain reqwest) talks to {base}/api/... as it would to slack.com/api/...
//! let body = format!(
//!     "client_id={DEFAULT_SLACK_CLIENT_ID}&client_secret={DEFAULT_SLACK_CLIENT_SECRET}&code={code}"
//! );
//! let reply: serde_json::Value = serde_json::from_slice(
//!     &reqwest::Client::new()
//!         .post(format!("{base}/api/oauth.v2.access"))
//!         .header("content-type", "application/x-www-form-urlencoded")
//!         .body(body)
//!         .send()
//!         .await?
//!         .bytes()
//!         .await?,
//! )?;
//! assert_eq!(reply["ok"], true);
//! assert_eq!(reply["expires_in"], 43200); // the default Slack app rotates tokens
//!
//! // Make the next refresh fail with a 429, move the clock, then assert on what happened.
//! control.inject_fault(Fault::new(
//!     "/api/oauth.v2.access",
//!     FaultKind::RateLimited { retry_after_secs: 1 },
//! ));
//! control.advance_clock(std::time::Duration::from_secs(43_200));
//! let exchanges = control
//!     .counters()
//!     .app_op(DEFAULT_SLACK_CLIENT_ID, "slack.oauth.v2.access.authorization_code");
//! assert_eq!(exchanges, 1);
//! let wire = control.requests(); // method, path, headers, raw body of every request
//! assert_eq!(wire[0].form()[0], ("client_id".into(), DEFAULT_SLACK_CLIENT_ID.into()));
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Out of process: `cargo run -p oauth-sandbox -- --addr 127.0.0.1:8787` prints
//! `listening on http://127.0.0.1:8787` once ready, then the default apps, and stops cleanly on
//! SIGINT/SIGTERM. The same control API is then available over HTTP.
//!
//! # Default apps
//!
//! | | Notion | Slack |
//! | --- | --- | --- |
//! | client id | [`DEFAULT_NOTION_CLIENT_ID`] `463558a3-725e-4f37-b6d3-0889894f68de` | [`DEFAULT_SLACK_CLIENT_ID`] `2141029472.691202649728` |
//! | client secret | [`DEFAULT_NOTION_CLIENT_SECRET`] | [`DEFAULT_SLACK_CLIENT_SECRET`] |
//! | redirect URIs | `http://127.0.0.1/callback/notion` (any port), `https://example.com/auth/notion/callback` | `http://127.0.0.1/callback/slack` (any port), `https://example.com/auth/slack/callback` |
//! | other | refresh grace 0 s | app id `A0SANDBOX01`, token rotation **on**, any scope allowed, grace 300 s, external token `Et0SANDBOX01` (`salesforce`) |
//!
//! Default identity after automatic consent: Slack team `T0SANDBOX1` "Sandbox Workspace", user
//! `U0SANDBOX1`; Notion workspace `6f9c1f44-8d0b-4c1d-9d57-2b8c1d3e4f50`, user
//! `7c2d4b1e-3f5a-4c6b-8d9e-0a1b2c3d4e5f` ("Ada Lovelace", `ada@example.com`).
//!
//! # Control API
//!
//! In process: [`SandboxHandle::control`] returns a [`Control`]. Over HTTP (JSON bodies, the
//! serde forms of the types in this crate):
//!
//! | Route | Meaning | Rust |
//! | --- | --- | --- |
//! | `GET /_sandbox/health` | `{"ok":true,"base_url":…}` | |
//! | `GET`/`POST /_sandbox/apps` | list / register (upsert) an [`App`] | [`Control::apps`], [`Control::register_app`] |
//! | `POST`/`DELETE /_sandbox/consent` | queue a [`Consent`] (deny, or pick team/user, Grid org, org-wide) / clear | [`Control::push_consent`] |
//! | `GET /_sandbox/clock`, `POST /_sandbox/clock/advance` `{"seconds":N}` | sandbox clock | [`Control::advance_clock`] |
//! | `GET`/`POST`/`DELETE /_sandbox/faults` | list / inject a [`Fault`] / clear | [`Control::inject_fault`] |
//! | `GET`/`DELETE /_sandbox/counters` | [`Counters`] / reset | [`Control::counters`] |
//! | `GET`/`DELETE /_sandbox/requests` | request log ([`RecordedRequest`], body base64) / clear | [`Control::requests`] |
//! | `POST /_sandbox/authorize` `{"url":"/oauth/v2/authorize?…"}` | run an authorize URL, get an [`AuthorizeOutcome`] | [`Control::authorize`] |
//! | `GET /_sandbox/installations` | the Slack installations, without tokens ([`SlackInstallation`]) | [`Control::installations`], [`Control::installation`] |
//! | `GET /_sandbox/stats` | codes, tokens, grants, installations and log held, connections open, peak, refused ([`Stats`]) | [`Control::stats`] |
//! | `POST /_sandbox/reset` | forget codes, tokens, installations, consents, faults, log, counters, clock offset (apps stay) | [`Control::reset`] |
//! | `GET`/`POST /_sandbox/external-tokens` | [`ExternalToken`]s for `apps.auth.external.*` | [`Control::add_external_token`] |
//! | `POST /_sandbox/events/subscription` `{"client_id","request_url","signing_secret"}` | an app's Events API request URL (`null`: none) and signing secret | [`Control::set_event_subscription`] |
//! | `POST /_sandbox/revoke` `{"client_id","installation":"T…"/"E…","user_id":"U…"}` or `…,"bot":true}` | revoke a user's or the bot's tokens there; sends `tokens_revoked` ([`Revocation`]) | [`Control::revoke_user_tokens`], [`Control::revoke_bot_token`] |
//! | `POST /_sandbox/uninstall` `{"client_id","installation":"T…"/"E…"}` | uninstall from a workspace or an org; sends `tokens_revoked` and `app_uninstalled` (404: not installed) | [`Control::uninstall`] |
//! | `GET`/`DELETE /_sandbox/events` | the delivery log ([`OutgoingEvent`]: envelope, status, attempts) / clear | [`Control::events`], [`Control::event`] |
//!
//! Every request to a non-control path is logged (method, path, query, all headers, raw
//! `Authorization`, content type, raw body (its first 4 KiB by default, and its length), app,
//! operation, status, fault) and counted per path;
//! processed requests are counted per operation and per app (`notion.token.authorization_code`,
//! `notion.token.refresh_token`, `notion.introspect`, `notion.revoke`,
//! `slack.oauth.v2.access.authorization_code`, `slack.oauth.v2.access.refresh_token`,
//! `slack.oauth.v2.user.access.authorization_code`, `slack.oauth.v2.user.access.refresh_token`,
//! `slack.openid.connect.token.refresh_token`, `slack.auth.test`, the authorize endpoints
//! `slack.oauth.v2.authorize`, `slack.oauth.v2_user.authorize`, …).
//!
//! # Faults
//!
//! A [`Fault`] targets an exact path and applies to the next `count` requests to it.
//!
//! | [`FaultKind`] | Processed? | Answer |
//! | --- | --- | --- |
//! | `rate_limited` | no | 429 + `Retry-After`; Slack `{"ok":false,"error":"ratelimited"}`, Notion envelope `rate_limited` |
//! | `rate_limited_in_body` | no | Slack: HTTP **200** `{"ok":false,"error":"ratelimited"}` + `Retry-After`; Notion: as `rate_limited` |
//! | `status` | no | that status; Notion envelope (`internal_server_error`, `service_unavailable`, `gateway_timeout`, `service_overload`), Slack `{"ok":false,"error":"internal_error"/"service_unavailable"}`; 503/529 add `Retry-After: 1` |
//! | `delay` | yes | sleeps, then answers normally |
//! | `drop_before_processing` | no | connection closed, no byte sent |
//! | `drop_after_processing` | **yes** | state changes happen (e.g. a refresh token is spent), then the connection is closed with no byte sent: a lost response |
//! | `truncated_json` | no | 200 `application/json`, JSON cut in the middle |
//! | `html502` | no | 502 `text/html` edge-proxy page |
//! | `oversized` | no | 200, valid JSON over 1 MiB |
//! | `wrong_content_type` | yes | the real answer, served as `text/html` |
//! | `unknown_error_code` | no | well-formed error with code `sandbox_undocumented_error` (Slack 200 `ok:false`, Notion 400 envelope) |
//!
//! # Token rotation (Slack)
//!
//! With `token_rotation_enabled` (or PKCE), access tokens are `xoxe.xoxb-1-…`/`xoxe.xoxp-1-…` with
//! `expires_in` 43200 on the sandbox clock (or the app's `access_token_ttl_secs`, so that tests in
//! real time can go through many expiry cycles), refresh tokens `xoxe-1-…`. A refresh mints a new pair;
//! the spent refresh token still answers for the app's `refresh_grace_secs` (default
//! [`DEFAULT_SLACK_REFRESH_GRACE_SECS`] = 300 s) by replaying the **same** pair it minted (with
//! `expires_in` = the remaining lifetime), then `invalid_refresh_token`. Old access tokens stay
//! valid until they expire, but at most two live access tokens exist per grant: the oldest beyond
//! two is revoked at each refresh. PKCE apps' refresh tokens expire after 30 days. Without
//! rotation, tokens are `xoxb-…`/`xoxp-…` and never expire; `oauth.v2.exchange` migrates one (once)
//! when rotation is on, and it expires at the first refresh of the new pair.
//!
//! # Installations (Slack)
//!
//! An app has one installation per workspace (per (app, team)) and one per organization for an
//! org-wide install (per (app, enterprise)); [`Control::installations`] reads them. The first
//! code exchange of an install flow (`oauth.v2.access`, `oauth.v2.user.access`, `oauth.access`)
//! makes it; later ones update it (scopes, installers, an org's workspaces).
//!
//! - **Bot user.** An installation's bot user (`bot_user_id`, `U…`) and bot id (`auth.test`'s
//!   `bot_id`, `B…`) are minted by its first install with bot scopes and kept by every
//!   reinstall, by any user.
//! - **Reinstall.** Each exchange issues new tokens (new scopes, new installer in
//!   `authed_user`); the previous install's tokens are left alone: its access tokens work until
//!   they expire (long-lived ones until revoked), its refresh token still refreshes its own
//!   lineage with its own scopes. Each user who authorizes gets a user token of their own;
//!   another user's authorization leaves it valid.
//! - **Kind of install**, chosen by the [`Consent`]:
//!
//! | Consent | `team` | `enterprise` | `is_enterprise_install` | installation key |
//! | --- | --- | --- | --- | --- |
//! | [`Consent::approve`]`(T, name, U)` (or none) | `{id,name}` | `null` | `false` | `T` |
//! | `Consent::approve(T, name, U).`[`in_enterprise`](Consent::in_enterprise)`(E, name)` | `{id,name}` | `{id,name}` | `false` | `T` |
//! | [`Consent::org_wide`]`(E, name, admin, &[T1, T2])` | `null` | `{id,name}` | `true` | `E` |
//!
//! An org-wide token (bot or the admin's user token) serves every workspace listed:
//! `auth.test` answers as the org (`team_id` = the enterprise id, `team` = its name, `url`
//! `https://<name>.enterprise.slack.com/`, `enterprise_id`, `is_enterprise_install: true`) or,
//! given `team_id` of one of the org's workspaces, as that workspace (`team_id`, `team`, `url`
//! of it, still `enterprise_id` and `is_enterprise_install: true`); another `team_id` gets
//! `team_access_not_granted`. A workspace token ignores `team_id`. `auth.teams.list` with an
//! org-wide token lists exactly the org's workspaces (none if the consent listed none). Once an
//! app is installed org-wide, a workspace install in that org is refused at the exchange with
//! `cannot_install_an_org_installed_app` (the code stays unspent). Org-wide consents only
//! affect the v2 flows; `oauth.access` and Sign in with Slack see the admin's workspace.
//!
//! ## User-only installs
//!
//! `GET /oauth/v2_user/authorize` takes `client_id`, `scope` (comma- or space-separated; every
//! scope is a user scope; `user_scope` is accepted too and merged), `redirect_uri`, `state`,
//! `team`, and PKCE's `code_challenge` + `code_challenge_method=S256` (required for PKCE apps),
//! with the v2 rules (registered redirect URIs, the app's allowed user scopes, no scope at all:
//! `error=invalid_scope`). `POST /api/oauth.v2.user.access` (form or JSON body; client
//! credentials in HTTP Basic or the body, no secret for PKCE apps) takes `code`, `redirect_uri`
//! (as sent to authorize), `code_verifier`, or `grant_type=refresh_token` + `refresh_token`.
//! Both grants answer with the same shape, the user token at the top level:
//!
//! ```json
//! {"ok": true, "app_id": "A0SANDBOX01",
//!  "access_token": "xoxe.xoxp-1-…", "token_type": "user", "scope": "search:read,chat:write",
//!  "user_id": "U0SANDBOX1",
//!  "refresh_token": "xoxe-1-…", "expires_in": 43200,
//!  "team": {"id": "T0SANDBOX1", "name": "Sandbox Workspace"}, "enterprise": null,
//!  "is_enterprise_install": false,
//!  "authed_user": {"id": "U0SANDBOX1", "scope": "search:read,chat:write"}}
//! ```
//!
//! `refresh_token` and `expires_in` come only with rotation (or PKCE); otherwise the token is a
//! long-lived `xoxp-…`. `team` is `null` and `enterprise` set for an org-wide install.
//! `authed_user` repeats the user and scope as Slack's example shows, without tokens. Refusals:
//! a code of `/oauth/v2/authorize` (or of this flow at `oauth.v2.access`)
//! `oauth_authorization_url_mismatch`, the code left unspent; a bot's refresh token
//! `invalid_refresh_token`, left unspent; otherwise as `oauth.v2.access` (`invalid_code`,
//! `invalid_code_verifier`, `bad_redirect_uri`, `invalid_grant_type`, `bad_client_secret`, …).
//! A user token of either flow refreshes at either method, each answering in its own shape.
//!
//! # Events API (Slack)
//!
//! An app with a request URL ([`App::event_request_url`], [`Control::set_event_subscription`])
//! is sent Slack's `event_callback` requests when its tokens end:
//!
//! | Cause | Events |
//! | --- | --- |
//! | `auth.revoke` (not `test`) with a user token / a bot token | `tokens_revoked`, `tokens: {"oauth": ["U…"], "bot": []}` / `{"oauth": [], "bot": ["U…" (the bot user)]}` |
//! | [`Control::revoke_user_tokens`] / [`Control::revoke_bot_token`] (every live token of that user / the bot, in that installation) | the same |
//! | [`Control::uninstall`] of a workspace install (`T…`) or an org-wide one (`E…`) | `tokens_revoked` (every user and bot whose tokens were live), then `app_uninstalled`; the installation is forgotten |
//!
//! The envelope: `token` (the deprecated verification token, a fixed value), `team_id`,
//! `enterprise_id` (only in a Grid org), `api_app_id`, `event`, `type: "event_callback"`,
//! `event_id` (`Ev…`, the same in every retry), `event_time` (sandbox clock), `authorizations`
//! (one: the bot user, or the latest installer without a bot, with `enterprise_id`, `team_id`,
//! `is_bot`, `is_enterprise_install`), `is_ext_shared_channel: false`. For an org-wide install
//! there is one `app_uninstalled` for the org, with `enterprise_id` and no `team_id`, and
//! `authorizations[0]` `{"team_id": null, "is_enterprise_install": true}`, as in Bolt's org-app
//! tests; Slack's per-workspace `app_uninstalled_team` / `team_access_revoked` are not sent.
//!
//! Each request is `POST`, `Content-Type: application/json`, signed with the app's signing
//! secret ([`App::signing_secret`]; [`DEFAULT_SLACK_SIGNING_SECRET`] for the default app and
//! every [`App::slack`]): `X-Slack-Request-Timestamp` is **real time** at each attempt (not the
//! sandbox clock, so that an app's 5-minute check passes after
//! [`Control::advance_clock`]), `X-Slack-Signature: v0=` hex HMAC-SHA256 of
//! `v0:{timestamp}:{body}`. Deliveries run in the background (no API answer waits for them). A
//! delivery fails on a non-2xx answer (`http_error`; redirects are not followed), no answer
//! within [`Limits::event_timeout`] (`http_timeout`, Slack's 3 s), or no connection
//! (`connection_failed`; anything else `unknown_error`); it is then retried after each of
//! [`Limits::event_retry_delays`] (Slack's: about at once, 1 min, 5 min) with
//! `X-Slack-Retry-Num: 1…` and `X-Slack-Retry-Reason` (the previous attempt's failure), unless
//! the app answered `X-Slack-No-Retry: 1`. [`Control::events`] shows each event's envelope,
//! [`DeliveryStatus`] and [`DeliveryAttempt`]s (the signature is not kept), to wait on in tests;
//! it keeps the last [`Limits::event_log_capacity`], and at most [`Limits::max_pending_events`]
//! deliveries run at once (one more is logged `dropped`, not queued). Shutting the sandbox down
//! cancels the deliveries under way.
//!
//! # Unconfirmed items and the sandbox's choices
//!
//! | Unconfirmed item (wire-spec §6) | Sandbox behaviour |
//! | --- | --- |
//! | Notion `invalid_grant` body | 400 `{"error":"invalid_grant","error_description":…,"request_id":…}` (OAuth style, the reference's recommendation); [`SandboxBuilder::notion_grant_error_style`] switches to the envelope |
//! | Notion `Notion-Version` with valid credentials | enforced after the credential check: 400 `missing_version` |
//! | Notion `unsupported_grant_type`, `validation_error`, `invalid_json`, `invalid_request_url` | Notion envelope |
//! | Notion non-JSON content type with a body | 400 `invalid_json` |
//! | Notion old refresh token after refresh | invalid at once (`invalid_grant`) unless the app's `refresh_grace_secs` (default 0) is set, then it replays the same pair |
//! | Notion old access token after refresh | deactivated at once (introspect `active:false`) |
//! | Notion token lifetimes | no expiry (there is no `expires_in`) |
//! | Notion token formats | access `ntn_` + 11 digits + 35 alphanumerics; refresh `nrt_` + the same shape (invented); code a UUID |
//! | Notion introspect of inactive/unknown/other client's token | 200 `{"active":false,"request_id":…}`; live access and unspent refresh tokens are `active:true`, `scope` space-separated, `iat` Unix seconds |
//! | Notion revoke | deactivates the whole connection (access and refresh token); unknown or already revoked token: 200 `{"request_id":…}` (idempotent) |
//! | Notion code lifetime | 10 minutes, single use |
//! | Notion PKCE | not supported (not documented); `code_challenge` is only shape-checked |
//! | Notion `rate_limited` `additional_data` | not sent |
//! | Slack grace period | 300 s by default (per app `refresh_grace_secs`) |
//! | Slack refresh of a user token | flat shape, `token_type:"user"`, `user_id`, no `authed_user` |
//! | Slack `auth.revoke` `test=1` | `{"ok":true,"revoked":false}`, nothing revoked |
//! | Slack revoked token | `token_revoked`; expired rotating token `token_expired`; unknown `invalid_auth`; none, empty, lower-case `bearer` or a query-string token: `not_authed` |
//! | Slack reused code | `oauth.v2.access`/`openid.connect.token`: `invalid_code`; `oauth.access`: `code_already_used`; code of another flow: `oauth_authorization_url_mismatch` |
//! | Slack missing/unknown `client_id` | `invalid_client_id`; missing/wrong secret `bad_client_secret` |
//! | Slack `openid.connect.token` RFC codes | HTTP 200 `ok:false`: PKCE mismatch `invalid_grant`, bad grant type `unsupported_grant_type` |
//! | Slack `apps.auth.external.delete` without selector | `invalid_args` |
//! | Slack `auth.teams.list` last page | `next_cursor` `""`; cursors are base64 of `offset:N` |
//! | Slack token lengths | `xoxe.` access 150 and `xoxe-1-` refresh 140 random alphanumerics |
//! | Slack `oauth.v2.access` with a verifier for a code without challenge | verifier ignored |
//! | Slack JSON body on a form-only method | its arguments are ignored (as if absent) |
//! | Slack `multipart/form-data` | not parsed: `invalid_form_data` |
//! | Slack other HTTP methods than GET/POST | `invalid_post_type` |
//! | Slack Web API methods not emulated in full (`chat.postMessage`, `conversations.list`, … : any `family.method` of Slack's method families) | the token is checked as for `auth.test` (from `Authorization: Bearer` or the form's `token`): live → HTTP 200 `{"ok":true}` with `x-oauth-scopes`; expired rotating token `token_expired`; revoked `token_revoked`; unknown `invalid_auth`; none `not_authed`. Arguments are not checked and nothing happens. Counter `slack.<method>` |
//! | Slack unknown method (outside Slack's families) | HTTP 200 `{"ok":false,"error":"unknown_method","req_method":…}` |
//! | Notion `GET /v1/users/me` | a live access token: 200, the integration's bot user (`object: "user"`, `type: "bot"`, `id` the bot id, `bot.workspace_name`); anything else (none, unknown, revoked, rotated away): 401 `unauthorized` envelope. `Notion-Version` not checked. Counter `notion.users.me` |
//! | Slack 5xx bodies | JSON `ok:false` (see faults) |
//! | Slack reinstall in the same workspace (slack-apps §7) | same bot user and bot id; new tokens; the previous install's tokens left alone (valid until they expire; the refresh token still refreshes its lineage): Bolt and `slack_sdk` only use the latest installation's tokens, and a refresh in flight elsewhere must not fail |
//! | Slack scopes across reinstalls | each install's tokens carry the scopes it requested (not accumulated) |
//! | Slack installation made | at the code exchange, not at consent |
//! | Slack `oauth.v2.user.access` answer | the user token at the top level (`access_token`, `token_type:"user"`, `scope`, `user_id`, rotation's `refresh_token`/`expires_in`) with `app_id`, `team`, `enterprise`, `is_enterprise_install` and `authed_user {id, scope}`; the same for the refresh grant; no `id_token` |
//! | Slack `/oauth/v2_user/authorize` scopes | `scope` (and `user_scope`) are user scopes |
//! | Slack code of one v2 flow exchanged at the other's method | `oauth_authorization_url_mismatch`, code unspent |
//! | Slack refresh tokens across `oauth.v2.access` / `oauth.v2.user.access` | user refresh tokens work at both; a bot's at `oauth.v2.user.access`: `invalid_refresh_token` |
//! | Slack `auth.test` with an org-wide token | `team_id` = enterprise id, `team` = its name, `url` `https://<name>.enterprise.slack.com/`; `team_id` argument picks one of the org's workspaces (`team_access_not_granted` for others) |
//! | Slack `auth.teams.list` with a workspace token | the workspace (or the consent's `teams`) |
//! | Slack org-wide consent without enterprise | `E0SANDBOX1` "Sandbox Enterprise" |
//! | Slack `tokens_revoked` for the app's own `auth.revoke` (slack-apps §7) | sent, like a revocation by the user |
//! | Slack events on uninstall | `tokens_revoked` (the tokens that were live) then `app_uninstalled`, each delivered on its own (order not guaranteed, as Slack's) |
//! | Slack org-wide `app_uninstalled` | one, for the org: `enterprise_id`, no `team_id`, `authorizations[0].is_enterprise_install` |
//! | Slack `X-Slack-Request-Timestamp` | real time, even when the sandbox clock was advanced |
//! | OIDC `iss` | the sandbox base URL (also the discovery `issuer`) |
//! | Authorize errors | unknown client or unregistered redirect URI: 400 HTML page with `x-sandbox-error: <code>`; other errors: redirect with `error=` (`invalid_scope`, `invalid_request` for PKCE problems or a custom scheme without PKCE, `unsupported_response_type`, `access_denied`) |
//!
//! # Not emulated
//!
//! Notion's REST API beyond OAuth and `GET /v1/users/me`; real rate limits (only injected faults); `multipart/form-data`
//! bodies; the `assertion` grant, GovSlack; `incoming_webhook` blocks; adding workspaces to an
//! org-wide install after it (`team_access_granted`): reinstall with a longer list; events other
//! than `tokens_revoked` and `app_uninstalled`, `url_verification` of a request URL; Grid `W…` user ids (any id is taken as given); the rule that PKCE
//! desktop redirects may not request bot scopes.
//!
//! # Bounds
//!
//! The sandbox is a server you may leave running in CI, so what it keeps and serves is bounded:
//! the request log (entries, and bytes of each body), the request body size, connections at once
//! (one more is answered 503), the time to send a request's head (also the idle time of a
//! kept-alive connection) and its body, how long dead codes and tokens are remembered, and the
//! event delivery log and the deliveries under way. Each
//! bound has a default and is overridable ([`Limits`], [`SandboxBuilder::limits`], the binary's
//! `--limit NAME=VALUE`); [`Control::stats`] (`GET /_sandbox/stats`) shows what it holds.
//!
//! The RSA key in `keys/sandbox-test-key.pem` ([`SANDBOX_TEST_KEY_PEM`]) is public and for tests
//! only. Tokens come from a fast non-cryptographic generator: never use the sandbox outside tests.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod consent;
mod control;
mod control_events;
mod events;
mod grants;
mod ids;
mod installs;
mod limits;
mod model;
mod notion;
mod oidc;
mod server;
mod slack;
mod state;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use consent::{Consent, EnterpriseInfo, TeamInfo};
pub use control::{Control, ControlError};
pub use events::{DeliveryAttempt, DeliveryStatus, OutgoingEvent, Revocation};
pub use installs::SlackInstallation;
pub use limits::Limits;
pub use model::{
    App, AuthorizeOutcome, Counters, DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET,
    DEFAULT_NOTION_REDIRECT_URIS, DEFAULT_SLACK_APP_ID, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, DEFAULT_SLACK_REDIRECT_URIS, DEFAULT_SLACK_REFRESH_GRACE_SECS,
    DEFAULT_SLACK_SIGNING_SECRET, ExternalToken, Fault, FaultKind, OpCount, Provider,
    RecordedRequest, Stats, default_apps,
};
pub use notion::NOTION_VERSIONS;
pub use oidc::{SANDBOX_KEY_ID, SANDBOX_TEST_KEY_PEM, jwks};
pub use state::NotionGrantErrorStyle;

/// Error starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sandbox only listens on loopback addresses.
    #[error("refusing to listen on {0}: the sandbox only listens on loopback addresses")]
    NotLoopback(SocketAddr),
    /// The embedded test key could not be loaded.
    #[error("cannot load the sandbox signing key: {0}")]
    Key(#[from] jsonwebtoken::errors::Error),
}

/// Entry point: [`Sandbox::builder`].
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// A builder listening on `127.0.0.1:0` (a random port) with the default apps.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            apps: default_apps(),
            limits: Limits::default(),
            notion_grant_style: NotionGrantErrorStyle::default(),
        }
    }
}

/// Configures and starts a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    addr: SocketAddr,
    apps: Vec<App>,
    limits: Limits,
    notion_grant_style: NotionGrantErrorStyle,
}

impl SandboxBuilder {
    /// Listens on this address (default `127.0.0.1:0`); it must be a loopback address.
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Registers an extra app (replacing a default one with the same client id).
    #[must_use]
    pub fn app(mut self, app: App) -> Self {
        self.apps.retain(|a| a.client_id != app.client_id);
        self.apps.push(app);
        self
    }

    /// Starts without the default apps.
    #[must_use]
    pub fn without_default_apps(mut self) -> Self {
        self.apps.clear();
        self
    }

    /// Keeps at most this many requests in the log (default 10 000; 0 disables the log): the
    /// same as [`Limits::request_log_capacity`].
    #[must_use]
    pub fn request_log_capacity(mut self, n: usize) -> Self {
        self.limits.request_log_capacity = n;
        self
    }

    /// Sets the bounds on memory, connections and time ([`Limits`], whose docs list the
    /// defaults).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How Notion words `invalid_grant` (default [`NotionGrantErrorStyle::OAuth`]).
    #[must_use]
    pub fn notion_grant_error_style(mut self, style: NotionGrantErrorStyle) -> Self {
        self.notion_grant_style = style;
        self
    }

    /// Binds and starts serving in the background of the current Tokio runtime.
    pub async fn start(self) -> Result<SandboxHandle, SandboxError> {
        if !self.addr.ip().is_loopback() {
            return Err(SandboxError::NotLoopback(self.addr));
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: self.addr,
            source,
        })?;
        let events = Arc::new(events::Events::new(
            &self.limits,
            tokio::runtime::Handle::current(),
        ));
        let shared = Arc::new(state::Shared {
            events,
            inner: Mutex::new(state::Inner::new(self.apps, self.limits)),
            base_url: format!("http://{addr}"),
            jwt_key: oidc::encoding_key()?,
            notion_grant_style: self.notion_grant_style,
            connections: Arc::default(),
        });
        let (tx, rx) = oneshot::channel();
        let router = server::router(Arc::clone(&shared));
        let task = tokio::spawn(server::serve(listener, router, Arc::clone(&shared), rx));
        Ok(SandboxHandle {
            addr,
            control: Control { shared },
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running sandbox. Dropping it stops the server (without waiting); prefer
/// [`SandboxHandle::shutdown`].
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    control: Control,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// Base URL, e.g. `http://127.0.0.1:49152` (no trailing slash).
    pub fn base_url(&self) -> &str {
        self.control.base_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control API.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s) and waits for the server.
    /// Event deliveries under way end (logged `cancelled`).
    pub async fn shutdown(mut self) {
        self.control.shared.events.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.control.shared.events.close();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
