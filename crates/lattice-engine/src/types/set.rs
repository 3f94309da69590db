//! `SetValue`: a sorted vector of integers (intset) while all members are
//! integers and few, a listpack while small, a hash set when large.

use indexmap::IndexSet;

use super::listpack::Listpack;
use crate::keyspace::FastHasher;

/// A set's value.
#[derive(Debug, Clone)]
pub enum SetValue {
    /// Sorted integers.
    Intset(Vec<i64>),
    /// Small sets of strings.
    Listpack(Listpack),
    /// Large sets.
    Table(IndexSet<Box<[u8]>, FastHasher>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Intset(Vec::new())
    }
}

impl SetValue {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Listpack(lp) => lp.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Listpack(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.capacity() * 8,
            SetValue::Listpack(lp) => lp.heap_size(),
            SetValue::Table(t) => t.iter().map(|m| 24 + super::bytes_heap(m)).sum(),
        }
    }
}
