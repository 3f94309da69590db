//! Protocol errors. Each carries Redis's exact reply text; after any of them the
//! connection is closed once the error reply is written, as Redis does.

use thiserror::Error;

/// A violation of the wire protocol. `Display` is the text Redis replies with
/// (without the leading `-`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A multibulk header that is not a number or exceeds the limit.
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk header that is not a number, negative, or above `proto-max-bulk-len`.
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An element of a multibulk request that is not a bulk string.
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    /// A header line longer than 64 KiB without a line ending.
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    /// A bulk header line longer than 64 KiB without a line ending.
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request longer than 64 KiB without a line ending.
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request with an unterminated quote.
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// More than 10 arguments before `AUTH` while a password is required.
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulk,
    /// A bulk over 16 KiB before `AUTH` while a password is required.
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulk,
    /// A reply frame (client side) that is not valid RESP.
    #[error("ERR Protocol error: {0}")]
    InvalidFrame(&'static str),
}
