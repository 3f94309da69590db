//! Durability of the write path end to end: the real binary, its data
//! directory, `kill -9`, clean SHUTDOWN/SIGTERM and restarts on the same
//! directory.
//!
//! * every acknowledged write (all value types, MULTI/EXEC, DEBUG POPULATE)
//!   survives a crash and a clean restart, and TTLs keep counting;
//! * snapshots (SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, INFO persistence) and
//!   a restart from snapshot + log tail; `appendonly no`;
//! * a torn log tail is cut with a warning; corruption before the tail and a
//!   damaged snapshot stop start-up naming the file (and `lattice check`
//!   reports them);
//! * a full disk and a failed fsync: MISCONF for writes, reads go on, and a
//!   restart keeps exactly the acknowledged writes;
//! * session state in the log: a served BLPOP, a timed-out BLPOP and an
//!   aborted WATCH transaction replay as the clients saw them;
//! * the crash test: writers and a blocking consumer against the server,
//!   SIGKILL at random points, restart, check every acknowledged effect
//!   (seeded; `LATTICE_CRASH_ITERATIONS=N` for a soak,
//!   `LATTICE_CRASH_SEED=S` to replay one run).
//!
//! Synchronisation polls with deadlines (`wait_until`); the only sleeps are
//! the random kill delays of the crash test, which are the fault itself.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lattice_testkit::{
    encode_command, run_to_exit, wait_until, Exited, Frame, RawClient, TestServer,
};
use rand::{Rng, SeedableRng};

use crate::start;
use crate::{int, text};

const BIN: &str = env!("CARGO_BIN_EXE_lattice");

// ---------------------------------------------------------------- helpers

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.to_owned().into())
}

/// An array of bulk strings as strings.
fn strings(f: &Frame) -> Vec<String> {
    match f {
        Frame::Array(v) => v.iter().map(text).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn is_misconf(f: &Frame) -> bool {
    matches!(f, Frame::Error(e) if e.starts_with("MISCONF"))
}

/// One INFO section as a map.
fn info(c: &mut RawClient, section: &str) -> HashMap<String, String> {
    text(&c.cmd(&["INFO", section]))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

fn persistence(c: &mut RawClient, field: &str) -> String {
    info(c, "persistence")
        .remove(field)
        .unwrap_or_else(|| panic!("no {field} in INFO persistence"))
}

fn persistence_int(c: &mut RawClient, field: &str) -> i64 {
    persistence(c, field).parse().unwrap()
}

fn blocked_clients(c: &mut RawClient) -> i64 {
    info(c, "clients")["blocked_clients"].parse().unwrap()
}

/// Waits until `n` clients are blocked.
fn wait_blocked(c: &mut RawClient, n: i64) {
    assert!(
        wait_until(Duration::from_secs(5), || blocked_clients(c) == n),
        "blocked_clients never reached {n}"
    );
}

/// Sends a command without reading its reply (a client that will block).
fn send(c: &mut RawClient, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send(&a).unwrap();
}

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// SHUTDOWN with `args` and waits for a successful exit.
fn shutdown(s: &mut TestServer, args: &[&str]) {
    let mut c = s.raw();
    let mut cmd = vec!["SHUTDOWN"];
    cmd.extend_from_slice(args);
    send(&mut c, &cmd);
    // Redis closes the connection without a reply when shutdown proceeds.
    assert!(
        matches!(c.read_frame(), Ok(None) | Err(_)),
        "SHUTDOWN {args:?} replied"
    );
    let status = s
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits after SHUTDOWN");
    assert!(status.success(), "SHUTDOWN {args:?}: {status}");
}

/// SIGTERM (SHUTDOWN) and waits for a successful exit.
fn sigterm(s: &mut TestServer) {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = s
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits on SIGTERM");
    assert!(status.success(), "SIGTERM: {status}");
}

/// SIGKILL, then a restart on the same directory.
fn crash_restart(mut s: TestServer, extra: &[&str]) -> TestServer {
    s.kill9();
    s.restart(extra).expect("restart after kill -9")
}

/// Runs the server on `dir` expecting start-up to fail.
fn start_must_fail(dir: &Path) -> Exited {
    let args = vec![
        "--port".to_owned(),
        "0".to_owned(),
        "--dir".to_owned(),
        dir.to_string_lossy().into_owned(),
    ];
    let e = run_to_exit(BIN, &args, Duration::from_secs(30)).unwrap();
    match e.status {
        None => panic!(
            "the server started on a damaged directory (killed after 30 s):\n{}",
            e.output
        ),
        Some(st) => assert!(
            !st.success(),
            "start-up on a damaged directory exited 0:\n{}",
            e.output
        ),
    }
    e
}

/// `lattice check --dir <dir>`.
fn run_check(dir: &Path) -> Exited {
    let args = vec![
        "check".to_owned(),
        "--dir".to_owned(),
        dir.to_string_lossy().into_owned(),
    ];
    run_to_exit(BIN, &args, Duration::from_secs(30)).unwrap()
}

fn check_succeeds(dir: &Path) {
    let e = run_check(dir);
    assert!(
        e.status.is_some_and(|s| s.success()),
        "`lattice check` on a healthy directory: {:?}\n{}",
        e.status,
        e.output
    );
}

/// The newest segment file of the entry log.
fn last_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("raft-log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs.pop().expect("a segment file in raft-log")
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Segment header length (docs/design/log-format.md).
const SEG_HEADER: usize = 28;
/// Record header length: len u32, index u64, payload_crc u32, header_crc u32.
const REC_HEADER: usize = 20;

/// A whole record found in a segment.
#[derive(Debug, Clone, Copy)]
struct Rec {
    /// Offset of its header in the file.
    start: usize,
    /// Payload length.
    len: usize,
    index: u64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The whole records of a segment, in order.
fn records(bytes: &[u8]) -> Vec<Rec> {
    assert_eq!(&bytes[..8], b"LATSEG\r\n", "segment magic");
    let mut out = Vec::new();
    let mut off = SEG_HEADER;
    while off + REC_HEADER <= bytes.len() {
        let len = le_u32(bytes, off) as usize;
        let index = u64::from_le_bytes(bytes[off + 4..off + 12].try_into().unwrap());
        if off + REC_HEADER + len > bytes.len() {
            break;
        }
        out.push(Rec {
            start: off,
            len,
            index,
        });
        off += REC_HEADER + len;
    }
    assert_eq!(off, bytes.len(), "the segment ends with a whole record");
    out
}

/// crc32 (IEEE), as `crc32fast`, to forge a record header.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Every file under `dir`, with its bytes (to prove a refused start-up
/// changed nothing).
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn set_keys(c: &mut RawClient, prefix: &str, n: usize) {
    for i in 0..n {
        assert_eq!(
            c.cmd(&["SET", &format!("{prefix}{i}"), &format!("v{i}")]),
            ok()
        );
    }
}

fn assert_keys(c: &mut RawClient, prefix: &str, n: usize) {
    for i in 0..n {
        assert_eq!(
            c.cmd(&["GET", &format!("{prefix}{i}")]),
            bulk(&format!("v{i}")),
            "{prefix}{i}"
        );
    }
}

// ------------------------------------------------ 1. acknowledged writes

/// Writes one value of every type, a transaction and DEBUG POPULATE.
fn write_dataset(c: &mut RawClient) {
    assert_eq!(c.cmd(&["SET", "str", "hello", "EX", "1000"]), ok());
    for want in 1..=3 {
        assert_eq!(c.cmd(&["INCR", "counter"]), Frame::Integer(want));
    }
    assert_eq!(c.cmd(&["LPUSH", "list", "a", "b", "c"]), Frame::Integer(3));
    assert_eq!(
        c.cmd(&["HSET", "hash", "f1", "v1", "f2", "v2"]),
        Frame::Integer(2)
    );
    assert_eq!(c.cmd(&["SADD", "set", "m1", "m2", "m3"]), Frame::Integer(3));
    assert_eq!(
        c.cmd(&["ZADD", "zset", "1", "one", "2.5", "two"]),
        Frame::Integer(2)
    );
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SET", "tx", "in-multi"][..],
        &["INCR", "counter"],
        &["RPUSH", "list", "d"],
        &["SREM", "set", "m2"],
    ] {
        assert_eq!(c.cmd(cmd), Frame::Simple("QUEUED".into()));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            Frame::Integer(4),
            Frame::Integer(4),
            Frame::Integer(1)
        ])
    );
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "100", "pop", "16"]), ok());
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["SET", "in-db3", "x"]), ok());
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
}

