//! `maxmemory`: eviction keeps memory near the limit under an eviction
//! policy and counts `evicted_keys`; `noeviction` refuses writes with -OOM
//! while reads still work.

use lattice_testkit::Frame;

use crate::{connect, info_field, start};

fn fill(raw: &mut lattice_testkit::RawClient, n: usize) -> Vec<Frame> {
    let value = "x".repeat(1000);
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend(lattice_testkit::encode_command(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            value.as_bytes(),
        ]));
    }
    raw.send_raw(&batch).unwrap();
    (0..n).map(|_| raw.read_frame().unwrap().unwrap()).collect()
}

#[test]
fn allkeys_lru_evicts_to_stay_under_maxmemory() {
    let s = start(&["--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut raw = s.raw();
    let replies = fill(&mut raw, 60_000);
    assert!(replies.iter().all(|r| *r == Frame::Simple("OK".into())));
    let mut con = connect(&s);
    let evicted = info_field(&mut con, "stats", "evicted_keys");
    let used = info_field(&mut con, "memory", "used_memory");
    assert!(evicted > 0, "nothing evicted");
    assert!(used < 24 << 20, "used_memory {used} well above maxmemory");
    let Frame::Integer(n) = raw.cmd(&["DBSIZE"]) else {
        panic!()
    };
    assert!(n < 60_000 && n > 0);
}

#[test]
fn noeviction_refuses_writes_but_serves_reads() {
    let s = start(&["--maxmemory", "8mb"]);
    let mut raw = s.raw();
    let replies = fill(&mut raw, 20_000);
    let oom = Frame::Error("OOM command not allowed when used memory > 'maxmemory'.".into());
    assert!(
        replies.contains(&oom),
        "no OOM error after filling past maxmemory"
    );
    assert_eq!(
        raw.cmd(&["GET", "key:0"]).clone(),
        Frame::Bulk("x".repeat(1000).into())
    );
    // DEL is not denyoom: it works and frees memory.
    assert!(matches!(raw.cmd(&["DEL", "key:0"]), Frame::Integer(1)));
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "maxmemory", "0"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(raw.cmd(&["SET", "again", "v"]), Frame::Simple("OK".into()));
}

#[test]
fn lfu_policy_tracks_frequency() {
    let s = start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut raw = s.raw();
    raw.cmd(&["SET", "hot", "v"]);
    raw.cmd(&["SET", "cold", "v"]);
    for _ in 0..2000 {
        raw.cmd(&["GET", "hot"]);
    }
    let (Frame::Integer(hot), Frame::Integer(cold)) = (
        raw.cmd(&["OBJECT", "FREQ", "hot"]),
        raw.cmd(&["OBJECT", "FREQ", "cold"]),
    ) else {
        panic!()
    };
    assert!(hot > cold, "hot {hot} cold {cold}");
    assert!(matches!(
        raw.cmd(&["OBJECT", "IDLETIME", "hot"]),
        Frame::Error(_)
    ));
    assert!(matches!(raw.cmd(&["MEMORY", "USAGE", "hot"]), Frame::Integer(n) if n > 0));
}
