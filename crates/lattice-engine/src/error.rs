//! Command errors, and the one function that maps each to Redis's wire text.
//! Golden tests (`crates/lattice/tests/differential`) compare these texts with
//! `redis-server`'s replies.

use thiserror::Error;

/// Why a command failed. `Display` is the exact reply text without the `-`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CmdError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An argument that must be an integer is not, or is out of range.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a float is not.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Generic syntax error in options.
    #[error("ERR syntax error")]
    Syntax,
    /// Wrong number of arguments; holds the lowercase command name.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    /// An increment that would overflow a 64-bit integer.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// The key does not exist (RENAME, LSET …).
    #[error("ERR no such key")]
    NoSuchKey,
    /// An index out of range (LSET).
    #[error("ERR index out of range")]
    IndexOutOfRange,
    /// A database number out of range.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// A value or result larger than `proto-max-bulk-len`.
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// `maxmemory` reached under `noeviction` (or nothing left to evict).
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    /// Any other error; the text includes its prefix (`ERR …`, `NOAUTH …`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    /// An `ERR`-prefixed error with the given message.
    pub fn err(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        CmdError::Other(format!("ERR {msg}"))
    }

    /// The text sent on the wire after `-`: the one place errors become text.
    pub fn wire_text(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_redis() {
        assert_eq!(
            CmdError::Arity("get".into()).wire_text(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(CmdError::err("x").wire_text(), "ERR x");
    }
}
