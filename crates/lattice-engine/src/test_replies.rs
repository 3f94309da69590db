//! Test-only builders shared by the command families' unit tests: argv from
//! strings, expected replies, and the notification events of an outcome.

use bytes::Bytes;

use crate::{CmdError, Effect, Outcome, Reply};

/// Arguments as the decoder would hand them over.
pub(crate) fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

/// A bulk-string reply.
pub(crate) fn b(s: &str) -> Reply {
    Reply::bulk_str(s)
}

/// An array of bulk strings.
pub(crate) fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| b(s)).collect())
}

/// A set of bulk strings (RESP3 `~`).
pub(crate) fn set(items: &[&str]) -> Reply {
    Reply::Set(items.iter().map(|s| b(s)).collect())
}

/// An error reply with the exact wire text.
pub(crate) fn err(text: &str) -> Reply {
    Reply::Error(CmdError::Other(text.to_string()))
}

/// The keyspace-notification event names an outcome emitted, in order.
pub(crate) fn events(out: &Outcome) -> Vec<&'static str> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify { event, .. } => Some(*event),
            _ => None,
        })
        .collect()
}
