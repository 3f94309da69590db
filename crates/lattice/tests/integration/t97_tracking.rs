//! Client-side caching (CLIENT TRACKING) end to end: invalidation pushes to
//! RESP3 clients after another client's writes, expiry, eviction, flushes,
//! DEL and transactions; BCAST prefixes; OPTIN/OPTOUT with CLIENT CACHING;
//! NOLOOP; REDIRECT to a RESP2 subscriber of `__redis__:invalidate` (the
//! `redis` crate's pub/sub) and the broken-redirect signal; the
//! introspection replies (GETREDIR, TRACKINGINFO, CLIENT LIST, INFO) and
//! option errors; and redis-py's RESP3 push handling.
//!
//! An invalidation is queued while the write that causes it is applied,
//! before that write is answered, and a connection writes queued pushes
//! before its next reply. So "no push" is checked without waiting: the next
//! frame after a PING must be the PONG.

use std::time::Duration;

use lattice_testkit::{wait_until, Frame, RawClient};

use crate::{connect, info_field, int, start, text};

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.to_string().into())
}

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

fn next(c: &mut RawClient) -> Frame {
    c.read_frame().unwrap().expect("connection closed")
}

/// `>2 invalidate [keys]`
fn invalidate(keys: &[&str]) -> Frame {
    Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(keys.iter().map(|k| bulk(k)).collect()),
    ])
}

/// `>2 invalidate _`: everything.
fn invalidate_all() -> Frame {
    Frame::Push(vec![bulk("invalidate"), Frame::Null])
}

/// Asserts that nothing was pushed to `c` before the reply to a PING.
fn no_push(c: &mut RawClient) {
    c.send(&[b"PING"]).unwrap();
    assert_eq!(next(c), Frame::Simple("PONG".into()));
}

/// A RESP3 connection with tracking on (plus `opts`).
fn tracker(s: &lattice_testkit::TestServer, opts: &[&str]) -> RawClient {
    let mut c = s.raw();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    let mut cmd = vec!["CLIENT", "TRACKING", "on"];
    cmd.extend_from_slice(opts);
    assert_eq!(c.cmd(&cmd), ok());
    c
}

#[test]
fn a_read_key_is_invalidated_once_by_another_clients_write() {
    let s = start(&[]);
    let mut t = tracker(&s, &[]);
    let mut w = connect(&s);
    assert_eq!(t.cmd(&["GET", "k"]), Frame::Null);
    // Keys read by MGET (even missing ones) and by typed reads count too.
    t.cmd(&["MGET", "m1", "m2"]);
    t.cmd(&["HGET", "h", "f"]);
    redis::cmd("SET").arg("k").arg("v").exec(&mut w).unwrap();
    assert_eq!(next(&mut t), invalidate(&["k"]));
    // Forgotten after the first invalidation.
    redis::cmd("SET").arg("k").arg("w").exec(&mut w).unwrap();
    no_push(&mut t);
    // One push per key, in write order.
    redis::cmd("MSET")
        .arg("m2")
        .arg("1")
        .arg("m1")
        .arg("1")
        .exec(&mut w)
        .unwrap();
    assert_eq!(next(&mut t), invalidate(&["m2"]));
    assert_eq!(next(&mut t), invalidate(&["m1"]));
    redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("1")
        .exec(&mut w)
        .unwrap();
    assert_eq!(next(&mut t), invalidate(&["h"]));
    // The client's own write: the push follows the reply.
    assert_eq!(t.cmd(&["GET", "k"]), bulk("w"));
    assert_eq!(t.cmd(&["SET", "k", "x"]), ok());
    assert_eq!(next(&mut t), invalidate(&["k"]));
    // Pipelined own writes: each reply comes before the push it causes.
    t.cmd(&["GET", "p"]);
    let mut burst = lattice_testkit::encode_command(&[b"SET", b"p", b"1"]);
    burst.extend(lattice_testkit::encode_command(&[b"SET", b"q", b"1"]));
    t.send_raw(&burst).unwrap();
    assert_eq!(next(&mut t), ok());
    assert_eq!(next(&mut t), invalidate(&["p"]));
    assert_eq!(next(&mut t), ok());
    no_push(&mut t);
}

