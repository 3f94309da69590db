//! A lock-free latency histogram with the layout of the HdrHistogram that
//! Redis 7 attaches to every command (`hdr_init(1, 1e9, 2)`: values in
//! nanoseconds from 1 ns to 1 s, two significant digits). Sharing the layout
//! means `INFO latencystats` percentiles and `LATENCY HISTOGRAM` buckets are
//! computed exactly as Redis computes them (same bucket edges, same
//! "highest equivalent value" reporting).
//!
//! Recording is one relaxed atomic add on a fixed array, so connections on
//! different threads never take a lock for it.

use std::sync::atomic::{AtomicU64, Ordering};

/// Smallest value recorded (Redis's `LATENCY_HISTOGRAM_MIN_VALUE`, ns).
pub const MIN_VALUE: u64 = 1;
/// Largest value recorded; larger ones are clamped (ns).
pub const MAX_VALUE: u64 = 1_000_000_000;

/// log2 of half the sub-bucket count (128 linear steps per power of two).
const SUB_HALF_MAGNITUDE: u32 = 7;
const SUB_HALF_COUNT: usize = 1 << SUB_HALF_MAGNITUDE;
/// Buckets needed so that `256 << (BUCKETS - 1)` exceeds `MAX_VALUE`.
const BUCKETS: usize = 23;
/// Number of counters.
pub const COUNTS_LEN: usize = (BUCKETS + 1) * SUB_HALF_COUNT;

/// The counter index of `value` (HdrHistogram's `counts_index_for`).
pub fn index_of(value: u64) -> usize {
    // Bit length of value, with everything below 256 sharing bucket 0.
    let bits = 64 - (value | 0xFF).leading_zeros();
    let bucket = bits - (SUB_HALF_MAGNITUDE + 1);
    let sub = (value >> bucket) as usize;
    ((bucket as usize + 1) << SUB_HALF_MAGNITUDE) + sub - SUB_HALF_COUNT
}

/// The lowest value counted at `index`, and the width of its range.
fn range_at(index: usize) -> (u64, u64) {
    let mut bucket = (index >> SUB_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_HALF_COUNT - 1)) + SUB_HALF_COUNT;
    if bucket < 0 {
        sub -= SUB_HALF_COUNT;
        bucket = 0;
    }
    ((sub as u64) << bucket, 1u64 << bucket)
}

/// The largest value that falls in the same counter as `index`'s values
/// (what Redis reports for percentiles and histogram buckets).
pub fn highest_equivalent_at(index: usize) -> u64 {
    let (low, width) = range_at(index);
    low + width - 1
}

