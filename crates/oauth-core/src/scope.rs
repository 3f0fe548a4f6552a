//! Scope lists: providers disagree on the separator (Slack uses commas, OAuth 2 and OpenID Connect
//! use spaces, some responses mix both), so [`Scopes::parse`] accepts either and the writer picks.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of OAuth scopes, in the order first seen, without duplicates or empty entries.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// An empty scope set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a scope list separated by commas, whitespace, or both
    /// (`"chat:write,commands"`, `"openid email profile"`, `"a, b"`).
    ///
    /// ```
    /// use oauth_core::Scopes;
    /// let scopes = Scopes::parse("chat:write, commands openid");
    /// assert_eq!(scopes.as_slice(), ["chat:write", "commands", "openid"]);
    /// ```
    pub fn parse(list: &str) -> Self {
        let mut scopes = Scopes::new();
        // (Whitespace separates: a piece is already trimmed, and copied once.)
        for scope in list.split(|c: char| c == ',' || c.is_whitespace()) {
            if !scope.is_empty() && !scopes.contains(scope) {
                scopes.0.push(scope.to_owned());
            }
        }
        scopes
    }

    /// Adds a scope if it is not there yet (after trimming; empty strings are ignored).
    pub fn insert(&mut self, scope: impl Into<String>) {
        let scope = scope.into();
        let trimmed = scope.trim();
        if trimmed.is_empty() || self.contains(trimmed) {
            return;
        }
        // The string itself when it needs no trimming, else a trimmed copy.
        let scope = if trimmed.len() == scope.len() {
            scope
        } else {
            trimmed.to_owned()
        };
        self.0.push(scope);
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Whether every scope of `other` is in `self`.
    pub fn contains_all(&self, other: &Scopes) -> bool {
        other.iter().all(|s| self.contains(s))
    }

    /// The scopes, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Iterates over the scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Joins the scopes with `separator` (`","` for Slack, `" "` for OAuth 2 / OpenID Connect).
    pub fn join(&self, separator: &str) -> String {
        self.0.join(separator)
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut scopes = Scopes::new();
        for scope in iter {
            scopes.insert(scope);
        }
        scopes
    }
}

impl<S: Into<String>> Extend<S> for Scopes {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for scope in iter {
            self.insert(scope);
        }
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

/// Space-separated, the OAuth 2 form (RFC 6749 §3.3).
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(" "))
    }
}

/// Serialized as a list of strings.
impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Accepts a list of strings, a comma/space-separated string, or `null` (empty).
impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            List(Vec<String>),
            Joined(String),
            Null(()),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::List(list) => list.into_iter().collect(),
            Repr::Joined(joined) => Scopes::parse(&joined),
            Repr::Null(()) => Scopes::new(),
        })
    }
}
