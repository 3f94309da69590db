//! Blocking list commands: served by a write from another client, in the
//! order clients blocked (Redis's fairness), with timeouts, and cleaned up
//! when a blocked client disconnects. Synchronisation polls `INFO clients`.

use std::time::Duration;

use lattice_testkit::{wait_until, Frame, RawClient};

use crate::{connect, info_field, start};

fn blocked(con: &mut redis::Connection) -> i64 {
    info_field(con, "clients", "blocked_clients")
}

fn block(raw: &mut RawClient, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    raw.send(&a).unwrap();
}

#[test]
fn blpop_is_served_by_a_push_from_another_client() {
    let s = start(&[]);
    let mut con = connect(&s);
    let mut waiter = s.raw();
    block(&mut waiter, &["BLPOP", "q", "0"]);
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 1));
    let mut pusher = s.raw();
    assert_eq!(pusher.cmd(&["RPUSH", "q", "job"]), Frame::Integer(1));
    assert_eq!(
        waiter.read_frame().unwrap(),
        Some(Frame::Array(vec![
            Frame::Bulk("q".into()),
            Frame::Bulk("job".into())
        ]))
    );
    assert_eq!(pusher.cmd(&["LLEN", "q"]), Frame::Integer(0));
    assert_eq!(blocked(&mut con), 0);
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let s = start(&[]);
    let mut con = connect(&s);
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut w = s.raw();
        block(&mut w, &["BLPOP", "q", "0"]);
        assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == i + 1));
        waiters.push(w);
    }
    let mut pusher = s.raw();
    pusher.cmd(&["RPUSH", "q", "a", "b", "c"]);
    for (w, want) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(
            w.read_frame().unwrap(),
            Some(Frame::Array(vec![
                Frame::Bulk("q".into()),
                Frame::Bulk(want.into())
            ]))
        );
    }
}

#[test]
fn timeouts_reply_null() {
    let s = start(&[]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["BLPOP", "nothing", "0.05"]), Frame::Null);
    assert_eq!(
        raw.cmd(&["BLMOVE", "nothing", "dst", "LEFT", "RIGHT", "0.05"]),
        Frame::Null
    );
    raw.cmd(&["HELLO", "3"]);
    assert_eq!(raw.cmd(&["BRPOP", "nothing", "0.05"]), Frame::Null);
    assert_eq!(
        raw.cmd(&["BLPOP", "nothing", "-1"]),
        Frame::Error("ERR timeout is negative".into())
    );
    assert_eq!(
        raw.cmd(&["BLPOP", "nothing", "abc"]),
        Frame::Error("ERR timeout is not a float or out of range".into())
    );
}

#[test]
fn disconnecting_while_blocked_unregisters() {
    let s = start(&[]);
    let mut con = connect(&s);
    {
        let mut w = s.raw();
        block(&mut w, &["BLPOP", "q", "0"]);
        assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 1));
    }
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 0));
    let mut raw = s.raw();
    raw.cmd(&["RPUSH", "q", "x"]);
    assert_eq!(
        raw.cmd(&["LLEN", "q"]),
        Frame::Integer(1),
        "nobody consumed it"
    );
}

#[test]
fn blmove_chains_wake_the_next_waiter() {
    let s = start(&[]);
    let mut con = connect(&s);
    let mut mover = s.raw();
    block(&mut mover, &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"]);
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 1));
    let mut popper = s.raw();
    block(&mut popper, &["BLPOP", "b", "0"]);
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 2));
    let mut pusher = s.raw();
    pusher.cmd(&["LPUSH", "a", "v"]);
    assert_eq!(mover.read_frame().unwrap(), Some(Frame::Bulk("v".into())));
    assert_eq!(
        popper.read_frame().unwrap(),
        Some(Frame::Array(vec![
            Frame::Bulk("b".into()),
            Frame::Bulk("v".into())
        ]))
    );
}

#[test]
fn redis_crate_blocking_pop() {
    let s = start(&[]);
    let client = redis::Client::open(s.url()).unwrap();
    let handle = std::thread::spawn(move || {
        let mut c = client.get_connection().unwrap();
        let r: Option<(String, String)> = redis::cmd("BRPOP")
            .arg("jobs")
            .arg(5)
            .query(&mut c)
            .unwrap();
        r
    });
    let mut con = connect(&s);
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 1));
    let _: i64 = redis::cmd("LPUSH")
        .arg("jobs")
        .arg("j1")
        .query(&mut con)
        .unwrap();
    assert_eq!(handle.join().unwrap(), Some(("jobs".into(), "j1".into())));
}

#[test]
fn huge_timeouts_wait_forever_instead_of_overflowing() {
    let s = start(&[]);
    let mut con = connect(&s);
    let mut w = s.raw();
    block(&mut w, &["BLPOP", "q", "9000000000000000"]);
    assert!(wait_until(Duration::from_secs(5), || blocked(&mut con) == 1));
    let mut p = s.raw();
    p.cmd(&["RPUSH", "q", "x"]);
    assert_eq!(
        w.read_frame().unwrap(),
        Some(Frame::Array(vec![
            Frame::Bulk("q".into()),
            Frame::Bulk("x".into())
        ]))
    );
}

#[test]
fn timeout_reply_is_a_null_array_in_resp2() {
    use std::io::{Read, Write};
    let s = start(&[]);
    // RawClient maps both null forms to Frame::Null, so read the bytes.
    let mut sock = std::net::TcpStream::connect(s.addr).unwrap();
    for cmd in [
        &[&b"BLMOVE"[..], b"none", b"d", b"LEFT", b"LEFT", b"0.01"][..],
        &[b"BRPOPLPUSH", b"none", b"d", b"0.01"],
    ] {
        sock.write_all(&lattice_testkit::encode_command(cmd))
            .unwrap();
        let mut buf = [0u8; 5];
        sock.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"*-1\r\n");
    }
}
