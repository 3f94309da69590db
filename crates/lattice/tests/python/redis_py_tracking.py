"""redis-py against a running Lattice: client-side caching through redis-py's
own RESP3 parser and invalidation push handler, and REDIRECT to a redis-py
RESP2 pub/sub connection on `__redis__:invalidate`.

redis-py's built-in client-side cache (`cache_config=`) refuses servers that
report a version below 7.4 (Lattice reports 7.0.15), so the cache itself is
not used; the connection-level API it is built on is.

Usage: python3 redis_py_tracking.py PORT  (exit 0 when every check passes).
Run by crates/lattice/tests/integration/t97_tracking.rs.
"""
import sys
import time

import redis

DEADLINE = 10.0


def wait_for_push(conn, got, n):
    """Reads pushes until the handler has seen `n` of them (or times out)."""
    end = time.monotonic() + DEADLINE
    while len(got) < n and time.monotonic() < end:
        if conn.can_read(timeout=0.5):
            conn.read_response(push_request=True)
    assert len(got) >= n, f"expected {n} invalidations, got {got}"


def check_resp3_push_handler(port):
    conn = redis.Connection(host="127.0.0.1", port=port, protocol=3)
    conn.connect()
    got = []
    conn._parser.set_invalidation_push_handler(got.append)
    conn.send_command("CLIENT", "TRACKING", "ON")
    assert conn.read_response() == b"OK"
    conn.send_command("GET", "k")
    assert conn.read_response() is None

    other = redis.Redis(port=port)
    other.set("k", "v")
    wait_for_push(conn, got, 1)
    assert got[0] == [b"invalidate", [b"k"]], got

    # A cached value: read, another client writes, the cache entry goes.
    cache = {}
    conn.send_command("GET", "k")
    cache["k"] = conn.read_response()
    assert cache["k"] == b"v"
    other.set("k", "w")
    wait_for_push(conn, got, 2)
    for key in got[1][1]:
        cache.pop(key.decode(), None)
    assert "k" not in cache

    # A flush invalidates everything: the keys are None.
    other.flushall()
    wait_for_push(conn, got, 3)
    assert got[2] == [b"invalidate", None], got

    conn.send_command("CLIENT", "TRACKINGINFO")
    info = conn.read_response()
    assert list(info[b"flags"]) == [b"on"], info
    assert info[b"redirect"] == 0, info
    conn.disconnect()


def check_resp2_redirect(port):
    # RESP2 explicitly: redis-py 8 speaks RESP3 by default, and a RESP3
    # target would get pushes rather than pub/sub messages.
    other = redis.Redis(port=port, protocol=2)
    p = other.pubsub()
    p.subscribe("__redis__:invalidate")
    msg = p.get_message(timeout=DEADLINE)
    assert msg["type"] == "subscribe", msg
    subscriber = [c for c in other.client_list() if c["sub"] == "1"]
    assert len(subscriber) == 1, subscriber
    rid = subscriber[0]["id"]

    tracker = redis.Redis(port=port, protocol=2, single_connection_client=True)
    assert tracker.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", rid)
    assert tracker.execute_command("CLIENT", "GETREDIR") == int(rid)
    assert tracker.get("r") is None
    other.set("r", "1")
    msg = p.get_message(timeout=DEADLINE)
    assert msg["type"] == "message", msg
    assert msg["channel"] == b"__redis__:invalidate", msg
    assert msg["data"] == [b"r"], msg
    p.close()
    tracker.close()


def main():
    port = int(sys.argv[1])
    check_resp3_push_handler(port)
    check_resp2_redirect(port)
    print("all checks passed")


if __name__ == "__main__":
    main()
