//! Protocol-neutral replies. The server encodes them as RESP2 or RESP3; the
//! engine never sees the wire.

use bytes::Bytes;

use crate::CmdError;

/// A command's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A status line (`+PONG`, `+string` from TYPE …).
    Status(String),
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(Bytes),
    /// The null bulk (`$-1` / `_`).
    Nil,
    /// The null array (`*-1` / `_`).
    NilArray,
    /// An array.
    Array(Vec<Reply>),
    /// A map (RESP3 `%`; a flat array in RESP2).
    Map(Vec<(Reply, Reply)>),
    /// Pairs that RESP3 nests as an array of 2-element arrays and RESP2
    /// flattens (ZRANGE … WITHSCORES, HRANDFIELD … WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// A set (RESP3 `~`; an array in RESP2).
    Set(Vec<Reply>),
    /// A double (RESP3 `,`; a bulk string in RESP2), formatted as Redis's `%.17g`.
    Double(f64),
    /// A boolean (RESP3 `#`; an integer in RESP2).
    Bool(bool),
    /// Verbatim text (RESP3 `=`; a bulk string in RESP2), e.g. `INFO`.
    Verbatim(String),
    /// An error reply.
    Error(CmdError),
    /// The command found nothing to serve and wants to block on `keys` until
    /// one is written or `timeout_ms` passes (0 = forever). Only blocking
    /// commands return this, and never when the caller forbade blocking.
    WouldBlock {
        /// Keys whose writes may unblock the command.
        keys: Vec<Bytes>,
        /// Relative timeout in milliseconds; 0 waits forever.
        timeout_ms: u64,
    },
}

impl Reply {
    /// A bulk reply copying `data`.
    pub fn bulk(data: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data))
    }

    /// A bulk reply from a string.
    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// A bulk reply of an integer's decimal text.
    pub fn bulk_int(n: i64) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(
            itoa::Buffer::new().format(n).as_bytes(),
        ))
    }

    /// An array of bulk strings.
    pub fn bulk_array<I, T>(items: I) -> Reply
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        Reply::Array(items.into_iter().map(|t| Reply::bulk(t.as_ref())).collect())
    }

    /// A bulk reply or nil.
    pub fn opt_bulk(data: Option<&[u8]>) -> Reply {
        data.map_or(Reply::Nil, Reply::bulk)
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Self {
        Reply::Error(e)
    }
}
