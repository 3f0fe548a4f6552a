//! [`error_codes!`](crate::error_codes): the enum of a provider's error codes, written once as a
//! table of variants and spellings, as every provider crate needs one.

/// Declares the enum of a provider's error codes from a table of `Variant => "spelling"`, with
/// `Other(String)` for a code the table does not know (kept as received), `parse`, `as_str`,
/// `known` (every variant but `Other`) and `Display` (the spelling).
///
/// ```
/// oauth_core::error_codes! {
///     /// The error codes of an example provider.
///     pub enum ExampleErrorCode {
///         /// `invalid_grant`.
///         InvalidGrant => "invalid_grant",
///         /// `rate_limited`.
///         RateLimited => "rate_limited",
///     }
/// }
///
/// assert_eq!(ExampleErrorCode::parse("invalid_grant"), ExampleErrorCode::InvalidGrant);
/// assert_eq!(ExampleErrorCode::parse("new").as_str(), "new");
/// assert_eq!(ExampleErrorCode::RateLimited.to_string(), "rate_limited");
/// assert_eq!(ExampleErrorCode::known().len(), 2);
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$doc:meta])* $variant:ident => $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$doc])* $variant, )*
            /// A code this crate does not know, as received (empty if the body had none).
            Other(String),
        }

        impl $name {
            /// Parses a code as the provider spells it.
            pub fn parse(code: &str) -> Self {
                match code {
                    $( $code => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The code as the provider spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $code, )*
                    Self::Other(other) => other,
                }
            }

            /// Every known code (not `Other`).
            pub fn known() -> &'static [Self] {
                &[ $( Self::$variant, )* ]
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
