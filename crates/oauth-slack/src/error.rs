//! Slack's errors, typed.
//!
//! Slack answers application errors with HTTP 200 and `{"ok":false,"error":"<code>"}`, sometimes
//! with `needed`/`provided` (for `missing_scope`), a `warning` and `response_metadata.messages`.
//! Rate limits come as HTTP 429 with `Retry-After` (or, for a few methods, as HTTP 200
//! `ratelimited`). [`SlackError`] keeps all of it; [`SlackErrorCode::kind`] classifies it.

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use oauth_core::{ErrorKind, ProviderError, ProviderId, advice};

use crate::PROVIDER;

oauth_core::error_codes! {
    /// Every error code Slack documents for the methods of this crate, and the codes common to
    /// every Web API method. Unknown codes are kept in [`SlackErrorCode::Other`].
    pub enum SlackErrorCode {
        // Grants and tokens that are gone.
        /// `invalid_refresh_token`: the refresh token is unknown, revoked, or spent after its grace period.
        InvalidRefreshToken => "invalid_refresh_token",
        /// `invalid_grant`: bad or expired code, or PKCE mismatch (`openid.connect.token`).
        InvalidGrant => "invalid_grant",
        /// `invalid_code`: the code is unknown, expired (10 minutes) or already used.
        InvalidCode => "invalid_code",
        /// `code_already_used` (`oauth.access`).
        CodeAlreadyUsed => "code_already_used",
        /// `token_revoked`: the token was revoked or the app uninstalled.
        TokenRevoked => "token_revoked",
        /// `token_expired`: a rotating access token outlived its 12 hours.
        TokenExpired => "token_expired",
        /// `account_inactive`: the user or bot was deactivated or the workspace deleted.
        AccountInactive => "account_inactive",
        /// `invalid_auth`: a token was sent but does not resolve to an authorization.
        InvalidAuth => "invalid_auth",
        /// `authorization_not_found` (`oauth.v2.exchange`).
        AuthorizationNotFound => "authorization_not_found",
        /// `team_added_to_org`: the workspace moved into an Enterprise org; install again.
        TeamAddedToOrg => "team_added_to_org",
        /// `no_refresh_token` (`apps.auth.external.get`): the external token cannot be refreshed.
        NoRefreshToken => "no_refresh_token",
        // Rate limits and transient failures.
        /// `ratelimited`.
        Ratelimited => "ratelimited",
        /// `internal_error`.
        InternalError => "internal_error",
        /// `fatal_error`.
        FatalError => "fatal_error",
        /// `service_unavailable`.
        ServiceUnavailable => "service_unavailable",
        /// `request_timeout`.
        RequestTimeout => "request_timeout",
        // Client configuration.
        /// `invalid_client_id`.
        InvalidClientId => "invalid_client_id",
        /// `bad_client_secret`.
        BadClientSecret => "bad_client_secret",
        /// `bad_redirect_uri`: the redirect URI does not match the authorize URL's or the app's.
        BadRedirectUri => "bad_redirect_uri",
        /// `invalid_client` (`openid.connect.token`).
        InvalidClient => "invalid_client",
        /// `oauth_authorization_url_mismatch`: the code came from another authorize endpoint.
        OauthAuthorizationUrlMismatch => "oauth_authorization_url_mismatch",
        /// `pkce_not_allowed`.
        PkceNotAllowed => "pkce_not_allowed",
        /// `preview_feature_not_available`.
        PreviewFeatureNotAvailable => "preview_feature_not_available",
        /// `token_rotation_not_enabled` (`oauth.v2.exchange`).
        TokenRotationNotEnabled => "token_rotation_not_enabled",
        /// `missing_scope`: see [`SlackError::needed`] and [`SlackError::provided`].
        MissingScope => "missing_scope",
        /// `no_scopes`.
        NoScopes => "no_scopes",
        /// `not_allowed_token_type`: this method does not accept this kind of token.
        NotAllowedTokenType => "not_allowed_token_type",
        /// `not_bearer_token` (`auth.revoke`).
        NotBearerToken => "not_bearer_token",
        /// `unknown_method`.
        UnknownMethod => "unknown_method",
        /// `deprecated_endpoint`.
        DeprecatedEndpoint => "deprecated_endpoint",
        /// `method_deprecated`.
        MethodDeprecated => "method_deprecated",
        /// `method_not_supported`.
        MethodNotSupported => "method_not_supported",
        // Requests Slack refused as they are.
        /// `not_authed`: no token was sent.
        NotAuthed => "not_authed",
        /// `invalid_code_verifier`: the PKCE verifier does not match the challenge.
        InvalidCodeVerifier => "invalid_code_verifier",
        /// `invalid_grant_type`.
        InvalidGrantType => "invalid_grant_type",
        /// `unsupported_grant_type`.
        UnsupportedGrantType => "unsupported_grant_type",
        /// `invalid_request`.
        InvalidRequest => "invalid_request",
        /// `invalid_token`: the token cannot be exchanged.
        InvalidToken => "invalid_token",
        /// `token_already_exchanged` (`oauth.v2.exchange`).
        TokenAlreadyExchanged => "token_already_exchanged",
        /// `cannot_install_an_org_installed_app`.
        CannotInstallAnOrgInstalledApp => "cannot_install_an_org_installed_app",
        /// `user_email_unverified`.
        UserEmailUnverified => "user_email_unverified",
        /// `missing_resource` (`oauth.access`).
        MissingResource => "missing_resource",
        /// `invalid_cursor` (`auth.teams.list`).
        InvalidCursor => "invalid_cursor",
        /// `invalid_limit` (`auth.teams.list`).
        InvalidLimit => "invalid_limit",
        /// `access_token_exchange_failed` (`apps.auth.external.get`).
        AccessTokenExchangeFailed => "access_token_exchange_failed",
        /// `token_not_found` (`apps.auth.external.*`).
        TokenNotFound => "token_not_found",
        /// `app_not_found` (`apps.auth.external.delete`).
        AppNotFound => "app_not_found",
        /// `invalid_args` (`apps.auth.external.delete`).
        InvalidArgs => "invalid_args",
        /// `no_tokens_found` (`apps.auth.external.delete`).
        NoTokensFound => "no_tokens_found",
        /// `providers_not_found` (`apps.auth.external.delete`).
        ProvidersNotFound => "providers_not_found",
        /// `unable_to_delete` (`apps.auth.external.delete`).
        UnableToDelete => "unable_to_delete",
        /// `invalid_arguments`: see [`SlackError::messages`].
        InvalidArguments => "invalid_arguments",
        /// `invalid_arg_name`.
        InvalidArgName => "invalid_arg_name",
        /// `invalid_array_arg`.
        InvalidArrayArg => "invalid_array_arg",
        /// `invalid_charset`.
        InvalidCharset => "invalid_charset",
        /// `invalid_form_data`.
        InvalidFormData => "invalid_form_data",
        /// `invalid_post_type`.
        InvalidPostType => "invalid_post_type",
        /// `missing_post_type`.
        MissingPostType => "missing_post_type",
        /// `invalid_json`.
        InvalidJson => "invalid_json",
        /// `json_not_object`.
        JsonNotObject => "json_not_object",
        /// `access_denied`.
        AccessDenied => "access_denied",
        /// `accesslimited`: the method is restricted on this network.
        Accesslimited => "accesslimited",
        /// `ekm_access_denied`.
        EkmAccessDenied => "ekm_access_denied",
        /// `enterprise_is_restricted`.
        EnterpriseIsRestricted => "enterprise_is_restricted",
        /// `is_bot`: this method is not for bot users.
        IsBot => "is_bot",
        /// `no_permission`.
        NoPermission => "no_permission",
        /// `org_login_required`.
        OrgLoginRequired => "org_login_required",
        /// `two_factor_setup_required`.
        TwoFactorSetupRequired => "two_factor_setup_required",
    }
}

