//! Committed snapshot fixtures (`tests/fixtures/engine-snapshot-v1*.bin`) pin
//! the snapshot format (`docs/design/snapshot-format.md`): a valid snapshot of
//! a known dataset, the same with one byte flipped mid-chunk, and the same
//! with its tail cut. If writing the known dataset no longer gives the
//! committed bytes, the format changed: bump the format version, keep a
//! reader for version 1, and regenerate with `LATTICE_REGEN_FIXTURES=1`
//! (keeping these files as a compatibility fixture).

use std::path::PathBuf;

use bytes::Bytes;
use lattice_engine::{Engine, EngineConfig, Reply, SnapshotError};

const NOW: u64 = 1_700_000_000_000;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(e: &mut Engine, db: usize, now: u64, parts: &[&str]) -> Reply {
    let args: Vec<Bytes> = parts
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    e.call(db, args, now, 11, false).reply
}

/// The known dataset: every type, compact and large encodings, TTLs, two
/// databases, built by commands at fixed times (so access words are fixed).
fn dataset() -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    let cmds: &[(usize, &[&str])] = &[
        (0, &["SET", "greeting", "hello world"]),
        (0, &["SET", "counter", "1234"]),
        (0, &["SET", "session", "abc", "PX", "60000"]),
        (0, &["RPUSH", "queue", "a", "b", "c", "-42"]),
        (0, &["HSET", "user:1", "name", "ada", "age", "36"]),
        (0, &["SADD", "ids", "3", "1", "2"]),
        (0, &["SADD", "tags", "red", "green"]),
        (0, &["ZADD", "board", "10", "x", "2.5", "y", "-inf", "z"]),
        (0, &["PFADD", "visitors", "u1", "u2", "u3"]),
        (0, &["SETBIT", "flags", "77", "1"]),
        (
            0,
            &[
                "HSET",
                "wide",
                "f",
                "a-value-longer-than-sixty-four-bytes-so-that-this-hash-is-a-table-instead",
            ],
        ),
        (2, &["SET", "other", "db"]),
        (2, &["PEXPIREAT", "other", "1800000000000"]),
    ];
    for (i, (db, parts)) in cmds.iter().enumerate() {
        let r = run(&mut e, *db, NOW + i as u64 * 1000, parts);
        assert!(!matches!(r, Reply::Error(_)), "{parts:?}: {r:?}");
    }
    e
}

/// (valid, one byte flipped in the middle, last 5 bytes cut).
fn generate() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut valid = Vec::new();
    dataset()
        .snapshot_view()
        .write_to(&mut valid)
        .expect("writing to a Vec");
    let mut flipped = valid.clone();
    let mid = flipped.len() / 2;
    if let Some(b) = flipped.get_mut(mid) {
        *b ^= 0x20;
    }
    let mut truncated = valid.clone();
    truncated.truncate(valid.len() - 5);
    (valid, flipped, truncated)
}

#[test]
fn fixtures_match_the_writer() {
    let (valid, flipped, truncated) = generate();
    if std::env::var_os("LATTICE_REGEN_FIXTURES").is_some() {
        std::fs::create_dir_all(fixture("")).unwrap();
        std::fs::write(fixture("engine-snapshot-v1.bin"), &valid).unwrap();
        std::fs::write(fixture("engine-snapshot-v1-flipped.bin"), &flipped).unwrap();
        std::fs::write(fixture("engine-snapshot-v1-truncated.bin"), &truncated).unwrap();
        return;
    }
    assert!(
        valid == read("engine-snapshot-v1.bin"),
        "the snapshot writer no longer produces the committed bytes: a format \
         change must bump the version (see this file's doc)"
    );
    assert_eq!(flipped, read("engine-snapshot-v1-flipped.bin"));
    assert_eq!(truncated, read("engine-snapshot-v1-truncated.bin"));
}

#[test]
fn valid_fixture_loads_the_known_dataset() {
    let bytes = read("engine-snapshot-v1.bin");
    let mut e = Engine::new(EngineConfig::default());
    assert_eq!(e.load_snapshot(&bytes[..]).unwrap(), 12);
    let mut want = dataset();
    assert_eq!(e.dataset_digest(), want.dataset_digest());
    // The digest is specified (FNV-1a + fmix64, XOR over keys): pin it too.
    assert_eq!(e.dataset_digest(), 0xc4c4_ddbc_e2fa_4c57);
    let later = NOW + 20_000;
    for (db, parts) in [
        (0, &["GET", "greeting"][..]),
        (0, &["LRANGE", "queue", "0", "-1"]),
        (0, &["HGETALL", "user:1"]),
        (0, &["SMEMBERS", "ids"]),
        (0, &["SMEMBERS", "tags"]),
        (0, &["ZRANGE", "board", "0", "-1", "WITHSCORES"]),
        (0, &["PFCOUNT", "visitors"]),
        (0, &["BITCOUNT", "flags"]),
        (0, &["PTTL", "session"]),
        (2, &["PEXPIRETIME", "other"]),
    ] {
        assert_eq!(
            run(&mut e, db, later, parts),
            run(&mut want, db, later, parts),
            "{parts:?}"
        );
    }
    assert_eq!(
        run(&mut e, 2, later, &["PEXPIRETIME", "other"]),
        Reply::Int(1_800_000_000_000)
    );
    assert_eq!(
        run(&mut e, 0, later, &["OBJECT", "ENCODING", "wide"]),
        Reply::bulk_str("hashtable")
    );
    assert_eq!(
        run(&mut e, 0, later, &["OBJECT", "ENCODING", "tags"]),
        Reply::bulk_str("listpack")
    );
    assert_eq!(
        run(&mut e, 0, later, &["OBJECT", "ENCODING", "ids"]),
        Reply::bulk_str("intset")
    );
}

#[test]
fn flipped_fixture_fails_at_its_chunk() {
    let bytes = read("engine-snapshot-v1-flipped.bin");
    let mut e = Engine::new(EngineConfig::default());
    run(&mut e, 0, NOW, &["SET", "untouched", "1"]);
    match e.load_snapshot(&bytes[..]) {
        // One chunk, which starts right after the 16-byte header.
        Err(SnapshotError::Corrupt { offset: 16, reason }) => {
            assert_eq!(reason, "chunk checksum mismatch")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(&mut e, 0, NOW, &["GET", "untouched"]),
        Reply::bulk_str("1")
    );
}

#[test]
fn truncated_fixture_fails_at_its_chunk() {
    let bytes = read("engine-snapshot-v1-truncated.bin");
    let valid = read("engine-snapshot-v1.bin");
    let mut e = Engine::new(EngineConfig::default());
    match e.load_snapshot(&bytes[..]) {
        Err(SnapshotError::Corrupt { offset: 16, reason }) => {
            let payload = valid.len() - 16 - 8;
            assert_eq!(
                reason,
                format!(
                    "truncated chunk ({} of {payload} payload bytes)",
                    payload - 1
                )
            );
        }
        other => panic!("{other:?}"),
    }
}