/// What the dataset looks like through reads (orderless types sorted).
fn read_dataset(c: &mut RawClient) -> Vec<(String, Frame)> {
    let mut out = Vec::new();
    for (name, args) in [
        ("str", &["GET", "str"][..]),
        ("counter", &["GET", "counter"]),
        ("list", &["LRANGE", "list", "0", "-1"]),
        ("zset", &["ZRANGE", "zset", "0", "-1", "WITHSCORES"]),
        ("tx", &["GET", "tx"]),
        ("pop:0", &["GET", "pop:0"]),
        ("pop:99", &["GET", "pop:99"]),
        ("dbsize", &["DBSIZE"]),
    ] {
        out.push((name.to_owned(), c.cmd(args)));
    }
    let mut hash: Vec<String> = strings(&c.cmd(&["HGETALL", "hash"]))
        .chunks(2)
        .map(|p| p.join("="))
        .collect();
    hash.sort();
    out.push((
        "hash".into(),
        Frame::Array(hash.iter().map(|s| bulk(s)).collect()),
    ));
    let mut set = strings(&c.cmd(&["SMEMBERS", "set"]));
    set.sort();
    out.push((
        "set".into(),
        Frame::Array(set.iter().map(|s| bulk(s)).collect()),
    ));
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    out.push(("db3".into(), c.cmd(&["GET", "in-db3"])));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    out
}

fn assert_dataset_values(d: &[(String, Frame)]) {
    let get = |k: &str| d.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("str"), bulk("hello"));
    assert_eq!(get("counter"), bulk("4"));
    assert_eq!(
        strings(&get("list")),
        ["c", "b", "a", "d"].map(String::from)
    );
    assert_eq!(
        strings(&get("zset")),
        ["one", "1", "two", "2.5"].map(String::from)
    );
    assert_eq!(get("tx"), bulk("in-multi"));
    assert_eq!(strings(&get("hash")), ["f1=v1", "f2=v2"].map(String::from));
    assert_eq!(strings(&get("set")), ["m1", "m3"].map(String::from));
    assert_eq!(get("db3"), bulk("x"));
    assert!(matches!(get("pop:0"), Frame::Bulk(b) if b.len() == 16));
}

