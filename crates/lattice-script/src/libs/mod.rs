//! The libraries Redis preloads into its Lua VM besides Lua 5.1's own:
//! `cjson`, `cmsgpack`, `bit` and `struct`, implemented in Rust with the
//! behaviour (and error texts) of the C libraries Redis 7.0 bundles
//! (lua_cjson 2.1.0, lua_cmsgpack 0.4.0, LuaBitOp 1.0.2, lua_struct 0.2).
//!
//! This file owns what the four share: how a Rust function is exposed to
//! Lua, argument checking with the `lauxlib` messages, C's conversions of
//! doubles to integers, and the limits that stand in for Lua's C stack.
//!
//! # Errors are plain strings
//!
//! mlua raises a Rust callback's error as a userdata, whereas the C
//! libraries raise strings, which scripts see through `pcall`. So every
//! library function is a small Lua shim (chunk name [`SHIM_SOURCE`]) around
//! a Rust function that reports failure as a value, and the shim raises it:
//! with `error(msg, 2)` where the C code uses `luaL_error`/`luaL_argerror`
//! (which prefix the calling line, e.g. `user_script:1: `), and with
//! `error(msg, 0)` where the C error comes from the Lua core inside the C
//! function ("table index is nil", which carries no position).
//!
//! One difference remains: a Lua tail call (`return cjson.decode(s)`)
//! replaces the caller's frame when the callee is a Lua function, so the
//! shim cannot name the calling line there and the message has no prefix,
//! where Redis (whose callee is a C function) has one. For a message
//! handler looking for the script's frame, the shim is the frame between
//! the script and `error`; its source is `=[C]`, as a C function's is.
//!
//! # Numbers
//!
//! mlua turns any number within `f64::EPSILON` of an integer into
//! `Value::Integer`, which loses `-0.0` and values such as `1e-20` (they
//! become `0`). The shim therefore hands arguments over in a table, from
//! which a number that came through as `0` is read again as an `f64`; table
//! contents are treated the same way (see [`exact_numbers`]).

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{FromLua, Function, Lua, MultiValue, Table, Value};

/// Chunk name of the Lua shims around the library functions: the frame
/// between a script and a library error.
pub const SHIM_SOURCE: &str = "=[C]";

/// `LUAI_MAXCSTACK` of Lua 5.1: the most slots a C function may use. The C
/// libraries fail with "stack overflow" when they would pass it; the Rust
/// versions count the slots the C code would use and fail at the same point.
pub(crate) const LUA_MAX_CSTACK: usize = 8000;

/// The most table/string handles one library call keeps alive at once while
/// it nests. mlua keeps every live handle in one auxiliary Lua stack that
/// is itself limited to [`LUA_MAX_CSTACK`] slots (and panics past it), so
/// deep nesting is refused below that, with the library's own message.
pub(crate) const MAX_HELD_REFS: usize = 4000;

/// The largest string an encoder builds. The C libraries grow their buffers
/// until `malloc` fails (and then abort the server); a table that refers to
/// itself several times can ask for exponential output, so the Rust
/// versions stop at Redis's largest bulk string instead.
pub(crate) const MAX_OUTPUT: usize = 512 * 1024 * 1024;

