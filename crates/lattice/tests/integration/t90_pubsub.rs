//! Pub/sub and keyspace notifications: the `redis` crate's pub/sub API, raw
//! RESP2 and RESP3 frames (confirmations, deliveries, the subscribed-context
//! rules), PUBSUB introspection, keyspace events from writes and from active
//! expiry, and the slow-subscriber output limit.

use std::io::Write;
use std::time::Duration;

use lattice_testkit::{wait_until, Frame, RawClient};

use crate::{connect, start};

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.to_string().into())
}

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

trait Text {
    fn text(self) -> String;
}

impl Text for Frame {
    fn text(self) -> String {
        match self {
            Frame::Bulk(b) | Frame::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("not text: {other:?}"),
        }
    }
}

fn next(c: &mut RawClient) -> Frame {
    c.read_frame().unwrap().expect("connection closed")
}

#[test]
fn redis_crate_subscribe_and_psubscribe() {
    let s = start(&[]);
    let client = redis::Client::open(s.url()).unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let mut ps = sub_con.as_pubsub();
    ps.subscribe("news").unwrap();
    ps.psubscribe("n*").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    let mut publisher = connect(&s);
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(n, 2);

    let m = ps.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
    assert!(!m.from_pattern());
    let m = ps.get_message().unwrap();
    assert!(m.from_pattern());
    assert_eq!(m.get_pattern::<String>().unwrap(), "n*");
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");

    let n: i64 = redis::cmd("PUBLISH")
        .arg("other")
        .arg("x")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(n, 0);
    ps.unsubscribe("news").unwrap();
    ps.punsubscribe("n*").unwrap();
    drop(ps);
    // The connection is usable again after leaving subscribed context.
    let pong: String = redis::cmd("PING").query(&mut sub_con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn resp2_frames_and_subscribed_context() {
    let s = start(&[]);
    let mut c = s.raw();
    c.send(&[b"SUBSCRIBE", b"a", b"b", b"a"]).unwrap();
    for (ch, n) in [("a", 1), ("b", 2), ("a", 2)] {
        assert_eq!(
            next(&mut c),
            arr(vec![bulk("subscribe"), bulk(ch), Frame::Integer(n)])
        );
    }
    assert_eq!(c.cmd(&["PING"]), arr(vec![bulk("pong"), bulk("")]));
    assert_eq!(c.cmd(&["PING", "x"]), arr(vec![bulk("pong"), bulk("x")]));
    assert_eq!(
        c.cmd(&["GET", "k"]),
        Frame::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "x"]),
        Frame::Error("ERR Can't execute 'config|get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );

    let mut p = s.raw();
    assert_eq!(p.cmd(&["PUBLISH", "a", "hi"]), Frame::Integer(1));
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("message"), bulk("a"), bulk("hi")])
    );

    c.send(&[b"UNSUBSCRIBE"]).unwrap();
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("unsubscribe"), bulk("a"), Frame::Integer(1)])
    );
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("unsubscribe"), bulk("b"), Frame::Integer(0)])
    );
    assert_eq!(
        c.cmd(&["UNSUBSCRIBE"]),
        arr(vec![bulk("unsubscribe"), Frame::Null, Frame::Integer(0)])
    );
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));

    // Shard subscriptions have their own count but keep the context.
    c.send(&[b"PSUBSCRIBE", b"p*"]).unwrap();
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("psubscribe"), bulk("p*"), Frame::Integer(1)])
    );
    assert_eq!(
        c.cmd(&["SSUBSCRIBE", "s1"]),
        arr(vec![bulk("ssubscribe"), bulk("s1"), Frame::Integer(1)])
    );
    assert_eq!(p.cmd(&["SPUBLISH", "s1", "yo"]), Frame::Integer(1));
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("smessage"), bulk("s1"), bulk("yo")])
    );
    assert_eq!(p.cmd(&["PUBLISH", "pq", "m"]), Frame::Integer(1));
    assert_eq!(
        next(&mut c),
        arr(vec![bulk("pmessage"), bulk("p*"), bulk("pq"), bulk("m")])
    );
    assert_eq!(
        c.cmd(&["PUNSUBSCRIBE"]),
        arr(vec![bulk("punsubscribe"), bulk("p*"), Frame::Integer(0)])
    );
    assert_eq!(c.cmd(&["PING"]), arr(vec![bulk("pong"), bulk("")]));
    // RESET leaves subscribed context.
    assert_eq!(c.cmd(&["RESET"]), Frame::Simple("RESET".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Null);
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", "s1"]),
        arr(vec![bulk("s1"), Frame::Integer(0)])
    );
}

