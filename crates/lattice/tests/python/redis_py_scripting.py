"""redis-py's scripting API against a running Lattice: Script objects from
`register_script` (EVALSHA, NOSCRIPT, SCRIPT LOAD and EVALSHA again), the
classic EVALSHA-then-EVAL fallback, scripts inside a MULTI/EXEC pipeline
(redis-py loads them with SCRIPT EXISTS / SCRIPT LOAD before MULTI),
functions (`function_load`, `fcall`, `fcall_ro`, `function_list`,
`function_dump` / `function_restore`), a rate limiter that writes a key it
was not given in KEYS, error mapping and RESP3 replies from scripts.

Usage: python3 redis_py_scripting.py PORT|SOCKET  (exit 0 when every check
passes). Run by crates/lattice/tests/integration/t98_scripting_py.rs against
Lattice and against redis-server 7.0.15, so every assertion is Redis's
behaviour too.
"""
import hashlib
import sys

import redis
from redis.exceptions import NoScriptError, ResponseError

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"

RATE_LIMIT = """
local key = 'rate:' .. ARGV[1]
local n = redis.call('INCR', key)
if n == 1 then
  redis.call('EXPIRE', key, tonumber(ARGV[2]))
end
if n > tonumber(ARGV[3]) then
  return 0
end
return 1
"""

LIBRARY = """#!lua name=pylib
redis.register_function('py_echo', function(keys, args) return args[1] end)
redis.register_function{
  function_name = 'py_get',
  callback = function(keys) return redis.call('GET', keys[1]) end,
  flags = {'no-writes'},
  description = 'reads one key',
}
redis.register_function('py_incr', function(keys, args)
  return redis.call('INCRBY', keys[1], args[1])
end)
"""


def connect(target, **kwargs):
    """A client for TARGET: a TCP port on localhost or a unix socket path."""
    if target.isdigit():
        return redis.Redis(port=int(target), decode_responses=True, **kwargs)
    return redis.Redis(unix_socket_path=target, decode_responses=True, **kwargs)


def cmdstat(r, name):
    """`calls` and `failed_calls` of one command from INFO commandstats."""
    stats = r.info("commandstats").get(f"cmdstat_{name}", {})
    return stats.get("calls", 0), stats.get("failed_calls", 0)


class Spy:
    """Records which scripting commands redis-py sends through `r`."""

    def __init__(self, r):
        self.calls = []
        for name in ("evalsha", "eval", "script_load"):
            original = getattr(r, name)

            def wrapper(*args, _name=name, _original=original, **kwargs):
                self.calls.append(_name)
                return _original(*args, **kwargs)

            setattr(r, name, wrapper)


def check_register_script(target):
    r = connect(target)
    r.script_flush()
    r.delete("counter")
    spy = Spy(r)
    incr_by = r.register_script(INCR_BY)
    assert r.script_exists(incr_by.sha) == [False]
    r.config_resetstat()

    # First call: EVALSHA answers NOSCRIPT, redis-py loads the script and
    # retries EVALSHA.
    assert incr_by(keys=["counter"], args=[5]) == 5
    assert spy.calls == ["evalsha", "script_load", "evalsha"], spy.calls
    assert cmdstat(r, "evalsha") == (2, 1), cmdstat(r, "evalsha")
    assert cmdstat(r, "script|load") == (1, 0)
    assert r.script_exists(incr_by.sha) == [True]

    # Later calls hit the cache.
    spy.calls.clear()
    assert incr_by(keys=["counter"], args=[2]) == 7
    assert incr_by(keys=["counter"], args=[-10]) == -3
    assert spy.calls == ["evalsha", "evalsha"], spy.calls
    assert cmdstat(r, "evalsha") == (4, 1)
    assert cmdstat(r, "script|load") == (1, 0)
    assert r.get("counter") == "-3"

    # A runtime error inside the script is a ResponseError, not NOSCRIPT.
    r.set("counter", "not a number")
    try:
        incr_by(keys=["counter"], args=[1])
        raise AssertionError("ResponseError expected")
    except NoScriptError:
        raise AssertionError("runtime error mapped to NoScriptError")
    except ResponseError as e:
        assert "not an integer" in str(e), e

    # The classic fallback: EVALSHA, and EVAL on NOSCRIPT, which caches the
    # script so the next EVALSHA hits.
    r.script_flush()
    r.delete("counter")
    sha = incr_by.sha

    def evalsha_or_eval():
        try:
            return r.evalsha(sha, 1, "counter", 1), "evalsha"
        except NoScriptError:
            return r.eval(INCR_BY, 1, "counter", 1), "eval"

    spy.calls.clear()
    assert evalsha_or_eval() == (1, "eval")
    assert evalsha_or_eval() == (2, "evalsha")
    assert spy.calls == ["evalsha", "eval", "evalsha"], spy.calls
    assert r.script_exists(sha, "0" * 40) == [True, False]

    try:
        r.evalsha("0" * 40, 0)
        raise AssertionError("NoScriptError expected")
    except NoScriptError as e:
        assert "No matching script" in str(e), e

    # EVAL_RO and the script cache commands.
    r.set("ro", "value")
    assert r.eval_ro("return redis.call('GET', KEYS[1])", 1, "ro") == "value"
    try:
        r.eval_ro("return redis.call('SET', KEYS[1], 'x')", 1, "ro")
        raise AssertionError("read-only script wrote")
    except ResponseError as e:
        assert "Write commands are not allowed from read-only scripts" in str(e), e
    assert r.get("ro") == "value"
    assert r.script_load(INCR_BY) == hashlib.sha1(INCR_BY.encode()).hexdigest() == sha
    assert r.script_flush() is True
    assert r.script_exists(sha) == [False]