/// Installs `cjson`, `cmsgpack`, `bit` and `struct` as globals of `lua`.
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    // Compiled once, while `error`, `unpack`, `select`, `next` and `type`
    // are still the base library's: the shims keep these, whatever a
    // script later does to the globals (`cjson.new()` reuses them).
    for (key, src) in [
        (PACKED_KEY, PACKED_SHIM),
        (DIRECT_KEY, DIRECT_SHIM),
        (EXACT_KEY, EXACT_NUMBERS),
    ] {
        let f: Function = lua.load(src).set_name(SHIM_SOURCE).call(())?;
        lua.set_named_registry_value(key, f)?;
    }
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// Why a library call failed.
pub(crate) enum Fail {
    /// A Lua error with this message, raised as `luaL_error` raises it:
    /// after the position of the calling line.
    Message(Vec<u8>),
    /// A Lua error raised by the Lua core inside the C function, which
    /// carries no position ("table index is nil").
    Runtime(Vec<u8>),
    /// A failure of the Lua runtime itself (memory, mlua), passed on as is.
    Internal(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Internal(e)
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Message(s.into_bytes())
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Self {
        Fail::Message(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Fail {
    fn from(s: Vec<u8>) -> Self {
        Fail::Message(s)
    }
}

pub(crate) type LibResult<T> = Result<T, Fail>;

/// What a library function returns to its shim.
pub(crate) enum Ret {
    /// One value.
    One(Value),
    /// The first `n` entries of a table, returned as `n` values. A table
    /// rather than a list of handles, so that thousands of results do not
    /// hold thousands of mlua handles.
    Many(Table, usize),
}

/// The arguments of a library call.
pub(crate) enum Args {
    /// Packed by the shim into a table, with their count.
    Packed(Table, usize),
    /// Passed as they are (where mlua's number conversion does no harm).
    Direct(Vec<Value>),
}

impl Args {
    /// How many arguments were passed (`lua_gettop`).
    pub(crate) fn len(&self) -> usize {
        match self {
            Args::Packed(_, n) => *n,
            Args::Direct(v) => v.len(),
        }
    }

    /// Whether argument `i` (1-based) was not passed at all (`lua_isnone`).
    pub(crate) fn is_none(&self, i: usize) -> bool {
        i == 0 || i > self.len()
    }

    /// Argument `i` (1-based); `Nil` when absent.
    pub(crate) fn get(&self, i: usize) -> mlua::Result<Value> {
        if self.is_none(i) {
            return Ok(Value::Nil);
        }
        match self {
            Args::Packed(t, _) => exact_get(t, i),
            Args::Direct(v) => Ok(v.get(i.wrapping_sub(1)).cloned().unwrap_or(Value::Nil)),
        }
    }
}

/// Reads `t[key]` without metamethods, recovering a number that mlua would
/// have reported as `0`.
pub(crate) fn exact_get(t: &Table, key: impl mlua::IntoLua + Clone) -> mlua::Result<Value> {
    let v: Value = t.raw_get(key.clone())?;
    if is_lossy(&v) {
        return Ok(Value::Number(t.raw_get::<f64>(key)?));
    }
    Ok(v)
}

/// Whether mlua may have rounded this number: `Value::Integer(0)` also
/// stands for `-0.0` and for every number closer to zero than `f64::EPSILON`.
pub(crate) fn is_lossy(v: &Value) -> bool {
    matches!(v, Value::Integer(0))
}

/// A number's value, if `v` is a number (no string coercion).
pub(crate) fn number_of(v: &Value) -> Option<f64> {
    match v {
        // Lua 5.1 numbers are doubles; mlua made this one from a double.
        #[allow(clippy::cast_precision_loss)]
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// The exact numbers among a table's keys and values, by position in
/// `next` order, for the entries mlua reports as `0` (see [`is_lossy`]).
pub(crate) struct ExactNumbers {
    keys: Table,
    vals: Table,
}

impl ExactNumbers {
    /// The exact key at 1-based position `pos`, if it is a number near zero.
    pub(crate) fn key(&self, pos: usize) -> mlua::Result<Option<f64>> {
        self.keys.raw_get(pos)
    }

    /// The exact value at 1-based position `pos`, if it is a number near zero.
    pub(crate) fn val(&self, pos: usize) -> mlua::Result<Option<f64>> {
        self.vals.raw_get(pos)
    }
}

/// Walks `t` in Lua (where numbers stay doubles) and returns its near-zero
/// numeric keys and values by position. Only called for tables that have
/// such an entry, so the common path pays nothing.
pub(crate) fn exact_numbers(lua: &Lua, t: &Table) -> mlua::Result<ExactNumbers> {
    let f: Function = lua.named_registry_value(EXACT_KEY)?;
    let (keys, vals): (Table, Table) = f.call(t.clone())?;
    Ok(ExactNumbers { keys, vals })
}

/// Registry key of the walk behind [`exact_numbers`].
const EXACT_KEY: &str = "lattice.libs.exact_numbers";

/// Lists a table's near-zero numeric keys and values by `next` position.
const EXACT_NUMBERS: &str = "local next, type = next, type
return function(t)
  local keys, vals, i = {}, {}, 0
  for k, v in next, t do
    i = i + 1
    if type(k) == 'number' and k < 1e-15 and k > -1e-15 then keys[i] = k end
    if type(v) == 'number' and v < 1e-15 and v > -1e-15 then vals[i] = v end
  end
  return keys, vals
end";

/// Lua 5.1's name for the type of `v` (`luaL_typename`).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        // Light and full userdata share the name in Lua 5.1, and mlua's
        // error values are userdata too.
        _ => "userdata",
    }
}

/// `luaL_argerror`'s message.
pub(crate) fn arg_error(fname: &str, narg: usize, msg: impl AsRef<[u8]>) -> Fail {
    let mut out = format!("bad argument #{narg} to '{fname}' (").into_bytes();
    out.extend_from_slice(msg.as_ref());
    out.push(b')');
    Fail::Message(out)
}

/// `luaL_typerror`'s message for argument `narg`.
pub(crate) fn type_error(args: &Args, fname: &str, narg: usize, expected: &str) -> LibResult<Fail> {
    let got = if args.is_none(narg) {
        "no value"
    } else {
        type_name(&args.get(narg)?)
    };
    Ok(arg_error(
        fname,
        narg,
        format!("{expected} expected, got {got}"),
    ))
}

/// `lua_tonumber`: a number, or a string Lua 5.1 reads as one.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> mlua::Result<Option<f64>> {
    match v {
        Value::String(_) => lua.coerce_number(v.clone()),
        v => Ok(number_of(v)),
    }
}

/// `luaL_checknumber`.
pub(crate) fn check_number(lua: &Lua, args: &Args, narg: usize, fname: &str) -> LibResult<f64> {
    match to_number(lua, &args.get(narg)?)? {
        Some(n) => Ok(n),
        None => Err(type_error(args, fname, narg, "number")?),
    }
}

/// `luaL_checkinteger` (a `lua_Integer` is 64 bits in Redis's build).
pub(crate) fn check_integer(lua: &Lua, args: &Args, narg: usize, fname: &str) -> LibResult<i64> {
    Ok(c_double_to_i64(check_number(lua, args, narg, fname)?))
}

/// `luaL_optinteger`.
pub(crate) fn opt_integer(
    lua: &Lua,
    args: &Args,
    narg: usize,
    fname: &str,
    default: i64,
) -> LibResult<i64> {
    if matches!(args.get(narg)?, Value::Nil) {
        return Ok(default);
    }
    check_integer(lua, args, narg, fname)
}

/// `luaL_checklstring`: a string, or a number converted the way Lua does.
pub(crate) fn check_string(
    lua: &Lua,
    args: &Args,
    narg: usize,
    fname: &str,
) -> LibResult<mlua::String> {
    let v = args.get(narg)?;
    match v {
        Value::String(s) => Ok(s),
        Value::Integer(_) | Value::Number(_) => match lua.coerce_string(v)? {
            Some(s) => Ok(s),
            None => Err(type_error(args, fname, narg, "string")?),
        },
        _ => Err(type_error(args, fname, narg, "string")?),
    }
}

/// C's `(int64_t)d` as x86-64 computes it: out-of-range values and NaN
/// become `INT64_MIN` (Rust's `as` would saturate instead).
pub(crate) fn c_double_to_i64(d: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&d) {
        // In range, so this truncates exactly like the C cast.
        #[allow(clippy::cast_possible_truncation)]
        let i = d as i64;
        i
    } else {
        i64::MIN
    }
}

/// C's `(uint64_t)d` as GCC compiles it for x86-64 (values from 2^63 up go
/// through a subtraction of 2^63; everything invalid lands on 2^63 or 0).
pub(crate) fn c_double_to_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO_63 {
        (c_double_to_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(d) as u64
    }
}

/// C's `(int)d` on x86-64: out of range (or NaN) gives `INT_MIN`.
pub(crate) fn c_double_to_i32(d: f64) -> i32 {
    if d > -2_147_483_649.0 && d < 2_147_483_648.0 {
        // In range, so this truncates exactly like the C cast.
        #[allow(clippy::cast_possible_truncation)]
        let i = d as i32;
        i
    } else {
        i32::MIN
    }
}

/// Discards a table entry's value while iterating keys (converting it to a
/// `Value` would only create a handle to drop).
pub(crate) struct Ignore;

impl FromLua for Ignore {
    fn from_lua(_: Value, _: &Lua) -> mlua::Result<Self> {
        Ok(Ignore)
    }
}

/// Shim for functions whose arguments may be numbers that must stay exact:
/// packs them into a table, raises failures as strings (at level `n`: 2 to
/// name the calling line, 0 for none), and spreads a `Ret::Many` table into
/// values (past the 8000 that one `unpack` call can return: the C functions
/// return up to 7999).
const PACKED_SHIM: &str = "local error, unpack, select = error, unpack, select
return function(raw)
  return function(...)
    local ok, v, n = raw(select('#', ...), {...})
    if not ok then error(v, n) end
    if n == nil then return v end
    if n <= 7900 then return unpack(v, 1, n) end
    return v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], unpack(v, 9, n)
  end
end";

/// Registry key of the [`PACKED_SHIM`] factory.
const PACKED_KEY: &str = "lattice.libs.packed_shim";

/// Shim for functions that only read integers from their arguments (the
/// `bit` functions): passes them on as they are, raises failures as strings.
const DIRECT_SHIM: &str = "local error = error
return function(raw)
  return function(...)
    local ok, v, n = raw(...)
    if ok then return v end
    error(v, n)
  end
end";

/// Registry key of the [`DIRECT_SHIM`] factory.
const DIRECT_KEY: &str = "lattice.libs.direct_shim";

/// Turns a library outcome into what the raw function returns to its shim:
/// `true, value`, `true, table, n`, or `false, message, level`.
fn deliver(lua: &Lua, outcome: LibResult<Ret>) -> mlua::Result<MultiValue> {
    let vals = match outcome {
        Ok(Ret::One(v)) => vec![Value::Boolean(true), v],
        Ok(Ret::Many(t, n)) => {
            // Counts stay far below 2^53, so the double is exact.
            #[allow(clippy::cast_precision_loss)]
            let n = Value::Number(n as f64);
            vec![Value::Boolean(true), Value::Table(t), n]
        }
        Err(Fail::Message(m)) => {
            vec![
                Value::Boolean(false),
                Value::String(lua.create_string(m)?),
                Value::Integer(2),
            ]
        }
        Err(Fail::Runtime(m)) => {
            vec![
                Value::Boolean(false),
                Value::String(lua.create_string(m)?),
                Value::Integer(0),
            ]
        }
        Err(Fail::Internal(e)) => return Err(e),
    };
    Ok(MultiValue::from_vec(vals))
}

/// Builds a library function whose arguments reach `f` packed in a table.
pub(crate) fn packed_function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, &Args) -> LibResult<Ret> + Send + 'static,
{
    let raw = lua.create_function(move |lua, (n, t): (usize, Table)| {
        let args = Args::Packed(t, n);
        deliver(lua, f(lua, &args))
    })?;
    let factory: Function = lua.named_registry_value(PACKED_KEY)?;
    factory.call(raw)
}

