//! Request generation: which operation each request is, and the keys,
//! elements and values it uses (uniform over the key space, seeded per
//! connection so runs repeat).

use std::io::Write as _;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, Workload};
use crate::resp::encode_command;

/// One kind of request, as counted in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// RESP `SET`.
    Set,
    /// RESP `GET`.
    Get,
    /// RESP `INCR`.
    Incr,
    /// RESP `LPUSH`.
    Lpush,
    /// RESP `ZADD`.
    Zadd,
    /// RESP `HSET`.
    Hset,
    /// etcd `Put`.
    Put,
    /// etcd `Range`.
    Range,
}

impl OpKind {
    /// Every kind, in [`OpKind::index`] order.
    pub const ALL: [OpKind; 8] = [
        OpKind::Set,
        OpKind::Get,
        OpKind::Incr,
        OpKind::Lpush,
        OpKind::Zadd,
        OpKind::Hset,
        OpKind::Put,
        OpKind::Range,
    ];

    /// Position in [`OpKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Incr => "incr",
            OpKind::Lpush => "lpush",
            OpKind::Zadd => "zadd",
            OpKind::Hset => "hset",
            OpKind::Put => "put",
            OpKind::Range => "range",
        }
    }

    /// Whether a null reply / empty range counts as a miss for this kind.
    pub fn is_read(self) -> bool {
        matches!(self, OpKind::Get | OpKind::Range)
    }
}

/// Key family of string keys (set, get, mixed, put, range, preload).
pub const STRINGS: &[u8] = b"key:";
const COUNTERS: &[u8] = b"counter:";
const LISTS: &[u8] = b"list:";
const ZSETS: &[u8] = b"zset:";
const HASHES: &[u8] = b"hash:";
const ELEMENT: &[u8] = b"element:";

/// Writes `<prefix><family><n as 12 digits>` into `out` (cleared first).
pub fn write_key(out: &mut Vec<u8>, prefix: &[u8], family: &[u8], n: u64) {
    out.clear();
    out.extend_from_slice(prefix);
    out.extend_from_slice(family);
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n:012}");
}

/// The string key number `n` (`key:000000000042` with no prefix).
pub fn string_key(prefix: &str, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 16);
    write_key(&mut k, prefix.as_bytes(), STRINGS, n);
    k
}

/// Produces the requests of one connection (or one etcd worker).
pub struct Generator {
    workload: Workload,
    keys: u64,
    collection_keys: u64,
    read_ratio: f64,
    prefix: Vec<u8>,
    value: Vec<u8>,
    rng: SmallRng,
    key: Vec<u8>,
    member: Vec<u8>,
}

impl Generator {
    /// A generator for stream number `stream` of the run (its own seed).
    pub fn new(cfg: &Config, stream: u64) -> Generator {
        let seed = cfg
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(stream.wrapping_mul(0xbf58_476d_1ce4_e5b9));
        Generator {
            workload: cfg.workload,
            keys: cfg.keys.max(1),
            collection_keys: cfg.collection_keys.max(1),
            read_ratio: cfg.read_ratio,
            prefix: cfg.key_prefix.as_bytes().to_vec(),
            value: vec![b'x'; cfg.value_size],
            rng: SmallRng::seed_from_u64(seed),
            key: Vec::with_capacity(64),
            member: Vec::with_capacity(64),
        }
    }

    /// The value written by every write.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The kind of the next request (random for the mixed workload).
    pub fn next_kind(&mut self) -> OpKind {
        match self.workload {
            Workload::Set => OpKind::Set,
            Workload::Get => OpKind::Get,
            Workload::Incr => OpKind::Incr,
            Workload::Lpush => OpKind::Lpush,
            Workload::Zadd => OpKind::Zadd,
            Workload::Hset => OpKind::Hset,
            Workload::Put => OpKind::Put,
            Workload::Range => OpKind::Range,
            Workload::Mixed => {
                let read = self.rng.gen::<f64>() < self.read_ratio;
                // The mixed workload runs on either protocol: the caller maps
                // Get/Set to Range/Put for etcd with [`OpKind::for_etcd`].
                if read {
                    OpKind::Get
                } else {
                    OpKind::Set
                }
            }
        }
    }

    fn pick(&mut self) -> u64 {
        self.rng.gen_range(0..self.keys)
    }

    /// A random string key of the key space (etcd put/range).
    pub fn next_string_key(&mut self) -> Vec<u8> {
        let n = self.pick();
        let mut k = Vec::with_capacity(self.prefix.len() + 16);
        write_key(&mut k, &self.prefix, STRINGS, n);
        k
    }

