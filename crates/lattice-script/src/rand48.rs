//! Redis's `redisLrand48`/`redisSrand48` (POSIX `lrand48`), which backs
//! `math.random` and `math.randomseed` in scripts. Each script run seeds it
//! from its log entry, so a script's random numbers are the same on every
//! replica and on replay.

/// The 48-bit linear congruential generator of `lrand48`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rand48 {
    state: u64,
}

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// Redis's `REDIS_LRAND48_MAX` (`INT32_MAX`).
pub const LRAND48_MAX: i64 = i32::MAX as i64;

impl Rand48 {
    /// `srand48(seed)`: the high 32 bits of the state are the seed, the low
    /// 16 are 0x330E.
    pub fn new(seed: i32) -> Self {
        Rand48 {
            state: ((u64::from(seed as u32)) << 16) | 0x330E,
        }
    }

    /// `lrand48()`: the next value in `0..2^31`.
    pub fn next_i31(&mut self) -> i64 {
        self.state = (A.wrapping_mul(self.state).wrapping_add(C)) & MASK;
        (self.state >> 17) as i64
    }

    /// Redis's `redis_math_random` base value: in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_i31() % LRAND48_MAX) as f64 / LRAND48_MAX as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_posix_lrand48() {
        // glibc: srand48(0); lrand48() → 0x..., the well-known first outputs.
        let mut r = Rand48::new(0);
        assert_eq!(r.next_i31(), 366_850_414);
        assert_eq!(r.next_i31(), 1_610_402_240);
        let mut r = Rand48::new(1);
        assert_eq!(r.next_i31(), 89_400_484);
    }
}
