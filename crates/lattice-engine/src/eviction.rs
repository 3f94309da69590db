//! Eviction victims under `maxmemory`, approximating Redis's sampling
//! algorithm: sample `maxmemory-samples` keys per round from the candidate
//! set (all keys, or keys with a TTL), keep the best by the policy's rank.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::access;
use crate::config::{EngineConfig, EvictionPolicy};
use crate::keyspace::Db;

pub(crate) fn victims(
    dbs: &[Db],
    cfg: &EngineConfig,
    now_ms: u64,
    seed: u64,
    n: usize,
) -> Vec<(usize, Bytes)> {
    let policy = cfg.maxmemory_policy;
    if policy == EvictionPolicy::NoEviction {
        return Vec::new();
    }
    let volatile_only = matches!(
        policy,
        EvictionPolicy::VolatileLru
            | EvictionPolicy::VolatileLfu
            | EvictionPolicy::VolatileRandom
            | EvictionPolicy::VolatileTtl
    );
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out: Vec<(usize, Bytes)> = Vec::new();
    let samples = cfg.maxmemory_samples.max(1);
    for _ in 0..n {
        // (rank, db, key): higher rank is evicted first.
        let mut best: Option<(u64, usize, Bytes)> = None;
        for (i, db) in dbs.iter().enumerate() {
            let pool = if volatile_only {
                db.volatile_len()
            } else {
                db.len()
            };
            if pool == 0 {
                continue;
            }
            for _ in 0..samples {
                let j = rng.gen_range(0..pool);
                let key = if volatile_only {
                    db.volatile_key(j).map(|k| k.as_slice())
                } else {
                    db.get_index(j).map(|(k, _)| k.as_slice())
                };
                let Some(key) = key else { continue };
                if out.iter().any(|(d, k)| *d == i && k[..] == *key) {
                    continue;
                }
                let Some(e) = db.get(key) else { continue };
                let rank = match policy {
                    EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                        access::idle_ms(e.access, now_ms)
                    }
                    EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                        255 - u64::from(access::lfu_decayed(e.access, now_ms, cfg))
                    }
                    EvictionPolicy::VolatileTtl => u64::MAX - e.expire_at,
                    _ => rng.gen(),
                };
                if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                    best = Some((rank, i, Bytes::copy_from_slice(key)));
                }
            }
        }
        match best {
            Some((_, db, key)) => out.push((db, key)),
            None => break,
        }
    }
    out
}