/// Per-command latency counts.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram (24 KiB of counters, allocated once per command
    /// on its first call, as Redis does).
    pub fn new() -> Self {
        Self {
            counts: (0..COUNTS_LEN).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }

    /// Records one duration in nanoseconds (clamped to 1 ns ..= 1 s).
    pub fn record(&self, ns: u64) {
        let v = ns.clamp(MIN_VALUE, MAX_VALUE);
        if let Some(c) = self.counts.get(index_of(v)) {
            c.fetch_add(1, Ordering::Relaxed);
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Number of recorded values.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Forgets everything (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
        self.total.store(0, Ordering::Relaxed);
    }

    /// A consistent-enough copy of the counters for reporting.
    pub fn snapshot(&self) -> Snapshot {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        // The sum of the copied counters, not `total`: a concurrent record
        // between the two loads must not make percentiles look past the end.
        let total = counts.iter().sum();
        Snapshot { counts, total }
    }
}

/// A copy of a histogram's counters.
pub struct Snapshot {
    counts: Vec<u64>,
    total: u64,
}

impl Snapshot {
    /// Number of values.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value at `percentile` (0..=100), in ns, as HdrHistogram's
    /// `hdr_value_at_percentile`.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let p = percentile.clamp(0.0, 100.0);
        let wanted = ((p / 100.0) * self.total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return if p == 0.0 {
                    range_at(i).0
                } else {
                    highest_equivalent_at(i)
                };
            }
        }
        0
    }

    /// Cumulative counts at power-of-two reporting levels starting at
    /// 1024 ns, as `LATENCY HISTOGRAM` reports them: `(upper bound in
    /// µs, values at or below it)`, one entry per level where the count
    /// grew, up to the level that covers the largest value.
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if self.total == 0 {
            return out;
        }
        let mut level: u64 = 1024;
        let mut seen = 0;
        let mut next = 0usize;
        loop {
            // Past the last counter the level still reports what is left,
            // so values near the 1 s ceiling are not dropped.
            let idx = index_of(level).min(COUNTS_LEN - 1);
            while next <= idx {
                seen += self.counts.get(next).copied().unwrap_or(0);
                next += 1;
            }
            let prev = out.last().map_or(0, |&(_, c)| c);
            if seen > prev {
                let upper = if index_of(level) < COUNTS_LEN {
                    highest_equivalent_at(idx)
                } else {
                    level
                };
                out.push((upper / 1000, seen));
            }
            if seen >= self.total || next >= COUNTS_LEN {
                break;
            }
            level *= 2;
        }
        out
    }

    /// For each of the ascending `bounds_ns`, how many values are at or
    /// below it, in one pass over the counters (a counter straddling a bound
    /// counts as above it; the error is under 1% of the bound).
    pub fn cumulative_at(&self, bounds_ns: &[u64]) -> Vec<u64> {
        let mut out = Vec::with_capacity(bounds_ns.len());
        let mut bounds = bounds_ns.iter().peekable();
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            let hev = highest_equivalent_at(i);
            while let Some(&&b) = bounds.peek() {
                if hev <= b {
                    break;
                }
                out.push(seen);
                bounds.next();
            }
            seen += c;
        }
        out.extend(bounds.map(|_| seen));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_redis_hdr_histogram() {
        // Values observed from redis-server 7.0 INFO latencystats.
        assert_eq!(highest_equivalent_at(index_of(19_000)), 19_071);
        assert_eq!(highest_equivalent_at(index_of(15_000)), 15_039);
        assert_eq!(highest_equivalent_at(index_of(5_000)), 5_023);
        assert_eq!(highest_equivalent_at(index_of(50_221_000)), 50_331_647);
        // Exact below 256.
        assert_eq!(highest_equivalent_at(index_of(200)), 200);
        assert!(index_of(MAX_VALUE) < COUNTS_LEN);
        // Indexes are monotone in value.
        let mut last = 0;
        for v in [1u64, 255, 256, 257, 511, 512, 1023, 1024, 99_999, MAX_VALUE] {
            let i = index_of(v);
            assert!(i >= last, "{v}");
            last = i;
            let (low, width) = range_at(i);
            assert!(low <= v && v < low + width, "{v} in [{low}, +{width})");
        }
    }

    #[test]
    fn percentiles_and_cumulative_buckets_as_redis() {
        let h = Histogram::new();
        h.record(19_000);
        let s = h.snapshot();
        assert_eq!(s.value_at_percentile(50.0), 19_071);
        assert_eq!(s.value_at_percentile(99.9), 19_071);
        // LATENCY HISTOGRAM for one 19 µs call: {33: 1}.
        assert_eq!(s.cumulative_usec(), vec![(33, 1)]);

        let h = Histogram::new();
        h.record(21_000);
        h.record(60_000);
        h.record(64_000);
        h.record(250_000);
        // Redis printed {33: 1, 66: 3, 264: 4} for calls like these.
        assert_eq!(
            h.snapshot().cumulative_usec(),
            vec![(33, 1), (66, 3), (264, 4)]
        );
        assert_eq!(
            h.snapshot()
                .cumulative_at(&[1_000, 100_000, 10_000_000_000]),
            vec![0, 3, 4]
        );

        let h = Histogram::new();
        h.record(50_221_000);
        assert_eq!(h.snapshot().cumulative_usec(), vec![(67_633, 1)]);
        let h = Histogram::new();
        h.record(5 * MAX_VALUE);
        assert_eq!(h.snapshot().cumulative_usec(), vec![(1_073_741, 1)]);
        h.reset();
        assert_eq!(h.total(), 0);
        assert!(h.snapshot().cumulative_usec().is_empty());
    }
}