#[test]
fn del_transactions_and_flushes_invalidate() {
    let s = start(&[]);
    let mut t = tracker(&s, &[]);
    let mut w = s.raw();
    w.cmd(&["MSET", "a", "1", "b", "2"]);
    t.cmd(&["GET", "a"]);
    t.cmd(&["GET", "b"]);
    assert_eq!(w.cmd(&["DEL", "a"]), Frame::Integer(1));
    assert_eq!(next(&mut t), invalidate(&["a"]));
    w.cmd(&["MULTI"]);
    w.cmd(&["SET", "b", "3"]);
    w.cmd(&["INCR", "c"]);
    w.cmd(&["EXEC"]);
    assert_eq!(next(&mut t), invalidate(&["b"]));
    no_push(&mut t);
    // Reads inside the tracking client's own transactions are remembered:
    // a transaction of reads only, and one that also writes.
    t.cmd(&["MULTI"]);
    t.cmd(&["GET", "r1"]);
    assert_eq!(t.cmd(&["EXEC"]), Frame::Array(vec![Frame::Null]));
    t.cmd(&["MULTI"]);
    t.cmd(&["GET", "r2"]);
    t.cmd(&["SET", "other", "1"]);
    t.cmd(&["EXEC"]);
    w.cmd(&["MSET", "r1", "1", "r2", "2"]);
    assert_eq!(next(&mut t), invalidate(&["r1"]));
    assert_eq!(next(&mut t), invalidate(&["r2"]));
    // FLUSHALL and FLUSHDB: a null, "everything", to every tracking client.
    let mut t2 = tracker(&s, &["BCAST"]);
    t.cmd(&["GET", "x"]);
    assert_eq!(w.cmd(&["FLUSHALL"]), ok());
    assert_eq!(next(&mut t), invalidate_all());
    assert_eq!(next(&mut t2), invalidate_all());
    assert_eq!(w.cmd(&["FLUSHDB"]), ok());
    assert_eq!(next(&mut t), invalidate_all());
    assert_eq!(next(&mut t2), invalidate_all());
    // The table was emptied: x was forgotten.
    w.cmd(&["SET", "x", "1"]);
    no_push(&mut t);
}

#[test]
fn active_expiry_invalidates() {
    let s = start(&["--hz", "100"]);
    let mut t = tracker(&s, &[]);
    let mut w = s.raw();
    w.cmd(&["SET", "e", "v"]);
    assert_eq!(t.cmd(&["GET", "e"]), bulk("v"));
    assert_eq!(w.cmd(&["PEXPIRE", "e", "1"]), Frame::Integer(1));
    // PEXPIRE is a write: that is the first invalidation.
    assert_eq!(next(&mut t), invalidate(&["e"]));
    w.cmd(&["SET", "e2", "v", "PX", "30"]);
    assert_eq!(t.cmd(&["GET", "e2"]), bulk("v"));
    // Active expiry deletes it (a write through the log): the push comes
    // by itself; the read blocks until it does.
    assert_eq!(next(&mut t), invalidate(&["e2"]));
}

#[test]
fn eviction_invalidates() {
    let s = start(&["--maxmemory-policy", "allkeys-random"]);
    let mut t = tracker(&s, &[]);
    let mut w = s.raw();
    for i in 0..10 {
        w.cmd(&["SET", &format!("ev:{i}"), "v"]);
    }
    t.cmd(&["GET", "ev:3"]);
    // A limit nothing fits under: the next command evicts every key.
    assert_eq!(w.cmd(&["CONFIG", "SET", "maxmemory", "1"]), ok());
    w.cmd(&["SET", "more", "v"]);
    assert_eq!(next(&mut t), invalidate(&["ev:3"]));
    assert_eq!(w.cmd(&["CONFIG", "SET", "maxmemory", "0"]), ok());
    assert_eq!(w.cmd(&["EXISTS", "ev:3"]), Frame::Integer(0));
}

