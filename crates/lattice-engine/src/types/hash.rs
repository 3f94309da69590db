//! `HashValue`: a listpack of alternating field/value entries while small,
//! an insertion-ordered hash table when large.

use indexmap::IndexMap;

use super::listpack::Listpack;
use crate::keyspace::FastHasher;

/// A hash's value.
#[derive(Debug, Clone)]
pub enum HashValue {
    /// field, value, field, value … (small)
    Listpack(Listpack),
    /// field → value (large)
    Table(IndexMap<Box<[u8]>, Box<[u8]>, FastHasher>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Listpack::new())
    }
}

impl HashValue {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(t) => t.len(),
        }
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.heap_size(),
            HashValue::Table(t) => t
                .iter()
                .map(|(k, v)| 40 + super::bytes_heap(k) + super::bytes_heap(v))
                .sum(),
        }
    }
}
