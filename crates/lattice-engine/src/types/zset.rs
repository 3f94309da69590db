//! `ZSetValue`: a listpack of member/score pairs sorted by (score, member)
//! while small; a member → score map plus an ordered set when large.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::listpack::Listpack;
use crate::keyspace::FastHasher;

/// A score with a total order (`f64::total_cmp`), for the ordered index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set's value.
#[derive(Debug, Clone)]
pub enum ZSetValue {
    /// member, score-text, member, score-text … sorted by (score, member).
    Listpack(Listpack),
    /// Large sorted sets.
    Skiplist {
        /// member → score
        dict: IndexMap<Box<[u8]>, f64, FastHasher>,
        /// (score, member) in order
        tree: BTreeSet<(Score, Box<[u8]>)>,
    },
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::Listpack(Listpack::new())
    }
}

impl ZSetValue {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.len() / 2,
            ZSetValue::Skiplist { dict, .. } => dict.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist { .. } => "skiplist",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.heap_size(),
            ZSetValue::Skiplist { dict, .. } => {
                dict.keys().map(|m| 80 + 2 * super::bytes_heap(m)).sum()
            }
        }
    }
}