#[test]
fn bcast_prefixes_and_noloop() {
    let s = start(&[]);
    let mut t = tracker(&s, &["BCAST", "PREFIX", "user:", "PREFIX", "obj:"]);
    let mut all = tracker(&s, &["BCAST", "NOLOOP"]);
    let mut w = s.raw();
    // Nothing is remembered: writes alone notify, one message per prefix
    // (prefixes and keys in order).
    w.cmd(&[
        "MSET", "user:2", "a", "obj:1", "b", "other", "c", "user:1", "d",
    ]);
    assert_eq!(next(&mut t), invalidate(&["obj:1"]));
    assert_eq!(next(&mut t), invalidate(&["user:1", "user:2"]));
    assert_eq!(
        next(&mut all),
        invalidate(&["obj:1", "other", "user:1", "user:2"])
    );
    // NOLOOP: the BCAST client's own writes do not come back to it, but
    // reach the others.
    all.cmd(&["SET", "user:9", "x"]);
    no_push(&mut all);
    assert_eq!(next(&mut t), invalidate(&["user:9"]));
    // "user:", "obj:" and the empty prefix of a BCAST without PREFIX.
    let mut con = connect(&s);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_prefixes"), 3);
}

#[test]
fn noloop_in_default_mode() {
    let s = start(&[]);
    let mut t = tracker(&s, &["NOLOOP"]);
    let mut w = s.raw();
    t.cmd(&["GET", "k"]);
    assert_eq!(t.cmd(&["SET", "k", "mine"]), ok());
    no_push(&mut t);
    // The own write still forgot the key; a new read remembers it again.
    t.cmd(&["GET", "k"]);
    w.cmd(&["SET", "k", "theirs"]);
    assert_eq!(next(&mut t), invalidate(&["k"]));
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let s = start(&[]);
    let mut w = s.raw();
    let mut t = tracker(&s, &["OPTIN"]);
    t.cmd(&["GET", "a"]);
    assert_eq!(t.cmd(&["CLIENT", "CACHING", "yes"]), ok());
    t.cmd(&["GET", "b"]);
    // One command only...
    t.cmd(&["GET", "c"]);
    // ... but CLIENT subcommands keep it, and a transaction uses it whole.
    t.cmd(&["CLIENT", "CACHING", "yes"]);
    t.cmd(&["CLIENT", "ID"]);
    t.cmd(&["MULTI"]);
    t.cmd(&["GET", "d"]);
    t.cmd(&["GET", "e"]);
    t.cmd(&["EXEC"]);
    w.cmd(&["MSET", "a", "1", "b", "1", "c", "1", "d", "1", "e", "1"]);
    assert_eq!(next(&mut t), invalidate(&["b"]));
    assert_eq!(next(&mut t), invalidate(&["d"]));
    assert_eq!(next(&mut t), invalidate(&["e"]));
    no_push(&mut t);

    let mut t = tracker(&s, &["OPTOUT"]);
    assert_eq!(t.cmd(&["CLIENT", "CACHING", "no"]), ok());
    t.cmd(&["GET", "a"]);
    t.cmd(&["GET", "b"]);
    w.cmd(&["MSET", "a", "2", "b", "2"]);
    assert_eq!(next(&mut t), invalidate(&["b"]));
    no_push(&mut t);
    assert_eq!(
        t.cmd(&["CLIENT", "CACHING", "yes"]),
        Frame::Error(
            "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.".into()
        )
    );
}