#[test]
fn acknowledged_writes_of_every_type_survive_kill_and_shutdown() {
    let extra = ["--enable-debug-command", "yes"];
    let s = start(&extra);
    let mut c = s.raw();
    write_dataset(&mut c);
    // A key that outlives the restart, and one that expires before it.
    let mid_ms = 5000i64;
    assert_eq!(c.cmd(&["SET", "mid", "v", "PX", &mid_ms.to_string()]), ok());
    let mid_set_at = Instant::now();
    let before = read_dataset(&mut c);
    assert_dataset_values(&before);
    // 100 populated + str counter list hash set zset tx mid.
    assert_eq!(before[7].1, Frame::Integer(108));
    let short_ms = 300u64;
    assert_eq!(
        c.cmd(&["SET", "short", "v", "PX", &short_ms.to_string()]),
        ok()
    );
    let short_set_at = Instant::now();
    // Let `short`'s deadline pass (waiting for the clock, not for the server).
    let expired = Duration::from_millis(short_ms + 50);
    assert!(wait_until(Duration::from_secs(5), || {
        short_set_at.elapsed() > expired
    }));

    let s = crash_restart(s, &extra);
    let mut c = s.raw();
    assert!(
        s.all_logs()
            .iter()
            .any(|l| l.contains("DB loaded from disk")),
        "{:?}",
        s.all_logs()
    );
    assert_eq!(c.cmd(&["GET", "short"]), Frame::Null, "expired while down");
    assert_eq!(c.cmd(&["EXISTS", "short"]), Frame::Integer(0));
    let checked_at = Instant::now();
    let pttl = int(&c.cmd(&["PTTL", "mid"]));
    let elapsed = checked_at.duration_since(mid_set_at).as_millis() as i64;
    assert!(
        pttl > 0 && pttl <= mid_ms - elapsed + 1,
        "PTTL mid = {pttl} after {elapsed} ms: the TTL must keep counting"
    );
    let ttl = int(&c.cmd(&["TTL", "str"]));
    assert!((900..=1000).contains(&ttl), "TTL str = {ttl}");
    let mut after = read_dataset(&mut c);
    // DBSIZE counts an expired key until it is reclaimed (as Redis does).
    let dbsize = int(&after[7].1);
    assert!((108..=109).contains(&dbsize), "DBSIZE {dbsize}");
    after[7].1 = before[7].1.clone();
    assert_eq!(after, before, "after kill -9");
    // An expired key is invisible to DEL too; this reclaims it.
    assert_eq!(c.cmd(&["DEL", "short"]), Frame::Integer(0));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(108));

    // More writes, then a clean SHUTDOWN and a restart.
    assert_eq!(c.cmd(&["DEL", "tx"]), Frame::Integer(1));
    assert_eq!(c.cmd(&["APPEND", "str", "!"]), Frame::Integer(6));
    assert_eq!(c.cmd(&["LPOP", "list"]), bulk("c"));
    assert_eq!(c.cmd(&["HDEL", "hash", "f1"]), Frame::Integer(1));
    assert_eq!(c.cmd(&["ZINCRBY", "zset", "10", "one"]), bulk("11"));
    assert_eq!(c.cmd(&["PERSIST", "mid"]), Frame::Integer(1));
    let before = read_dataset(&mut c);
    let mut s = s;
    shutdown(&mut s, &[]);
    let s = s.restart(&extra).unwrap();
    let mut c = s.raw();
    let after = read_dataset(&mut c);
    assert_eq!(after, before, "after SHUTDOWN");
    assert_eq!(after[0].1, bulk("hello!"));
    assert_eq!(after[4].1, Frame::Null, "tx deleted");
    assert_eq!(c.cmd(&["TTL", "mid"]), Frame::Integer(-1), "PERSIST kept");
    // And once more without writes in between (a restart of a restart).
    let mut s = crash_restart(s, &extra);
    let mut c = s.raw();
    assert_eq!(read_dataset(&mut c), before, "second restart");
    // SIGTERM is SHUTDOWN.
    assert_eq!(c.cmd(&["SET", "tx", "again"]), ok());
    let before = read_dataset(&mut c);
    sigterm(&mut s);
    let s = s.restart(&extra).unwrap();
    let mut c = s.raw();
    assert_eq!(read_dataset(&mut c), before, "after SIGTERM");
}

// ------------------------------------------------------------- 2. snapshots

#[test]
fn save_then_more_writes_then_kill_loads_snapshot_and_log_tail() {
    let s = start(&[]);
    let mut c = s.raw();
    set_keys(&mut c, "a", 100);
    assert_eq!(c.cmd(&["RPUSH", "list", "1", "2"]), Frame::Integer(2));
    let saves = persistence_int(&mut c, "rdb_saves");
    let before_save = unix_secs();
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let lastsave = int(&c.cmd(&["LASTSAVE"]));
    assert!(
        lastsave >= before_save,
        "LASTSAVE {lastsave} < {before_save}"
    );
    assert!(persistence_int(&mut c, "rdb_saves") > saves);
    assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(persistence_int(&mut c, "rdb_last_save_time") >= before_save);
    let snap_index = persistence_int(&mut c, "raft_snapshot_index");
    assert!(snap_index > 0, "SAVE took no snapshot");
    assert!(persistence_int(&mut c, "raft_last_applied_index") >= snap_index);
    assert!(s.dir.path().join("snapshots/snapshot.lsnap").is_file());
    // The log tail after the snapshot.
    set_keys(&mut c, "b", 50);
    assert_eq!(c.cmd(&["RPUSH", "list", "3"]), Frame::Integer(3));
    assert_eq!(c.cmd(&["DEL", "a0"]), Frame::Integer(1));
    let applied = persistence_int(&mut c, "raft_last_applied_index");
    assert!(applied > snap_index);

    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    let loaded = s
        .all_logs()
        .into_iter()
        .find(|l| l.contains("DB loaded from disk"))
        .expect("a `DB loaded from disk` line");
    assert!(loaded.contains("snapshot=true"), "{loaded}");
    assert!(persistence_int(&mut c, "raft_snapshot_index") >= snap_index);
    assert!(persistence_int(&mut c, "raft_last_applied_index") >= applied);
    assert_eq!(c.cmd(&["GET", "a0"]), Frame::Null);
    for i in 1..100 {
        assert_eq!(c.cmd(&["GET", &format!("a{i}")]), bulk(&format!("v{i}")));
    }
    assert_keys(&mut c, "b", 50);
    assert_eq!(
        strings(&c.cmd(&["LRANGE", "list", "0", "-1"])),
        ["1", "2", "3"].map(String::from)
    );
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(99 + 50 + 1));

    // BGSAVE and BGREWRITEAOF run in the background; poll for completion.
    let saves = persistence_int(&mut c, "rdb_saves");
    let before_bgsave = unix_secs();
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Frame::Simple("Background saving started".into())
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            persistence_int(&mut c, "rdb_saves") > saves
                && persistence_int(&mut c, "rdb_bgsave_in_progress") == 0
        }),
        "BGSAVE did not finish"
    );
    assert!(int(&c.cmd(&["LASTSAVE"])) >= before_bgsave);
    let saves = persistence_int(&mut c, "rdb_saves");
    assert_eq!(c.cmd(&["SET", "after-bgsave", "1"]), ok());
    let r = text(&c.cmd(&["BGREWRITEAOF"]));
    assert!(
        r == "Background append only file rewriting started"
            || r == "Background append only file rewriting scheduled",
        "{r}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            persistence_int(&mut c, "rdb_saves") > saves
                && persistence_int(&mut c, "aof_rewrite_in_progress") == 0
        }),
        "BGREWRITEAOF did not finish"
    );
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "after-bgsave"]), bulk("1"));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(99 + 50 + 2));
}

// -------------------------------------------------------- 3. appendonly no