#[test]
fn resp3_push_frames_and_any_command() {
    let s = start(&[]);
    let mut c = s.raw();
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["SUBSCRIBE", "a"]),
        Frame::Push(vec![bulk("subscribe"), bulk("a"), Frame::Integer(1)])
    );
    assert_eq!(
        c.cmd(&["PSUBSCRIBE", "a*"]),
        Frame::Push(vec![bulk("psubscribe"), bulk("a*"), Frame::Integer(2)])
    );
    // RESP3 clients may run anything while subscribed.
    assert_eq!(c.cmd(&["PING"]), Frame::Simple("PONG".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Frame::Null);

    let mut p = s.raw();
    assert_eq!(p.cmd(&["PUBLISH", "a", "hi"]), Frame::Integer(2));
    assert_eq!(
        next(&mut c),
        Frame::Push(vec![bulk("message"), bulk("a"), bulk("hi")])
    );
    assert_eq!(
        next(&mut c),
        Frame::Push(vec![bulk("pmessage"), bulk("a*"), bulk("a"), bulk("hi")])
    );
    c.send(&[b"UNSUBSCRIBE"]).unwrap();
    assert_eq!(
        next(&mut c),
        Frame::Push(vec![bulk("unsubscribe"), bulk("a"), Frame::Integer(1)])
    );
    assert_eq!(
        c.cmd(&["PUNSUBSCRIBE", "zz"]),
        Frame::Push(vec![bulk("punsubscribe"), bulk("zz"), Frame::Integer(1)])
    );
}

#[test]
fn pubsub_introspection() {
    let s = start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    a.send(&[b"SUBSCRIBE", b"c1", b"c2"]).unwrap();
    next(&mut a);
    next(&mut a);
    b.cmd(&["SUBSCRIBE", "c1"]);
    b.cmd(&["PSUBSCRIBE", "x*"]);
    a.cmd(&["PSUBSCRIBE", "x*"]);
    a.cmd(&["SSUBSCRIBE", "s"]);
    let mut q = s.raw();
    assert_eq!(
        q.cmd(&["PUBSUB", "NUMSUB", "c1", "c2", "c3"]),
        arr(vec![
            bulk("c1"),
            Frame::Integer(2),
            bulk("c2"),
            Frame::Integer(1),
            bulk("c3"),
            Frame::Integer(0)
        ])
    );
    assert_eq!(q.cmd(&["PUBSUB", "NUMPAT"]), Frame::Integer(1));
    let Frame::Array(mut chans) = q.cmd(&["PUBSUB", "CHANNELS"]) else {
        panic!("not an array")
    };
    chans.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(chans, vec![bulk("c1"), bulk("c2")]);
    assert_eq!(q.cmd(&["PUBSUB", "CHANNELS", "*2"]), arr(vec![bulk("c2")]));
    assert_eq!(q.cmd(&["PUBSUB", "SHARDCHANNELS"]), arr(vec![bulk("s")]));
    assert_eq!(
        q.cmd(&["PUBSUB", "SHARDNUMSUB", "s"]),
        arr(vec![bulk("s"), Frame::Integer(1)])
    );
    // A client that leaves is unsubscribed from everything.
    drop(a);
    assert!(wait_until(Duration::from_secs(10), || q
        .cmd(&["PUBSUB", "NUMSUB", "c1", "c2"])
        == arr(vec![
            bulk("c1"),
            Frame::Integer(1),
            bulk("c2"),
            Frame::Integer(0)
        ])));
    assert_eq!(q.cmd(&["PUBSUB", "NUMPAT"]), Frame::Integer(1));
    assert_eq!(q.cmd(&["PUBLISH", "xy", "m"]), Frame::Integer(1));
}

