//! LRU clock and LFU counters, as Redis's `evict.c`: the LRU clock is Unix
//! seconds in 24 bits; an LFU word is minutes (16 bits) << 8 | a logarithmic
//! counter (8 bits) that decays one step per `lfu-decay-time` minutes.

use rand::Rng;

use crate::config::EngineConfig;
use crate::keyspace::LFU_INIT_VAL;

const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// Minutes clock for LFU (16 bits).
pub fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xFFFF
}

/// Idle milliseconds of an LRU word at `now_ms`.
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    let clock = lru_clock(now_ms);
    let lru = access & LRU_CLOCK_MAX;
    let secs = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    u64::from(secs) * 1000
}

/// The LFU counter after decay at `now_ms` (`LFUDecrAndReturn`).
pub fn lfu_decayed(access: u32, now_ms: u64, cfg: &EngineConfig) -> u32 {
    let ldt = access >> 8;
    let counter = access & 0xFF;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(cfg.lfu_decay_time).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// The access word for a newly created key.
pub fn initial_access(now_ms: u64, cfg: &EngineConfig) -> u32 {
    if cfg.maxmemory_policy.is_lfu() {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    } else {
        lru_clock(now_ms)
    }
}

/// The access word after one access at `now_ms` (`updateLFU` or LRU touch).
pub fn touched(access: u32, now_ms: u64, cfg: &EngineConfig, rng: &mut impl Rng) -> u32 {
    if !cfg.maxmemory_policy.is_lfu() {
        return lru_clock(now_ms);
    }
    let mut counter = lfu_decayed(access, now_ms, cfg);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT_VAL);
        let p = 1.0 / (f64::from(base) * f64::from(cfg.lfu_log_factor) + 1.0);
        if rng.gen::<f64>() < p {
            counter += 1;
        }
    }
    (lfu_minutes(now_ms) << 8) | counter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvictionPolicy;
    use rand::SeedableRng;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let cfg = EngineConfig {
            maxmemory_policy: EvictionPolicy::AllKeysLfu,
            ..Default::default()
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let now = 10 * 60_000;
        let mut a = initial_access(now, &cfg);
        for _ in 0..1000 {
            a = touched(a, now, &cfg, &mut rng);
        }
        let c = lfu_decayed(a, now, &cfg);
        assert!(c > 10 && c < 40, "counter {c}");
        // Ten minutes later with decay-time 1 the counter drops by ten.
        assert_eq!(lfu_decayed(a, now + 10 * 60_000, &cfg), c - 10);
    }

    #[test]
    fn lru_idle_time() {
        let a = lru_clock(5_000);
        assert_eq!(idle_ms(a, 12_500), 7_000);
    }
}