#[test]
fn appendonly_no_keeps_only_what_a_snapshot_holds() {
    let no = ["--appendonly", "no"];
    // kill -9: nothing was written anywhere.
    let s = start(&no);
    let mut c = s.raw();
    assert_eq!(persistence(&mut c, "aof_enabled"), "0");
    set_keys(&mut c, "lost", 10);
    let mut s = crash_restart(s, &no);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(0), "after kill -9");

    // Plain SHUTDOWN takes a snapshot.
    set_keys(&mut c, "kept", 10);
    shutdown(&mut s, &[]);
    let mut s = s.restart(&no).unwrap();
    let mut c = s.raw();
    assert_keys(&mut c, "kept", 10);
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(10), "after SHUTDOWN");

    // SHUTDOWN NOSAVE does not: only the previous snapshot comes back.
    set_keys(&mut c, "dropped", 5);
    shutdown(&mut s, &["NOSAVE"]);
    let mut s = s.restart(&no).unwrap();
    let mut c = s.raw();
    assert_keys(&mut c, "kept", 10);
    assert_eq!(
        c.cmd(&["DBSIZE"]),
        Frame::Integer(10),
        "after SHUTDOWN NOSAVE"
    );

    // SIGTERM is SHUTDOWN.
    set_keys(&mut c, "term", 3);
    sigterm(&mut s);
    let s = s.restart(&no).unwrap();
    let mut c = s.raw();
    assert_keys(&mut c, "term", 3);
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(13), "after SIGTERM");

    // A fresh server stopped with NOSAVE restarts empty.
    let mut s = start(&no);
    let mut c = s.raw();
    set_keys(&mut c, "x", 3);
    shutdown(&mut s, &["NOSAVE"]);
    let s = s.restart(&no).unwrap();
    assert_eq!(s.raw().cmd(&["DBSIZE"]), Frame::Integer(0));
}

// ------------------------------------------------------------- 4. torn tail

/// The `truncated N bytes` warning of the last start-up, if any.
fn truncation_warning(s: &TestServer) -> Option<String> {
    s.all_logs()
        .into_iter()
        .find(|l| l.contains("WARN") && l.contains("truncated"))
}

#[test]
fn torn_tail_is_cut_with_a_warning_and_keeps_acknowledged_writes() {
    let mut s = start(&[]);
    let mut c = s.raw();
    set_keys(&mut c, "k", 30);
    shutdown(&mut s, &[]);

    // A few garbage bytes after the last record: too short for a header.
    let seg = last_segment(s.dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&[0xAB; 7]);
    std::fs::write(&seg, &bytes).unwrap();
    let mut s = s.restart(&[]).unwrap();
    let warn = truncation_warning(&s).unwrap_or_else(|| panic!("no warning: {:?}", s.all_logs()));
    assert!(warn.contains("truncated 7 bytes"), "{warn}");
    // The bytes before the cut are untouched.
    assert_eq!(std::fs::read(&seg).unwrap()[..whole], bytes[..whole]);
    let mut c = s.raw();
    assert_keys(&mut c, "k", 30);
    set_keys(&mut c, "m", 10);
    shutdown(&mut s, &[]);

    // Half of a record (a valid header for the next index, half its
    // payload): the write a crash interrupted, never acknowledged.
    let seg = last_segment(s.dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let recs = records(&bytes);
    let last = *recs.last().unwrap();
    // Our crc32 agrees with the file's header checksums.
    assert_eq!(
        crc32(&bytes[last.start..last.start + 16]),
        le_u32(&bytes, last.start + 16)
    );
    let payload = vec![0x5Au8; 64];
    let mut header = Vec::new();
    header.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    header.extend_from_slice(&(last.index + 1).to_le_bytes());
    header.extend_from_slice(&crc32(&payload).to_le_bytes());
    let hcrc = crc32(&header);
    header.extend_from_slice(&hcrc.to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&payload[..payload.len() / 2]);
    std::fs::write(&seg, &bytes).unwrap();
    let cut = REC_HEADER + payload.len() / 2;
    let s = s.restart(&[]).unwrap();
    let warn = truncation_warning(&s).unwrap_or_else(|| panic!("no warning: {:?}", s.all_logs()));
    assert!(warn.contains(&format!("truncated {cut} bytes")), "{warn}");
    let mut c = s.raw();
    assert_keys(&mut c, "k", 30);
    assert_keys(&mut c, "m", 10);
    // The repaired log takes new writes, and they survive a crash.
    set_keys(&mut c, "n", 5);
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(truncation_warning(&s), None, "nothing torn this time");
    assert_keys(&mut c, "k", 30);
    assert_keys(&mut c, "m", 10);
    assert_keys(&mut c, "n", 5);
}

// ------------------------------------------------------ 5. mid-log damage

#[test]
fn corruption_before_the_tail_stops_start_up_and_check_names_it() {
    let mut s = start(&[]);
    let mut c = s.raw();
    // One log entry per acknowledged command.
    set_keys(&mut c, "k", 40);
    shutdown(&mut s, &[]);
    let dir = Arc::clone(&s.dir);
    drop(s);
    // `lattice check` (subcommand being added alongside this test) passes
    // on the healthy directory.
    check_succeeds(dir.path());

    let seg = last_segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let recs = records(&bytes);
    assert!(recs.len() >= 40, "{} records", recs.len());
    // An early record, far from the tail: a flipped payload byte with
    // valid records after it is corruption, not a torn write.
    let victim = recs[recs.len() / 4];
    assert!(victim.len > 0);
    bytes[victim.start + REC_HEADER + victim.len / 2] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let before = tree(dir.path());

    let e = start_must_fail(dir.path());
    println!("start-up on a corrupt log:\n{}", e.output);
    let name = file_name(&seg);
    let offset = format!("offset {}", victim.start);
    assert!(
        e.output.contains(&name) && e.output.contains(&offset),
        "start-up error must name {name} and {offset}:\n{}",
        e.output
    );
    assert!(
        tree(dir.path()) == before,
        "a refused start-up changed the data directory"
    );

    // `lattice check` exits non-zero on corruption and names file and offset.
    let e = run_check(dir.path());
    println!("lattice check on a corrupt log:\n{}", e.output);
    assert!(
        e.status.is_some_and(|s| !s.success()),
        "`lattice check` on a corrupt log: {:?}\n{}",
        e.status,
        e.output
    );
    assert!(
        e.output.contains(&name) && e.output.contains(&offset),
        "`lattice check` must name {name} and {offset}:\n{}",
        e.output
    );
    assert!(tree(dir.path()) == before, "`lattice check` wrote");
}

// -------------------------------------------------------- 6. bad snapshot

#[test]
fn corrupt_snapshot_stops_start_up() {
    let mut s = start(&[]);
    let mut c = s.raw();
    set_keys(&mut c, "k", 200);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    set_keys(&mut c, "t", 5);
    shutdown(&mut s, &[]);
    let dir = Arc::clone(&s.dir);
    drop(s);
    check_succeeds(dir.path());

    let snap = dir.path().join("snapshots").join("snapshot.lsnap");
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&snap, &bytes).unwrap();
    let before = tree(dir.path());

    let e = start_must_fail(dir.path());
    println!("start-up on a corrupt snapshot:\n{}", e.output);
    assert!(
        e.output.contains("snapshot.lsnap"),
        "start-up error must name the snapshot file:\n{}",
        e.output
    );
    assert!(
        tree(dir.path()) == before,
        "a refused start-up changed files"
    );

    // `lattice check` reports it too.
    let e = run_check(dir.path());
    assert!(
        e.status.is_some_and(|s| !s.success()) && e.output.contains("snapshot.lsnap"),
        "`lattice check` on a corrupt snapshot: {:?}\n{}",
        e.status,
        e.output
    );
}

