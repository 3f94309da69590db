//! Connection handling through real clients: PING, pipelining, inline
//! commands, RESP3, AUTH and NOAUTH, SELECT, CLIENT, QUIT.

use lattice_testkit::Frame;
use redis::Commands;

use crate::{connect, start};

#[test]
fn redis_crate_roundtrip_and_pipeline() {
    let s = start(&[]);
    let mut con = connect(&s);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
    let (a, b, c): (i64, i64, Option<String>) = redis::pipe()
        .incr("n", 1)
        .incr("n", 5)
        .get("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b, c), (1, 6, None));
}

#[test]
fn large_pipeline_in_one_write() {
    let s = start(&[]);
    let mut raw = s.raw();
    let mut batch = Vec::new();
    for i in 0..5000 {
        batch.extend(lattice_testkit::encode_command(&[
            b"SET",
            format!("k{i}").as_bytes(),
            b"v",
        ]));
    }
    batch.extend(lattice_testkit::encode_command(&[b"DBSIZE"]));
    raw.send_raw(&batch).unwrap();
    for _ in 0..5000 {
        assert_eq!(raw.read_frame().unwrap(), Some(Frame::Simple("OK".into())));
    }
    assert_eq!(raw.read_frame().unwrap(), Some(Frame::Integer(5000)));
}

#[test]
fn inline_commands_like_telnet() {
    let s = start(&[]);
    let mut raw = s.raw();
    raw.send_raw(b"SET greeting \"hello world\"\r\nGET greeting\nPING\r\n")
        .unwrap();
    assert_eq!(raw.read_frame().unwrap(), Some(Frame::Simple("OK".into())));
    assert_eq!(
        raw.read_frame().unwrap(),
        Some(Frame::Bulk("hello world".into()))
    );
    assert_eq!(
        raw.read_frame().unwrap(),
        Some(Frame::Simple("PONG".into()))
    );
}

#[test]
fn resp3_after_hello() {
    let s = start(&[]);
    let mut raw = s.raw();
    match raw.cmd(&["HELLO", "3"]) {
        Frame::Map(m) => assert!(m.contains(&(Frame::Bulk("proto".into()), Frame::Integer(3)))),
        other => panic!("{other:?}"),
    }
    assert_eq!(raw.cmd(&["GET", "nothing"]), Frame::Null);
    assert!(matches!(
        raw.cmd(&["CONFIG", "GET", "maxmemory"]),
        Frame::Map(_)
    ));
    assert!(matches!(raw.cmd(&["INFO", "server"]), Frame::Verbatim(_)));
    assert!(matches!(raw.cmd(&["HELLO", "4"]), Frame::Error(e) if e.starts_with("NOPROTO")));
}

#[test]
fn requirepass_and_auth() {
    let s = start(&["--requirepass", "s3cret"]);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        Frame::Error("NOAUTH Authentication required.".into())
    );
    // Unknown commands and arity errors come before NOAUTH, as in Redis.
    assert!(matches!(raw.cmd(&["NOPE"]), Frame::Error(e) if e.starts_with("ERR unknown command")));
    assert_eq!(
        raw.cmd(&["AUTH", "wrong"]),
        Frame::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(raw.cmd(&["AUTH", "s3cret"]), Frame::Simple("OK".into()));
    assert_eq!(raw.cmd(&["SET", "k", "v"]), Frame::Simple("OK".into()));
    // HELLO with AUTH, and the redis crate with a password in the URL.
    let mut raw2 = s.raw();
    assert!(matches!(
        raw2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]),
        Frame::Map(_)
    ));
    let url = format!("redis://:s3cret@{}/", s.addr);
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    // The password never appears in the logs.
    assert!(s.logs().iter().all(|l| !l.contains("s3cret")));
}

#[test]
fn unauthenticated_clients_cannot_send_big_requests() {
    let s = start(&["--requirepass", "pw"]);
    let mut raw = s.raw();
    let args: Vec<&[u8]> = std::iter::repeat_n(&b"x"[..], 20).collect();
    raw.send(&args).unwrap();
    assert_eq!(
        raw.read_frame().unwrap(),
        Some(Frame::Error(
            "ERR Protocol error: unauthenticated multibulk length".into()
        ))
    );
    assert_eq!(raw.read_frame().unwrap(), None, "connection must close");
}

