//! Per-install options, like Bolt's `installUrlOptions`: scopes, user scopes, team, redirect URI,
//! and the app's own metadata, carried through the flow in the sealed state.

use oauth_core::{Error, Result, Scopes};
use serde::{Deserialize, Serialize};

/// The longest metadata an install may carry, in bytes (it travels, sealed, in the provider's
/// URL).
pub const MAX_METADATA_LEN: usize = 2048;

/// One install's options, set by [`InstallHooks::before_install`](super::InstallHooks::before_install)
/// from the request (or given to [`InstallFlow::start_bound`](super::InstallFlow::start_bound)).
/// What is left unset takes the flow's configuration.
///
/// They travel sealed in the `state` (encrypted and authenticated: the provider and the browser
/// can neither read nor change them) and come back to the callback's hooks, verified, only when
/// the callback came from the browser that started the install.
///
/// ```
/// use oauth_facade::install::InstallOptions;
/// use oauth_facade::Scopes;
/// let options = InstallOptions::new()
///     .scopes(Scopes::parse("chat:write,commands"))
///     .team("T0123")
///     .metadata(r#"{"app_user":"u-42"}"#);
/// assert_eq!(options.metadata_value(), Some(r#"{"app_user":"u-42"}"#));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallOptions {
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    scopes: Option<Scopes>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    user_scopes: Option<Scopes>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    metadata: Option<String>,
}

impl InstallOptions {
    /// Nothing set, as a constant.
    pub(crate) const EMPTY: Self = Self {
        scopes: None,
        user_scopes: None,
        team: None,
        redirect_uri: None,
        metadata: None,
    };

    /// Nothing set: the flow's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The scopes to request, instead of the flow's (Slack bot scopes).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Slack's user scopes (`user_scope`), instead of the flow's.
    pub fn user_scopes(mut self, scopes: Scopes) -> Self {
        self.user_scopes = Some(scopes);
        self
    }

    /// Slack's `team`: the workspace the consent screen offers (`T…`).
    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    /// The redirect URI, instead of the flow's: one the flow allows
    /// ([`InstallFlowBuilder::allow_redirect_uri`](super::InstallFlowBuilder::allow_redirect_uri)),
    /// as registered with the provider.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The app's own data to get back at the callback (an id from its session, a page to return
    /// to; JSON if you like), at most [`MAX_METADATA_LEN`] bytes. Not shown to anyone: it is
    /// sealed in the state.
    pub fn metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// The scopes set, if any.
    pub fn scopes_value(&self) -> Option<&Scopes> {
        self.scopes.as_ref()
    }

    /// The user scopes set, if any.
    pub fn user_scopes_value(&self) -> Option<&Scopes> {
        self.user_scopes.as_ref()
    }

    /// The team set, if any.
    pub fn team_value(&self) -> Option<&str> {
        self.team.as_deref()
    }

    /// The redirect URI set, if any.
    pub fn redirect_uri_value(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The metadata set, if any.
    pub fn metadata_value(&self) -> Option<&str> {
        self.metadata.as_deref()
    }

    /// Checks what the flow cannot take: metadata over [`MAX_METADATA_LEN`], or Slack's
    /// parameters for another provider.
    pub(crate) fn check(&self, provider: &str) -> Result<()> {
        if let Some(metadata) = &self.metadata
            && metadata.len() > MAX_METADATA_LEN
        {
            return Err(Error::InvalidRequest(format!(
                "the install's metadata is {} bytes, over the {MAX_METADATA_LEN} it may carry (it travels in the provider's URL): keep a key to your own data in it instead",
                metadata.len()
            )));
        }
        if provider != "slack" && (self.user_scopes.is_some() || self.team.is_some()) {
            return Err(Error::configuration(format!(
                "user scopes and team are Slack's install options; this flow's provider is {provider}"
            )));
        }
        Ok(())
    }

    /// The flow's extra authorization parameters with these options applied.
    pub(crate) fn params(&self, flow: &[(String, String)]) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = flow
            .iter()
            .filter(|(name, _)| {
                !(self.user_scopes.is_some() && name == "user_scope"
                    || self.team.is_some() && name == "team")
            })
            .cloned()
            .collect();
        if let Some(user_scopes) = &self.user_scopes {
            params.push(("user_scope".to_owned(), user_scopes.join(",")));
        }
        if let Some(team) = &self.team {
            params.push(("team".to_owned(), team.clone()));
        }
        params
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn options_replace_the_flows_parameters_of_the_same_name_only() {
        let flow = vec![
            ("user_scope".to_owned(), "search:read".to_owned()),
            ("team".to_owned(), "T1".to_owned()),
            ("other".to_owned(), "x".to_owned()),
        ];
        assert_eq!(InstallOptions::new().params(&flow), flow);
        let options = InstallOptions::new()
            .user_scopes(Scopes::parse("users:read users:write"))
            .team("T2");
        assert_eq!(
            options.params(&flow),
            [
                ("other".to_owned(), "x".to_owned()),
                ("user_scope".to_owned(), "users:read,users:write".to_owned()),
                ("team".to_owned(), "T2".to_owned()),
            ]
        );
    }

    #[test]
    fn oversized_metadata_and_slack_options_elsewhere_are_refused() {
        let big = InstallOptions::new().metadata("m".repeat(MAX_METADATA_LEN + 1));
        let error = big.check("slack").unwrap_err();
        assert_eq!(error.kind(), oauth_core::ErrorKind::InvalidRequest);
        assert!(error.to_string().contains("metadata"), "{error}");
        assert!(
            InstallOptions::new()
                .metadata("m".repeat(MAX_METADATA_LEN))
                .check("slack")
                .is_ok()
        );
        for options in [
            InstallOptions::new().team("T1"),
            InstallOptions::new().user_scopes(Scopes::parse("a")),
        ] {
            let error = options.check("notion").unwrap_err();
            assert_eq!(error.kind(), oauth_core::ErrorKind::Configuration);
            assert!(options.check("slack").is_ok());
        }
    }

    #[test]
    fn options_round_trip_in_short_json() {
        let options = InstallOptions::new()
            .scopes(Scopes::parse("chat:write"))
            .redirect_uri("https://example.com/cb")
            .metadata("user 42");
        let json = serde_json::to_string(&options).unwrap();
        assert_eq!(
            json,
            r#"{"s":["chat:write"],"r":"https://example.com/cb","m":"user 42"}"#
        );
        assert_eq!(
            serde_json::from_str::<InstallOptions>(&json).unwrap(),
            options
        );
        assert_eq!(serde_json::to_string(&InstallOptions::new()).unwrap(), "{}");
    }
}
