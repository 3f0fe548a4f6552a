//! The rule that settles a write conflict after a successful refresh (invariant I1 in
//! docs/ARCHITECTURE.md): a token set obtained from the provider is never discarded in favour of a
//! row whose refresh token it spent.

use oauth_core::{RefreshToken, StoredTokenSet, TokenSet};

/// What to do with our freshly refreshed token set when the compare-and-swap found the row
/// changed since we read it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The row already holds our tokens: an earlier attempt of this write landed (the database
    /// committed, then the answer was lost).
    AlreadyWritten,
    /// The row still holds the refresh token our grant spent: whatever was written since (a
    /// re-authorization mark by a replica whose refresh with that token was refused, a copy of the
    /// old tokens) is older than our pair. Write ours over it, at this version.
    Overwrite {
        /// The version to compare-and-swap against.
        version: u64,
    },
    /// The row holds another lineage of tokens (a new install, or a refresh that did not start
    /// from the token we spent): it is authoritative, and ours is dropped.
    Theirs,
}

/// Settles a conflict between `stored` (what the store holds now) and `ours` (obtained by
/// spending `spent`).
pub(crate) fn resolve(
    stored: &StoredTokenSet,
    spent: &RefreshToken,
    ours: &TokenSet,
) -> Resolution {
    if stored.tokens.access_token == ours.access_token {
        Resolution::AlreadyWritten
    } else if stored.tokens.refresh_token.as_ref() == Some(spent) {
        Resolution::Overwrite {
            version: stored.version,
        }
    } else {
        Resolution::Theirs
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use oauth_core::{AccessToken, InstallationKey, ProviderId, TokenKey, TokenType};

    use super::*;

    fn tokens(access: &str, refresh: &str) -> TokenSet {
        let mut tokens =
            TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(access))
                .token_type(TokenType::Bot)
                .issued_at(SystemTime::UNIX_EPOCH)
                .build();
        tokens.refresh_token = Some(RefreshToken::new(refresh));
        tokens
    }

    fn stored(tokens: TokenSet, version: u64, mark: Option<&str>) -> StoredTokenSet {
        let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
        let mut stored = StoredTokenSet::new(key, tokens, version);
        stored.needs_reauthorization = mark.map(str::to_owned);
        stored
    }

    #[test]
    fn the_pair_that_spent_a_token_wins_over_rows_holding_that_token() {
        let spent = RefreshToken::new("rt-1");
        let ours = tokens("at-2", "rt-2");
        // (what the store holds now, expected resolution)
        let cases = [
            (
                stored(tokens("at-2", "rt-2"), 8, None),
                Resolution::AlreadyWritten,
            ),
            (
                stored(tokens("at-1", "rt-1"), 8, Some("invalid_refresh_token")),
                Resolution::Overwrite { version: 8 },
            ),
            (
                stored(tokens("at-1", "rt-1"), 9, None),
                Resolution::Overwrite { version: 9 },
            ),
            (stored(tokens("at-3", "rt-3"), 9, None), Resolution::Theirs),
            (
                stored(tokens("at-3", "rt-3"), 9, Some("invalid_grant")),
                Resolution::Theirs,
            ),
            (
                stored(tokens("new-install", "rt-9"), 2, None),
                Resolution::Theirs,
            ),
        ];
        for (row, expected) in cases {
            assert_eq!(resolve(&row, &spent, &ours), expected, "{row:?}");
        }
    }
}
