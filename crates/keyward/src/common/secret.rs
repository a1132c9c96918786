//! Secret newtypes: redacted `Debug`, no `Display`, constant-time equality.
//!
//! Every value that grants access (client secrets, token secrets, verifiers, PKCE
//! verifiers, private keys' material) is wrapped in a type made by [`secret_type!`](crate::secret_type!).
//! Reading the value needs an explicit `.secret()` call, which makes leaks visible in
//! review, and `==` between two secrets never short-circuits on the first differing byte.

use subtle::ConstantTimeEq;

/// Compares two byte strings in time that depends only on their lengths.
///
/// Lengths are not secret in any protocol Keyward implements (they are fixed by
/// configuration), so a length mismatch returns `false` at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Declares a `String` newtype for a secret value.
///
/// The type gets `new`, `secret()` (the only way to read it), `into_secret()`, a
/// `Debug` that prints `Name([redacted])`, constant-time `PartialEq`/`Eq`, and serde
/// support (serialising a secret is deliberate: tokens are persisted by the application).
/// Add `Clone` at the call site only for values that are not single-use.
#[macro_export]
macro_rules! secret_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        $vis struct $name(::std::string::String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl ::std::convert::Into<::std::string::String>) -> Self {
                Self(value.into())
            }
            /// Reads the secret. Every call site of this is a place a secret leaves its box.
            pub fn secret(&self) -> &str {
                &self.0
            }
            /// Unwraps the secret.
            pub fn into_secret(self) -> ::std::string::String {
                self.0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl ::std::cmp::PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                $crate::common::secret::ct_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl ::std::cmp::Eq for $name {}
    };
}

secret_type! {
    /// A shared secret of any kind: a client secret, a token secret, a password.
    #[derive(Clone)]
    pub struct SecretString;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?}"), "SecretString([redacted])");
        assert!(!format!("{:#?}", Some(&s)).contains("hunter2"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretString::new("abc"), SecretString::new("abc"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abd"));
        assert_ne!(SecretString::new("abc"), SecretString::new("abcd"));
        assert!(ct_eq(b"", b""));
    }
}
