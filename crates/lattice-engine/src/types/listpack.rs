//! `Listpack`: a compact sequence of byte strings in one allocation, the small
//! encoding shared by hashes (field, value, field, value …), sets, sorted sets
//! (member, score text …) and lists. Each entry is a LEB128 length followed by
//! its bytes, so a 3-byte element costs 4 bytes instead of a pointer, a
//! length and an allocation. Operations are linear, which is what Redis's
//! listpack costs too and why the `*-max-listpack-*` thresholds exist.

/// A compact sequence of byte strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    count: u32,
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a length at `pos`; returns (length, bytes used).
fn get_len(buf: &[u8], pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut used = 0;
    while let Some(&b) = buf.get(pos + used) {
        n |= usize::from(b & 0x7f) << shift;
        used += 1;
        if b & 0x80 == 0 || shift > 56 {
            break;
        }
        shift += 7;
    }
    (n, used)
}

fn encoded(item: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(item.len() + 2);
    put_len(&mut v, item.len());
    v.extend_from_slice(item);
    v
}

/// Iterator over the entries of a [`Listpack`].
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (n, used) = get_len(self.buf, self.pos);
        let start = self.pos + used;
        self.pos = start + n;
        self.buf.get(start..start + n)
    }
}

impl Listpack {
    /// An empty listpack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes used by the encoded entries.
    pub fn bytes_len(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held (capacity), for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    /// Iterates over the entries in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Byte offset of entry `idx` (or the end when `idx == len`).
    fn offset_of(&self, idx: usize) -> usize {
        let mut pos = 0;
        for _ in 0..idx {
            if pos >= self.buf.len() {
                break;
            }
            let (n, used) = get_len(&self.buf, pos);
            pos += used + n;
        }
        pos
    }

    /// The entry at `idx`.
    pub fn get(&self, idx: usize) -> Option<&[u8]> {
        self.iter().nth(idx)
    }

    /// Makes room for `needed` more bytes, growing by a quarter rather than
    /// doubling: small encodings are most of a dataset of small keys, and
    /// Vec's doubling left up to half of each buffer unused (Redis reallocs
    /// its listpacks to the exact size).
    fn grow_for(&mut self, needed: usize) {
        if self.buf.capacity() - self.buf.len() < needed {
            self.buf.reserve_exact(needed.max(self.buf.len() / 4));
        }
    }

    /// Appends an entry.
    pub fn push_back(&mut self, item: &[u8]) {
        self.grow_for(item.len() + 10);
        put_len(&mut self.buf, item.len());
        self.buf.extend_from_slice(item);
        self.count += 1;
    }

    /// Prepends an entry.
    pub fn push_front(&mut self, item: &[u8]) {
        self.insert(0, item);
    }

    /// Inserts an entry before position `idx` (`idx == len` appends).
    pub fn insert(&mut self, idx: usize, item: &[u8]) {
        let off = self.offset_of(idx.min(self.len()));
        let enc = encoded(item);
        self.grow_for(enc.len());
        self.buf.splice(off..off, enc);
        self.count += 1;
    }

    /// Removes the entry at `idx`, if any.
    pub fn remove(&mut self, idx: usize) {
        self.remove_range(idx, 1);
    }

    /// Removes `n` entries starting at `idx`.
    pub fn remove_range(&mut self, idx: usize, n: usize) {
        if idx >= self.len() || n == 0 {
            return;
        }
        let n = n.min(self.len() - idx);
        let start = self.offset_of(idx);
        let mut end = start;
        for _ in 0..n {
            let (len, used) = get_len(&self.buf, end);
            end += used + len;
        }
        self.buf.drain(start..end.min(self.buf.len()));
        self.count -= n as u32;
    }

    /// Replaces the entry at `idx`.
    pub fn replace(&mut self, idx: usize, item: &[u8]) {
        if idx >= self.len() {
            return;
        }
        let start = self.offset_of(idx);
        let (len, used) = get_len(&self.buf, start);
        let end = (start + used + len).min(self.buf.len());
        self.buf.splice(start..end, encoded(item));
    }

    /// Position of the first entry equal to `item`, looking at every
    /// `step`-th entry from `first` (step 2 finds hash fields).
    pub fn find(&self, item: &[u8], first: usize, step: usize) -> Option<usize> {
        self.iter()
            .enumerate()
            .skip(first)
            .step_by(step.max(1))
            .find(|(_, e)| *e == item)
            .map(|(i, _)| i)
    }

    /// Pops the first entry.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let v = self.get(0)?.to_vec();
        self.remove(0);
        Some(v)
    }

    /// Pops the last entry.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let last = self.len().checked_sub(1)?;
        let v = self.get(last)?.to_vec();
        self.remove(last);
        Some(v)
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = &'a [u8];
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_vec() {
        let mut lp = Listpack::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let big = vec![7u8; 300];
        for (i, item) in [&b"a"[..], b"", &big, b"xyz"].iter().enumerate() {
            lp.insert(i / 2, item);
            model.insert(i / 2, item.to_vec());
        }
        assert_eq!(lp.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), model);
        lp.replace(1, b"replaced");
        model[1] = b"replaced".to_vec();
        lp.remove(0);
        model.remove(0);
        assert_eq!(lp.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), model);
        assert_eq!(lp.len(), model.len());
        assert_eq!(
            lp.find(b"xyz", 0, 1),
            model.iter().position(|m| m == b"xyz")
        );
        assert_eq!(lp.pop_back(), model.pop());
        assert_eq!(lp.pop_front(), Some(model.remove(0)));
    }
}