#[test]
fn redirect_to_a_resp2_subscriber_and_broken_redirect() {
    let s = start(&[]);
    let client = redis::Client::open(s.url()).unwrap();
    let mut sub_con = client.get_connection().unwrap();
    let rid: i64 = redis::cmd("CLIENT").arg("ID").query(&mut sub_con).unwrap();
    let mut ps = sub_con.as_pubsub();
    ps.subscribe("__redis__:invalidate").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // A RESP2 tracking client: it cannot receive pushes, its target can.
    let mut t = s.raw();
    let rid_s = rid.to_string();
    assert_eq!(
        t.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &rid_s]),
        ok()
    );
    assert_eq!(t.cmd(&["CLIENT", "GETREDIR"]), Frame::Integer(rid));
    t.cmd(&["GET", "k1"]);
    t.cmd(&["GET", "k2"]);
    let mut w = connect(&s);
    redis::cmd("MSET")
        .arg("k1")
        .arg("1")
        .arg("k2")
        .arg("2")
        .exec(&mut w)
        .unwrap();
    for k in ["k1", "k2"] {
        let m = ps.get_message().unwrap();
        assert_eq!(m.get_channel_name(), "__redis__:invalidate");
        assert_eq!(m.get_payload::<Vec<String>>().unwrap(), vec![k.to_string()]);
    }
    redis::cmd("FLUSHALL").exec(&mut w).unwrap();
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_payload::<Option<Vec<String>>>().unwrap(), None);
    no_push(&mut t);

    // The target leaves: a RESP3 tracking client hears about it.
    drop(ps);
    drop(sub_con);
    assert!(wait_until(Duration::from_secs(10), || {
        !text(&t.cmd(&["CLIENT", "LIST"])).contains(&format!("id={rid} "))
    }));
    assert!(matches!(t.cmd(&["HELLO", "3"]), Frame::Map(_)));
    t.cmd(&["GET", "k1"]);
    redis::cmd("SET").arg("k1").arg("x").exec(&mut w).unwrap();
    assert_eq!(
        next(&mut t),
        Frame::Push(vec![bulk("tracking-redir-broken"), Frame::Integer(rid)])
    );
    let info = t.cmd(&["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        info,
        Frame::Map(vec![
            (
                bulk("flags"),
                Frame::Set(vec![bulk("on"), bulk("broken_redirect")])
            ),
            (bulk("redirect"), Frame::Integer(rid)),
            (bulk("prefixes"), Frame::Array(vec![])),
        ])
    );
    let me = text(&t.cmd(&["CLIENT", "INFO"]));
    assert!(me.contains("flags=tR "), "{me}");
    assert!(me.contains(&format!("redir={rid} ")), "{me}");
}

#[test]
fn redirect_to_a_resp3_client() {
    let s = start(&[]);
    let mut target = s.raw();
    target.cmd(&["HELLO", "3"]);
    let rid = int(&target.cmd(&["CLIENT", "ID"])).to_string();
    let mut t = s.raw();
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &rid]), ok());
    t.cmd(&["GET", "k"]);
    s.raw().cmd(&["SET", "k", "v"]);
    assert_eq!(next(&mut target), invalidate(&["k"]));
}

#[test]
fn introspection_replies_and_counts() {
    let s = start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]), Frame::Integer(-1));
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKINGINFO"]),
        Frame::Array(vec![
            bulk("flags"),
            Frame::Array(vec![bulk("off")]),
            bulk("redirect"),
            Frame::Integer(-1),
            bulk("prefixes"),
            Frame::Array(vec![]),
        ])
    );
    let mut t = tracker(&s, &["OPTIN", "NOLOOP"]);
    t.cmd(&["CLIENT", "CACHING", "yes"]);
    assert_eq!(t.cmd(&["CLIENT", "GETREDIR"]), Frame::Integer(0));
    assert_eq!(
        t.cmd(&["CLIENT", "TRACKINGINFO"]),
        Frame::Map(vec![
            (
                bulk("flags"),
                Frame::Set(vec![
                    bulk("on"),
                    bulk("optin"),
                    bulk("caching-yes"),
                    bulk("noloop")
                ])
            ),
            (bulk("redirect"), Frame::Integer(0)),
            (bulk("prefixes"), Frame::Array(vec![])),
        ])
    );
    t.cmd(&["MGET", "a", "b"]);
    let mut b = tracker(&s, &["BCAST", "PREFIX", "p", "PREFIX", "q"]);
    assert_eq!(
        b.cmd(&["CLIENT", "TRACKINGINFO"]),
        Frame::Map(vec![
            (bulk("flags"), Frame::Set(vec![bulk("on"), bulk("bcast")])),
            (bulk("redirect"), Frame::Integer(0)),
            (bulk("prefixes"), Frame::Array(vec![bulk("p"), bulk("q")])),
        ])
    );
    let list = text(&c.cmd(&["CLIENT", "LIST"]));
    assert!(list.contains("flags=t "), "{list}");
    assert!(list.contains("flags=tB "), "{list}");
    assert!(list.contains("flags=N "), "{list}");
    let mut con = connect(&s);
    assert_eq!(info_field(&mut con, "clients", "tracking_clients"), 2);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_keys"), 2);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_items"), 2);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_prefixes"), 2);
    // OFF, RESET and disconnecting all stop tracking.
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "off"]), ok());
    assert_eq!(t.cmd(&["CLIENT", "GETREDIR"]), Frame::Integer(-1));
    assert_eq!(info_field(&mut con, "clients", "tracking_clients"), 1);
    b.cmd(&["RESET"]);
    assert_eq!(info_field(&mut con, "clients", "tracking_clients"), 0);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_keys"), 0);
    assert_eq!(info_field(&mut con, "stats", "tracking_total_prefixes"), 0);
    let gone = tracker(&s, &[]);
    assert_eq!(info_field(&mut con, "clients", "tracking_clients"), 1);
    drop(gone);
    assert!(wait_until(Duration::from_secs(10), || info_field(
        &mut con,
        "clients",
        "tracking_clients"
    ) == 0));
}

