//! MULTI/EXEC/DISCARD/WATCH through real clients: queueing errors abort the
//! transaction, runtime errors stay inside EXEC's reply, WATCH is invalidated
//! by other clients, expiry and flushes, blocking commands answer at once,
//! SELECT inside MULTI, the RESP2/RESP3 null reply of an aborted EXEC, the
//! `redis` crate's atomic pipeline and optimistic-locking helper under
//! contention, and atomicity of transactions mixing engine and server-layer
//! commands.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lattice_testkit::{encode_command, wait_until, Frame};
use redis::Commands;

use crate::{connect, start};

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

fn queued() -> Frame {
    Frame::Simple("QUEUED".into())
}

/// A plain socket for checking exact reply bytes (the frame parser folds
/// `$-1`, `*-1` and `_` into one `Null`).
struct Wire(TcpStream);

impl Wire {
    fn connect(addr: SocketAddr) -> Wire {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Wire(s)
    }

    /// Sends a command and returns exactly `expected.len()` reply bytes.
    fn exchange(&mut self, args: &[&str], expected: &[u8]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.0.write_all(&encode_command(&a)).expect("send");
        let mut got = vec![0u8; expected.len()];
        self.0.read_exact(&mut got).expect("reply");
        got
    }

    fn expect(&mut self, args: &[&str], expected: &[u8]) {
        let got = self.exchange(args, expected);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "{args:?}"
        );
    }
}

#[test]
fn queueing_errors_abort_exec_and_run_nothing() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]), queued());
    assert_eq!(
        c.cmd(&["SET", "x"]),
        Frame::Error("ERR wrong number of arguments for 'set' command".into())
    );
    assert!(
        matches!(c.cmd(&["NOSUCHCMD"]), Frame::Error(e) if e.starts_with("ERR unknown command"))
    );
    assert_eq!(
        c.cmd(&["MULTI"]),
        Frame::Error("ERR MULTI calls can not be nested".into())
    );
    assert_eq!(c.cmd(&["INCR", "x"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(c.cmd(&["EXISTS", "x"]), Frame::Integer(0), "nothing ran");
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    assert_eq!(
        c.cmd(&["DISCARD"]),
        Frame::Error("ERR DISCARD without MULTI".into())
    );
    // A refused EXEC discards the transaction with the reason.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(
        c.cmd(&["EXEC", "extra"]),
        Frame::Error(
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
                .into()
        )
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    // no_multi commands are refused and flag the transaction.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(
        c.cmd(&["SHUTDOWN"]),
        Frame::Error("ERR Command not allowed inside a transaction".into())
    );
    assert!(matches!(c.cmd(&["EXEC"]), Frame::Error(e) if e.starts_with("EXECABORT")));
}

#[test]
fn runtime_errors_stay_inside_exec_and_do_not_roll_back() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SET", "x", "1"][..],
        &["LPUSH", "x", "a"],
        &["INCR", "x"],
        &["PING"],
        &["ECHO", "hi"],
    ] {
        assert_eq!(c.cmd(cmd), queued());
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            Frame::Error(
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            ),
            Frame::Integer(2),
            Frame::Simple("PONG".into()),
            Frame::Bulk("hi".into()),
        ])
    );
    assert_eq!(c.cmd(&["GET", "x"]), Frame::Bulk("2".into()));
    // DISCARD drops the queue.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "dropped"]), queued());
    assert_eq!(c.cmd(&["DISCARD"]), ok());
    assert_eq!(c.cmd(&["GET", "x"]), Frame::Bulk("2".into()));
}

