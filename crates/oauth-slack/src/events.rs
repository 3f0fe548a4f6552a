//! The Events API's requests, typed: [`EventRequest::decode`] reads the body Slack POSTs to an
//! app's request URL (after [`verify_request`](crate::verify_request) accepted it).
//!
//! | envelope `type` | [`EventRequest`] | what the app answers |
//! | --- | --- | --- |
//! | `url_verification` | [`EventRequest::UrlVerification`] | 200 with the `challenge` |
//! | `event_callback` | [`EventRequest::EventCallback`] | 200 within 3 s, then handles the event |
//! | `app_rate_limited` | [`EventRequest::AppRateLimited`] | 200 |
//! | anything else | [`EventsError::UnknownType`] | 400 |
//!
//! Inside an `event_callback`, `event` is typed for the events that end tokens
//! ([`Event::TokensRevoked`], [`Event::AppUninstalled`]) and kept as raw JSON otherwise
//! ([`Event::Other`]): an app reads the events it subscribed to with its own types.
//!
//! The deprecated verification `token` of the envelope is never read (the signature replaces it).
//! Where the envelope is unclear, this module follows Bolt: the installation an event concerns is
//! `authorizations[0]`'s, else the envelope's `enterprise_id`/`team_id`
//! ([`EventCallback::context`]).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::lookup::SlackContext;

/// The longest envelope or event `type` quoted in an [`EventsError::UnknownType`].
const MAX_QUOTED: usize = 64;

/// One request of the Events API.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum EventRequest {
    /// Slack checks the request URL: answer with [`UrlVerification::challenge`].
    UrlVerification(UrlVerification),
    /// An event the app subscribed to.
    EventCallback(Box<EventCallback>),
    /// Slack stopped sending events to the app for a minute: more than 30,000 in an hour for
    /// one workspace.
    AppRateLimited(AppRateLimited),
}

/// `url_verification`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlVerification {
    /// The value to answer with.
    pub challenge: String,
}

/// `app_rate_limited`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppRateLimited {
    /// The workspace whose events were limited.
    pub team_id: Option<String>,
    /// The app.
    pub api_app_id: Option<String>,
    /// The minute the limit started (Unix seconds, a multiple of 60).
    pub minute_rate_limited: Option<u64>,
}

/// `event_callback`: the envelope of one event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventCallback {
    /// The workspace the event happened in.
    pub team_id: Option<String>,
    /// The Enterprise Grid organisation, when in one.
    pub enterprise_id: Option<String>,
    /// The app.
    pub api_app_id: Option<String>,
    /// The event's unique id (`Ev…`): the same in every retry of its delivery.
    pub event_id: String,
    /// When the event was dispatched (Unix seconds).
    pub event_time: Option<u64>,
    /// The installations of the app the event is visible to (Slack sends at most one; use
    /// `apps.event.authorizations.list` for the others).
    pub authorizations: Vec<EventAuthorization>,
    /// Whether the event comes from a channel shared with another organisation.
    pub is_ext_shared_channel: bool,
    /// An opaque id of the event's context (for `apps.event.authorizations.list`).
    pub event_context: Option<String>,
    /// The event.
    pub event: Event,
}

/// One entry of an envelope's `authorizations`: an installation the event is visible to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EventAuthorization {
    /// The organisation, if any.
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// The workspace, if any (org-wide installs may have none).
    #[serde(default)]
    pub team_id: Option<String>,
    /// The installing user, or the bot user, the authorization belongs to.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Whether it is the bot's authorization.
    #[serde(default)]
    pub is_bot: bool,
    /// Whether the installation is org-wide.
    #[serde(default)]
    pub is_enterprise_install: bool,
}

/// The `event` of an [`EventCallback`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// `tokens_revoked`: tokens of the app were revoked in the workspace (or org).
    TokensRevoked(TokensRevoked),
    /// `app_uninstalled`: the app was removed from the workspace (or, org-wide, from the org).
    AppUninstalled,
    /// Any other event, as Slack sent it.
    Other(OtherEvent),
}