    /// Appends the RESP command for a request of `kind` to `out`.
    pub fn encode_resp(&mut self, kind: OpKind, out: &mut Vec<u8>) {
        let n = self.pick();
        let Generator {
            prefix,
            value,
            key,
            member,
            rng,
            collection_keys,
            ..
        } = self;
        match kind {
            OpKind::Set | OpKind::Put => {
                write_key(key, prefix, STRINGS, n);
                encode_command(out, &[b"SET", key, value]);
            }
            OpKind::Get | OpKind::Range => {
                write_key(key, prefix, STRINGS, n);
                encode_command(out, &[b"GET", key]);
            }
            OpKind::Incr => {
                write_key(key, prefix, COUNTERS, n);
                encode_command(out, &[b"INCR", key]);
            }
            OpKind::Lpush => {
                let c = rng.gen_range(0..*collection_keys);
                write_key(key, prefix, LISTS, c);
                encode_command(out, &[b"LPUSH", key, value]);
            }
            OpKind::Zadd => {
                let c = rng.gen_range(0..*collection_keys);
                write_key(key, prefix, ZSETS, c);
                write_key(member, b"", ELEMENT, n);
                let mut score = itoa::Buffer::new();
                encode_command(out, &[b"ZADD", key, score.format(n).as_bytes(), member]);
            }
            OpKind::Hset => {
                let c = rng.gen_range(0..*collection_keys);
                write_key(key, prefix, HASHES, c);
                write_key(member, b"", ELEMENT, n);
                encode_command(out, &[b"HSET", key, member, value]);
            }
        }
    }
}

impl OpKind {
    /// The etcd request for a kind the generator produced (mixed: GET/SET
    /// become range/put).
    pub fn for_etcd(self) -> OpKind {
        match self {
            OpKind::Get | OpKind::Range => OpKind::Range,
            _ => OpKind::Put,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::parse_reply;

    #[test]
    fn key_format() {
        assert_eq!(string_key("", 42), b"key:000000000042");
        assert_eq!(string_key("p/", 7), b"p/key:000000000007");
    }

    /// Decodes the commands a generator wrote (RESP requests are arrays of
    /// bulk strings, which the reply parser reads too).
    fn commands(mut buf: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let (reply, used) = parse_reply(buf).unwrap().unwrap();
            let crate::resp::Reply::Array(Some(items)) = reply else {
                panic!("{reply:?}")
            };
            out.push(
                items
                    .into_iter()
                    .map(|i| match i {
                        crate::resp::Reply::Bulk(Some(b)) => b,
                        other => panic!("{other:?}"),
                    })
                    .collect(),
            );
            buf = &buf[used..];
        }
        out
    }

    #[test]
    fn commands_per_workload() {
        let base = Config {
            keys: 10,
            value_size: 5,
            collection_keys: 2,
            ..Config::default()
        };
        for (workload, name, family, argc) in [
            (Workload::Set, "SET", "key:", 3),
            (Workload::Get, "GET", "key:", 2),
            (Workload::Incr, "INCR", "counter:", 2),
            (Workload::Lpush, "LPUSH", "list:", 3),
            (Workload::Zadd, "ZADD", "zset:", 4),
            (Workload::Hset, "HSET", "hash:", 4),
        ] {
            let cfg = Config {
                workload,
                ..base.clone()
            };
            let mut g = Generator::new(&cfg, 0);
            let mut buf = Vec::new();
            for _ in 0..50 {
                let k = g.next_kind();
                g.encode_resp(k, &mut buf);
            }
            let cmds = commands(&buf);
            assert_eq!(cmds.len(), 50);
            for c in cmds {
                assert_eq!(c.len(), argc, "{name}");
                assert_eq!(c[0], name.as_bytes());
                assert!(c[1].starts_with(family.as_bytes()), "{name} key {:?}", c[1]);
                let n: u64 = std::str::from_utf8(&c[1][family.len()..])
                    .unwrap()
                    .parse()
                    .unwrap();
                let bound = if matches!(name, "LPUSH" | "ZADD" | "HSET") {
                    2
                } else {
                    10
                };
                assert!(n < bound, "{name}: key number {n}");
                if name == "SET" || name == "LPUSH" {
                    assert_eq!(c[2], b"xxxxx");
                }
            }
        }
    }

    #[test]
    fn mixed_follows_the_read_ratio_and_seed() {
        let cfg = Config {
            workload: Workload::Mixed,
            read_ratio: 0.8,
            ..Config::default()
        };
        let kinds: Vec<OpKind> = {
            let mut g = Generator::new(&cfg, 3);
            (0..10_000).map(|_| g.next_kind()).collect()
        };
        let reads = kinds.iter().filter(|k| **k == OpKind::Get).count();
        assert!((7_600..=8_400).contains(&reads), "{reads} reads of 10000");
        assert!(kinds.iter().all(|k| matches!(k, OpKind::Get | OpKind::Set)));
        let mut again = Generator::new(&cfg, 3);
        assert!(
            kinds.iter().all(|k| *k == again.next_kind()),
            "same seed, same sequence"
        );
        assert_eq!(OpKind::Get.for_etcd(), OpKind::Range);
        assert_eq!(OpKind::Set.for_etcd(), OpKind::Put);
        let all_writes = Config {
            read_ratio: 0.0,
            ..cfg
        };
        let mut g = Generator::new(&all_writes, 0);
        assert!((0..1000).all(|_| g.next_kind() == OpKind::Set));
    }
}
