//! Conversions between command replies and Lua values, following Redis 7.0's
//! tables ("Conversion between Lua and Redis data types" in the EVAL docs):
//! RESP2 replies become numbers, strings, `false` and tables; after
//! `redis.setresp(3)` maps, sets, doubles, booleans, nulls, big numbers and
//! verbatim strings get their RESP3 forms. A script's return value converts
//! back the other way, shaped by the calling client's protocol.

use bytes::Bytes;
use lattice_engine::{CmdError, Reply};
use mlua::{Lua, Table, Value};

/// Most table nesting converted either way (Redis bounds it by the C stack;
/// this keeps a hostile script from overflowing ours).
const MAX_DEPTH: usize = 128;

/// A command reply as the Lua value `redis.call` returns. `resp3` is the
/// script's `redis.setresp` choice. An error reply is `{err = text}`.
pub fn reply_to_lua(lua: &Lua, r: &Reply, resp3: bool) -> mlua::Result<Value> {
    reply_to_lua_at(lua, r, resp3, 0)
}

fn reply_to_lua_at(lua: &Lua, r: &Reply, resp3: bool, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::RuntimeError("reply nesting too deep".into()));
    }
    let d = depth + 1;
    Ok(match r {
        Reply::Ok => status_table(lua, "OK")?,
        Reply::Status(s) => status_table(lua, s)?,
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) => array(lua, items.iter(), resp3, d)?,
        Reply::Set(items) => {
            if resp3 {
                let t = lua.create_table()?;
                for i in items {
                    t.raw_set(reply_to_lua_at(lua, i, resp3, d)?, true)?;
                }
                wrap(lua, "set", Value::Table(t))?
            } else {
                array(lua, items.iter(), resp3, d)?
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                let t = lua.create_table()?;
                for (k, v) in pairs {
                    t.raw_set(
                        reply_to_lua_at(lua, k, resp3, d)?,
                        reply_to_lua_at(lua, v, resp3, d)?,
                    )?;
                }
                wrap(lua, "map", Value::Table(t))?
            } else {
                array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3, d)?
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                let t = lua.create_table()?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    let pair = array(lua, [k, v].into_iter(), resp3, d)?;
                    t.raw_set(i + 1, pair)?;
                }
                Value::Table(t)
            } else {
                array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3, d)?
            }
        }
        Reply::Double(x) => {
            if resp3 {
                wrap(lua, "double", Value::Number(*x))?
            } else {
                Value::String(lua.create_string(format_double(*x))?)
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Number(f64::from(u8::from(*b)))
            }
        }
        Reply::Verbatim(s) => {
            if resp3 {
                let inner = lua.create_table()?;
                inner.raw_set("format", "txt")?;
                inner.raw_set("string", lua.create_string(s)?)?;
                wrap(lua, "verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(s)?)
            }
        }
        Reply::Error(e) => error_table(lua, &e.wire_text())?,
        Reply::WouldBlock { .. } => Value::Boolean(false),
    })
}

/// `{err = text}`, the Lua form of an error reply.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(Value::Table(t))
}

fn status_table(lua: &Lua, s: &str) -> mlua::Result<Value> {
    wrap(lua, "ok", Value::String(lua.create_string(s)?))
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

fn array<'a>(
    lua: &Lua,
    items: impl Iterator<Item = &'a Reply>,
    resp3: bool,
    depth: usize,
) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, r) in items.enumerate() {
        t.raw_set(i + 1, reply_to_lua_at(lua, r, resp3, depth)?)?;
    }
    Ok(Value::Table(t))
}

/// Redis's `%.17g` for doubles in RESP2 bulk form.
fn format_double(x: f64) -> String {
    lattice_engine::number::format_double(x)
}

/// A script's return value as a reply, following Redis 7.0's Lua-to-RESP
/// rules: numbers truncate to integers; `false` is a null and `true` is 1,
/// unless the script chose `redis.setresp(3)` (`resp3`), which makes them
/// booleans;
/// tables are arrays up to the first nil unless they carry `err`, `ok`,
/// `map`, `set`, `double`, `big_number` or `verbatim_string`.
pub fn lua_to_reply(v: &Value, resp3: bool) -> Reply {
    lua_to_reply_at(v, resp3, 0)
}

fn lua_to_reply_at(v: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::Error(CmdError::err(
            "reached lua stack limit while converting the reply",
        ));
    }
    match v {
        Value::Nil => Reply::Nil,
        Value::Boolean(true) => {
            if resp3 {
                Reply::Bool(true)
            } else {
                Reply::Int(1)
            }
        }
        Value::Boolean(false) => {
            if resp3 {
                Reply::Bool(false)
            } else {
                Reply::Nil
            }
        }
        Value::Integer(n) => Reply::Int(*n),
        Value::Number(n) => Reply::Int(truncate(*n)),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        // A failed redis.call caught by pcall and returned.
        Value::Error(e) => Reply::Error(error_from_script(&crate::reply_error_text(e))),
        // Functions, userdata, threads: Redis converts them to a null.
        _ => Reply::Nil,
    }
}

