//! Identifier newtypes, parsed once at the edge so the rest of the code never re-validates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a piece of text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{value}' is not a valid {what}: {why}")]
    Invalid { what: &'static str, value: String, why: &'static str },
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const fn new(value: u64) -> Self {
                Self(value)
            }
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let digits = s.trim().trim_start_matches('#');
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::Invalid { what: $what, value: s.to_owned(), why: "expected a number" });
                }
                digits
                    .parse::<u64>()
                    .map(Self)
                    .map_err(|_| IdError::Invalid { what: $what, value: s.to_owned(), why: "number too large" })
            }
        }
    };
}

numeric_id!(
    /// A Semaphore project id.
    ProjectId,
    "project id"
);
numeric_id!(
    /// A Semaphore template id.
    TemplateId,
    "template id"
);
numeric_id!(
    /// A Semaphore task id. Unique across a Semaphore instance. On BoltDB-backed servers ids count
    /// *down* from 2147483646, so never compare ids to find the newest task.
    TaskId,
    "task id"
);

/// The name of a configured Semaphore instance (`production`, `staging`): a lower-case letter,
/// then lower-case letters, digits, `-` or `_`, at most 32 in all. Held inline, so it is `Copy`
/// like the numeric ids and a [`TaskRef`](crate::store::TaskRef) stays a plain value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId {
    len: u8,
    bytes: [u8; InstanceId::MAX_LEN],
}

impl InstanceId {
    /// The longest name accepted.
    pub const MAX_LEN: usize = 32;
    /// The name of the one instance of a ChatrixCD configuration (its `semaphore` section).
    pub const DEFAULT_NAME: &'static str = "default";

    pub fn parse(value: &str) -> Result<Self, IdError> {
        let invalid = |why| IdError::Invalid { what: "instance name", value: value.to_owned(), why };
        let bytes = value.as_bytes();
        match bytes.first() {
            None => return Err(invalid("it is empty")),
            Some(b) if !b.is_ascii_lowercase() => return Err(invalid("it must start with a lower-case letter")),
            Some(_) => {}
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(invalid("it is longer than 32 characters"));
        }
        if !bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_') {
            return Err(invalid("only lower-case letters, digits, '-' and '_' are allowed"));
        }
        let mut inline = [0u8; Self::MAX_LEN];
        inline[..bytes.len()].copy_from_slice(bytes);
        // The length was checked against MAX_LEN (32) just above, so it fits in a u8.
        Ok(Self { len: bytes.len() as u8, bytes: inline })
    }

    /// The instance named `default`.
    pub fn default_instance() -> Self {
        let mut inline = [0u8; Self::MAX_LEN];
        inline[..7].copy_from_slice(Self::DEFAULT_NAME.as_bytes());
        Self { len: 7, bytes: inline }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored (checked in `parse`), so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Default for InstanceId {
    fn default() -> Self {
        Self::default_instance()
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.as_str())
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    /// `null` (what schema-1 records and older files hold where no instance was named) reads as
    /// the default instance.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name: Option<String> = Option::deserialize(deserializer)?;
        match name {
            None => Ok(Self::default_instance()),
            Some(name) => Self::parse(&name).map_err(serde::de::Error::custom),
        }
    }
}

/// A Matrix room id such as `!abc:example.org`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

/// A Matrix user id such as `@alice:example.org`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

fn check_sigil_id(what: &'static str, sigil: char, value: &str) -> Result<(), IdError> {
    let invalid = |why| IdError::Invalid { what, value: value.to_owned(), why };
    let rest = value.strip_prefix(sigil).ok_or_else(|| invalid("wrong leading character"))?;
    let (local, server) = rest.split_once(':').ok_or_else(|| invalid("missing ':server' part"))?;
    if local.is_empty() {
        return Err(invalid("empty local part"));
    }
    if server.is_empty() {
        return Err(invalid("empty server name"));
    }
    if value.len() > 255 {
        return Err(invalid("longer than 255 bytes"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains whitespace"));
    }
    Ok(())
}

impl RoomId {
    /// Room ids of room version 12 and later are opaque (`!` and a hash, no `:server`); older
    /// ones have a server part. Both are accepted.
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let invalid = |why| IdError::Invalid { what: "room id", value: value.clone(), why };
        let rest = value.strip_prefix('!').ok_or_else(|| invalid("wrong leading character"))?;
        if rest.is_empty() || rest.starts_with(':') {
            return Err(invalid("empty local part"));
        }
        if value.len() > 255 {
            return Err(invalid("longer than 255 bytes"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace"));
        }
        Ok(Self(value))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UserId {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_sigil_id("user id", '@', &value)?;
        Ok(Self(value))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The part before the colon, without the sigil: a readable fallback display name.
    pub fn localpart(&self) -> &str {
        self.0[1..].split(':').next().unwrap_or_default()
    }
}

macro_rules! string_id_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}
string_id_impls!(RoomId);
string_id_impls!(UserId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_accept_digits_and_a_leading_hash() {
        assert_eq!("42".parse::<TaskId>().unwrap().get(), 42);
        assert_eq!("#2147483646".parse::<TaskId>().unwrap().get(), 2_147_483_646);
        assert!("".parse::<TaskId>().is_err());
        assert!("-1".parse::<ProjectId>().is_err());
        assert!("4a".parse::<TemplateId>().is_err());
        assert!("99999999999999999999999".parse::<TaskId>().is_err());
    }

    #[test]
    fn instance_names_are_short_lower_case_words() {
        for good in ["production", "staging", "a", "prod-2", "eu_west", &"x".repeat(32)] {
            let id = InstanceId::parse(good).unwrap();
            assert_eq!(id.as_str(), good);
            assert_eq!(id.to_string(), good);
        }
        for bad in ["", "Prod", "2prod", "-x", "pro d", "prod:1", &"x".repeat(33), "é"] {
            assert!(InstanceId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(InstanceId::default().as_str(), "default");
        let json = serde_json::to_string(&InstanceId::parse("staging").unwrap()).unwrap();
        assert_eq!(json, "\"staging\"");
        assert_eq!(serde_json::from_str::<InstanceId>("null").unwrap(), InstanceId::default());
        assert!(serde_json::from_str::<InstanceId>("\"Bad Name\"").is_err());
    }

    #[test]
    fn matrix_ids_need_sigil_and_server() {
        assert!(UserId::parse("@alice:example.org").is_ok());
        assert_eq!(UserId::parse("@alice:example.org").unwrap().localpart(), "alice");
        assert!(UserId::parse("alice:example.org").is_err());
        assert!(UserId::parse("@alice").is_err());
        assert!(UserId::parse("@:x").is_err());
        assert!(RoomId::parse("!room:example.org").is_ok());
        assert!(RoomId::parse("!8eNL0QONLH6vuWEfnn8nmpqc-WW4rE9vcOk6IXBiH-0").is_ok(), "room version 12 ids");
        assert!(RoomId::parse("!").is_err());
        assert!(RoomId::parse("#alias:example.org").is_err());
        let err = UserId::parse("@a b:x").unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{err}");
    }
}