fn pmessage(pattern: &str, channel: &str, msg: &str) -> Frame {
    arr(vec![
        bulk("pmessage"),
        bulk(pattern),
        bulk(channel),
        bulk(msg),
    ])
}

#[test]
fn keyspace_notifications_from_writes_and_expiry() {
    let s = start(&["--hz", "100"]);
    let mut w = s.raw();
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        w.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        arr(vec![bulk("notify-keyspace-events"), bulk("AKE")])
    );
    let mut c = s.raw();
    c.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    w.cmd(&["SET", "k", "v"]);
    w.cmd(&["EXPIRE", "k", "100"]);
    w.cmd(&["DEL", "k"]);
    let p = "__key*__:*";
    for (ch, msg) in [
        ("__keyspace@0__:k", "set"),
        ("__keyevent@0__:set", "k"),
        ("__keyspace@0__:k", "expire"),
        ("__keyevent@0__:expire", "k"),
        ("__keyspace@0__:k", "del"),
        ("__keyevent@0__:del", "k"),
    ] {
        assert_eq!(next(&mut c), pmessage(p, ch, msg));
    }
    // Active expiry publishes `expired`.
    w.cmd(&["SET", "t", "v", "PX", "20"]);
    for (ch, msg) in [
        ("__keyspace@0__:t", "set"),
        ("__keyevent@0__:set", "t"),
        ("__keyspace@0__:t", "expire"),
        ("__keyevent@0__:expire", "t"),
        ("__keyspace@0__:t", "expired"),
        ("__keyevent@0__:expired", "t"),
    ] {
        assert_eq!(next(&mut c), pmessage(p, ch, msg));
    }
    // Only enabled classes: keyevent for generic commands only.
    w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Eg"]);
    w.cmd(&["SET", "k2", "v"]);
    w.cmd(&["DEL", "k2"]);
    assert_eq!(next(&mut c), pmessage(p, "__keyevent@0__:del", "k2"));
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KQ"]),
        Frame::Error("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
    );
}

#[test]
fn slow_subscriber_is_disconnected_without_blocking_others() {
    slow_subscriber(&["1mb", "0", "0"]);
}

#[test]
fn slow_subscriber_over_the_soft_limit_is_disconnected() {
    slow_subscriber(&["0", "1mb", "0"]);
}

fn slow_subscriber(limit: &[&str]) {
    let mut args = vec!["--client-output-buffer-limit", "pubsub"];
    args.extend_from_slice(limit);
    let s = start(&args);
    // The slow subscriber never reads after subscribing.
    let mut slow = std::net::TcpStream::connect(s.addr).unwrap();
    slow.write_all(&lattice_testkit::encode_command(&[b"SUBSCRIBE", b"ch"]))
        .unwrap();
    let mut fast = s.raw();
    assert_eq!(
        fast.cmd(&["SUBSCRIBE", "ch"]),
        arr(vec![bulk("subscribe"), bulk("ch"), Frame::Integer(1)])
    );
    let mut p = s.raw();
    assert!(wait_until(Duration::from_secs(10), || p
        .cmd(&["PUBSUB", "NUMSUB", "ch"])
        == arr(vec![bulk("ch"), Frame::Integer(2)])));
    let payload = "x".repeat(10_000);
    let mut disconnected_at = None;
    // 30 MB in total: far more than the socket buffers and the 1 MB limit.
    for i in 0..3000 {
        let Frame::Integer(n) = p.cmd(&["PUBLISH", "ch", &payload]) else {
            panic!("PUBLISH failed")
        };
        if n == 1 && disconnected_at.is_none() {
            disconnected_at = Some(i);
        }
        // The fast subscriber keeps receiving every message.
        assert_eq!(
            next(&mut fast),
            arr(vec![bulk("message"), bulk("ch"), bulk(&payload)])
        );
    }
    assert!(
        disconnected_at.is_some(),
        "slow subscriber not disconnected"
    );
    let mut logs = Vec::new();
    assert!(wait_until(Duration::from_secs(10), || {
        logs.extend(s.logs());
        logs.iter()
            .any(|l| l.contains("pubsub client output buffer limit"))
    }));
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "ch"]),
        arr(vec![bulk("ch"), Frame::Integer(1)])
    );
}