/// `tokens_revoked`'s `tokens`: the **user ids** whose tokens were revoked (not the tokens).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TokensRevoked {
    /// Users whose user tokens (`xoxp-`) were revoked.
    #[serde(default)]
    pub oauth: Vec<String>,
    /// Bot users whose bot tokens (`xoxb-`) were revoked.
    #[serde(default)]
    pub bot: Vec<String>,
}

/// An event of a type this crate does not type.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OtherEvent {
    /// Its `type` (`message`, `app_mention`, …).
    pub event_type: String,
    /// The whole `event` object as received.
    pub raw: Box<RawValue>,
}

impl Event {
    /// The event's `type`.
    pub fn event_type(&self) -> &str {
        match self {
            Event::TokensRevoked(_) => "tokens_revoked",
            Event::AppUninstalled => "app_uninstalled",
            Event::Other(other) => &other.event_type,
        }
    }
}

/// A body that is not an Events API request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// Not JSON, or a field of the wrong type.
    #[error("the Events API request is not valid JSON: {reason}")]
    InvalidJson {
        /// What is wrong, without quoting the body.
        reason: String,
    },
    /// A field the request type requires is absent.
    #[error("the Events API request of type `{request_type}` has no `{field}`")]
    MissingField {
        /// The envelope type.
        request_type: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The envelope `type` is none this crate knows (Slack's interactivity payloads and slash
    /// commands go to other routes).
    #[error(
        "the Events API request has an unknown type `{request_type}` (known: url_verification, \
         event_callback, app_rate_limited)"
    )]
    UnknownType {
        /// The type received (at most 64 characters of it, control characters replaced).
        request_type: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    enterprise_id: Option<String>,
    #[serde(default)]
    api_app_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event_time: Option<u64>,
    #[serde(default)]
    authorizations: Option<Vec<EventAuthorization>>,
    #[serde(default)]
    is_ext_shared_channel: Option<bool>,
    #[serde(default)]
    event_context: Option<String>,
    #[serde(default)]
    minute_rate_limited: Option<u64>,
    #[serde(default)]
    event: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct TokensRevokedEvent {
    #[serde(default)]
    tokens: TokensRevoked,
}

fn invalid(error: &serde_json::Error) -> EventsError {
    EventsError::InvalidJson {
        reason: oauth_core::http::json_error_reason(error),
    }
}

/// serde reads a struct from a JSON array too (by position): Slack sends objects only.
fn is_object(json: &[u8]) -> bool {
    json.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

fn not_an_object(what: &str) -> EventsError {
    EventsError::InvalidJson {
        reason: format!("{what} is not a JSON object"),
    }
}

/// At most [`MAX_QUOTED`] characters of `text`, control characters (newlines, escapes) replaced,
/// so that a quote cannot forge a log line or an answer's layout.
fn quoted(text: &str) -> String {
    text.chars()
        .take(MAX_QUOTED)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

impl EventRequest {
    /// Reads an Events API request body (JSON, as Slack POSTs it). Verify the body's signature
    /// first: this trusts what it reads.
    pub fn decode(body: &[u8]) -> Result<Self, EventsError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
        if !is_object(body) {
            return Err(not_an_object("the body"));
        }
        let kind = envelope.kind.as_deref().ok_or(EventsError::MissingField {
            request_type: "(none)",
            field: "type",
        })?;
        match kind {
            "url_verification" => Ok(EventRequest::UrlVerification(UrlVerification {
                challenge: envelope.challenge.ok_or(EventsError::MissingField {
                    request_type: "url_verification",
                    field: "challenge",
                })?,
            })),
            "app_rate_limited" => Ok(EventRequest::AppRateLimited(AppRateLimited {
                team_id: envelope.team_id,
                api_app_id: envelope.api_app_id,
                minute_rate_limited: envelope.minute_rate_limited,
            })),
            "event_callback" => {
                decode_callback(envelope).map(|c| EventRequest::EventCallback(Box::new(c)))
            }
            other => Err(EventsError::UnknownType {
                request_type: quoted(other),
            }),
        }
    }
}

fn decode_callback(envelope: Envelope) -> Result<EventCallback, EventsError> {
    let missing = |field| EventsError::MissingField {
        request_type: "event_callback",
        field,
    };
    let event_id = envelope
        .event_id
        .filter(|id| !id.is_empty())
        .ok_or(missing("event_id"))?;
    let raw = envelope.event.ok_or(missing("event"))?;
    if !is_object(raw.get().as_bytes()) {
        return Err(not_an_object("`event`"));
    }
    let head: EventHead = serde_json::from_str(raw.get()).map_err(|e| invalid(&e))?;
    let event_type = head.kind.ok_or(missing("event.type"))?;
    let event = match event_type.as_str() {
        "tokens_revoked" => {
            let revoked: TokensRevokedEvent =
                serde_json::from_str(raw.get()).map_err(|e| invalid(&e))?;
            Event::TokensRevoked(revoked.tokens)
        }
        "app_uninstalled" => Event::AppUninstalled,
        _ => Event::Other(OtherEvent { event_type, raw }),
    };
    Ok(EventCallback {
        team_id: envelope.team_id.filter(|t| !t.is_empty()),
        enterprise_id: envelope.enterprise_id.filter(|e| !e.is_empty()),
        api_app_id: envelope.api_app_id,
        event_id,
        event_time: envelope.event_time,
        authorizations: envelope.authorizations.unwrap_or_default(),
        is_ext_shared_channel: envelope.is_ext_shared_channel.unwrap_or(false),
        event_context: envelope.event_context,
        event,
    })
}

impl EventCallback {
    /// Where the event comes from, for a token lookup ([`SlackContext`]): `authorizations[0]`'s
    /// enterprise, team, user and `is_enterprise_install` (as Bolt reads it), each field falling
    /// back to the envelope's `enterprise_id` and `team_id` when absent; with no authorization,
    /// the envelope's, not org-wide and with no user.
    pub fn context(&self) -> SlackContext {
        let first = self.authorizations.first();
        let enterprise = first
            .and_then(|a| a.enterprise_id.as_deref())
            .or(self.enterprise_id.as_deref());
        let team = first
            .and_then(|a| a.team_id.as_deref())
            .or(self.team_id.as_deref());
        SlackContext::new(
            enterprise,
            team,
            first.and_then(|a| a.user_id.as_deref()),
            first.is_some_and(|a| a.is_enterprise_install),
        )
    }
}

impl From<&EventCallback> for SlackContext {
    fn from(callback: &EventCallback) -> Self {
        callback.context()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn callback(body: &str) -> EventCallback {
        match EventRequest::decode(body.as_bytes()).unwrap() {
            EventRequest::EventCallback(callback) => *callback,
            other => panic!("not a callback: {other:?}"),
        }
    }

    #[test]
    fn url_verification_carries_its_challenge() {
        let request = EventRequest::decode(
            br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#,
        )
        .unwrap();
        let EventRequest::UrlVerification(verification) = request else {
            panic!("{request:?}");
        };
        assert_eq!(
            verification.challenge,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
        );
    }

    #[test]
    fn tokens_revoked_lists_user_ids() {
        let callback = callback(
            r#"{"token":"XXYYZZ","team_id":"T0123","api_app_id":"A0123","event":{"type":"tokens_revoked","tokens":{"oauth":["U0123","U0456"],"bot":["U0789"]}},"type":"event_callback","event_id":"Ev0123","event_time":1700000000,"authorizations":[{"enterprise_id":null,"team_id":"T0123","user_id":"U0789","is_bot":true,"is_enterprise_install":false}]}"#,
        );
        assert_eq!(callback.event_id, "Ev0123");
        assert_eq!(callback.event_time, Some(1_700_000_000));
        assert_eq!(callback.event.event_type(), "tokens_revoked");
        let Event::TokensRevoked(tokens) = &callback.event else {
            panic!("{callback:?}");
        };
        assert_eq!(tokens.oauth, ["U0123", "U0456"]);
        assert_eq!(tokens.bot, ["U0789"]);
        assert_eq!(
            callback.context(),
            SlackContext::new(None, Some("T0123"), Some("U0789"), false)
        );
        let only_bot = self::callback(
            r#"{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"type":"tokens_revoked","tokens":{"bot":["U1"]}}}"#,
        );
        let Event::TokensRevoked(tokens) = only_bot.event else {
            panic!();
        };
        assert!(tokens.oauth.is_empty());
    }

    #[test]
    fn app_uninstalled_and_org_wide_contexts() {
        let callback = callback(
            r#"{"type":"event_callback","event_id":"Ev2","team_id":"T1","enterprise_id":"E1","event":{"type":"app_uninstalled","event_ts":"1.2"},"authorizations":[{"enterprise_id":"E1","team_id":null,"user_id":"U9","is_bot":true,"is_enterprise_install":true}]}"#,
        );
        assert!(matches!(callback.event, Event::AppUninstalled));
        let context = SlackContext::from(&callback);
        assert_eq!(
            context,
            SlackContext::new(Some("E1"), Some("T1"), Some("U9"), true)
        );
        assert_eq!(context.installations()[0].to_string(), "slack/E1/*");
        // No authorizations: the envelope's workspace, then its org's org-wide install.
        let bare = self::callback(
            r#"{"type":"event_callback","event_id":"Ev3","team_id":"T1","enterprise_id":"E1","event":{"type":"app_uninstalled"}}"#,
        );
        let keys: Vec<String> = bare
            .context()
            .installations()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(keys, ["slack/E1/T1", "slack/E1/*"]);
    }

    #[test]
    fn other_events_keep_their_json() {
        let callback = callback(
            r#"{"type":"event_callback","event_id":"Ev4","team_id":"T1","event":{"type":"app_mention","text":"<@U1> hi","user":"U2"}}"#,
        );
        let Event::Other(other) = &callback.event else {
            panic!();
        };
        assert_eq!(other.event_type, "app_mention");
        let value: serde_json::Value = serde_json::from_str(other.raw.get()).unwrap();
        assert_eq!(value["text"], "<@U1> hi");
    }

    #[test]
    fn bad_bodies_have_typed_errors() {
        let cases: [(&str, EventsError); 10] = [
            (
                r#"["url_verification","x"]"#,
                EventsError::InvalidJson {
                    reason: "the body is not a JSON object".into(),
                },
            ),
            (
                r#"{"type":"event_callback","event_id":"Ev1","event":["message"]}"#,
                EventsError::InvalidJson {
                    reason: "`event` is not a JSON object".into(),
                },
            ),
            (
                "not json",
                EventsError::InvalidJson {
                    reason: "the body is not JSON (line 1, column 2)".into(),
                },
            ),
            (
                r#"{"challenge":"x"}"#,
                EventsError::MissingField {
                    request_type: "(none)",
                    field: "type",
                },
            ),
            (
                r#"{"type":"url_verification"}"#,
                EventsError::MissingField {
                    request_type: "url_verification",
                    field: "challenge",
                },
            ),
            (
                r#"{"type":"event_callback","event":{"type":"message"}}"#,
                EventsError::MissingField {
                    request_type: "event_callback",
                    field: "event_id",
                },
            ),
            (
                r#"{"type":"event_callback","event_id":"Ev1"}"#,
                EventsError::MissingField {
                    request_type: "event_callback",
                    field: "event",
                },
            ),
            (
                r#"{"type":"event_callback","event_id":"Ev1","event":{"text":"x"}}"#,
                EventsError::MissingField {
                    request_type: "event_callback",
                    field: "event.type",
                },
            ),
            (
                r#"{"type":"block_actions"}"#,
                EventsError::UnknownType {
                    request_type: "block_actions".into(),
                },
            ),
            (
                r#"{"type":"event_callback","event_id":"Ev1","event_time":"soon","event":{"type":"x"}}"#,
                EventsError::InvalidJson {
                    reason: "a field has an unexpected type or value (line 1, column 61)".into(),
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                EventRequest::decode(body.as_bytes()).unwrap_err(),
                expected,
                "{body}"
            );
        }
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(1000));
        let EventsError::UnknownType { request_type } =
            EventRequest::decode(long.as_bytes()).unwrap_err()
        else {
            panic!();
        };
        assert_eq!(request_type.len(), MAX_QUOTED, "a bounded quote");
        let forged = EventRequest::decode(br#"{"type":"x\nlevel=ERROR forged"}"#).unwrap_err();
        assert_eq!(
            forged,
            EventsError::UnknownType {
                request_type: "x\u{fffd}level=ERROR forged".into()
            }
        );
    }
}