#[test]
fn select_and_databases() {
    let s = start(&["--databases", "4"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["SET", "k", "db0"]), Frame::Simple("OK".into()));
    assert_eq!(raw.cmd(&["SELECT", "3"]), Frame::Simple("OK".into()));
    assert_eq!(raw.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(
        raw.cmd(&["SELECT", "4"]),
        Frame::Error("ERR DB index is out of range".into())
    );
    assert_eq!(raw.cmd(&["SELECT", "0"]), Frame::Simple("OK".into()));
    assert_eq!(raw.cmd(&["GET", "k"]), Frame::Bulk("db0".into()));
}

#[test]
fn client_commands() {
    let s = start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "alpha"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Frame::Bulk("alpha".into()));
    let Frame::Integer(b_id) = b.cmd(&["CLIENT", "ID"]) else {
        panic!()
    };
    let Frame::Bulk(list) = a.cmd(&["CLIENT", "LIST"]) else {
        panic!()
    };
    let list = String::from_utf8_lossy(&list).into_owned();
    assert!(list.contains("name=alpha"), "{list}");
    assert!(list.contains(&format!("id={b_id} ")), "{list}");
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Frame::Integer(1)
    );
    // b's connection is closed by the server.
    b.send(&[b"PING"]).ok();
    assert!(matches!(b.read_frame(), Ok(None) | Err(_)));
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Frame::Integer(0)
    );
}

#[test]
fn quit_closes_after_ok() {
    let s = start(&[]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["QUIT"]), Frame::Simple("OK".into()));
    assert_eq!(raw.read_frame().unwrap(), None);
}

#[test]
fn shutdown_exits_the_process() {
    let mut s = start(&[]);
    let mut raw = s.raw();
    raw.send(&[b"SHUTDOWN", b"NOSAVE"]).unwrap();
    assert!(matches!(raw.read_frame(), Ok(None) | Err(_)));
    let status = s
        .wait_exit(std::time::Duration::from_secs(10))
        .expect("process exits");
    assert!(status.success(), "{status}");
}

#[test]
fn command_introspection() {
    let s = start(&[]);
    let mut raw = s.raw();
    let Frame::Integer(n) = raw.cmd(&["COMMAND", "COUNT"]) else {
        panic!()
    };
    let Frame::Array(all) = raw.cmd(&["COMMAND"]) else {
        panic!()
    };
    assert_eq!(all.len() as i64, n);
    let Frame::Array(list) = raw.cmd(&["COMMAND", "LIST"]) else {
        panic!()
    };
    assert!(list.len() as i64 >= n);
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        Frame::Array(vec![Frame::Bulk("a".into()), Frame::Bulk("b".into())])
    );
    assert!(matches!(
        raw.cmd(&["COMMAND", "DOCS", "get"]),
        Frame::Array(_)
    ));
}

#[test]
fn client_pause_write_holds_writes_not_reads() {
    use std::time::Instant;
    let s = start(&[]);
    let mut admin = s.raw();
    admin.cmd(&["SET", "k", "v"]);
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]),
        Frame::Simple("OK".into())
    );
    let mut other = s.raw();
    let t = Instant::now();
    assert_eq!(other.cmd(&["GET", "k"]), Frame::Bulk("v".into()));
    assert!(t.elapsed().as_millis() < 250, "reads are not paused");
    let t = Instant::now();
    assert_eq!(other.cmd(&["SET", "k", "w"]), Frame::Simple("OK".into()));
    assert!(
        t.elapsed().as_millis() >= 250,
        "writes wait for the pause to end"
    );
    // UNPAUSE releases a waiting writer early.
    admin.cmd(&["CLIENT", "PAUSE", "10000", "ALL"]);
    let addr = s.addr;
    let writer = std::thread::spawn(move || {
        let mut c = lattice_testkit::RawClient::tcp(addr).unwrap();
        let t = Instant::now();
        let r = c.cmd(&["SET", "k", "x"]);
        (r, t.elapsed())
    });
    let mut probe = s.raw();
    assert!(lattice_testkit::wait_until(
        std::time::Duration::from_secs(5),
        || {
            matches!(probe.cmd(&["CLIENT", "LIST"]), Frame::Bulk(b) if String::from_utf8_lossy(&b).contains("cmd=set"))
        }
    ));
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    let (r, waited) = writer.join().unwrap();
    assert_eq!(r, Frame::Simple("OK".into()));
    assert!(
        waited.as_secs() < 5,
        "unpause released the writer after {waited:?}"
    );
}