/// Builds a library function whose arguments reach `f` as mlua values.
pub(crate) fn direct_function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, &Args) -> LibResult<Value> + Send + 'static,
{
    let raw = lua.create_function(move |lua, args: MultiValue| {
        let args = Args::Direct(args.into_vec());
        deliver(lua, f(lua, &args).map(Ret::One))
    })?;
    let factory: Function = lua.named_registry_value(DIRECT_KEY)?;
    factory.call(raw)
}

/// A fresh table for `Ret::Many` results.
pub(crate) fn results(lua: &Lua, values: Vec<Value>) -> mlua::Result<Ret> {
    let n = values.len();
    let t = lua.create_table_with_capacity(n, 0)?;
    for (i, v) in values.into_iter().enumerate() {
        t.raw_set(i + 1, v)?;
    }
    Ok(Ret::Many(t, n))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers the libraries' tests share.
    #![allow(clippy::unwrap_used)]

    use mlua::{Lua, Value};

    /// A VM with the four libraries installed.
    pub(crate) fn vm() -> Lua {
        let lua = Lua::new();
        super::register_all(&lua).unwrap();
        lua
    }

    /// Evaluates `code` (a chunk that returns a value) and returns it.
    pub(crate) fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code)
            .eval::<T>()
            .unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    /// Evaluates `code` and returns its result as raw bytes.
    pub(crate) fn bytes(lua: &Lua, code: &str) -> Vec<u8> {
        let s: mlua::String = eval(lua, code);
        s.as_bytes().to_vec()
    }

    /// Runs `code` under `pcall` and returns the error it raised, which
    /// must be a string (as the C libraries raise), without the position
    /// prefix that `luaL_error` adds.
    pub(crate) fn error_of(lua: &Lua, code: &str) -> String {
        let raw = raw_error_of(lua, code);
        match raw.strip_prefix("[string \"") {
            Some(rest) => {
                let after = rest.split_once("\"]:").map_or("", |(_, a)| a);
                let (line, msg) = after.split_once(": ").unwrap_or(("", ""));
                assert!(line.parse::<u32>().is_ok(), "{code}: odd position in {raw}");
                msg.to_string()
            }
            None => raw,
        }
    }

    /// Runs `code` under `pcall` and returns the error it raised as is.
    pub(crate) fn raw_error_of(lua: &Lua, code: &str) -> String {
        let wrapped = format!("local ok, e = pcall(function() {code} end) return ok, e");
        let (ok, e): (bool, Value) = eval(lua, &wrapped);
        assert!(!ok, "{code}: expected an error");
        match e {
            Value::String(s) => s.to_str().unwrap().to_string(),
            other => panic!("{code}: error is not a string: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::testutil::{eval, vm};
    use super::*;

    #[test]
    fn all_four_libraries_are_globals() {
        let lua = vm();
        let kinds: String = eval(
            &lua,
            "return type(cjson) .. type(cmsgpack) .. type(bit) .. type(struct)",
        );
        assert_eq!(kinds, "tabletabletabletable");
    }

    #[test]
    fn library_errors_are_strings_positioned_like_lual_error() {
        let lua = vm();
        // Called from a Lua line: that line's position, as luaL_error gives.
        let e: String = eval(
            &lua,
            "local f = loadstring('local x = 1\\nlocal y = cjson.decode(\\'x\\')', '@user_script') \
             local ok, e = pcall(f) return e",
        );
        assert_eq!(
            e,
            "user_script:2: Expected value but found invalid token at character 1"
        );
        let e: String = eval(
            &lua,
            "local ok, e = pcall(loadstring('local y = bit.band({})', '@user_script')) return e",
        );
        assert_eq!(
            e,
            "user_script:1: bad argument #1 to 'band' (number expected, got table)"
        );
        // Called straight from pcall (a C function): no position.
        let (ok, msg): (bool, String) =
            eval(&lua, "local ok, e = pcall(cjson.decode, '[') return ok, e");
        assert!(!ok);
        assert_eq!(msg, "Expected value but found T_END at character 2");
        // Errors of the Lua core inside the C function carry none either.
        let e: String = eval(
            &lua,
            "local ok, e = pcall(loadstring('local y = cmsgpack.unpack(\\'\\\\129\\\\192\\\\1\\')', '@user_script')) return e",
        );
        assert_eq!(e, "table index is nil");
    }

    #[test]
    fn scripts_replacing_base_functions_do_not_break_the_libraries() {
        let lua = vm();
        let (s, e, n): (String, String, usize) = eval(
            &lua,
            "local pcall, sel = pcall, select \
             error, unpack, select, next, type = nil, nil, nil, nil, nil \
             local s = cjson.new().encode({[1e-20] = -0.0}) \
             local ok, e = pcall(cjson.decode, '{') \
             return s, e, sel('#', cmsgpack.unpack('\\1\\2\\3'))",
        );
        assert_eq!(s, "{\"1e-20\":-0}");
        assert_eq!(
            e,
            "Expected object key string but found T_END at character 2"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn c_conversions_follow_x86() {
        assert_eq!(c_double_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_double_to_i64(1e300), i64::MIN);
        assert_eq!(c_double_to_i64(-1.9), -1);
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(2f64.powi(64)), 0);
        assert_eq!(c_double_to_u64(2f64.powi(63)), 1 << 63);
        assert_eq!(c_double_to_u64(f64::NAN), 1 << 63);
        assert_eq!(c_double_to_i32(3e9), i32::MIN);
        assert_eq!(c_double_to_i32(-2_147_483_648.5), -2_147_483_648);
    }

    #[test]
    fn numbers_near_zero_stay_exact_through_arguments_and_tables() {
        let lua = vm();
        let s: String = eval(&lua, "return cjson.encode({1e-20, -0.0, {x = 1e-300}})");
        assert_eq!(s, "[1e-20,-0,{\"x\":1e-300}]");
        let s: String = eval(&lua, "return cjson.encode(-1e-30)");
        assert_eq!(s, "-1e-30");
        let s: String = eval(&lua, "return cjson.encode({[1e-20] = true})");
        assert_eq!(s, "{\"1e-20\":true}");
    }

    #[test]
    fn many_results_pass_the_shim() {
        let lua = vm();
        let n: usize = eval(
            &lua,
            "return select('#', cmsgpack.unpack(string.rep('\\1', 7999)))",
        );
        assert_eq!(n, 7999);
        let n: usize = eval(
            &lua,
            "return select('#', cmsgpack.unpack(string.rep('\\1', 20)))",
        );
        assert_eq!(n, 20);
    }
}