// ------------------------------------------------------------------ 7. faults

const FAULTS: [&str; 4] = ["--debug-log-faults", "yes", "--enable-debug-command", "yes"];

#[test]
fn log_fault_injection_needs_the_directive() {
    let s = start(&["--enable-debug-command", "yes"]);
    let mut c = s.raw();
    assert!(matches!(
        c.cmd(&["DEBUG", "LOG-FAULT", "DISK-FULL"]),
        Frame::Error(e) if e.contains("debug-log-faults")
    ));
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
}

#[test]
fn full_disk_refuses_writes_serves_reads_and_resumes() {
    let s = start(&FAULTS);
    let mut c = s.raw();
    set_keys(&mut c, "a", 20);
    assert_eq!(c.cmd(&["DEBUG", "LOG-FAULT", "DISK-FULL"]), ok());
    // The first write to meet the full disk waits for space (Redis retries
    // its AOF write the same way); the log then reports the condition.
    let mut waiting = s.raw();
    send(&mut waiting, &["SET", "waiting", "1"]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            persistence_int(&mut c, "log_disk_full") == 1
        }),
        "log_disk_full never turned 1"
    );
    assert_eq!(persistence(&mut c, "aof_last_write_status"), "err");
    assert!(!persistence(&mut c, "log_last_error").is_empty());
    // New writes: MISCONF; reads: served.
    let mut refused = Vec::new();
    for i in 0..5 {
        let key = format!("refused{i}");
        let r = c.cmd(&["SET", &key, "x"]);
        assert!(is_misconf(&r), "{r:?}");
        refused.push(key);
    }
    let r = c.cmd(&["INCR", "a0-counter"]);
    assert!(is_misconf(&r), "{r:?}");
    refused.push("a0-counter".into());
    assert_eq!(c.cmd(&["GET", "a0"]), bulk("v0"));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(20));

    assert_eq!(c.cmd(&["DEBUG", "LOG-FAULT", "DISK-FREE"]), ok());
    assert_eq!(
        waiting.read_frame().unwrap(),
        Some(ok()),
        "the waiting write"
    );
    // Writes resume (poll: the writer retries on its own schedule). Every
    // attempt uses its own key so refused ones can be told apart.
    let mut acked = Vec::new();
    let mut i = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let key = format!("retry{i}");
            i += 1;
            match c.cmd(&["SET", &key, "r"]) {
                Frame::Simple(s) if s == "OK" => {
                    acked.push(key);
                    true
                }
                r if is_misconf(&r) => {
                    refused.push(key);
                    false
                }
                other => panic!("{other:?}"),
            }
        }),
        "writes did not resume after DISK-FREE"
    );
    assert_eq!(persistence_int(&mut c, "log_disk_full"), 0);
    assert_eq!(persistence(&mut c, "aof_last_write_status"), "ok");
    set_keys(&mut c, "b", 10);

    let check = |c: &mut RawClient| {
        assert_keys(c, "a", 20);
        assert_keys(c, "b", 10);
        assert_eq!(c.cmd(&["GET", "waiting"]), bulk("1"));
        for k in &acked {
            assert_eq!(c.cmd(&["GET", k]), bulk("r"), "{k}");
        }
        for k in &refused {
            assert_eq!(c.cmd(&["EXISTS", k]), Frame::Integer(0), "refused {k}");
        }
        assert_eq!(
            c.cmd(&["DBSIZE"]),
            Frame::Integer(20 + 10 + 1 + acked.len() as i64)
        );
    };
    check(&mut c);
    let s = crash_restart(s, &[]);
    check(&mut s.raw());
}

#[test]
fn failed_fsync_poisons_the_log_until_restart() {
    let s = start(&FAULTS);
    let mut c = s.raw();
    set_keys(&mut c, "a", 20);
    assert_eq!(c.cmd(&["DEBUG", "LOG-FAULT", "FSYNC-ERROR"]), ok());
    // The write whose fsync fails is indeterminate (see the next test).
    let r = c.cmd(&["SET", "in-flight", "1"]);
    assert!(
        matches!(&r, Frame::Error(e) if e.starts_with("IOERR")),
        "{r:?}"
    );
    assert_eq!(persistence_int(&mut c, "log_poisoned"), 1);
    assert_eq!(persistence(&mut c, "aof_last_write_status"), "err");
    assert!(
        persistence(&mut c, "log_last_error").contains("fsync"),
        "{}",
        persistence(&mut c, "log_last_error")
    );
    let mut refused = Vec::new();
    for i in 0..5 {
        let key = format!("refused{i}");
        let r = c.cmd(&["SET", &key, "x"]);
        assert!(is_misconf(&r), "{r:?}");
        refused.push(key);
    }
    // Poisoning is permanent for the process, even once fsync "works".
    assert_eq!(c.cmd(&["DEBUG", "LOG-FAULT", "OFF"]), ok());
    let r = c.cmd(&["RPUSH", "refused-list", "x"]);
    assert!(is_misconf(&r), "{r:?}");
    refused.push("refused-list".into());
    // Reads go on.
    assert_eq!(c.cmd(&["GET", "a7"]), bulk("v7"));
    assert_eq!(c.cmd(&["EXISTS", "in-flight"]), Frame::Integer(0));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(20));

    // Restart without faults: the acknowledged writes, none of the refused.
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(persistence_int(&mut c, "log_poisoned"), 0);
    assert_keys(&mut c, "a", 20);
    for k in &refused {
        assert_eq!(c.cmd(&["EXISTS", k]), Frame::Integer(0), "refused {k}");
    }
    assert_eq!(c.cmd(&["SET", "after", "1"]), ok());
}