def check_pipeline_transaction(target):
    r = connect(target)
    r.script_flush()
    r.delete("pk", "log")
    incr_by = r.register_script(INCR_BY)
    push_all = r.register_script(
        "for i, v in ipairs(ARGV) do redis.call('RPUSH', KEYS[1], v) end "
        "return redis.call('LLEN', KEYS[1])"
    )
    with r.pipeline(transaction=True) as p:
        p.set("pk", "10")
        incr_by(keys=["pk"], args=[5], client=p)
        push_all(keys=["log"], args=["a", "b", "c"], client=p)
        p.get("pk")
        assert p.execute() == [True, 15, 3, "15"]
    # The pipeline loaded both scripts before MULTI.
    assert r.script_exists(incr_by.sha, push_all.sha) == [True, True]
    assert r.lrange("log", 0, -1) == ["a", "b", "c"]

    # Scripts that are cached already run straight from the pipeline.
    with r.pipeline(transaction=True) as p:
        incr_by(keys=["pk"], args=[1], client=p)
        incr_by(keys=["pk"], args=[1], client=p)
        assert p.execute() == [16, 17]

    # A script failing inside EXEC does not roll back the others.
    r.set("str", "text")
    with r.pipeline(transaction=True) as p:
        incr_by(keys=["pk"], args=[3], client=p)
        incr_by(keys=["str"], args=[1], client=p)
        p.get("pk")
        res = p.execute(raise_on_error=False)
    assert res[0] == 20 and res[2] == "20", res
    assert isinstance(res[1], ResponseError), res

    # WATCH + MULTI around a script: a change by another client aborts it.
    other = connect(target)
    with r.pipeline(transaction=True) as p:
        p.watch("pk")
        other.set("pk", "100")
        p.multi()
        incr_by(keys=["pk"], args=[1], client=p)
        try:
            p.execute()
            raise AssertionError("WatchError expected")
        except redis.WatchError:
            pass
    assert r.get("pk") == "100"

    # A non-transactional pipeline with a script after SCRIPT FLUSH.
    r.script_flush()
    with r.pipeline(transaction=False) as p:
        incr_by(keys=["pk"], args=[1], client=p)
        p.get("pk")
        assert p.execute() == [101, "101"]


