//! `IntSet`: a sorted vector of distinct integers stored at the narrowest
//! width that holds every member (16, 32 or 64 bits), as Redis's `intset.c`.
//!
//! Why: a set of small integers (ids, flags) is the common case the intset
//! encoding exists for; at 8 bytes per member a set of ten small integers
//! took 2.7x Redis's memory (bench/workloads_compare.py). Like Redis, the
//! width only grows: removing the one wide member does not narrow it, and
//! `DUMP` writes the width the set has.

/// Sorted, distinct integers at one width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntSet {
    /// Every member fits 16 bits.
    I16(Vec<i16>),
    /// Every member fits 32 bits.
    I32(Vec<i32>),
    /// Any member.
    I64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::I16(Vec::new())
    }
}

/// Iterator over an intset's members, ascending.
#[derive(Debug, Clone)]
pub enum Iter<'a> {
    /// 16-bit members.
    I16(std::slice::Iter<'a, i16>),
    /// 32-bit members.
    I32(std::slice::Iter<'a, i32>),
    /// 64-bit members.
    I64(std::slice::Iter<'a, i64>),
}

impl Iterator for Iter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        match self {
            Iter::I16(it) => it.next().map(|n| i64::from(*n)),
            Iter::I32(it) => it.next().map(|n| i64::from(*n)),
            Iter::I64(it) => it.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::I16(it) => it.size_hint(),
            Iter::I32(it) => it.size_hint(),
            Iter::I64(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Bytes per member an intset needs to hold `n` (Redis's `_intsetValueEncoding`).
fn width_of(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

/// Inserts `n` into a sorted vector; false if present.
fn insert_sorted<T: Ord + Copy>(v: &mut Vec<T>, n: T) -> bool {
    match v.binary_search(&n) {
        Ok(_) => false,
        Err(pos) => {
            // Grow by a quarter, not double: most intsets are small and
            // stay small (Redis reallocs to the exact size).
            if v.len() == v.capacity() {
                v.reserve_exact((v.len() / 4).max(1));
            }
            v.insert(pos, n);
            true
        }
    }
}

/// Removes `n` from a sorted vector; false if absent.
fn remove_sorted<T: Ord + Copy>(v: &mut Vec<T>, n: T) -> bool {
    match v.binary_search(&n) {
        Ok(pos) => {
            v.remove(pos);
            true
        }
        Err(_) => false,
    }
}

impl IntSet {
    /// An empty set (16-bit, as Redis's `intsetNew`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The set of `values` (any order, duplicates dropped) at the narrowest
    /// width holding them all.
    pub fn from_values(values: impl IntoIterator<Item = i64>) -> Self {
        let mut s = IntSet::new();
        for v in values {
            s.insert(v);
        }
        s
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            IntSet::I16(v) => v.len(),
            IntSet::I32(v) => v.len(),
            IntSet::I64(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per member (Redis's `encoding`: 2, 4 or 8).
    pub fn width(&self) -> usize {
        match self {
            IntSet::I16(_) => 2,
            IntSet::I32(_) => 4,
            IntSet::I64(_) => 8,
        }
    }

    /// Heap bytes reserved.
    pub fn heap_size(&self) -> usize {
        let cap = match self {
            IntSet::I16(v) => v.capacity(),
            IntSet::I32(v) => v.capacity(),
            IntSet::I64(v) => v.capacity(),
        };
        cap * self.width()
    }

    /// The member at position `i` (ascending order).
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntSet::I16(v) => v.get(i).map(|n| i64::from(*n)),
            IntSet::I32(v) => v.get(i).map(|n| i64::from(*n)),
            IntSet::I64(v) => v.get(i).copied(),
        }
    }

    /// Smallest member.
    pub fn first(&self) -> Option<i64> {
        self.get(0)
    }

    /// Largest member.
    pub fn last(&self) -> Option<i64> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Whether `n` is a member.
    pub fn contains(&self, n: i64) -> bool {
        match self {
            IntSet::I16(v) => i16::try_from(n).is_ok_and(|n| v.binary_search(&n).is_ok()),
            IntSet::I32(v) => i32::try_from(n).is_ok_and(|n| v.binary_search(&n).is_ok()),
            IntSet::I64(v) => v.binary_search(&n).is_ok(),
        }
    }

    /// Adds `n`, widening every member first if `n` needs it; false if it
    /// was there.
    pub fn insert(&mut self, n: i64) -> bool {
        self.widen_to(width_of(n));
        match self {
            IntSet::I16(v) => i16::try_from(n).is_ok_and(|m| insert_sorted(v, m)),
            IntSet::I32(v) => i32::try_from(n).is_ok_and(|m| insert_sorted(v, m)),
            IntSet::I64(v) => insert_sorted(v, n),
        }
    }

    /// Widens every member to `width` bytes (2, 4 or 8) if the set is
    /// narrower: `RESTORE` keeps the width of the payload, as Redis keeps
    /// the intset it loads.
    pub fn widen_to(&mut self, width: usize) {
        if width > 2 {
            if let IntSet::I16(v) = self {
                *self = IntSet::I32(v.iter().map(|x| i32::from(*x)).collect());
            }
        }
        if width > 4 {
            if let IntSet::I32(v) = self {
                *self = IntSet::I64(v.iter().map(|x| i64::from(*x)).collect());
            }
        }
    }

    /// Removes `n`; false if it was not there. The width stays.
    pub fn remove(&mut self, n: i64) -> bool {
        match self {
            IntSet::I16(v) => i16::try_from(n).is_ok_and(|n| remove_sorted(v, n)),
            IntSet::I32(v) => i32::try_from(n).is_ok_and(|n| remove_sorted(v, n)),
            IntSet::I64(v) => remove_sorted(v, n),
        }
    }

    /// Members, ascending.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            IntSet::I16(v) => Iter::I16(v.iter()),
            IntSet::I32(v) => Iter::I32(v.iter()),
            IntSet::I64(v) => Iter::I64(v.iter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_width_only_when_a_member_needs_it_and_never_narrows() {
        let mut s = IntSet::new();
        assert!(s.insert(5) && s.insert(-3) && !s.insert(5));
        assert_eq!(s.width(), 2);
        assert!(s.insert(70_000));
        assert_eq!(s.width(), 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), 8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70_000]);
        assert!(s.remove(i64::MIN) && !s.remove(i64::MIN));
        assert_eq!(s.width(), 8, "Redis never narrows an intset");
        assert_eq!((s.first(), s.last()), (Some(-3), Some(70_000)));
        let mut narrow = IntSet::from_values([1, 2]);
        narrow.widen_to(4);
        assert_eq!(
            (narrow.width(), narrow.iter().collect::<Vec<_>>()),
            (4, vec![1, 2])
        );
        narrow.widen_to(2);
        assert_eq!(narrow.width(), 4, "widen_to never narrows");
    }

    #[test]
    fn lookups_outside_the_width_miss_without_panicking() {
        let mut s = IntSet::from_values([1, 2, 3]);
        assert!(!s.contains(i64::MAX) && !s.contains(i64::from(i16::MAX) + 1));
        assert!(!s.remove(i64::MIN));
        assert_eq!(s.get(3), None);
        assert_eq!(s.len(), 3);
        assert_eq!(s.heap_size() % 2, 0);
    }

    #[test]
    fn matches_a_btreeset_model() {
        use std::collections::BTreeSet;
        let mut model = BTreeSet::new();
        let mut s = IntSet::new();
        // A fixed pseudo-random walk over values of every width.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = match step % 3 {
                0 => (x % 200) as i64 - 100,
                1 => (x % 200_000) as i64 - 100_000,
                _ => x as i64,
            };
            if x.is_multiple_of(4) {
                assert_eq!(s.remove(n), model.remove(&n));
            } else {
                assert_eq!(s.insert(n), model.insert(n));
            }
            assert_eq!(s.contains(n), model.contains(&n));
        }
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            model.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(s.iter().len(), model.len());
    }
}
