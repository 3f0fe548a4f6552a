//! The rows of schema 1 (one token set per installation, keyed by a provider-defined string),
//! moved to schema 2 (installations holding token sets by principal) when a store opens.
//!
//! Schema 1 keyed a row by `InstallationKey::for_tokens` (the grantee's enterprise, workspace and
//! bot or user ids joined by `:`). Schema 2 names installations the way the provider crates now
//! do, from what each row's token set says about itself:
//!
//! | provider | installation key | principal |
//! | --- | --- | --- |
//! | `slack`, org-wide install (`is_enterprise_install`) | `E…/*` | bot, or `user:` the user id for a user token |
//! | `slack`, workspace install | `T…` or `E…/T…` | the same |
//! | `notion` | the bot id | bot |
//! | any other provider, or a row without those ids | the schema-1 key, unchanged | bot, or `user:` for a user token |
//!
//! Two schema-1 rows that land on the same token set (say two installs of one workspace, from the
//! time each install minted a new bot user) keep the row written last. Nothing is deleted: the
//! schema-1 table is renamed `oauth_installations_v1` and left as it was, so an operator can
//! check, or go back.

use std::time::SystemTime;

use oauth_core::{
    Installation, InstallationKey, Principal, ProviderId, Result, TokenKey, TokenSet, TokenType,
};

use crate::codec::{self, Binding, Encryption, RecordRow, Row};

/// A schema-1 row as read.
pub(crate) struct LegacyRow {
    pub(crate) provider: String,
    pub(crate) key: String,
    pub(crate) version: i64,
    pub(crate) row: Row,
    pub(crate) needs_reauthorization: Option<String>,
    pub(crate) updated_at: SystemTime,
}

/// A schema-1 row moved: its new key, its row (re-encrypted for the new key), the installation
/// record to create if the installation has none.
pub(crate) struct Moved {
    pub(crate) key: TokenKey,
    pub(crate) version: i64,
    pub(crate) row: Row,
    pub(crate) needs_reauthorization: Option<String>,
    pub(crate) updated_at: SystemTime,
    pub(crate) record: RecordRow,
}

/// Where a schema-1 token set belongs in schema 2 (the table in the module docs).
pub(crate) fn placement(provider: &ProviderId, old_key: &str, tokens: &TokenSet) -> TokenKey {
    let grantee = &tokens.grantee;
    let some = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let (enterprise, workspace) = (some(&grantee.enterprise_id), some(&grantee.workspace_id));
    let user = some(&grantee.user_id);
    let principal = match (&tokens.token_type, user) {
        (TokenType::User, Some(user)) => Principal::User(user),
        _ => Principal::Bot,
    };
    let installation = match provider.as_str() {
        "slack" => {
            let org_wide = tokens
                .extras
                .get("is_enterprise_install")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            match (enterprise, workspace) {
                (Some(enterprise), _) if org_wide => {
                    InstallationKey::organization(provider.clone(), &enterprise)
                }
                (enterprise, Some(workspace)) => {
                    InstallationKey::workspace(provider.clone(), enterprise.as_deref(), &workspace)
                }
                _ => InstallationKey::new(provider.clone(), old_key),
            }
        }
        "notion" => {
            let bot = some(&grantee.bot_id).unwrap_or_else(|| old_key.to_owned());
            return TokenKey::bot(InstallationKey::new(provider.clone(), bot));
        }
        _ => InstallationKey::new(provider.clone(), old_key),
    };
    TokenKey::new(installation, principal)
}

/// Moves one schema-1 row: decrypts it under its old key, places it, encrypts it under its new
/// key, and makes the record its installation gets if it has none.
pub(crate) fn move_row(legacy: LegacyRow, encryption: Option<&Encryption>) -> Result<Moved> {
    let provider = ProviderId::new(legacy.provider.clone());
    let tokens = codec::decode(
        &legacy.row,
        &Binding::legacy(&legacy.provider, &legacy.key),
        encryption,
    )?;
    let key = placement(&provider, &legacy.key, &tokens);
    let row = codec::encode(&tokens, &Binding::token_set(&key), encryption)?;
    let mut installation = Installation::new(key.installation().clone(), tokens.issued_at);
    if installation.enterprise_id.is_none() {
        installation.enterprise_id = tokens.grantee.enterprise_id.clone();
    }
    installation.details = tokens.extras.clone();
    installation
        .details
        .insert("migrated_from", legacy.key.clone().into());
    let record = codec::encode_record(&installation, encryption)?;
    Ok(Moved {
        key,
        version: legacy.version,
        row,
        needs_reauthorization: legacy.needs_reauthorization,
        updated_at: legacy.updated_at,
        record,
    })
}