#[test]
fn the_table_is_bounded_by_tracking_table_max_keys() {
    let s = start(&[]);
    let mut t = tracker(&s, &[]);
    let mut con = connect(&s);
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("tracking-table-max-keys")
        .arg("2")
        .exec(&mut con)
        .unwrap();
    t.cmd(&["GET", "a"]);
    t.cmd(&["GET", "b"]);
    no_push(&mut t);
    // A third key: one is forgotten, and its client told so.
    assert_eq!(t.cmd(&["GET", "c"]), Frame::Null);
    let Frame::Push(p) = next(&mut t) else {
        panic!("no invalidation for the forgotten key")
    };
    let forgotten = match p.as_slice() {
        [kind, Frame::Array(keys)] if *kind == bulk("invalidate") && keys.len() == 1 => {
            text(&keys[0])
        }
        other => panic!("{other:?}"),
    };
    assert!(["a", "b", "c"].contains(&forgotten.as_str()));
    assert_eq!(info_field(&mut con, "stats", "tracking_total_keys"), 2);
}

#[test]
fn option_errors_as_redis() {
    let s = start(&[]);
    let mut c = s.raw();
    let err = |e: &str| Frame::Error(e.into());
    for (cmd, want) in [
        (
            &["CLIENT", "TRACKING", "on", "PREFIX", "a"][..],
            "ERR PREFIX option requires BCAST mode to be enabled",
        ),
        (
            &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ),
        (
            &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ),
        (
            &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
            "ERR The client ID you want redirect to does not exist",
        ),
        (
            &["CLIENT", "TRACKING", "on", "REDIRECT", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (&["CLIENT", "TRACKING", "maybe"], "ERR syntax error"),
        (&["CLIENT", "TRACKING", "on", "NOSUCH"], "ERR syntax error"),
        (&["CLIENT", "TRACKING", "on", "PREFIX"], "ERR syntax error"),
        (
            &["CLIENT", "TRACKING"],
            "ERR wrong number of arguments for 'client|tracking' command",
        ),
        (
            &["CLIENT", "CACHING", "yes"],
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ),
        (
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"],
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap.",
        ),
    ] {
        assert_eq!(c.cmd(cmd), err(want), "{cmd:?}");
    }
    let me = int(&c.cmd(&["CLIENT", "ID"])).to_string();
    let mut o = s.raw();
    let other = int(&o.cmd(&["CLIENT", "ID"])).to_string();
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &me, "REDIRECT", &me]),
        err("ERR A client can only redirect to a single other client")
    );
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "on", "OPTIN"]), ok());
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "OPTOUT"]),
        err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "BCAST"]),
        err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "CACHING", "maybe"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "CACHING", "no"]),
        err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );
    // Re-enabling switches REDIRECT; the id must exist now.
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &other]),
        ok()
    );
    assert_eq!(c.cmd(&["CLIENT", "TRACKING", "off", "PREFIX", "x"]), ok());
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a"]),
        ok()
    );
    assert_eq!(
        c.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "abc"]),
        err("ERR Prefix 'abc' overlaps with an existing prefix 'a'. Prefixes for a single client must not overlap.")
    );
}

#[test]
fn redis_py_tracking_with_resp3_pushes() {
    let s = start(&[]);
    crate::run_python_checks(&s, "redis_py_tracking.py");
}