/// `(long long)` of a Lua number, as Redis converts.
fn truncate(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get(name).unwrap_or(Value::Nil)
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    let d = depth + 1;
    if let Value::String(s) = field(t, "err") {
        return Reply::Error(error_from_script(&s.to_string_lossy()));
    }
    if let Value::String(s) = field(t, "ok") {
        return Reply::Status(s.to_string_lossy().replace(['\r', '\n'], " "));
    }
    // Doubles and verbatim strings keep their RESP3 type; the encoder
    // turns them into bulk strings for RESP2 clients.
    if let Value::Number(x) = field(t, "double") {
        return Reply::Double(x);
    }
    if let Value::Integer(x) = field(t, "double") {
        return Reply::Double(x as f64);
    }
    if let Value::String(s) = field(t, "big_number") {
        // No big number reply type: the digits as a bulk string.
        return Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Value::Table(v) = field(t, "verbatim_string") {
        if let Value::String(s) = field(&v, "string") {
            return Reply::Verbatim(s.to_string_lossy());
        }
    }
    if let Value::Table(m) = field(t, "map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((lua_to_reply_at(&k, resp3, d), lua_to_reply_at(&v, resp3, d)));
        }
        return Reply::Map(pairs);
    }
    if let Value::Table(s) = field(t, "set") {
        let mut items = Vec::new();
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            items.push(lua_to_reply_at(&k, resp3, d));
        }
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        items.push(lua_to_reply_at(&v, resp3, d));
    }
    Reply::Array(items)
}

/// An error reply a script produced: its text as given, with newlines
/// flattened (a reply line cannot hold them) and a missing code made
/// `ERR`-less exactly as Redis does (it sends the text as is).
pub fn error_from_script(text: &str) -> CmdError {
    let t = text.strip_prefix('-').unwrap_or(text);
    CmdError::Other(t.replace(['\r', '\n'], " "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, src: &str) -> Value {
        lua.load(src).eval().unwrap()
    }

    #[test]
    fn lua_values_become_replies_as_redis() {
        let lua = Lua::new();
        assert_eq!(
            lua_to_reply(&eval(&lua, "return 3.99"), false),
            Reply::Int(3)
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return -3.99"), false),
            Reply::Int(-3)
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return true"), false),
            Reply::Int(1)
        );
        assert_eq!(lua_to_reply(&eval(&lua, "return false"), false), Reply::Nil);
        assert_eq!(
            lua_to_reply(&eval(&lua, "return false"), true),
            Reply::Bool(false)
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {1, 'x', {2}, nil, 4}"), false),
            Reply::Array(vec![
                Reply::Int(1),
                Reply::bulk(b"x"),
                Reply::Array(vec![Reply::Int(2)])
            ])
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {1, false, 3}"), false),
            Reply::Array(vec![Reply::Int(1), Reply::Nil, Reply::Int(3)])
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {err='X boom'}"), false),
            Reply::Error(CmdError::Other("X boom".into()))
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {ok='FINE'}"), false),
            Reply::Status("FINE".into())
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {double=3.5}"), false),
            Reply::Double(3.5)
        );
        assert_eq!(
            lua_to_reply(&eval(&lua, "return {double=3.5}"), true),
            Reply::Double(3.5)
        );
    }

    #[test]
    fn replies_become_lua_values_as_redis() {
        let lua = Lua::new();
        let f: mlua::Function = lua
            .load("return function(v) return type(v) .. ':' .. tostring(type(v) == 'table' and (v.ok or v.err or #v) or v) end")
            .eval()
            .unwrap();
        let show = |r: Reply, resp3: bool| -> String {
            f.call(reply_to_lua(&lua, &r, resp3).unwrap()).unwrap()
        };
        assert_eq!(show(Reply::Ok, false), "table:OK");
        assert_eq!(show(Reply::Int(7), false), "number:7");
        assert_eq!(show(Reply::Nil, false), "boolean:false");
        assert_eq!(show(Reply::Nil, true), "nil:nil");
        assert_eq!(show(Reply::Bool(true), false), "number:1");
        assert_eq!(show(Reply::Bool(true), true), "boolean:true");
        assert!(show(Reply::Error(CmdError::WrongType), false).starts_with("table:WRONGTYPE"));
        assert_eq!(
            show(Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]), false),
            "table:2"
        );
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let lua = Lua::new();
        let v = eval(
            &lua,
            "local t = {} local c = t for i = 1, 5000 do c[1] = {} c = c[1] end return t",
        );
        let mut r = &lua_to_reply(&v, false);
        let mut depth = 0;
        while let Reply::Array(items) = r {
            match items.first() {
                Some(x) => r = x,
                None => break,
            }
            depth += 1;
        }
        assert!(depth <= MAX_DEPTH + 1);
        assert!(matches!(r, Reply::Error(_)));
    }
}
