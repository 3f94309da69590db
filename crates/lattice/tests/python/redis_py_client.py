"""redis-py against a running Lattice: the parsing a real client library does
(INFO, CLIENT LIST, CONFIG GET, RESP3 maps and doubles), pipelines with
MULTI/EXEC and WATCH, pub/sub, blocking pops and SCAN iteration.

Usage: python3 redis_py_client.py PORT  (exit 0 when every check passes).
Run by crates/lattice/tests/integration/t95_redis_py.rs.
"""
import sys
import threading

import redis


def check_basics(r):
    assert r.ping() is True
    assert r.set("k", "v", ex=100) is True
    assert r.get("k") == "v"
    assert 99 <= r.ttl("k") <= 100
    assert r.incr("n") == 1 and r.incrby("n", 41) == 42
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "missing") == ["1", "2", None]
    assert r.hset("h", mapping={"x": "1", "y": "2"}) == 2
    assert r.hgetall("h") == {"x": "1", "y": "2"}
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lrange("l", 0, -1) == ["a", "b", "c"]
    assert r.sadd("s", "a", "b") == 2 and r.smembers("s") == {"a", "b"}
    assert r.zadd("z", {"a": 1.5, "b": 2}) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [("a", 1.5), ("b", 2.0)]
    assert r.zscore("z", "a") == 1.5
    assert r.pfadd("hll", "a", "b", "c") == 1 and r.pfcount("hll") == 3
    assert r.setbit("bits", 7, 1) == 0 and r.bitcount("bits") == 1
    assert r.type("z") == "zset"
    assert sorted(r.scan_iter(match="[ab]")) == ["a", "b"]
    try:
        r.lpush("k", "x")
        raise AssertionError("WRONGTYPE expected")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e


def check_introspection(r):
    info = r.info()
    assert info["redis_version"] == "7.0.15"
    assert info["connected_clients"] >= 1
    assert "used_memory" in r.info("memory")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert r.config_set("maxmemory-policy", "allkeys-lru") is True
    clients = r.client_list()
    assert any(c["cmd"] == "client|list" for c in clients), clients
    assert r.client_setname("py") is True and r.client_getname() == "py"
    assert r.dbsize() >= 5


def check_transactions(r):
    with r.pipeline(transaction=True) as p:
        p.set("t1", "a").incr("t2").get("t1")
        assert p.execute() == [True, 1, "a"]
    # Optimistic locking: a WATCHed key changed by another client aborts EXEC.
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"], decode_responses=True)
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", "changed")
        p.multi()
        p.set("w", "mine")
        try:
            p.execute()
            raise AssertionError("WatchError expected")
        except redis.WatchError:
            pass
    assert r.get("w") == "changed"

    def incr_w(pipe):
        cur = int(pipe.get("cnt") or 0)
        pipe.multi()
        pipe.set("cnt", cur + 1)

    for _ in range(20):
        r.transaction(incr_w, "cnt")
    assert r.get("cnt") == "20"


def check_pubsub_and_blocking(r, port):
    p = r.pubsub()
    p.subscribe("news")
    msg = p.get_message(timeout=5)
    assert msg["type"] == "subscribe" and msg["channel"] == "news", msg
    assert r.publish("news", "hello") == 1
    msg = p.get_message(timeout=5)
    assert msg["type"] == "message" and msg["data"] == "hello", msg
    p.close()

    result = {}

    def waiter():
        c = redis.Redis(port=port, decode_responses=True)
        result["v"] = c.blpop("jobs", timeout=10)

    t = threading.Thread(target=waiter)
    t.start()
    # Wait (with a deadline) until the waiter is blocked, then push.
    for _ in range(1000):
        if r.info("clients")["blocked_clients"] == 1:
            break
        threading.Event().wait(0.005)
    r.rpush("jobs", "j1")
    t.join(10)
    assert result.get("v") == ("jobs", "j1"), result


def check_resp3(port):
    r3 = redis.Redis(port=port, protocol=3, decode_responses=True)
    assert r3.hgetall("h") == {"x": "1", "y": "2"}
    assert r3.zscore("z", "b") == 2.0
    assert r3.get("missing") is None
    assert r3.smembers("s") == {"a", "b"}


def main():
    port = int(sys.argv[1])
    r = redis.Redis(port=port, decode_responses=True)
    check_basics(r)
    check_introspection(r)
    check_transactions(r)
    check_pubsub_and_blocking(r, port)
    check_resp3(port)
    print("redis-py: all checks passed")


if __name__ == "__main__":
    main()
