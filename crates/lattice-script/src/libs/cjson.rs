//! `cjson`: JSON encoding and decoding with the behaviour of lua_cjson 2.1.0
//! as Redis 7.0 bundles it (its configuration functions and defaults, its
//! array/object rules, `"%.14g"` numbers, `\/` escapes, `cjson.null` as a
//! NULL light userdata, and its error texts).
//!
//! Both directions walk nested data with an explicit stack rather than
//! recursion, so hostile nesting costs heap, not the thread's stack; the
//! depth limits (`encode_max_depth`, `decode_max_depth`, and the C stack
//! limit lua_cjson runs into) are checked where the C code checks them.

use std::ffi::c_void;
use std::sync::{Arc, Mutex, PoisonError};

use mlua::{LightUserData, Lua, Table, Value};

use super::{
    arg_error, check_integer, check_string, exact_get, exact_numbers, is_lossy, number_of,
    packed_function, results, type_name, Args, Fail, Ignore, LibResult, Ret, LUA_MAX_CSTACK,
    MAX_HELD_REFS, MAX_OUTPUT,
};

/// `cjson.null`: lua_cjson represents JSON null as a NULL light userdata.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut::<c_void>()))
}

/// One `cjson` instance's settings (`json_config_t`); `cjson.new()` makes
/// another instance with its own.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuse, 1 allow (`inf`, `nan`), 2 encode as `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    /// Only reported back: the buffer it controls is an allocation detail.
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            decode_invalid_numbers: 1,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn read(cfg: &Shared) -> Config {
    *cfg.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a `cjson` table with a fresh configuration (also `cjson.new`).
pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;

    let c = cfg.clone();
    t.set(
        "encode",
        packed_function(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(arg_error("encode", 1, "expected 1 argument"));
            }
            let out = Encoder::new(lua, read(&c)).run(args.get(1)?)?;
            Ok(Ret::One(Value::String(lua.create_string(out)?)))
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "decode",
        packed_function(lua, move |lua, args| {
            if args.len() != 1 {
                return Err(arg_error("decode", 1, "expected 1 argument"));
            }
            let s = check_string(lua, args, 1, "decode")?;
            let data = s.as_bytes();
            decode(lua, read(&c), &data).map(Ret::One)
        })?,
    )?;
    let c = cfg.clone();
    t.set(
        "encode_sparse_array",
        packed_function(lua, move |lua, args| {
            const NAME: &str = "encode_sparse_array";
            arg_count(args, 3, NAME)?;
            let mut g = c.lock().unwrap_or_else(PoisonError::into_inner);
            // Each setting is stored as soon as it is read, so an error in
            // a later argument keeps the earlier ones, as in C.
            let convert = enum_option(lua, args, 1, &mut g.sparse_convert, BOOL_OPTIONS, NAME)?;
            let ratio = integer_option(lua, args, 2, &mut g.sparse_ratio, 0, i32::MAX, NAME)?;
            let safe = integer_option(lua, args, 3, &mut g.sparse_safe, 0, i32::MAX, NAME)?;
            drop(g);
            Ok(results(lua, vec![convert, ratio, safe])?)
        })?,
    )?;
    for (name, field, min, max) in [
        ("encode_max_depth", IntField::EncodeMaxDepth, 1, i32::MAX),
        ("decode_max_depth", IntField::DecodeMaxDepth, 1, i32::MAX),
        ("encode_number_precision", IntField::Precision, 1, 14),
    ] {
        let c = cfg.clone();
        t.set(
            name,
            packed_function(lua, move |lua, args| {
                arg_count(args, 1, name)?;
                let mut g = c.lock().unwrap_or_else(PoisonError::into_inner);
                let slot = match field {
                    IntField::EncodeMaxDepth => &mut g.encode_max_depth,
                    IntField::DecodeMaxDepth => &mut g.decode_max_depth,
                    IntField::Precision => &mut g.encode_number_precision,
                };
                Ok(Ret::One(integer_option(
                    lua, args, 1, slot, min, max, name,
                )?))
            })?,
        )?;
    }
    for (name, field, options) in [
        ("encode_keep_buffer", EnumField::KeepBuffer, BOOL_OPTIONS),
        (
            "encode_invalid_numbers",
            EnumField::EncodeInvalid,
            &["off", "on", "null"][..],
        ),
        (
            "decode_invalid_numbers",
            EnumField::DecodeInvalid,
            BOOL_OPTIONS,
        ),
    ] {
        let c = cfg.clone();
        t.set(
            name,
            packed_function(lua, move |lua, args| {
                arg_count(args, 1, name)?;
                let mut g = c.lock().unwrap_or_else(PoisonError::into_inner);
                let slot = match field {
                    EnumField::KeepBuffer => &mut g.encode_keep_buffer,
                    EnumField::EncodeInvalid => &mut g.encode_invalid_numbers,
                    EnumField::DecodeInvalid => &mut g.decode_invalid_numbers,
                };
                Ok(Ret::One(enum_option(lua, args, 1, slot, options, name)?))
            })?,
        )?;
    }
    t.set(
        "new",
        packed_function(lua, |lua, _| Ok(Ret::One(Value::Table(module(lua)?))))?,
    )?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

#[derive(Clone, Copy)]
enum IntField {
    EncodeMaxDepth,
    DecodeMaxDepth,
    Precision,
}

#[derive(Clone, Copy)]
enum EnumField {
    KeepBuffer,
    EncodeInvalid,
    DecodeInvalid,
}

const BOOL_OPTIONS: &[&str] = &["off", "on"];

/// `json_arg_init`: at most `max` arguments.
fn arg_count(args: &Args, max: usize, fname: &str) -> LibResult<()> {
    if args.len() > max {
        return Err(arg_error(fname, max + 1, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option`: sets `slot` from argument `narg` unless it is nil,
/// then returns the setting.
fn integer_option(
    lua: &Lua,
    args: &Args,
    narg: usize,
    slot: &mut i32,
    min: i32,
    max: i32,
    fname: &str,
) -> LibResult<Value> {
    if !matches!(args.get(narg)?, Value::Nil) {
        // C stores the lua_Integer into an int, keeping the low 32 bits.
        #[allow(clippy::cast_possible_truncation)]
        let value = check_integer(lua, args, narg, fname)? as i32;
        if value < min || value > max {
            // lua_cjson names argument 1 here whichever argument it was.
            return Err(arg_error(
                fname,
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *slot = value;
    }
    Ok(Value::Integer(i64::from(*slot)))
}

/// `json_enum_option` with `bool_true` 1: a boolean or one of `options`
/// sets `slot`; returns a boolean for off/on, else the option's name.
fn enum_option(
    lua: &Lua,
    args: &Args,
    narg: usize,
    slot: &mut i32,
    options: &[&str],
    fname: &str,
) -> LibResult<Value> {
    match args.get(narg)? {
        Value::Nil => {}
        Value::Boolean(b) => *slot = i32::from(b),
        _ => {
            // luaL_checkoption compares C strings, so stop at a NUL.
            let s = check_string(lua, args, narg, fname)?;
            let bytes = s.as_bytes();
            let name = bytes.split(|&b| b == 0).next().unwrap_or_default();
            match options.iter().position(|o| o.as_bytes() == name) {
                // At most three options, so the index fits.
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                Some(i) => *slot = i as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(fname, narg, msg));
                }
            }
        }
    }
    Ok(match *slot {
        0 => Value::Boolean(false),
        1 => Value::Boolean(true),
        n => {
            let name = usize::try_from(n)
                .ok()
                .and_then(|i| options.get(i))
                .unwrap_or(&"");
            Value::String(lua.create_string(name)?)
        }
    })
}

// ===== Encoding =====

/// A table key as the encoder needs it: copied out of Lua so that walking a
/// wide object holds no handles.
enum Key {
    Str(Vec<u8>),
    Num(f64),
    /// A key of another type, by type name: encoding fails when it is reached.
    Bad(&'static str),
}

/// A table being written out.
enum Frame {
    /// `[`…`]`: the next index to write, up to `len`.
    Array { table: Table, len: i64, next: i64 },
    /// `{`…`}`: the keys in `next` order and how many are written.
    Object {
        table: Table,
        keys: Vec<Key>,
        next: usize,
    },
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    out: Vec<u8>,
    stack: Vec<Frame>,
    /// Lua stack slots lua_cjson would be using (`lua_gettop`): the argument
    /// plus a value per open array and a key and value per open object.
    slots: usize,
    /// The output size at which encoding gives up ([`MAX_OUTPUT`]).
    limit: usize,
}

impl<'a> Encoder<'a> {
    fn new(lua: &'a Lua, cfg: Config) -> Self {
        Encoder {
            lua,
            cfg,
            out: Vec::new(),
            stack: Vec::new(),
            slots: 1,
            limit: MAX_OUTPUT,
        }
    }

    fn run(mut self, value: Value) -> LibResult<Vec<u8>> {
        self.value(value)?;
        loop {
            if self.out.len() > self.limit {
                return Err("Cannot serialise, output too large".into());
            }
            let next = match self.stack.last_mut() {
                None => return Ok(self.out),
                Some(Frame::Array { table, len, next }) => {
                    if *next > *len {
                        None
                    } else {
                        if *next > 1 {
                            self.out.push(b',');
                        }
                        let v = exact_get(table, *next)?;
                        *next += 1;
                        Some(v)
                    }
                }
                Some(Frame::Object { table, keys, next }) => match keys.get(*next) {
                    None => None,
                    Some(key) => {
                        if *next > 0 {
                            self.out.push(b',');
                        }
                        *next += 1;
                        let lookup = match key {
                            Key::Num(k) => {
                                self.out.push(b'"');
                                append_number(&mut self.out, &self.cfg, *k)?;
                                self.out.extend_from_slice(b"\":");
                                Value::Number(*k)
                            }
                            Key::Str(s) => {
                                append_string(&mut self.out, s);
                                self.out.push(b':');
                                Value::String(self.lua.create_string(s)?)
                            }
                            Key::Bad(ty) => {
                                return Err(format!(
                                    "Cannot serialise {ty}: table key must be a number or string"
                                )
                                .into())
                            }
                        };
                        Some(exact_get(table, lookup)?)
                    }
                },
            };
            match next {
                Some(v) => self.value(v)?,
                None => self.close(),
            }
        }
    }

    /// Ends the innermost table.
    fn close(&mut self) {
        match self.stack.pop() {
            Some(Frame::Array { .. }) => {
                self.out.push(b']');
                self.slots -= 1;
            }
            Some(Frame::Object { .. }) => {
                self.out.push(b'}');
                self.slots -= 2;
            }
            None => {}
        }
        // The value the parent had pushed is popped with it.
    }

    /// `json_append_data`: writes a scalar, or opens a table.
    fn value(&mut self, v: Value) -> LibResult<()> {
        match v {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                let n = number_of(&v).unwrap_or_default();
                append_number(&mut self.out, &self.cfg, n)?;
            }
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => self.open(t)?,
            other => {
                return Err(
                    format!("Cannot serialise {}: type not supported", type_name(&other)).into(),
                )
            }
        }
        Ok(())
    }

    fn open(&mut self, t: Table) -> LibResult<()> {
        let depth = self.stack.len() + 1;
        // json_check_encode_depth: the configured limit, then
        // lua_checkstack(3); then our own bound on live handles.
        let too_deep = i64::try_from(depth).unwrap_or(i64::MAX)
            > i64::from(self.cfg.encode_max_depth)
            || self.slots + 3 > LUA_MAX_CSTACK
            || depth > MAX_HELD_REFS;
        if too_deep {
            return Err(format!("Cannot serialise, excessive nesting ({depth})").into());
        }
        let len = array_length(&t, &self.cfg)?;
        if len > 0 {
            self.out.push(b'[');
            self.stack.push(Frame::Array {
                table: t,
                len: i64::from(len),
                next: 1,
            });
            self.slots += 1;
        } else {
            let keys = object_keys(self.lua, &t)?;
            self.out.push(b'{');
            self.stack.push(Frame::Object {
                table: t,
                keys,
                next: 0,
            });
            self.slots += 2;
        }
        Ok(())
    }
}

/// `lua_array_length`: the array length to write (> 0), or 0 or less to
/// write an object. Reproduces C's `int` arithmetic, including a key above
/// `INT_MAX` turning the running maximum into `INT_MIN` (x86's conversion).
fn array_length(t: &Table, cfg: &Config) -> LibResult<i32> {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    let mut array = true;
    t.for_each::<Value, Ignore>(|k, _| {
        if !array {
            return Ok(());
        }
        match number_of(&k) {
            Some(n) if n != 0.0 && n.floor() == n && n >= 1.0 => {
                if n > f64::from(max) {
                    max = super::c_double_to_i32(n);
                }
                items = items.wrapping_add(1);
            }
            _ => array = false,
        }
        Ok(())
    })?;
    if !array {
        return Ok(-1);
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if cfg.sparse_convert == 0 {
            return Err("Cannot serialise table: excessively sparse array".into());
        }
        return Ok(-1);
    }
    Ok(max)
}

/// The keys of `t` in `next` order, copied out.
fn object_keys(lua: &Lua, t: &Table) -> LibResult<Vec<Key>> {
    let mut keys = Vec::new();
    let mut lossy = Vec::new();
    t.for_each::<Value, Ignore>(|k, _| {
        keys.push(match &k {
            Value::String(s) => Key::Str(s.as_bytes().to_vec()),
            Value::Integer(_) | Value::Number(_) => {
                if is_lossy(&k) {
                    lossy.push(keys.len());
                }
                Key::Num(number_of(&k).unwrap_or_default())
            }
            other => Key::Bad(type_name(other)),
        });
        Ok(())
    })?;
    if !lossy.is_empty() {
        let exact = exact_numbers(lua, t)?;
        for i in lossy {
            if let (Some(slot), Some(n)) = (keys.get_mut(i), exact.key(i + 1)?) {
                *slot = Key::Num(n);
            }
        }
    }
    Ok(keys)
}

/// `json_append_string`: lua_cjson's escapes (including `\/` and `\u007f`).
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        // Copy the run that needs no escape in one go.
        let plain = rest
            .iter()
            .position(|&c| needs_escape(c))
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(plain);
        out.extend_from_slice(run);
        let Some((&c, tail)) = tail.split_first() else {
            break;
        };
        rest = tail;
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(c & 15)).copied().unwrap_or(b'0'));
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// Whether lua_cjson escapes byte `c`.
fn needs_escape(c: u8) -> bool {
    matches!(c, 0..=0x1f | b'"' | b'\\' | b'/' | 0x7f)
}

/// `json_append_number`.
fn append_number(out: &mut Vec<u8>, cfg: &Config, n: f64) -> LibResult<()> {
    match cfg.encode_invalid_numbers {
        0 => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
        }
        1 => {
            // lua_cjson writes NaN itself: printf could give "-nan".
            if n.is_nan() {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
        }
        _ => {
            if !n.is_finite() {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    let precision = usize::try_from(cfg.encode_number_precision).unwrap_or(14);
    out.extend_from_slice(format_g(n, precision).as_bytes());
    Ok(())
}

/// C's `printf("%.<precision>g", n)`.
pub(crate) fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1);
    // Rust rounds exactly (ties to even), as glibc does; the exponent of the
    // rounded scientific form picks the style, as C specifies.
    let sci = format!("{:.*e}", p - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let p = i64::try_from(p).unwrap_or(14);
    if exp < -4 || exp >= p {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(p - 1 - exp).unwrap_or(0);
        strip_fraction_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

/// `%g` drops trailing zeros of the fraction, and the point if none is left.
fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    /// The text is in the parser's scratch buffer.
    Str,
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

#[derive(Clone, Copy)]
struct Token {
    tok: Tok,
    /// 0-based position reported (plus one) in errors.
    index: usize,
}

struct Parser<'d> {
    data: &'d [u8],
    pos: usize,
    cfg: Config,
    /// The current string token's text.
    tmp: Vec<u8>,
}

/// A table being filled.
enum Open {
    Array {
        table: Table,
        next: i64,
    },
    /// The key whose value is being parsed.
    Object {
        table: Table,
        key: Vec<u8>,
    },
}

fn decode(lua: &Lua, cfg: Config, data: &[u8]) -> LibResult<Value> {
    // lua_cjson reads a C string: a NUL in either of the first two bytes
    // means UTF-16/32, a later one ends the text.
    if data.len() >= 2 && (data.first() == Some(&0) || data.get(1) == Some(&0)) {
        return Err("JSON parser does not support UTF-16 or UTF-32".into());
    }
    let mut p = Parser {
        data,
        pos: 0,
        cfg,
        tmp: Vec::new(),
    };
    let mut stack: Vec<Open> = Vec::new();
    // lua_gettop as lua_cjson would have it: the argument, plus a table per
    // open array and a table and key per open object.
    let mut slots: usize = 1;
    let mut tok = p.next_token();
    'value: loop {
        let mut value = match tok.tok {
            Tok::Str => Value::String(lua.create_string(&p.tmp)?),
            Tok::Num(n) => Value::Number(n),
            Tok::Bool(b) => Value::Boolean(b),
            Tok::Null => null(),
            Tok::ObjBegin => {
                p.descend(stack.len() + 1, slots + 3)?;
                let table = lua.create_table()?;
                let t = p.next_token();
                if t.tok == Tok::ObjEnd {
                    Value::Table(table)
                } else {
                    let key = p.object_key(t)?;
                    stack.push(Open::Object { table, key });
                    slots += 2;
                    tok = p.next_token();
                    continue 'value;
                }
            }
            Tok::ArrBegin => {
                p.descend(stack.len() + 1, slots + 2)?;
                let table = lua.create_table()?;
                let t = p.next_token();
                if t.tok == Tok::ArrEnd {
                    Value::Table(table)
                } else {
                    stack.push(Open::Array { table, next: 1 });
                    slots += 1;
                    tok = t;
                    continue 'value;
                }
            }
            _ => return Err(parse_error("value", tok)),
        };
        // Store the value in its parent, closing every table it completes.
        loop {
            match stack.last_mut() {
                None => {
                    let t = p.next_token();
                    if t.tok != Tok::End {
                        return Err(parse_error("the end", t));
                    }
                    return Ok(value);
                }
                Some(Open::Array { table, next }) => {
                    table.raw_set(*next, value)?;
                    *next += 1;
                    let t = p.next_token();
                    match t.tok {
                        Tok::ArrEnd => {}
                        Tok::Comma => {
                            tok = p.next_token();
                            continue 'value;
                        }
                        _ => return Err(parse_error("comma or array end", t)),
                    }
                }
                Some(Open::Object { table, key }) => {
                    table.raw_set(lua.create_string(&*key)?, value)?;
                    let t = p.next_token();
                    match t.tok {
                        Tok::ObjEnd => {}
                        Tok::Comma => {
                            let t = p.next_token();
                            *key = p.object_key(t)?;
                            tok = p.next_token();
                            continue 'value;
                        }
                        _ => return Err(parse_error("comma or object end", t)),
                    }
                }
            }
            // The innermost table is complete: it is the value to store next.
            value = match stack.pop() {
                Some(Open::Array { table, .. }) => {
                    slots -= 1;
                    Value::Table(table)
                }
                Some(Open::Object { table, .. }) => {
                    slots -= 2;
                    Value::Table(table)
                }
                // The match above returned when the stack was empty.
                None => return Err("internal error: JSON nesting underflow".into()),
            };
        }
    }
}

/// "Expected `exp` but found … at character N".
fn parse_error(exp: &str, t: Token) -> Fail {
    format!(
        "Expected {exp} but found {} at character {}",
        t.tok.name(),
        t.index + 1
    )
    .into()
}

impl Parser<'_> {
    /// The byte at `i`, with the C string's NUL past the end.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    /// `json_decode_descend`: the configured depth, lua_checkstack (given
    /// the slots the new level needs), and our bound on live handles.
    fn descend(&self, depth: usize, needed_slots: usize) -> LibResult<()> {
        let too_deep = i64::try_from(depth).unwrap_or(i64::MAX)
            > i64::from(self.cfg.decode_max_depth)
            || needed_slots > LUA_MAX_CSTACK
            || depth > MAX_HELD_REFS;
        if too_deep {
            return Err(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.pos
            )
            .into());
        }
        Ok(())
    }

    /// An object key (`t` must be a string) and the colon after it.
    fn object_key(&mut self, t: Token) -> LibResult<Vec<u8>> {
        if t.tok != Tok::Str {
            return Err(parse_error("object key string", t));
        }
        let key = std::mem::take(&mut self.tmp);
        let c = self.next_token();
        if c.tok != Tok::Colon {
            return Err(parse_error("colon", c));
        }
        Ok(key)
    }

    fn error(&self, what: &'static str) -> Token {
        Token {
            tok: Tok::Error(what),
            index: self.pos,
        }
    }

    /// `json_next_token`.
    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let single = |tok| Token { tok, index };
        let ch = self.at(self.pos);
        let tok = match ch {
            b'{' => Tok::ObjBegin,
            b'}' => Tok::ObjEnd,
            b'[' => Tok::ArrBegin,
            b']' => Tok::ArrEnd,
            b',' => Tok::Comma,
            b':' => Tok::Colon,
            0 => return single(Tok::End),
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                    return self.error("invalid number");
                }
                return self.number_token();
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = self.data.get(self.pos..).unwrap_or_default();
                for (word, tok) in [
                    (&b"true"[..], Tok::Bool(true)),
                    (b"false", Tok::Bool(false)),
                    (b"null", Tok::Null),
                ] {
                    if rest.starts_with(word) {
                        self.pos += word.len();
                        return single(tok);
                    }
                }
                if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
                    return self.number_token();
                }
                return self.error("invalid token");
            }
            _ => return self.error("invalid token"),
        };
        self.pos += 1;
        single(tok)
    }

    /// `json_is_invalid_number`: numbers strtod takes but JSON does not.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = [
            self.at(p) | 0x20,
            self.at(p + 1) | 0x20,
            self.at(p + 2) | 0x20,
        ];
        &word == b"inf" || &word == b"nan"
    }

    fn number_token(&mut self) -> Token {
        match strtod(self.data, self.pos) {
            Some((n, end)) => {
                let index = self.pos;
                self.pos = end;
                Token {
                    tok: Tok::Num(n),
                    index,
                }
            }
            None => self.error("invalid number"),
        }
    }

    /// `json_next_string_token`.
    fn string_token(&mut self) -> Token {
        let index = self.pos;
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error("unexpected end of string"),
                b'\\' => {
                    let out = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error("invalid unicode escape code");
                        }
                        _ => return self.error("invalid escape code"),
                    };
                    self.tmp.push(out);
                    self.pos += 2;
                }
                _ => {
                    self.tmp.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token {
            tok: Tok::Str,
            index,
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = (v << 4) | char::from(self.at(at + i)).to_digit(16)?;
        }
        Some(v)
    }

    /// `json_append_unicode_escape`: `\uXXXX` (a surrogate pair as one
    /// escape) to UTF-8. False on a malformed escape.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // codepoint_to_utf8, which (unlike `char`) takes any value it is
        // given; here at most 0x10FFFF.
        let b = |v: u32| u8::try_from(v & 0xFF).unwrap_or(0);
        if cp <= 0x7F {
            self.tmp.push(b(cp));
        } else if cp <= 0x7FF {
            self.tmp
                .extend_from_slice(&[b((cp >> 6) | 0xC0), b((cp & 0x3F) | 0x80)]);
        } else if cp <= 0xFFFF {
            self.tmp.extend_from_slice(&[
                b((cp >> 12) | 0xE0),
                b(((cp >> 6) & 0x3F) | 0x80),
                b((cp & 0x3F) | 0x80),
            ]);
        } else {
            self.tmp.extend_from_slice(&[
                b((cp >> 18) | 0xF0),
                b(((cp >> 12) & 0x3F) | 0x80),
                b(((cp >> 6) & 0x3F) | 0x80),
                b((cp & 0x3F) | 0x80),
            ]);
        }
        self.pos += len;
        true
    }
}

/// glibc's `strtod` on the C string at `data[start..]` (a NUL or the end
/// stops it): decimal and hexadecimal numbers, `inf`/`infinity`, `nan` and
/// `nan(chars)`, with an optional sign. Returns the value and the end
/// position, or `None` when nothing converts.
pub(crate) fn strtod(data: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut p = start;
    let negative = match at(p) {
        b'-' => {
            p += 1;
            true
        }
        b'+' => {
            p += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if negative { -v } else { v };
    let lower = |i: usize| at(i).to_ascii_lowercase();
    let word = |i: usize, w: &[u8]| w.iter().enumerate().all(|(k, &c)| lower(i + k) == c);
    if word(p, b"inf") {
        let end = if word(p + 3, b"inity") { p + 8 } else { p + 3 };
        return Some((sign(f64::INFINITY), end));
    }
    if word(p, b"nan") {
        let mut end = p + 3;
        if at(end) == b'(' {
            let mut q = end + 1;
            while at(q).is_ascii_alphanumeric() || at(q) == b'_' {
                q += 1;
            }
            if at(q) == b')' {
                end = q + 1;
            }
        }
        return Some((sign(f64::NAN), end));
    }
    if at(p) == b'0' && lower(p + 1) == b'x' {
        let q = p + 2;
        if at(q).is_ascii_hexdigit() || (at(q) == b'.' && at(q + 1).is_ascii_hexdigit()) {
            let (v, end) = hex_float(data, q);
            return Some((sign(v), end));
        }
        // "0x" with no digits: strtod reads the 0 alone.
        return Some((sign(0.0), p + 1));
    }
    let digits_from = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits_from(p);
    let mut end = int_end;
    let mut any = int_end > p;
    if at(end) == b'.' {
        let frac_end = digits_from(end + 1);
        any |= frac_end > end + 1;
        end = frac_end;
    }
    if !any {
        return None;
    }
    if lower(end) == b'e' {
        let mut q = end + 1;
        if matches!(at(q), b'+' | b'-') {
            q += 1;
        }
        let exp_end = digits_from(q);
        if exp_end > q {
            end = exp_end;
        }
    }
    let text = std::str::from_utf8(data.get(start..end)?).ok()?;
    // Rust's parser is correctly rounded like glibc's, and accepts the same
    // decimal forms ("1.", ".5", a leading sign).
    let v: f64 = text.parse().ok()?;
    Some((v, end))
}

/// The digits of a hexadecimal float after "0x": mantissa, optional
/// fraction, optional binary exponent. Returns the magnitude and the end.
fn hex_float(data: &[u8], start: usize) -> (f64, usize) {
    let at = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut p = start;
    let mut seen_point = false;
    loop {
        let c = at(p);
        if c == b'.' && !seen_point {
            seen_point = true;
            p += 1;
            continue;
        }
        let Some(d) = char::from(c).to_digit(16) else {
            break;
        };
        if mantissa >> 60 == 0 {
            mantissa = (mantissa << 4) | u64::from(d);
            if seen_point {
                exp -= 4;
            }
        } else {
            // Beyond 60 bits only whether anything is set matters (the low
            // bit then rounds correctly as a sticky bit).
            sticky |= d != 0;
            if !seen_point {
                exp += 4;
            }
        }
        p += 1;
    }
    if sticky {
        mantissa |= 1;
    }
    let mut end = p;
    if at(p) | 0x20 == b'p' {
        let mut q = p + 1;
        let neg = match at(q) {
            b'-' => {
                q += 1;
                true
            }
            b'+' => {
                q += 1;
                false
            }
            _ => false,
        };
        if at(q).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(q).is_ascii_digit() {
                e = (e * 10 + i64::from(at(q) - b'0')).min(1 << 20);
                q += 1;
            }
            exp += if neg { -e } else { e };
            end = q;
        }
    }
    // The u64 converts with one rounding; scaling by powers of two is exact
    // until the result leaves the normal range.
    #[allow(clippy::cast_precision_loss)]
    let mut v = mantissa as f64;
    let exp = i32::try_from(exp.clamp(-4000, 4000)).unwrap_or(0);
    let mut e = exp;
    while e > 0 {
        let step = e.min(1000);
        v *= 2f64.powi(step);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(1000);
        v /= 2f64.powi(step);
        e += step;
    }
    (v, end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::super::testutil::{error_of, eval, vm};
    use super::*;

    fn enc(lua: &Lua, expr: &str) -> String {
        eval(lua, &format!("return cjson.encode({expr})"))
    }

    #[test]
    fn encodes_what_redis_encodes() {
        let lua = vm();
        assert_eq!(enc(&lua, "{1,2,3}"), "[1,2,3]");
        assert_eq!(enc(&lua, "{a=1}"), "{\"a\":1}");
        assert_eq!(enc(&lua, "0.1"), "0.1");
        assert_eq!(enc(&lua, "{}"), "{}");
        assert_eq!(
            enc(&lua, "{[1]=1,[10]=2}"),
            "[1,null,null,null,null,null,null,null,null,2]"
        );
        assert_eq!(enc(&lua, "{[1e10]=1}"), "{\"10000000000\":1}");
        assert_eq!(enc(&lua, "{[0]=1}"), "{\"0\":1}");
        assert_eq!(enc(&lua, "{[1.5]=1}"), "{\"1.5\":1}");
        assert_eq!(enc(&lua, "{[-1]=1}"), "{\"-1\":1}");
        assert_eq!(enc(&lua, "{1,2,nil,4}"), "[1,2,null,4]");
        assert_eq!(enc(&lua, "cjson.null"), "null");
        assert_eq!(enc(&lua, "nil"), "null");
        assert_eq!(enc(&lua, "true"), "true");
        assert_eq!(enc(&lua, "{{}, {{}}}"), "[{},[{}]]");
        assert_eq!(
            enc(&lua, "'\\0\\8\\9\\10\\12\\13\\31'"),
            "\"\\u0000\\b\\t\\n\\f\\r\\u001f\""
        );
    }

    #[test]
    fn encodes_high_bytes_untouched() {
        let lua = vm();
        let s = super::super::testutil::bytes(
            &lua,
            "return cjson.encode('a/b\\\"c\\\\\\1\\127\\128\\255')",
        );
        assert_eq!(s, b"\"a\\/b\\\"c\\\\\\u0001\\u007f\x80\xff\"".to_vec());
    }

    #[test]
    fn numbers_print_as_percent_14g() {
        let lua = vm();
        let s = enc(
            &lua,
            "{123456789012345, 0.5, 2.5, 1e15, 1e14, 99999999999999.5, 1e-4, 1e-5, \
             0.000123456789012345, 5e-324, 1.7976931348623157e308, 3.14159265358979, 100, \
             -12.5, 2^53, 1/3*1e20, 0.1+0.2, 1e21, 123456789.125, 1.00000000000005, \
             9.99999999999995e-5, 2^-1074*3}",
        );
        assert_eq!(
            s,
            "[1.2345678901234e+14,0.5,2.5,1e+15,1e+14,1e+14,0.0001,1e-05,0.00012345678901234,\
             4.9406564584125e-324,1.7976931348623e+308,3.1415926535898,100,-12.5,\
             9.007199254741e+15,3.3333333333333e+19,0.3,1e+21,123456789.125,1,0.0001,\
             1.4821969375237e-323]"
        );
        assert_eq!(enc(&lua, "-0.0"), "-0");
        assert_eq!(enc(&lua, "1.25e-5"), "1.25e-05");
    }

    #[test]
    fn number_precision_setting() {
        let lua = vm();
        let expected = [
            "[0.1,2,1e+03,1e-07,0.9]",
            "[0.12,2.5,1.2e+03,1e-07,0.95]",
            "[0.125,2.5,1.23e+03,1e-07,0.95]",
            "[0.125,2.5,1235,1e-07,0.95]",
            "[0.125,2.5,1234.6,1e-07,0.95]",
            "[0.125,2.5,1234.57,1e-07,0.95]",
            "[0.125,2.5,1234.568,1e-07,0.95]",
            "[0.125,2.5,1234.5678,1e-07,0.95]",
        ];
        for (i, want) in expected.iter().enumerate() {
            let got: String = eval(
                &lua,
                &format!(
                    "cjson.encode_number_precision({}) return cjson.encode({{0.125, 2.5, 1234.5678, 1e-7, 0.95}})",
                    i + 1
                ),
            );
            assert_eq!(&got, want, "precision {}", i + 1);
        }
        let p: i64 = eval(&lua, "return cjson.encode_number_precision(14)");
        assert_eq!(p, 14);
        assert_eq!(
            error_of(&lua, "cjson.encode_number_precision(15)"),
            "bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"
        );
    }

    #[test]
    fn encode_errors_match_cjson() {
        let lua = vm();
        assert_eq!(
            error_of(&lua, "cjson.encode(math.huge)"),
            "Cannot serialise number: must not be NaN or Inf"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode(function() end)"),
            "Cannot serialise function: type not supported"
        );
        assert_eq!(
            error_of(
                &lua,
                "cjson.encode({co = coroutine.create(function() end)})"
            ),
            "Cannot serialise thread: type not supported"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode({[true]=1})"),
            "Cannot serialise boolean: table key must be a number or string"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode({[1]=1,[100]=2})"),
            "Cannot serialise table: excessively sparse array"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode()"),
            "bad argument #1 to 'encode' (expected 1 argument)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode(1, 2)"),
            "bad argument #1 to 'encode' (expected 1 argument)"
        );
        assert_eq!(
            error_of(&lua, "local t = {} t[1] = t cjson.encode(t)"),
            "Cannot serialise, excessive nesting (1001)"
        );
        assert_eq!(
            error_of(&lua, "local t = {} t.a = t cjson.encode(t)"),
            "Cannot serialise, excessive nesting (1001)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode({[{}] = 1})"),
            "Cannot serialise table: table key must be a number or string"
        );
    }

    #[test]
    fn raised_depth_limits_stop_before_the_c_stack_would() {
        let lua = vm();
        lua.load("cjson.encode_max_depth(1000000) cjson.decode_max_depth(1000000)")
            .exec()
            .unwrap();
        let e = error_of(&lua, "local t = {} t.a = t cjson.encode(t)");
        assert_eq!(e, "Cannot serialise, excessive nesting (4000)");
        let e = error_of(&lua, "local t = {} t[1] = t cjson.encode(t)");
        assert_eq!(e, "Cannot serialise, excessive nesting (4001)");
        // Redis stops arrays at 7999 (its C stack); the handle bound is lower.
        let e = error_of(&lua, "cjson.decode(string.rep('[', 100000))");
        assert_eq!(
            e,
            "Found too many nested data structures (4001) at character 4001"
        );
        // Objects stop exactly where Redis's C stack does.
        let e = error_of(&lua, "cjson.decode(string.rep('{\"a\":', 100000))");
        assert_eq!(
            e,
            "Found too many nested data structures (4000) at character 19996"
        );
        let n: i64 = eval(
            &lua,
            "local s = cjson.decode(string.rep('[', 3000) .. string.rep(']', 3000)) \
             local d = 0 while s do d = d + 1 s = s[1] end return d",
        );
        assert_eq!(n, 3000);
    }

    #[test]
    fn self_referencing_tables_cannot_blow_up_output() {
        let lua = vm();
        // 2^40 copies of the leaf: the encoder stops at its output limit
        // (here lowered, as reaching the real one takes a while).
        let t: Value = eval(
            &lua,
            "local t = {'xy'} for i = 1, 40 do t = {t, t} end return t",
        );
        let mut enc = Encoder::new(&lua, Config::default());
        enc.limit = 1 << 20;
        match enc.run(t) {
            Err(Fail::Message(m)) => assert_eq!(m, b"Cannot serialise, output too large"),
            _ => panic!("expected the output limit"),
        }
    }

    #[test]
    fn sparse_array_settings() {
        let lua = vm();
        let (c, r, s): (bool, i64, i64) = eval(&lua, "return cjson.encode_sparse_array()");
        assert_eq!((c, r, s), (false, 2, 10));
        let got: String = eval(
            &lua,
            "cjson.encode_sparse_array(true, 3, 5) local s = cjson.encode({[1]=1,[20]=2}) \
             cjson.encode_sparse_array(false, 2, 10) return s",
        );
        assert!(
            got == "{\"1\":1,\"20\":2}" || got == "{\"20\":2,\"1\":1}",
            "{got}"
        );
        let v: bool = eval(&lua, "return cjson.encode_sparse_array('on')");
        assert!(v);
        lua.load("cjson.encode_sparse_array(false)").exec().unwrap();
        assert_eq!(
            error_of(&lua, "cjson.encode_sparse_array(1,2,3,4)"),
            "bad argument #4 to 'encode_sparse_array' (found too many arguments)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode_sparse_array(nil, -1)"),
            "bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode_sparse_array('xx')"),
            "bad argument #1 to 'encode_sparse_array' (invalid option 'xx')"
        );
        // Ratio 0 allows any sparseness.
        let got: String = eval(
            &lua,
            "cjson.encode_sparse_array(false, 0) local s = cjson.encode({[3]=1}) \
             cjson.encode_sparse_array(false, 2) return s",
        );
        assert_eq!(got, "[null,null,1]");
    }

    #[test]
    fn other_settings() {
        let lua = vm();
        let d: i64 = eval(&lua, "return cjson.encode_max_depth()");
        assert_eq!(d, 1000);
        let d: i64 = eval(&lua, "return cjson.decode_max_depth()");
        assert_eq!(d, 1000);
        assert_eq!(
            error_of(&lua, "cjson.encode_max_depth(0)"),
            "bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode_max_depth('a')"),
            "bad argument #1 to 'encode_max_depth' (number expected, got string)"
        );
        assert_eq!(
            error_of(&lua, "cjson.encode_max_depth(1, 2)"),
            "bad argument #2 to 'encode_max_depth' (found too many arguments)"
        );
        let k: bool = eval(&lua, "return cjson.encode_keep_buffer()");
        assert!(k);
        let k: bool = eval(&lua, "return cjson.encode_keep_buffer('off')");
        assert!(!k);
        let v: bool = eval(&lua, "return cjson.encode_invalid_numbers()");
        assert!(!v);
        let (r, s): (String, String) = eval(
            &lua,
            "local r = cjson.encode_invalid_numbers('null') local s = cjson.encode({1/0, -1/0, 0/0}) \
             cjson.encode_invalid_numbers(false) return r, s",
        );
        assert_eq!((r.as_str(), s.as_str()), ("null", "[null,null,null]"));
        let s: String = eval(
            &lua,
            "cjson.encode_invalid_numbers(true) local s = cjson.encode({math.huge, -math.huge, 0/0, [5] = 1}) \
             cjson.encode_invalid_numbers(false) return s",
        );
        assert_eq!(s, "[inf,-inf,nan,null,1]");
        let s: String = eval(
            &lua,
            "cjson.encode_invalid_numbers(true) local s = cjson.encode({[math.huge]=1}) \
             cjson.encode_invalid_numbers(false) return s",
        );
        assert_eq!(s, "{\"inf\":1}");
        assert_eq!(
            error_of(&lua, "cjson.encode({[math.huge]=1})"),
            "Cannot serialise number: must not be NaN or Inf"
        );
        let (name, version, kind): (String, String, String) =
            eval(&lua, "return cjson._NAME, cjson._VERSION, type(cjson.null)");
        assert_eq!(
            (name.as_str(), version.as_str(), kind.as_str()),
            ("cjson", "2.1.0", "userdata")
        );
    }

    #[test]
    fn new_gives_an_independent_instance() {
        let lua = vm();
        let (a, b): (i64, i64) = eval(
            &lua,
            "local c = cjson.new() c.encode_max_depth(5) return c.encode_max_depth(), cjson.encode_max_depth()",
        );
        assert_eq!((a, b), (5, 1000));
        let s: String = eval(&lua, "return cjson.new().encode({1})");
        assert_eq!(s, "[1]");
    }

    #[test]
    fn decodes_values() {
        let lua = vm();
        let ok: bool = eval(
            &lua,
            r#"local t = cjson.decode('{"a":[1,2.5,"x",true,false,null],"b":{},"c":[]}')
               return t.a[1] == 1 and t.a[2] == 2.5 and t.a[3] == 'x' and t.a[4] == true
                 and t.a[5] == false and t.a[6] == cjson.null and #t.a == 6
                 and next(t.b) == nil and next(t.c) == nil"#,
        );
        assert!(ok);
        let s: String = eval(
            &lua,
            r#"return cjson.decode('"\\ud83d\\ude00\\u00e9\\/\\n"')"#,
        );
        assert_eq!(s, "\u{1F600}\u{e9}/\n");
        let n: f64 = eval(&lua, "return cjson.decode(' 123 ')");
        assert_eq!(n, 123.0);
        let n: f64 = eval(&lua, "return cjson.decode(123)");
        assert_eq!(n, 123.0);
        let n: f64 = eval(&lua, "return cjson.decode('[1]\\0garbage')[1]");
        assert_eq!(n, 1.0);
        let b: Vec<u8> =
            super::super::testutil::bytes(&lua, r#"return cjson.decode('"a\\u0000b"')"#);
        assert_eq!(b, b"a\0b");
        let dup: i64 = eval(&lua, r#"return cjson.decode('{"a":1,"a":2}').a"#);
        assert_eq!(dup, 2);
    }

    #[test]
    fn decodes_numbers_as_strtod_does() {
        let lua = vm();
        let v: Vec<f64> = eval(
            &lua,
            "return cjson.decode('[0x10, +1, 01, 1., 1e5, 0x1p4, -1e-400]')",
        );
        assert_eq!(v, vec![16.0, 1.0, 1.0, 1.0, 100000.0, 16.0, -0.0]);
        let s: String = eval(
            &lua,
            "local t = cjson.decode('[Infinity, -inf, 1e400, nan, nan(123)]') \
             return tostring(t[1])..' '..tostring(t[2])..' '..tostring(t[3])..' '..tostring(t[4] ~= t[4])..' '..tostring(t[5] ~= t[5])",
        );
        assert_eq!(s, "inf -inf inf true true");
        assert_eq!(
            error_of(&lua, "cjson.decode('-')"),
            "Expected value but found invalid number at character 1"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('0x')"),
            "Expected the end but found invalid token at character 2"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('1e')"),
            "Expected the end but found invalid token at character 2"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('Infinityx')"),
            "Expected the end but found invalid token at character 9"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('[infinit]')"),
            "Expected comma or array end but found invalid token at character 5"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('nana')"),
            "Expected the end but found invalid token at character 4"
        );
        let off: bool = eval(&lua, "return cjson.decode_invalid_numbers(false)");
        assert!(!off);
        assert_eq!(
            error_of(&lua, "cjson.decode('[0x10]')"),
            "Expected value but found invalid number at character 2"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('01')"),
            "Expected value but found invalid number at character 1"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('nan')"),
            "Expected value but found invalid token at character 1"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode('-Infinity')"),
            "Expected value but found invalid number at character 1"
        );
        let n: f64 = eval(&lua, "return cjson.decode('-0.5e1')");
        assert_eq!(n, -5.0);
    }

    #[test]
    fn decode_errors_match_cjson() {
        let lua = vm();
        let cases = [
            ("''", "Expected value but found T_END at character 1"),
            (
                "'x'",
                "Expected value but found invalid token at character 1",
            ),
            (
                "'[1,]'",
                "Expected value but found T_ARR_END at character 4",
            ),
            (
                "'{\"a\" 1}'",
                "Expected colon but found T_NUMBER at character 6",
            ),
            (
                "'{1:1}'",
                "Expected object key string but found T_NUMBER at character 2",
            ),
            (
                "'{\"a\":1 \"b\"}'",
                "Expected comma or object end but found T_STRING at character 8",
            ),
            (
                "'[1] x'",
                "Expected the end but found invalid token at character 5",
            ),
            (
                "'[1] [2]'",
                "Expected the end but found T_ARR_BEGIN at character 5",
            ),
            (
                "'\"\\\\q\"'",
                "Expected value but found invalid escape code at character 2",
            ),
            (
                "'\"abc'",
                "Expected value but found unexpected end of string at character 5",
            ),
            (
                "'\"\\\\ud800\"'",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "'\"\\\\udc00\\\\ud800\"'",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "'\"\\\\u12\"'",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            (
                "'\"\\\\'",
                "Expected value but found invalid escape code at character 2",
            ),
            (
                "'{\"\\\\q\":1}'",
                "Expected object key string but found invalid escape code at character 3",
            ),
            (
                "'tru'",
                "Expected value but found invalid token at character 1",
            ),
            ("'a\\0'", "JSON parser does not support UTF-16 or UTF-32"),
            ("'\\0a'", "JSON parser does not support UTF-16 or UTF-32"),
            (
                "string.rep('[', 100000)",
                "Found too many nested data structures (1001) at character 1001",
            ),
            (
                "string.rep('{\"a\":', 100000)",
                "Found too many nested data structures (1001) at character 5001",
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(
                error_of(&lua, &format!("cjson.decode({arg})")),
                want,
                "{arg}"
            );
        }
        assert_eq!(
            error_of(&lua, "cjson.decode()"),
            "bad argument #1 to 'decode' (expected 1 argument)"
        );
        assert_eq!(
            error_of(&lua, "cjson.decode({})"),
            "bad argument #1 to 'decode' (string expected, got table)"
        );
        // Exactly at the default depth is fine.
        let ok: bool = eval(
            &lua,
            "return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))[1] ~= nil",
        );
        assert!(ok);
    }

    #[test]
    fn garbage_never_panics() {
        let lua = vm();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"[]{}:,\"\\u0123456789abcdefxXpPeE.+-tnrfl \t\n";
        for _ in 0..2000 {
            let mut s = Vec::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let f: mlua::Function = lua
                .load("return function(s) return pcall(cjson.decode, s) end")
                .eval()
                .unwrap();
            let (ok, v): (bool, mlua::Value) = f.call(lua.create_string(&s).unwrap()).unwrap();
            if !ok {
                assert!(matches!(v, mlua::Value::String(_)));
            }
        }
    }

    #[test]
    fn round_trips() {
        let lua = vm();
        let s: String = eval(
            &lua,
            r#"local v = {1, "two", {three = 3, four = {4.5, false}}, cjson.null}
               return cjson.encode(cjson.decode(cjson.encode(v)))"#,
        );
        let again: String = eval(&lua, &format!("return cjson.encode(cjson.decode({s:?}))"));
        assert_eq!(s, again);
        assert!(s.starts_with("[1,\"two\",{"), "{s}");
        assert!(s.ends_with("},null]"), "{s}");
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(1e-5, 14), "1e-05");
        assert_eq!(format_g(123456.0, 3), "1.23e+05");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(f64::INFINITY, 14), "inf");
        assert_eq!(format_g(-f64::INFINITY, 14), "-inf");
        assert_eq!(format_g(1e100, 14), "1e+100");
        assert_eq!(format_g(9.5, 1), "1e+01");
    }

    #[test]
    fn strtod_edges() {
        assert_eq!(strtod(b"1.5x", 0), Some((1.5, 3)));
        assert_eq!(strtod(b"-", 0), None);
        assert_eq!(strtod(b".", 0), None);
        assert_eq!(strtod(b"0x", 0), Some((0.0, 1)));
        assert_eq!(strtod(b"0x1.8p1", 0), Some((3.0, 7)));
        assert_eq!(
            strtod(b"0xffffffffffffffffff", 0),
            Some((4.722366482869645e21, 20))
        );
        assert_eq!(strtod(b"1e+", 0), Some((1.0, 1)));
        assert_eq!(strtod(b"INFINITY", 0), Some((f64::INFINITY, 8)));
        let (n, end) = strtod(b"nan(x_1)", 0).unwrap();
        assert!(n.is_nan());
        assert_eq!(end, 8);
        let (n, end) = strtod(b"nan(x", 0).unwrap();
        assert!(n.is_nan());
        assert_eq!(end, 3);
        assert_eq!(
            strtod(b"1e99999999999999999999", 0).map(|v| v.0),
            Some(f64::INFINITY)
        );
    }
}