#[test]
fn resp3_messages_arrive_while_blocked() {
    let s = start(&[]);
    let mut c = s.raw();
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["SUBSCRIBE", "ch"]);
    c.send(&[b"BLPOP", b"list", b"0"]).unwrap();
    let mut p = s.raw();
    assert!(wait_until(Duration::from_secs(10), || {
        p.cmd(&["CLIENT", "LIST"]).text().contains("flags=Pb")
    }));
    assert_eq!(p.cmd(&["PUBLISH", "ch", "during"]), Frame::Integer(1));
    assert_eq!(
        next(&mut c),
        Frame::Push(vec![bulk("message"), bulk("ch"), bulk("during")])
    );
    p.cmd(&["RPUSH", "list", "x"]);
    assert_eq!(next(&mut c), arr(vec![bulk("list"), bulk("x")]));
}

#[test]
fn client_list_shows_subscriptions_and_type() {
    let s = start(&[]);
    let mut c = s.raw();
    c.send(&[b"SUBSCRIBE", b"a", b"b"]).unwrap();
    next(&mut c);
    next(&mut c);
    c.cmd(&["PSUBSCRIBE", "p*"]);
    let mut q = s.raw();
    let list = q.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]).text();
    assert!(list.contains("flags=P"), "{list}");
    assert!(list.contains("sub=2 psub=1 ssub=0"), "{list}");
    assert_eq!(list.lines().count(), 1, "{list}");
    let normal = q.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).text();
    assert!(!normal.contains("flags=P"), "{normal}");
    assert_eq!(
        q.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]),
        Frame::Integer(1)
    );
    assert!(wait_until(Duration::from_secs(10), || q
        .cmd(&["PUBSUB", "NUMPAT"])
        == Frame::Integer(0)));
}

#[test]
fn served_blocked_client_notifies() {
    let s = start(&[]);
    let mut w = s.raw();
    w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "El"]);
    let mut c = s.raw();
    c.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let mut b = s.raw();
    b.send(&[b"BLPOP", b"q", b"0"]).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        w.cmd(&["CLIENT", "LIST"]).text().contains("flags=b")
    }));
    w.cmd(&["RPUSH", "q", "v"]);
    assert_eq!(next(&mut b), arr(vec![bulk("q"), bulk("v")]));
    let p = "__keyevent@0__:*";
    assert_eq!(next(&mut c), pmessage(p, "__keyevent@0__:rpush", "q"));
    assert_eq!(next(&mut c), pmessage(p, "__keyevent@0__:lpop", "q"));
}

#[test]
fn eviction_notifies_evicted() {
    let s = start(&[
        "--maxmemory",
        "20mb",
        "--maxmemory-policy",
        "allkeys-random",
        "--notify-keyspace-events",
        "Ee",
    ]);
    let mut c = s.raw();
    c.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let mut w = s.raw();
    let value = "x".repeat(1000);
    let mut batch = Vec::new();
    for i in 0..40_000 {
        batch.extend(lattice_testkit::encode_command(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            value.as_bytes(),
        ]));
    }
    w.send_raw(&batch).unwrap();
    for _ in 0..40_000 {
        w.read_frame().unwrap().unwrap();
    }
    let Frame::Array(m) = next(&mut c) else {
        panic!("not a message")
    };
    assert_eq!(m[0], bulk("message"));
    assert_eq!(m[1], bulk("__keyevent@0__:evicted"));
    let Frame::Bulk(key) = &m[2] else {
        panic!("no key")
    };
    assert!(key.starts_with(b"key:"));
}