/// Of several moved rows landing on one token set, the one written last wins.
pub(crate) fn keep_latest(mut moved: Vec<Moved>) -> Vec<Moved> {
    moved.sort_by(|a, b| a.key.cmp(&b.key).then(b.updated_at.cmp(&a.updated_at)));
    moved.dedup_by(|later, first| later.key == first.key);
    moved
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use oauth_core::{AccessToken, Grantee};

    use super::*;

    fn tokens(provider: &'static str, kind: TokenType, grantee: Grantee, org: bool) -> TokenSet {
        let mut tokens =
            TokenSet::builder(ProviderId::from_static(provider), AccessToken::new("t"))
                .token_type(kind)
                .issued_at(SystemTime::UNIX_EPOCH)
                .build();
        tokens.grantee = grantee;
        if org {
            tokens.extras.insert("is_enterprise_install", true.into());
        }
        tokens
    }

    fn grantee(
        enterprise: Option<&str>,
        workspace: Option<&str>,
        bot: Option<&str>,
        user: Option<&str>,
    ) -> Grantee {
        let mut g = Grantee::new();
        g.enterprise_id = enterprise.map(str::to_owned);
        g.workspace_id = workspace.map(str::to_owned);
        g.bot_id = bot.map(str::to_owned);
        g.user_id = user.map(str::to_owned);
        g
    }

    #[test]
    fn schema_one_rows_land_where_the_provider_crates_now_put_them() {
        // (provider, schema-1 key, token type, grantee, org-wide, schema-2 key)
        let cases = [
            (
                "slack",
                "T1:UB1",
                TokenType::Bot,
                grantee(None, Some("T1"), Some("UB1"), Some("U9")),
                false,
                "slack/T1#bot",
            ),
            (
                "slack",
                "E1:T1:UB1",
                TokenType::Bot,
                grantee(Some("E1"), Some("T1"), Some("UB1"), None),
                false,
                "slack/E1/T1#bot",
            ),
            (
                "slack",
                "E1:UB1",
                TokenType::Bot,
                grantee(Some("E1"), None, Some("UB1"), None),
                true,
                "slack/E1/*#bot",
            ),
            (
                "slack",
                "T1:U9",
                TokenType::User,
                grantee(None, Some("T1"), None, Some("U9")),
                false,
                "slack/T1#user:U9",
            ),
            (
                "slack",
                "odd",
                TokenType::Bot,
                grantee(None, None, None, None),
                false,
                "slack/odd#bot",
            ),
            (
                "notion",
                "W1:bot-1",
                TokenType::Bearer,
                grantee(None, Some("W1"), Some("bot-1"), Some("u-1")),
                false,
                "notion/bot-1#bot",
            ),
            (
                "notion",
                "W1:u-1",
                TokenType::Bearer,
                grantee(None, Some("W1"), None, Some("u-1")),
                false,
                "notion/W1:u-1#bot",
            ),
            (
                "acme",
                "x:y",
                TokenType::User,
                grantee(None, Some("W"), None, Some("u")),
                false,
                "acme/x:y#user:u",
            ),
        ];
        for (provider, old, kind, grantee, org, new) in cases {
            let tokens = tokens(provider, kind, grantee, org);
            let placed = placement(&ProviderId::from_static(provider), old, &tokens);
            assert_eq!(placed.to_string(), new, "{provider}/{old}");
        }
    }

    #[test]
    fn of_rows_landing_together_the_last_written_is_kept() {
        let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
        let moved = |secs: u64, version: i64| Moved {
            key: key.clone(),
            version,
            row: Row {
                access_token: Vec::new(),
                refresh_token: None,
                key_id: None,
                token_meta: String::new(),
            },
            needs_reauthorization: None,
            updated_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            record: RecordRow {
                enterprise_id: None,
                details: String::new(),
                secrets: None,
                key_id: None,
            },
        };
        let kept = keep_latest(vec![moved(10, 1), moved(30, 7), moved(20, 3)]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].version, 7);
    }
}
