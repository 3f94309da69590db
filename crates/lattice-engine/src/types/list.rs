//! `ListValue`: a listpack while small, a deque of boxed elements when large.

use std::collections::VecDeque;

use super::listpack::Listpack;

/// A list's value.
#[derive(Debug, Clone)]
pub enum ListValue {
    /// Small lists.
    Listpack(Listpack),
    /// Large lists (Redis: quicklist).
    Quicklist(VecDeque<Box<[u8]>>),
}

impl Default for ListValue {
    fn default() -> Self {
        ListValue::Listpack(Listpack::new())
    }
}

impl ListValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.len(),
            ListValue::Quicklist(q) => q.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ListValue::Listpack(_) => "listpack",
            ListValue::Quicklist(_) => "quicklist",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            ListValue::Listpack(lp) => lp.heap_size(),
            ListValue::Quicklist(q) => q.iter().map(|e| 16 + super::bytes_heap(e)).sum(),
        }
    }
}
