//! Hot keys: an approximate top-K of the most accessed keys (HOTKEYS, and
//! `lattice_hotkey_accesses` in /metrics).
//!
//! The read and write paths offer every key they touch, but only one access
//! in `SAMPLE_EVERY` (chosen by a per-thread random generator, so no shared
//! counter is touched) reaches the tracker. The tracker is the Space-Saving
//! algorithm (Metwally et al.) over `K` counters: a key not tracked replaces
//! the least-counted one and inherits its count plus one, which bounds
//! memory to `K` keys of at most `MAX_KEY_LEN` bytes and guarantees that any
//! key accessed more than 1/K of the time is present. Counts are halved
//! every `DECAY_PERIOD` so the list follows what is hot now.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Counters kept.
pub const K: usize = 32;
/// One access in this many is counted; reported counts are scaled back.
pub const SAMPLE_EVERY: u64 = 8;
/// Longer keys are not tracked (bounds the tracker's memory).
pub const MAX_KEY_LEN: usize = 1024;
/// Counts halve this often.
pub const DECAY_PERIOD: Duration = Duration::from_secs(60);

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        // A per-thread random seed without a shared generator.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        h.finish() | 1
    });
}

/// True for about one call in `SAMPLE_EVERY` (xorshift64 per thread).
pub fn sampled() -> bool {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        x % SAMPLE_EVERY == 0
    })
}

#[derive(Debug, Clone)]
struct Slot {
    db: usize,
    key: Bytes,
    count: u64,
}

struct Inner {
    slots: Vec<Slot>,
    last_decay: Instant,
}

impl Inner {
    fn decay(&mut self, now: Instant) {
        let periods = now.duration_since(self.last_decay).as_secs() / DECAY_PERIOD.as_secs();
        if periods == 0 {
            return;
        }
        let shift = periods.min(63) as u32;
        for s in &mut self.slots {
            s.count >>= shift;
        }
        self.slots.retain(|s| s.count > 0);
        self.last_decay += DECAY_PERIOD * periods as u32;
    }
}

/// The tracker.
pub struct HotKeys {
    inner: Mutex<Inner>,
}

impl Default for HotKeys {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                slots: Vec::with_capacity(K),
                last_decay: Instant::now(),
            }),
        }
    }
}

impl HotKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one (sampled) access to each of `keys` in `db`.
    pub fn record<'a>(&self, db: usize, keys: impl IntoIterator<Item = &'a [u8]>) {
        let mut g = self.lock();
        g.decay(Instant::now());
        for key in keys {
            if key.len() > MAX_KEY_LEN {
                continue;
            }
            if let Some(s) = g.slots.iter_mut().find(|s| s.db == db && s.key == key) {
                s.count += 1;
                continue;
            }
            // A copy: a slice would pin the request buffer it came from.
            let fresh = Slot {
                db,
                key: Bytes::copy_from_slice(key),
                count: 1,
            };
            if g.slots.len() < K {
                g.slots.push(fresh);
                continue;
            }
            let min = g.slots.iter_mut().min_by_key(|s| s.count);
            if let Some(m) = min {
                let inherited = m.count;
                *m = Slot {
                    count: inherited + 1,
                    ..fresh
                };
            }
        }
    }

    /// The `n` hottest keys (of `db`, or of every database), hottest first,
    /// with estimated access counts: `(db, key, count)`.
    pub fn top(&self, db: Option<usize>, n: usize) -> Vec<(usize, Bytes, u64)> {
        let mut g = self.lock();
        g.decay(Instant::now());
        let mut v: Vec<(usize, Bytes, u64)> = g
            .slots
            .iter()
            .filter(|s| db.is_none_or(|d| d == s.db))
            .map(|s| (s.db, s.key.clone(), s.count.saturating_mul(SAMPLE_EVERY)))
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
        v.truncate(n);
        v
    }

    /// Forgets everything (CONFIG RESETSTAT).
    pub fn reset(&self) {
        let mut g = self.lock();
        g.slots.clear();
        g.last_decay = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_heavy_hitter_with_bounded_memory() {
        let h = HotKeys::default();
        for i in 0..10_000u32 {
            let cold = format!("cold:{i}");
            h.record(0, [cold.as_bytes()]);
            if i % 4 == 0 {
                h.record(0, [&b"hot"[..]]);
            }
        }
        let top = h.top(Some(0), 3);
        assert_eq!(top[0].1, Bytes::from_static(b"hot"));
        // Space-Saving never underestimates a tracked key.
        assert!(top[0].2 >= 2500 * SAMPLE_EVERY, "{top:?}");
        assert!(h.lock().slots.len() <= K);
        assert!(h.top(Some(1), 10).is_empty());
        assert_eq!(h.top(None, 100).len(), K);
    }

    #[test]
    fn counts_decay_and_long_keys_are_skipped() {
        let h = HotKeys::default();
        h.record(2, [&b"k"[..], &b"k"[..]]);
        h.record(2, [&vec![b'x'; MAX_KEY_LEN + 1][..]]);
        assert_eq!(
            h.top(None, 10),
            vec![(2, Bytes::from_static(b"k"), 2 * SAMPLE_EVERY)]
        );
        h.lock().last_decay -= DECAY_PERIOD;
        assert_eq!(h.top(None, 10)[0].2, SAMPLE_EVERY);
        h.lock().last_decay -= DECAY_PERIOD * 3;
        assert!(h.top(None, 10).is_empty());
        h.record(0, [&b"a"[..]]);
        h.reset();
        assert!(h.top(None, 10).is_empty());
    }

    #[test]
    fn sampling_rate_is_about_one_in_eight() {
        let n = (0..80_000).filter(|_| sampled()).count();
        assert!((8_000..12_000).contains(&n), "{n}");
    }
}