impl SlackErrorCode {
    /// The classification of this code, answered with HTTP `status`.
    ///
    /// | Codes | Kind |
    /// | --- | --- |
    /// | `token_expired` (a refresh fixes it) | token rejected |
    /// | `invalid_refresh_token`, `invalid_grant`, `invalid_code`, `code_already_used`, `token_revoked`, `account_inactive`, `invalid_auth`, `authorization_not_found`, `team_added_to_org`, `no_refresh_token` | re-authorization required |
    /// | `ratelimited` | rate-limited |
    /// | `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout` | retryable |
    /// | `invalid_client_id`, `bad_client_secret`, `bad_redirect_uri`, `invalid_client`, `oauth_authorization_url_mismatch`, `pkce_not_allowed`, `preview_feature_not_available`, `token_rotation_not_enabled`, `missing_scope`, `no_scopes`, `not_allowed_token_type`, `not_bearer_token`, `unknown_method`, `deprecated_endpoint`, `method_deprecated`, `method_not_supported` | configuration |
    /// | every other known code | invalid request |
    /// | unknown or empty codes | by status: 429 rate-limited, 5xx retryable, otherwise invalid request |
    pub fn kind(&self, status: StatusCode) -> ErrorKind {
        use SlackErrorCode::*;
        match self {
            InvalidRefreshToken
            | InvalidGrant
            | InvalidCode
            | CodeAlreadyUsed
            | TokenRevoked
            | AccountInactive
            | InvalidAuth
            | AuthorizationNotFound
            | TeamAddedToOrg
            | NoRefreshToken => ErrorKind::ReauthorizationRequired,
            TokenExpired => ErrorKind::TokenRejected,
            Ratelimited => ErrorKind::RateLimited,
            InternalError | FatalError | ServiceUnavailable | RequestTimeout => {
                ErrorKind::Retryable
            }
            InvalidClientId
            | BadClientSecret
            | BadRedirectUri
            | InvalidClient
            | OauthAuthorizationUrlMismatch
            | PkceNotAllowed
            | PreviewFeatureNotAvailable
            | TokenRotationNotEnabled
            | MissingScope
            | NoScopes
            | NotAllowedTokenType
            | NotBearerToken
            | UnknownMethod
            | DeprecatedEndpoint
            | MethodDeprecated
            | MethodNotSupported => ErrorKind::Configuration,
            Other(_) if status == StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited,
            Other(_) if status.is_server_error() => ErrorKind::Retryable,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// Whether `auth.test` answering this code means the token is no longer usable (introspection
    /// reports it inactive rather than failing): `invalid_auth`, `not_authed`, `token_revoked`,
    /// `token_expired`, `account_inactive`.
    pub fn means_inactive_token(&self) -> bool {
        matches!(
            self,
            SlackErrorCode::InvalidAuth
                | SlackErrorCode::NotAuthed
                | SlackErrorCode::TokenRevoked
                | SlackErrorCode::TokenExpired
                | SlackErrorCode::AccountInactive
        )
    }
}

/// An error answer from Slack: `{"ok":false,"error":…}` (any HTTP status), or a rate limit.
///
/// Reach it from an [`oauth_core::Error`] with
/// `err.provider_error().and_then(|e| e.downcast_ref::<SlackError>())`.
///
/// ```
/// use oauth_slack::{SlackError, SlackErrorCode};
/// fn missing_scope(err: &oauth_core::Error) -> Option<&str> {
///     let slack = err.provider_error()?.downcast_ref::<SlackError>()?;
///     (slack.code() == &SlackErrorCode::MissingScope).then(|| slack.needed()).flatten()
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackError {
    operation: &'static str,
    code: SlackErrorCode,
    status: StatusCode,
    retry_after: Option<Duration>,
    needed: Option<String>,
    provided: Option<String>,
    warnings: Vec<String>,
    messages: Vec<String>,
}

impl SlackError {
    /// An error of the Web API method `operation` with `code`, answered with `status`.
    pub fn new(operation: &'static str, code: SlackErrorCode, status: StatusCode) -> Self {
        Self {
            operation,
            code,
            status,
            retry_after: None,
            needed: None,
            provided: None,
            warnings: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub(crate) fn with_scopes(mut self, needed: Option<String>, provided: Option<String>) -> Self {
        self.needed = needed;
        self.provided = provided;
        self
    }

    pub(crate) fn with_metadata(mut self, warnings: Vec<String>, messages: Vec<String>) -> Self {
        self.warnings = warnings;
        self.messages = messages;
        self
    }

    /// The operation that failed: the Web API method (`oauth.v2.access`, `auth.test`, …).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The typed error code.
    pub fn code(&self) -> &SlackErrorCode {
        &self.code
    }

    /// The HTTP status (200 for most Slack errors).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// For `missing_scope`: the scope the method needs.
    pub fn needed(&self) -> Option<&str> {
        self.needed.as_deref()
    }

    /// For `missing_scope`: the scopes the token has.
    pub fn provided(&self) -> Option<&str> {
        self.provided.as_deref()
    }

    /// Warnings from `warning` and `response_metadata.warnings`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `response_metadata.messages` (e.g. `[ERROR] missing required field: …`), masked for
    /// anything that looks like a secret.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }
}

impl fmt::Display for SlackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.as_str().is_empty() {
            write!(
                f,
                "slack {} failed with no error code (HTTP {})",
                self.operation,
                self.status.as_u16()
            )?;
        } else {
            write!(f, "slack {} returned `{}`", self.operation, self.code)?;
        }
        if let Some(needed) = &self.needed {
            write!(f, ", needed scope `{needed}`")?;
        }
        if let Some(provided) = &self.provided {
            write!(f, ", provided `{provided}`")?;
        }
        if let Some(first) = self.messages.first() {
            write!(f, ": {first}")?;
        }
        write!(f, " ({})", advice(self.kind(), self.retry_after))
    }
}

impl std::error::Error for SlackError {}

impl ProviderError for SlackError {
    fn provider(&self) -> ProviderId {
        PROVIDER
    }
    fn code(&self) -> &str {
        self.code.as_str()
    }
    fn kind(&self) -> ErrorKind {
        self.code.kind(self.status)
    }
    fn http_status(&self) -> Option<StatusCode> {
        Some(self.status)
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl SlackError {
    /// The classification ([`SlackErrorCode::kind`] at this error's status).
    pub fn kind(&self) -> ErrorKind {
        self.code.kind(self.status)
    }

    /// How long Slack asked to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips() {
        for code in SlackErrorCode::known() {
            assert_eq!(&SlackErrorCode::parse(code.as_str()), code);
        }
        assert_eq!(
            SlackErrorCode::parse("brand_new"),
            SlackErrorCode::Other("brand_new".into())
        );
    }

    #[test]
    fn classification_table() {
        let ok = StatusCode::OK;
        let cases = [
            (
                "invalid_refresh_token",
                ok,
                ErrorKind::ReauthorizationRequired,
            ),
            ("token_revoked", ok, ErrorKind::ReauthorizationRequired),
            ("invalid_grant", ok, ErrorKind::ReauthorizationRequired),
            ("invalid_code", ok, ErrorKind::ReauthorizationRequired),
            (
                "ratelimited",
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimited,
            ),
            ("ratelimited", ok, ErrorKind::RateLimited),
            ("internal_error", ok, ErrorKind::Retryable),
            ("fatal_error", ok, ErrorKind::Retryable),
            ("invalid_client_id", ok, ErrorKind::Configuration),
            ("bad_client_secret", ok, ErrorKind::Configuration),
            ("bad_redirect_uri", ok, ErrorKind::Configuration),
            ("missing_scope", ok, ErrorKind::Configuration),
            ("not_authed", ok, ErrorKind::InvalidRequest),
            ("invalid_arguments", ok, ErrorKind::InvalidRequest),
            ("", ok, ErrorKind::InvalidRequest),
            ("", StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Retryable),
            (
                "brand_new",
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimited,
            ),
        ];
        for (code, status, kind) in cases {
            assert_eq!(
                SlackErrorCode::parse(code).kind(status),
                kind,
                "{code} at {status}"
            );
        }
    }

    #[test]
    fn display_names_method_code_and_scopes() {
        let error = SlackError::new("auth.test", SlackErrorCode::MissingScope, StatusCode::OK)
            .with_scopes(Some("team:read".into()), Some("chat:write".into()));
        assert_eq!(
            error.to_string(),
            "slack auth.test returned `missing_scope`, needed scope `team:read`, provided `chat:write` (check the client id, client secret, redirect URI, scopes and base URL)"
        );
        let empty = SlackError::new("auth.test", SlackErrorCode::parse(""), StatusCode::OK);
        assert!(empty.to_string().contains("no error code"));
    }
}
