//! `Value`: what a key holds. Strings are stored inline up to 16 bytes
//! (no allocation for most counters and small values); aggregates are boxed so
//! an entry stays small.

use smallvec::SmallVec;

use crate::types::{hash::HashValue, list::ListValue, set::SetValue, zset::ZSetValue};

/// A string value (also HyperLogLog and bitmaps, as in Redis).
pub type StrValue = SmallVec<[u8; 16]>;

/// The value of one key.
#[derive(Debug, Clone)]
pub enum Value {
    /// String, HyperLogLog, bitmap.
    Str(StrValue),
    /// List.
    List(Box<ListValue>),
    /// Hash.
    Hash(Box<HashValue>),
    /// Set.
    Set(Box<SetValue>),
    /// Sorted set.
    ZSet(Box<ZSetValue>),
}

/// The `TYPE` of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// string
    String,
    /// list
    List,
    /// hash
    Hash,
    /// set
    Set,
    /// zset
    ZSet,
}

impl ValueType {
    /// The name `TYPE` replies with (and `SCAN … TYPE` accepts).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }
}

impl Value {
    /// A string value from bytes.
    pub fn str(data: &[u8]) -> Value {
        Value::Str(SmallVec::from_slice(data))
    }

    /// The type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    /// `OBJECT ENCODING`, following Redis's choices.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && crate::number::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// Approximate bytes used beyond the entry itself.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(s) => {
                if s.spilled() {
                    s.capacity()
                } else {
                    0
                }
            }
            Value::List(l) => 16 + l.mem_usage(),
            Value::Hash(h) => 16 + h.mem_usage(),
            Value::Set(s) => 16 + s.mem_usage(),
            Value::ZSet(z) => 16 + z.mem_usage(),
        }
    }
}
