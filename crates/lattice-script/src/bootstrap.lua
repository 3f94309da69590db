-- Lattice's script sandbox, run once when the VM is created (chunk name
-- "=lattice"; frames from this chunk are skipped when an error is located).
-- It builds the globals scripts see, as Redis 7.0 does: read-only, reading an
-- undefined global is an error, and only the safe parts of the standard
-- library are present. `real` is the table behind the read-only view;
-- `hidden` holds what the Rust side swaps in per run (`raw`, `loading`).
local real, hidden, load_redis, run_redis = ...

local G = _G
local rawset_, setmetatable_, setfenv_, loadstring_, load_, xpcall_ =
  rawset, setmetatable, setfenv, loadstring, load, xpcall
local tostring_, error_ = tostring, error

for _, k in G.ipairs({
  'assert', 'collectgarbage', 'error', 'gcinfo', 'getmetatable', 'ipairs',
  'next', 'pairs', 'pcall', 'rawequal', 'rawget', 'select', 'tonumber',
  'tostring', 'type', 'unpack', 'xpcall', '_VERSION', 'string', 'table',
  'math', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct',
}) do
  real[k] = G[k]
end

local protected = setmetatable_({}, { __mode = 'k' })

local function readonly_error()
  error_('Attempt to modify a readonly table', 2)
end

-- Raised inline (never through a tail call) so level 2 is the script.
local function missing_text(k)
  return "Script attempted to access nonexistent global variable '" .. tostring_(k) .. "'"
end

-- A read-only view of `t`; `strict` makes reading a missing field an error
-- (the globals and the redis table behave so in Redis).
local function readonly(t, strict)
  local index = t
  if strict then
    index = function(_, k)
      local v = t[k]
      if v == nil then
        error_(missing_text(k), 2)
      end
      return v
    end
  end
  local p = setmetatable_({}, { __index = index, __newindex = readonly_error, __metatable = false })
  protected[p] = true
  return p
end

-- The globals: read-only, reading an undefined one is an error, and while
-- FUNCTION LOAD runs a library only `redis` exists (as in Redis 7.0).
local env = setmetatable_({}, {
  __index = function(_, k)
    if hidden.loading and k ~= 'redis' then
      error_(missing_text(k), 2)
    end
    local v = real[k]
    if v == nil then
      error_(missing_text(k), 2)
    end
    return v
  end,
  __newindex = readonly_error,
  __metatable = false,
})
protected[env] = true
-- The redis table: the load-time form (register_function) while FUNCTION LOAD
-- runs a library, the run-time form (call, pcall …) otherwise.
local redis_view = setmetatable_({}, {
  __index = function(_, k)
    local v
    if hidden.loading then
      v = load_redis[k]
      if v == nil then
        error_(missing_text(k), 2)
      end
      return v
    end
    return run_redis[k]
  end,
  __newindex = readonly_error,
  __metatable = false,
})
protected[redis_view] = true

for _, k in G.ipairs({ 'string', 'table', 'math', 'coroutine', 'cjson', 'cmsgpack', 'bit', 'struct' }) do
  if real[k] ~= nil then
    real[k] = readonly(real[k], false)
  end
end
real.redis = redis_view
real._G = env

-- rawset and setmetatable would otherwise bypass the read-only views.
real.rawset = function(t, k, v)
  if protected[t] then
    error_('Attempt to modify a readonly table', 0)
  end
  return rawset_(t, k, v)
end
real.setmetatable = function(t, m)
  if protected[t] then
    error_('Attempt to modify a readonly table', 0)
  end
  return setmetatable_(t, m)
end
-- getmetatable: the views have none (as Redis's plain read-only tables),
-- and the string metatable is handed out read-only, so no script can change
-- how strings behave for later scripts.
local getmetatable_ = getmetatable
local string_mt = getmetatable_('')
local string_mt_view = readonly(string_mt, false)
real.getmetatable = function(o)
  if protected[o] then
    return nil
  end
  local m = getmetatable_(o)
  if m == string_mt then
    return string_mt_view
  end
  return m
end
hidden.protected = protected

-- Code compiled at run time sees the same globals, never the VM's own.
real.loadstring = function(s, name)
  local f, e = loadstring_(s, name)
  if f then
    setfenv_(f, env)
  end
  return f, e
end
real.load = function(fn, name)
  local f, e = load_(fn, name)
  if f then
    setfenv_(f, env)
  end
  return f, e
end

-- redis.call is a Rust function (a C frame keeps the script's frame on a
-- tail call, so errors locate the script line); redis.pcall returns the
-- error table. pcall turns a failed redis.call back into that table too.
local pcall_ = pcall
-- Redis 7.0's pcall hands the script an error table's `err` text.
local function normalize(ok, ...)
  if ok then
    return ok, ...
  end
  local e = hidden.normalize((...))
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
    e = rawget(e, 'err')
  end
  return ok, e
end
real.pcall = function(f, ...)
  return normalize(hidden.rethrow_kill(pcall_(f, ...)))
end
-- xpcall's handler sees a failed redis.call as its {err=…} table.
real.xpcall = function(f, h)
  return hidden.rethrow_kill(xpcall_(f, function(e)
    return h(hidden.to_table(e))
  end))
end
do
  local co, resume_ = {}, G.coroutine.resume
  for k, v in G.pairs(G.coroutine) do
    co[k] = v
  end
  -- resume hands a failed redis.call over as its {err=…} table (Redis).
  local function resumed(ok, ...)
    if ok then
      return ok, ...
    end
    return ok, hidden.to_table((...))
  end
  co.resume = function(...)
    return resumed(hidden.rethrow_kill(resume_(...)))
  end
  real.coroutine = readonly(co, false)
end
run_redis.pcall = function(...)
  local _, v = hidden.raw(...)
  return v
end
-- A wrong argument is an error *reply* here (returned, not raised), as in
-- Redis 7.0.
local bad_args = 'ERR wrong number or type of arguments'
-- error_reply / status_reply: one string argument, wrapped in `field`.
local function reply_table(field)
  return function(...)
    if G.select('#', ...) ~= 1 or type((...)) ~= 'string' then
      return { err = bad_args }
    end
    return { [field] = (...) }
  end
end
run_redis.error_reply = reply_table('err')
run_redis.status_reply = reply_table('ok')
for _, k in G.ipairs({ 'log', 'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING',
  'REDIS_VERSION', 'REDIS_VERSION_NUM' }) do
  load_redis[k] = run_redis[k]
end

-- Runs `f` (a script chunk, or a function with its KEYS/ARGV arguments)
-- under `handler`, which turns any error into Redis's error table.
hidden.run = function(f, handler, keys, args)
  if keys == nil then
    return xpcall_(f, handler)
  end
  return xpcall_(function() return f(keys, args) end, handler)
end

return env