#[test]
fn watch_is_invalidated_by_another_client() {
    let s = start(&[]);
    let mut c = s.raw();
    let mut other = s.raw();
    c.cmd(&["SET", "k", "1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    other.cmd(&["SET", "k", "theirs"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "mine"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Bulk("theirs".into()));
    // EXEC unwatched: the next transaction goes through.
    other.cmd(&["SET", "k", "again"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "mine"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![ok()]));
    // A key watched while absent and created by another client.
    assert_eq!(c.cmd(&["WATCH", "fresh"]), ok());
    other.cmd(&["LPUSH", "fresh", "x"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
    // UNWATCH forgets; WATCH inside MULTI is an error that does not abort.
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    assert_eq!(c.cmd(&["UNWATCH"]), ok());
    other.cmd(&["SET", "k", "later"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(
        c.cmd(&["WATCH", "k"]),
        Frame::Error("ERR WATCH inside MULTI is not allowed".into())
    );
    assert_eq!(c.cmd(&["GET", "k"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Bulk("later".into())])
    );
}

#[test]
fn watch_is_invalidated_by_expiry_but_not_by_an_already_expired_key() {
    let s = start(&["--hz", "100"]);
    let mut c = s.raw();
    let mut probe = s.raw();
    // Watched while alive, then deleted by active expiry.
    c.cmd(&["SET", "k", "v", "PX", "50"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    assert!(wait_until(Duration::from_secs(10), || probe
        .cmd(&["DBSIZE"])
        == Frame::Integer(0)));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["PING"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);

    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    // Watched while alive, expired by EXEC time though not yet deleted.
    c.cmd(&["SET", "k", "v", "PX", "50"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    assert!(wait_until(Duration::from_secs(10), || probe
        .cmd(&["PTTL", "k"])
        == Frame::Integer(-2)));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["PING"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);

    // Already expired when watched: logically absent, and deleting it is
    // no change (Redis 7.0) ...
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    assert!(wait_until(Duration::from_secs(10), || probe
        .cmd(&["PTTL", "gone"])
        == Frame::Integer(-2)));
    assert_eq!(c.cmd(&["WATCH", "gone"]), ok());
    assert_eq!(probe.cmd(&["DEL", "gone"]), Frame::Integer(0));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["PING"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    // ... but creating it again is.
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    assert!(wait_until(Duration::from_secs(10), || probe
        .cmd(&["PTTL", "gone"])
        == Frame::Integer(-2)));
    assert_eq!(c.cmd(&["WATCH", "gone"]), ok());
    probe.cmd(&["SET", "gone", "new"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
}

#[test]
fn watch_is_invalidated_by_flushall_only_for_existing_keys() {
    let s = start(&[]);
    let mut c = s.raw();
    let mut other = s.raw();
    assert_eq!(c.cmd(&["WATCH", "absent"]), ok());
    other.cmd(&["FLUSHALL"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Array(vec![]));

    c.cmd(&["SET", "k", "1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    other.cmd(&["FLUSHALL"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "2"]), queued());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
    assert_eq!(c.cmd(&["EXISTS", "k"]), Frame::Integer(0));

    // SWAPDB bringing the key in from another database.
    other.cmd(&["SELECT", "1"]);
    other.cmd(&["SET", "k", "in-db1"]);
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    other.cmd(&["SWAPDB", "0", "1"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);

    // The client's own write outside MULTI counts too.
    assert_eq!(c.cmd(&["WATCH", "k"]), ok());
    c.cmd(&["DEL", "k"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["EXEC"]), Frame::Null);
}

#[test]
fn blocking_commands_inside_multi_answer_at_once() {
    let s = start(&[]);
    let mut w = Wire::connect(s.addr);
    w.expect(&["MULTI"], b"+OK\r\n");
    w.expect(&["BLPOP", "nolist", "0"], b"+QUEUED\r\n");
    w.expect(
        &["BLMOVE", "nolist", "dst", "LEFT", "RIGHT", "0"],
        b"+QUEUED\r\n",
    );
    w.expect(&["BZPOPMIN", "nozset", "0"], b"+QUEUED\r\n");
    w.expect(&["RPUSH", "l", "a"], b"+QUEUED\r\n");
    w.expect(&["BLPOP", "l", "0"], b"+QUEUED\r\n");
    w.expect(
        &["EXEC"],
        b"*5\r\n*-1\r\n$-1\r\n*-1\r\n:1\r\n*2\r\n$1\r\nl\r\n$1\r\na\r\n",
    );
}

#[test]
fn select_inside_multi_applies_to_later_commands_and_the_connection() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "db0"]), queued());
    assert_eq!(c.cmd(&["SELECT", "1"]), queued());
    assert_eq!(c.cmd(&["SET", "a", "db1"]), queued());
    assert_eq!(c.cmd(&["SELECT", "99"]), queued());
    assert_eq!(c.cmd(&["GET", "a"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            ok(),
            ok(),
            Frame::Error("ERR DB index is out of range".into()),
            Frame::Bulk("db1".into()),
        ])
    );
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Frame::Bulk("db1".into()),
        "the connection is in db 1 now"
    );
    c.cmd(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["GET", "a"]), Frame::Bulk("db0".into()));
}

#[test]
fn aborted_exec_is_a_null_array_in_resp2_and_null_in_resp3() {
    let s = start(&[]);
    let mut w = Wire::connect(s.addr);
    let mut other = s.raw();
    for (hello, null) in [("2", &b"*-1\r\n"[..]), ("3", &b"_\r\n"[..])] {
        w.0.write_all(&encode_command(&[b"HELLO", hello.as_bytes()]))
            .unwrap();
        // Skip HELLO's reply: drain until PING's answer follows it.
        w.0.write_all(&encode_command(&[b"PING"])).unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"+PONG\r\n") {
            w.0.read_exact(&mut byte).unwrap();
            seen.push(byte[0]);
        }
        w.expect(&["WATCH", "k"], b"+OK\r\n");
        other.cmd(&["INCR", "k"]);
        w.expect(&["MULTI"], b"+OK\r\n");
        w.expect(&["PING"], b"+QUEUED\r\n");
        w.expect(&["EXEC"], null);
    }
}

#[test]
fn redis_crate_atomic_pipeline() {
    let s = start(&[]);
    let mut con = connect(&s);
    let (a, b, c): (i64, i64, Option<String>) = redis::pipe()
        .atomic()
        .incr("n", 1)
        .incr("n", 5)
        .get("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b, c), (1, 6, None));
    let v: i64 = con.get("n").unwrap();
    assert_eq!(v, 6);
}

#[test]
fn optimistic_locking_under_contention_loses_no_increment() {
    const THREADS: usize = 2;
    const PER_THREAD: i64 = 200;
    let s = start(&[]);
    let url = s.url();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut retries = 0u64;
                for _ in 0..PER_THREAD {
                    let _: () = redis::transaction(&mut con, &["counter"], |con, pipe| {
                        let v: Option<i64> = con.get("counter")?;
                        let r: Option<()> = pipe
                            .set("counter", v.unwrap_or(0) + 1)
                            .ignore()
                            .query(con)?;
                        if r.is_none() {
                            retries += 1;
                        }
                        Ok(r)
                    })
                    .unwrap();
                }
                retries
            })
        })
        .collect();
    let retries: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    let mut con = connect(&s);
    let total: i64 = con.get("counter").unwrap();
    assert_eq!(
        total,
        THREADS as i64 * PER_THREAD,
        "after {retries} retries"
    );
}

#[test]
fn transactions_mixing_server_commands_are_atomic() {
    const ROUNDS: usize = 150;
    let s = start(&[]);
    let url = s.url();
    let writer = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..ROUNDS {
            let (_, _, _, _, _): (i64, String, String, i64, String) = redis::pipe()
                .atomic()
                .incr("even", 1)
                .cmd("PING")
                .cmd("INFO")
                .arg("keyspace")
                .incr("even", 1)
                .cmd("CLIENT")
                .arg("ID")
                .ignore()
                .cmd("ECHO")
                .arg("done")
                .query(&mut con)
                .unwrap();
        }
    });
    let mut reader = s.raw();
    let mut observed = 0;
    while !writer.is_finished() {
        if let Frame::Bulk(v) = reader.cmd(&["GET", "even"]) {
            let n: i64 = String::from_utf8_lossy(&v).parse().unwrap();
            assert_eq!(n % 2, 0, "a transaction was observed half-done");
            observed += 1;
        }
    }
    writer.join().unwrap();
    assert_eq!(
        reader.cmd(&["GET", "even"]),
        Frame::Bulk((ROUNDS * 2).to_string().into())
    );
    assert!(observed > 0);
}

#[test]
fn server_commands_inside_exec_see_the_transaction_in_order() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), queued());
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]), queued());
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "txn"]), queued());
    assert_eq!(c.cmd(&["DBSIZE"]), queued());
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), queued());
    assert_eq!(c.cmd(&["UNWATCH"]), queued());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Array(vec![
            ok(),
            ok(),
            ok(),
            Frame::Integer(1),
            Frame::Bulk("txn".into()),
            ok()
        ])
    );
    // RESET leaves MULTI.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "a", "2"]), queued());
    assert_eq!(c.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    assert_eq!(
        c.cmd(&["EXEC"]),
        Frame::Error("ERR EXEC without MULTI".into())
    );
    assert_eq!(c.cmd(&["GET", "a"]), Frame::Bulk("1".into()));
}