/// The write whose fsync failed may still reach the disk (the page cache
/// keeps it), so its reply says the outcome is unknown, never that it
/// failed; writes after it are refused outright and never appear.
#[test]
fn a_write_in_flight_when_fsync_fails_is_reported_indeterminate() {
    let s = start(&FAULTS);
    let mut c = s.raw();
    set_keys(&mut c, "a", 5);
    assert_eq!(c.cmd(&["DEBUG", "LOG-FAULT", "FSYNC-ERROR"]), ok());
    // Its record reached the file; only the fsync failed. The kernel may
    // still write it back, so the reply must not claim it failed.
    let r = c.cmd(&["SET", "in-flight", "1"]);
    match &r {
        Frame::Error(e) => assert!(
            e.starts_with("IOERR") && e.contains("outcome is unknown"),
            "{e}"
        ),
        other => panic!("expected an indeterminate error, got {other:?}"),
    }
    assert_eq!(c.cmd(&["EXISTS", "in-flight"]), Frame::Integer(0));
    // Everything after it is refused outright.
    let refused = c.cmd(&["SET", "refused", "1"]);
    assert!(is_misconf(&refused), "{refused:?}");
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_keys(&mut c, "a", 5);
    assert_eq!(c.cmd(&["EXISTS", "refused"]), Frame::Integer(0));
    // The indeterminate one is whole if present.
    match c.cmd(&["GET", "in-flight"]) {
        Frame::Null => {}
        Frame::Bulk(v) => assert_eq!(&v[..], b"1"),
        other => panic!("{other:?}"),
    }
}

// ----------------------------------------------- 8. blocking across restart

#[test]
fn served_and_timed_out_blpop_replay_as_clients_saw_them() {
    let s = start(&[]);
    let mut c = s.raw();
    // Served: the popped element must not come back.
    let mut waiter = s.raw();
    send(&mut waiter, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&["RPUSH", "q", "a", "b"]), Frame::Integer(2));
    assert_eq!(
        waiter.read_frame().unwrap(),
        Some(Frame::Array(vec![bulk("q"), bulk("a")]))
    );
    // Timed out: the waiter is gone before the push, which stays.
    assert_eq!(c.cmd(&["BLPOP", "q2", "0.1"]), Frame::Null);
    assert_eq!(c.cmd(&["RPUSH", "q2", "x"]), Frame::Integer(1));
    // Still blocked at the crash: its session ends with the process.
    let mut stuck = s.raw();
    send(&mut stuck, &["BLPOP", "q3", "0"]);
    wait_blocked(&mut c, 1);

    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(strings(&c.cmd(&["LRANGE", "q", "0", "-1"])), ["b"]);
    assert_eq!(strings(&c.cmd(&["LRANGE", "q2", "0", "-1"])), ["x"]);
    assert_eq!(blocked_clients(&mut c), 0);
    assert_eq!(c.cmd(&["RPUSH", "q3", "y"]), Frame::Integer(1));
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(strings(&c.cmd(&["LRANGE", "q", "0", "-1"])), ["b"]);
    assert_eq!(strings(&c.cmd(&["LRANGE", "q2", "0", "-1"])), ["x"]);
    assert_eq!(strings(&c.cmd(&["LRANGE", "q3", "0", "-1"])), ["y"]);
}

