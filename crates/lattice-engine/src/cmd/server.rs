//! Declarations of the commands the server layer executes (connection state,
//! server introspection, configuration). They are in the table so `COMMAND`,
//! arity checks and ACL categories treat every command alike; their
//! behaviour lives in `lattice-server`.

use super::flags::*;
use super::{CommandSpec, Group};

const fn s(name: &'static str, arity: i32, flags: u32, group: Group) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), group, None)
}

const C: Group = Group::Connection;
const S: Group = Group::Server;
const T: Group = Group::Transactions;

const CLIENT_SUBS: &[CommandSpec] = &[
    s("id", 2, NOSCRIPT | LOADING | STALE, C),
    s("setname", 3, NOSCRIPT | LOADING | STALE, C),
    s("getname", 2, NOSCRIPT | LOADING | STALE, C),
    s("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, C),
    s("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, C),
    s("info", 2, NOSCRIPT | LOADING | STALE, C),
    s("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, C),
    s("setinfo", 4, NOSCRIPT | LOADING | STALE, C),
    s("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, C),
    s("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, C),
    s("tracking", -3, NOSCRIPT | LOADING | STALE, C),
    s("caching", 3, NOSCRIPT | LOADING | STALE, C),
    s("getredir", 2, NOSCRIPT | LOADING | STALE, C),
    s("trackinginfo", 2, NOSCRIPT | LOADING | STALE, C),
    s("help", 2, LOADING | STALE, C),
];

const CONFIG_SUBS: &[CommandSpec] = &[
    s("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("help", 2, LOADING | STALE, S),
];

const DEBUG_SUBS: &[CommandSpec] = &[
    s("sleep", 3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    // Lattice: arms the fault-injecting log backend (`debug-log-faults yes`).
    s("log-fault", 3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("object", 3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s(
        "set-active-expire",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        S,
    ),
    s(
        "populate",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE | WRITE,
        S,
    ),
    s("help", 2, LOADING | STALE, S),
];

const COMMAND_SUBS: &[CommandSpec] = &[
    s("count", 2, LOADING | STALE, S),
    s("info", -2, LOADING | STALE, S),
    s("docs", -2, LOADING | STALE, S),
    s("getkeys", -4, LOADING | STALE, S),
    s("list", -2, LOADING | STALE, S),
    s("help", 2, LOADING | STALE, S),
];

const MEMORY_SUBS: &[CommandSpec] = &[
    s("usage", -3, READONLY, S),
    s("stats", 2, 0, S),
    s("doctor", 2, 0, S),
    s("malloc-stats", 2, 0, S),
    s("purge", 2, 0, S),
    s("help", 2, LOADING | STALE, S),
];

const SLOWLOG_SUBS: &[CommandSpec] = &[
    s("get", -2, ADMIN | LOADING | STALE, S),
    s("len", 2, ADMIN | LOADING | STALE, S),
    s("reset", 2, ADMIN | LOADING | STALE, S),
    s("help", 2, LOADING | STALE, S),
];

const LATENCY_SUBS: &[CommandSpec] = &[
    s("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("graph", 3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("history", 3, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE, S),
    s("help", 2, LOADING | STALE, S),
];

const P: Group = Group::PubSub;

const PUBSUB_SUBS: &[CommandSpec] = &[
    s("channels", -2, PUBSUB | LOADING | STALE, P),
    s("numpat", 2, PUBSUB | LOADING | STALE, P),
    s("numsub", -2, PUBSUB | LOADING | STALE, P),
    s("shardchannels", -2, PUBSUB | LOADING | STALE, P),
    s("shardnumsub", -2, PUBSUB | LOADING | STALE, P),
    s("help", 2, LOADING | STALE, P),
];

const L: Group = Group::Scripting;

/// EVAL/FCALL-style keys: `name script numkeys key…`.
fn script_keys(args: &[bytes::Bytes]) -> Vec<usize> {
    let n = args
        .get(2)
        .and_then(|n| crate::number::parse_i64(n))
        .unwrap_or(0);
    if n <= 0 || (n as u64) > args.len().saturating_sub(3) as u64 {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

const SCRIPT_SUBS: &[CommandSpec] = &[
    s("load", 3, NOSCRIPT | STALE, L),
    s("exists", -3, NOSCRIPT | STALE, L),
    s("flush", -2, NOSCRIPT, L),
    s("kill", 2, NOSCRIPT, L),
    s("debug", 3, NOSCRIPT, L),
    s("help", 2, LOADING | STALE, L),
];

const FUNCTION_SUBS: &[CommandSpec] = &[
    s("load", -3, WRITE | DENYOOM | NOSCRIPT, L),
    s("delete", 3, WRITE | NOSCRIPT, L),
    s("flush", -2, WRITE | NOSCRIPT, L),
    s("restore", -3, WRITE | DENYOOM | NOSCRIPT, L),
    s("dump", 2, NOSCRIPT, L),
    s("list", -2, NOSCRIPT, L),
    s("stats", 2, NOSCRIPT, L),
    s("kill", 2, NOSCRIPT, L),
    s("help", 2, LOADING | STALE, L),
];

/// Server-layer command specs.
pub(crate) const SPECS: &[CommandSpec] = &[
    // Scripting: the server runs scripts (lattice-script) through the log.
    s("eval", -3, NOSCRIPT | STALE, L).with_getkeys(script_keys),
    s("evalsha", -3, NOSCRIPT | STALE, L).with_getkeys(script_keys),
    s("eval_ro", -3, NOSCRIPT | STALE | READONLY, L).with_getkeys(script_keys),
    s("evalsha_ro", -3, NOSCRIPT | STALE | READONLY, L).with_getkeys(script_keys),
    s("fcall", -3, NOSCRIPT | STALE, L).with_getkeys(script_keys),
    s("fcall_ro", -3, NOSCRIPT | STALE | READONLY, L).with_getkeys(script_keys),
    s("script", -2, 0, L).with_subcommands(SCRIPT_SUBS),
    s("function", -2, 0, L).with_subcommands(FUNCTION_SUBS),
    s("ping", -1, FAST | STALE, C),
    s("echo", 2, FAST, C),
    s("quit", -1, NO_AUTH | NOSCRIPT | LOADING | STALE | FAST, C),
    s("reset", 1, NO_AUTH | NOSCRIPT | LOADING | STALE | FAST, C),
    s("select", 2, LOADING | STALE | FAST, C),
    s("auth", -2, NO_AUTH | NOSCRIPT | LOADING | STALE | FAST, C),
    s("hello", -1, NO_AUTH | NOSCRIPT | LOADING | STALE | FAST, C),
    s("client", -2, 0, C).with_subcommands(CLIENT_SUBS),
    s("info", -1, LOADING | STALE, S),
    s("config", -2, 0, S).with_subcommands(CONFIG_SUBS),
    s("time", 1, LOADING | STALE | FAST, S),
    s(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI,
        S,
    ),
    s("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, S).with_subcommands(DEBUG_SUBS),
    // Persistence (issue 3): a snapshot of the dataset compacts the log.
    s("save", 1, ADMIN | NOSCRIPT | NO_MULTI, S),
    s("bgsave", -1, ADMIN | NOSCRIPT, S),
    s("bgrewriteaof", 1, ADMIN | NOSCRIPT, S),
    s("lastsave", 1, LOADING | STALE | FAST, S),
    s("command", -1, LOADING | STALE, C).with_subcommands(COMMAND_SUBS),
    s("memory", -2, 0, S).with_subcommands(MEMORY_SUBS),
    s("slowlog", -2, 0, S).with_subcommands(SLOWLOG_SUBS),
    s("latency", -2, 0, S).with_subcommands(LATENCY_SUBS),
    // Lattice extension: the sampled top-K of accessed keys.
    s("hotkeys", -1, ADMIN | LOADING | STALE, S),
    s("multi", 1, NOSCRIPT | LOADING | STALE | FAST, T),
    s("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, T),
    s("discard", 1, NOSCRIPT | LOADING | STALE | FAST, T),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST,
        (1, -1, 1),
        T,
        None,
    ),
    s("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, T),
    s("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, P),
    s("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, P),
    s("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, P),
    s("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, P),
    CommandSpec::new(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        (1, -1, 1),
        P,
        None,
    ),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        (1, -1, 1),
        P,
        None,
    ),
    s("publish", 3, PUBSUB | LOADING | STALE | FAST, P),
    CommandSpec::new(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        (1, 1, 1),
        P,
        None,
    ),
    s("pubsub", -2, 0, P).with_subcommands(PUBSUB_SUBS),
];