def check_functions(target):
    r = connect(target)
    r.function_flush()
    r.delete("fk", "fn_counter")
    assert r.function_load(LIBRARY) == "pylib"
    assert r.fcall("py_echo", 0, "hello") == "hello"
    r.set("fk", "stored")
    assert r.fcall_ro("py_get", 1, "fk") == "stored"
    assert r.fcall("py_get", 1, "fk") == "stored"
    assert r.fcall("py_incr", 1, "fn_counter", 4) == 4
    assert r.fcall("py_incr", 1, "fn_counter", 4) == 8
    try:
        r.fcall_ro("py_incr", 1, "fn_counter", 1)
        raise AssertionError("FCALL_RO of a writing function ran")
    except ResponseError as e:
        assert "write flag" in str(e), e
    try:
        r.function_load(LIBRARY)
        raise AssertionError("duplicate library loaded")
    except ResponseError as e:
        assert "already exists" in str(e), e
    assert r.function_load(LIBRARY, replace=True) == "pylib"
    try:
        r.fcall("no_such_function", 0)
        raise AssertionError("unknown function ran")
    except ResponseError as e:
        assert "Function not found" in str(e), e

    libs = r.function_list(library="pylib", withcode=True)
    assert len(libs) == 1, libs
    lib = dict(zip(libs[0][::2], libs[0][1::2]))
    assert lib["library_name"] == "pylib" and lib["engine"] == "LUA", lib
    assert lib["library_code"] == LIBRARY
    functions = {}
    for f in lib["functions"]:
        f = dict(zip(f[::2], f[1::2]))
        functions[f["name"]] = f
    assert sorted(functions) == ["py_echo", "py_get", "py_incr"], functions
    assert functions["py_get"]["description"] == "reads one key"
    assert functions["py_echo"]["description"] is None
    assert list(functions["py_get"]["flags"]) == ["no-writes"], functions
    assert list(functions["py_echo"]["flags"]) == []
    assert r.function_list(library="nomatch") == []

    stats = r.function_stats()
    assert stats["running_script"] is None, stats
    assert stats["engines"] == {"LUA": {"libraries_count": 1, "functions_count": 3}}, stats

    # DUMP / FLUSH / RESTORE round trip; the payload is bytes.
    payload = r.function_dump()
    assert isinstance(payload, bytes) and payload[:1] == b"\xf5", payload[:8]
    assert r.function_flush() is True
    try:
        r.fcall("py_echo", 0, "gone")
        raise AssertionError("flushed function ran")
    except ResponseError:
        pass
    assert r.function_restore(payload) is True
    assert r.fcall("py_echo", 0, "back") == "back"
    assert r.function_dump() == payload
    try:
        r.function_restore(payload)
        raise AssertionError("RESTORE over an existing library succeeded")
    except ResponseError as e:
        assert "already exists" in str(e), e
    assert r.function_restore(payload, "REPLACE") is True
    assert r.function_delete("pylib") is True
    try:
        r.function_delete("pylib")
        raise AssertionError("deleted a missing library")
    except ResponseError as e:
        assert "Library not found" in str(e), e
    assert r.function_list() == []


def check_rate_limiter(target):
    r = connect(target)
    r.delete("rate:alice", "rate:bob")
    limiter = r.register_script(RATE_LIMIT)
    allowed = [limiter(args=["alice", 60, 3]) for _ in range(5)]
    assert allowed == [1, 1, 1, 0, 0], allowed
    assert limiter(args=["bob", 60, 3]) == 1
    # The script wrote keys it was not given in KEYS.
    assert r.get("rate:alice") == "5"
    assert r.get("rate:bob") == "1"
    assert 0 < r.ttl("rate:alice") <= 60, r.ttl("rate:alice")
    assert 0 < r.ttl("rate:bob") <= 60
    # Only the first INCR sets the expiry: a shorter window later does not
    # shorten it.
    limiter(args=["alice", 5, 3])
    assert r.ttl("rate:alice") > 5, r.ttl("rate:alice")
    # Once the window key is gone the caller is allowed again.
    r.delete("rate:alice")
    assert limiter(args=["alice", 60, 3]) == 1


def check_resp3(target):
    r3 = connect(target, protocol=3)
    r3.delete("h3")
    r3.hset("h3", mapping={"a": "1"})
    assert r3.eval("return {map={x='y'}}", 0) == {"x": "y"}
    assert r3.eval("return {double=2.5}", 0) == 2.5
    assert list(r3.eval("return {set={m=true}}", 0)) == ["m"]
    assert r3.eval("redis.setresp(3); return redis.call('HGETALL', KEYS[1])", 1, "h3") == {"a": "1"}
    assert r3.eval("return redis.call('HGETALL', KEYS[1])", 1, "h3") == ["a", "1"]
    assert r3.eval("return redis.status_reply('FINE')", 0) == "FINE"
    try:
        r3.eval("return redis.error_reply('MYERR custom')", 0)
        raise AssertionError("error reply expected")
    except ResponseError as e:
        assert str(e) == "MYERR custom", e


def main():
    target = sys.argv[1]
    check_register_script(target)
    check_pipeline_transaction(target)
    check_functions(target)
    check_rate_limiter(target)
    check_resp3(target)
    print("redis-py scripting: all checks passed")


if __name__ == "__main__":
    main()