/// A waiter captured in a snapshot and served after it: replaying the push
/// from the snapshot must serve the restored waiter again.
#[test]
fn blpop_waiter_in_a_snapshot_is_served_again_on_replay() {
    let s = start(&[]);
    let mut c = s.raw();
    let mut waiter = s.raw();
    send(&mut waiter, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    let mut timing_out = s.raw();
    send(&mut timing_out, &["BLPOP", "t", "0.5"]);
    wait_blocked(&mut c, 2);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert_eq!(c.cmd(&["RPUSH", "q", "a", "b"]), Frame::Integer(2));
    assert_eq!(
        waiter.read_frame().unwrap(),
        Some(Frame::Array(vec![bulk("q"), bulk("a")]))
    );
    assert_eq!(timing_out.read_frame().unwrap(), Some(Frame::Null));
    assert_eq!(c.cmd(&["RPUSH", "t", "kept"]), Frame::Integer(1));
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_eq!(strings(&c.cmd(&["LRANGE", "q", "0", "-1"])), ["b"]);
    assert_eq!(strings(&c.cmd(&["LRANGE", "t", "0", "-1"])), ["kept"]);
    assert_eq!(blocked_clients(&mut c), 0);
}

// ------------------------------------------------- 9. WATCH across restart

#[test]
fn aborted_watch_transaction_stays_aborted_after_restart() {
    let s = start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    // Aborted: another client modifies the watched key.
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["SET", "k", "from-b"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k2", "x"]), Frame::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
    // Committed: nobody touched the watched key.
    assert_eq!(a.cmd(&["WATCH", "w"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "w2", "y"]), Frame::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
    // Across a snapshot: WATCH, SAVE, modification, EXEC.
    assert_eq!(a.cmd(&["WATCH", "s"]), ok());
    assert_eq!(b.cmd(&["SAVE"]), ok());
    assert_eq!(b.cmd(&["SET", "s", "from-b"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "s2", "z"]), Frame::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["EXEC"]), Frame::Null);
    // UNWATCH, then a modification: the transaction commits.
    assert_eq!(a.cmd(&["WATCH", "u"]), ok());
    assert_eq!(a.cmd(&["UNWATCH"]), ok());
    assert_eq!(b.cmd(&["SET", "u", "from-b"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "u2", "v"]), Frame::Simple("QUEUED".into()));
    assert_eq!(a.cmd(&["EXEC"]), Frame::Array(vec![ok()]));

    let expect = |c: &mut RawClient| {
        assert_eq!(c.cmd(&["GET", "k"]), bulk("from-b"));
        assert_eq!(c.cmd(&["EXISTS", "k2"]), Frame::Integer(0), "aborted EXEC");
        assert_eq!(c.cmd(&["GET", "w2"]), bulk("y"));
        assert_eq!(c.cmd(&["GET", "s"]), bulk("from-b"));
        assert_eq!(c.cmd(&["EXISTS", "s2"]), Frame::Integer(0), "aborted EXEC");
        assert_eq!(c.cmd(&["GET", "u2"]), bulk("v"));
    };
    expect(&mut a);
    let s = crash_restart(s, &[]);
    expect(&mut s.raw());
}

// ---------------------------------------------------------- 10. crash test

/// What one writer thread saw before the server died.
#[derive(Debug, Default)]
struct Seen {
    /// Sequence numbers whose write was acknowledged, in order.
    acked: Vec<u64>,
    /// The last sequence number sent (acknowledged or not).
    last_sent: Option<u64>,
}

/// Reads one frame; `None` when the server is gone.
fn next(c: &mut RawClient) -> Option<Frame> {
    c.read_frame().ok().flatten()
}

/// `MULTI; INCR c; RPUSH l <seq>; EXEC` from `from` on, pipelined as one
/// write, until the connection dies. Inside EXEC, c must equal LLEN l and
/// l must hold 1..=seq.
fn tx_writer(addr: std::net::SocketAddr, from: u64) -> Seen {
    let mut seen = Seen::default();
    let Ok(mut c) = RawClient::tcp(addr) else {
        return seen;
    };
    for seq in from.. {
        let s = seq.to_string();
        let mut buf = encode_command(&[b"MULTI"]);
        buf.extend(encode_command(&[b"INCR", b"c"]));
        buf.extend(encode_command(&[b"RPUSH", b"l", s.as_bytes()]));
        buf.extend(encode_command(&[b"EXEC"]));
        seen.last_sent = Some(seq);
        if c.send_raw(&buf).is_err() {
            return seen;
        }
        for want in [
            ok(),
            Frame::Simple("QUEUED".into()),
            Frame::Simple("QUEUED".into()),
        ] {
            match next(&mut c) {
                None => return seen,
                Some(f) => assert_eq!(f, want, "seq {seq}"),
            }
        }
        match next(&mut c) {
            None => return seen,
            Some(f) => {
                let n = seq as i64;
                assert_eq!(
                    f,
                    Frame::Array(vec![Frame::Integer(n), Frame::Integer(n)]),
                    "EXEC of seq {seq}: c and LLEN l must both be {n}"
                );
            }
        }
        seen.acked.push(seq);
    }
    seen
}

/// `RPUSH jobs <seq>` from `from` on until the connection dies.
fn producer(addr: std::net::SocketAddr, from: u64) -> Seen {
    let mut seen = Seen::default();
    let Ok(mut c) = RawClient::tcp(addr) else {
        return seen;
    };
    for seq in from.. {
        seen.last_sent = Some(seq);
        let s = seq.to_string();
        match c.call(&[b"RPUSH", b"jobs", s.as_bytes()]) {
            Ok(Frame::Integer(_)) => seen.acked.push(seq),
            Ok(other) => panic!("RPUSH jobs {seq}: {other:?}"),
            Err(_) => return seen,
        }
    }
    seen
}

/// `BLPOP jobs 1` until the connection dies; the elements it received.
fn consumer(addr: std::net::SocketAddr) -> Vec<u64> {
    let mut got = Vec::new();
    let Ok(mut c) = RawClient::tcp(addr) else {
        return got;
    };
    loop {
        match c.call(&[b"BLPOP", b"jobs", b"1"]) {
            Ok(Frame::Null) => {}
            Ok(Frame::Array(v)) if v.len() == 2 => got.push(text(&v[1]).parse().unwrap()),
            Ok(other) => panic!("BLPOP: {other:?}"),
            Err(_) => return got,
        }
    }
}

fn list_u64(c: &mut RawClient, key: &str) -> Vec<u64> {
    strings(&c.cmd(&["LRANGE", key, "0", "-1"]))
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn crash_seed() -> u64 {
    std::env::var("LATTICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// `LATTICE_CRASH_ITERATIONS` (soak) or `default`.
fn crash_iterations(default: usize) -> usize {
    std::env::var("LATTICE_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn crash_at_random_points_loses_no_acknowledged_write() {
    crash_loop(
        &["--appendfsync", "always"],
        crash_seed(),
        crash_iterations(20),
    );
}

/// `kill -9` kills the process, not the machine: bytes written before an
/// acknowledgement survive in the page cache whatever the fsync policy.
#[test]
fn crash_with_relaxed_fsync_policies_loses_no_acknowledged_write() {
    let seed = crash_seed();
    let n = crash_iterations(4);
    crash_loop(&["--appendfsync", "everysec"], seed, n);
    crash_loop(&["--appendfsync", "no"], seed.wrapping_add(1), n);
}

/// Writers and a blocking consumer against a server killed with SIGKILL
/// at random points (seeded), restarted with `extra` on the same
/// directory, `iterations` times; checks what every client saw.
fn crash_loop(extra: &[&str], seed: u64, iterations: usize) {
    println!("crash test {extra:?}: seed {seed} (LATTICE_CRASH_SEED={seed} replays the kill points), {iterations} iterations");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut s = start(extra);
    let started = Instant::now();

    let mut next_tx = 1u64;
    let mut next_job = 1u64;
    // Every job whose RPUSH was acknowledged, and every job a BLPOP handed out.
    let mut jobs_acked: BTreeSet<u64> = BTreeSet::new();
    let mut popped: BTreeSet<u64> = BTreeSet::new();
    // Jobs acknowledged but consumed by a BLPOP whose reply the crash ate.
    let mut lost_in_flight: BTreeSet<u64> = BTreeSet::new();
    let mut total_acked = 0usize;

    for it in 0..iterations {
        let ctx = format!("{extra:?}, seed {seed}, iteration {it}");
        let addr = s.addr;
        let (tx_from, job_from) = (next_tx, next_job);
        let w = std::thread::spawn(move || tx_writer(addr, tx_from));
        let p = std::thread::spawn(move || producer(addr, job_from));
        let q = std::thread::spawn(move || consumer(addr));
        // The fault: SIGKILL after a random delay, sometimes while a
        // background snapshot is being written.
        let delay = Duration::from_millis(rng.gen_range(0..400));
        if rng.gen_bool(0.4) {
            let before = delay.mul_f64(rng.gen_range(0.0..1.0));
            std::thread::sleep(before);
            let r = s.raw().cmd(&["BGSAVE"]);
            assert!(matches!(r, Frame::Simple(_) | Frame::Error(_)), "{r:?}");
            std::thread::sleep(delay - before);
        } else {
            std::thread::sleep(delay);
        }
        s.kill9();
        let tx_seen = w
            .join()
            .unwrap_or_else(|_| panic!("tx writer panicked ({ctx})"));
        let job_seen = p
            .join()
            .unwrap_or_else(|_| panic!("producer panicked ({ctx})"));
        let got = q
            .join()
            .unwrap_or_else(|_| panic!("consumer panicked ({ctx})"));
        s = s
            .restart(extra)
            .unwrap_or_else(|e| panic!("restart failed ({ctx}): {e:#}"));
        let mut c = s.raw();

        // The transactions: l is exactly 1..=m, c == m, nothing acked lost.
        let l = list_u64(&mut c, "l");
        let m = l.len() as u64;
        let want: Vec<u64> = (1..=m).collect();
        assert!(l == want, "l is not 1..={m} ({ctx}): {l:?}");
        let counter = match c.cmd(&["GET", "c"]) {
            Frame::Null => 0,
            f => text(&f).parse::<u64>().unwrap(),
        };
        assert_eq!(counter, m, "c != LLEN l: a half-applied MULTI ({ctx})");
        if let Some(&last) = tx_seen.acked.last() {
            assert!(
                m >= last,
                "acknowledged seq {last} lost, l ends at {m} ({ctx})"
            );
        }
        assert!(
            m + 1 >= next_tx && m <= tx_seen.last_sent.unwrap_or(next_tx - 1),
            "l ends at {m}, sent {:?}, from {next_tx} ({ctx})",
            tx_seen.last_sent
        );
        next_tx = m + 1;

        // The queue: acknowledged pushes are in the list or were handed
        // out; nothing handed out is back; order kept; at most one job per
        // crash vanished with a BLPOP reply the crash swallowed.
        jobs_acked.extend(job_seen.acked.iter().copied());
        total_acked += tx_seen.acked.len() + job_seen.acked.len() + got.len();
        for j in &got {
            assert!(popped.insert(*j), "job {j} handed out twice ({ctx})");
        }
        let jobs = list_u64(&mut c, "jobs");
        assert!(
            jobs.windows(2).all(|w| w[0] < w[1]),
            "jobs out of order or duplicated ({ctx}): {jobs:?}"
        );
        let sent_jobs = job_seen.last_sent.unwrap_or(next_job - 1);
        for j in &jobs {
            assert!(*j <= sent_jobs, "job {j} was never sent ({ctx})");
            assert!(
                !popped.contains(j),
                "job {j} was handed out and came back ({ctx})"
            );
            assert!(!lost_in_flight.contains(j), "job {j} came back ({ctx})");
        }
        let present: BTreeSet<u64> = jobs.iter().copied().collect();
        let newly_lost: Vec<u64> = jobs_acked
            .iter()
            .filter(|j| !present.contains(j) && !popped.contains(j) && !lost_in_flight.contains(j))
            .copied()
            .collect();
        assert!(
            newly_lost.len() <= 1,
            "acknowledged jobs lost ({ctx}): {newly_lost:?} (only one BLPOP can be in flight)"
        );
        // FIFO: the job the unanswered BLPOP took was the queue's head.
        if let (Some(lost), Some(head)) = (newly_lost.first(), jobs.first()) {
            assert!(
                lost < head,
                "job {lost} vanished from the middle of the queue ({ctx}): {jobs:?}"
            );
        }
        lost_in_flight.extend(newly_lost);
        next_job = sent_jobs + 1;
        println!(
            "  iteration {it}: killed after {delay:?}; l = 1..={m}, {} tx acked, {} jobs pushed, {} popped, {} queued",
            tx_seen.acked.len(),
            job_seen.acked.len(),
            got.len(),
            jobs.len()
        );
    }
    println!(
        "crash test {extra:?}: {iterations} kills, {total_acked} acknowledged operations checked, {} lost with an unanswered BLPOP, {:?}",
        lost_in_flight.len(),
        started.elapsed()
    );
    assert!(total_acked > 0, "no write was ever acknowledged");
}

// ------------------------------------------- CONFIG SET appendfsync at run time

#[test]
fn appendfsync_can_be_switched_at_run_time() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendfsync", "sometimes"]),
        Frame::Error(
            "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: always, everysec, no".into()
        )
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendfsync", "everysec"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "appendfsync"]),
        Frame::Array(vec![bulk("appendfsync"), bulk("everysec")])
    );
    assert_eq!(persistence(&mut c, "appendfsync"), "everysec");
    // Under everysec an append does not fsync by itself.
    let before = persistence_int(&mut c, "log_fsyncs");
    set_keys(&mut c, "e", 20);
    let after = persistence_int(&mut c, "log_fsyncs");
    assert!(
        after - before < 20,
        "everysec fsynced every append: {before} -> {after}"
    );
    // Back to always: every acknowledged write is synced again.
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendfsync", "always"]), ok());
    let before = persistence_int(&mut c, "log_fsyncs");
    for i in 0..5 {
        assert_eq!(c.cmd(&["SET", &format!("a{i}"), "x"]), ok());
    }
    assert!(persistence_int(&mut c, "log_fsyncs") >= before + 5);
    // appendonly stays a start-up choice.
    assert!(matches!(
        c.cmd(&["CONFIG", "SET", "appendonly", "no"]),
        Frame::Error(e) if e.contains("immutable")
    ));
    let s = crash_restart(s, &[]);
    let mut c = s.raw();
    assert_keys(&mut c, "e", 20);
    assert_eq!(
        c.cmd(&["EXISTS", "a0", "a1", "a2", "a3", "a4"]),
        Frame::Integer(5)
    );
}

#[test]
fn preallocated_zeros_after_kill9_are_free_space_not_a_torn_tail() {
    let s = start(&[]);
    let mut c = s.raw();
    set_keys(&mut c, "k", 50);
    // The entry log keeps zeros ahead of its last record, so fsyncs write
    // over blocks the file already has.
    let seg = last_segment(s.dir.path());
    let bytes = std::fs::read(&seg).unwrap();
    assert!(
        bytes.len() > 4096 && bytes.ends_with(&[0u8; 1024]),
        "the segment is preallocated ({} bytes)",
        bytes.len()
    );
    check_succeeds(s.dir.path());
    let mut s = crash_restart(s, &[]);
    assert_eq!(truncation_warning(&s), None, "zeros are not a torn tail");
    let mut c = s.raw();
    assert_keys(&mut c, "k", 50);
    set_keys(&mut c, "m", 5);
    // A clean shutdown trims the zeros: the log ends at its last record.
    shutdown(&mut s, &[]);
    let bytes = std::fs::read(last_segment(s.dir.path())).unwrap();
    // `records` asserts the file ends with a whole record.
    assert!(!records(&bytes).is_empty());
}
