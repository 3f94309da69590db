//! Pub/sub with Redis 7.0's semantics: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
//! PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB; the
//! registry of channel, pattern and shard-channel subscribers ([`PubSub`],
//! in `Shared` and in `Core`); keyspace notifications
//! (`notify-keyspace-events`) published from applied writes' effects; and
//! each connection's queue of outgoing pushes ([`PushQueue`]), which also
//! carries client-side caching invalidations (`crate::tracking`).
//!
//! **Delivery.** A publisher never writes to another client's socket and
//! never waits for it: it appends the message to the subscriber's queue
//! (non-blocking) and the subscriber's connection task drains that queue
//! between replies. The queue is bounded in bytes by
//! `client-output-buffer-limit pubsub`: a message that takes it over the
//! hard limit (or over the soft limit for longer than the soft seconds)
//! kills the subscriber instead, so one slow subscriber slows nobody else.
//!
//! **Lock order.** The registry lock is taken inside the engine lock (keyspace
//! notifications are published from `Core::apply`), never the other way.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use lattice_engine::glob::glob_match;
use lattice_engine::{CmdError, Effect, EventClass, Reply};
use lattice_resp::encode::{self, Version};
use tokio::sync::mpsc;

use crate::config::ServerConfig;
use crate::dispatch::{reply, Conn, Control};
use crate::shared::ClientHandle;

/// Pushes drained into the output buffer at once before it is flushed.
const DRAIN_AT: usize = 64 * 1024;

/// `notify-keyspace-events` flag bits (Redis's `NOTIFY_*`).
pub mod notify {
    /// `K`: `__keyspace@<db>__:<key>` channels.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: `__keyevent@<db>__:<event>` channels.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`
    pub const GENERIC: u32 = 1 << 2;
    /// `$`
    pub const STRING: u32 = 1 << 3;
    /// `l`
    pub const LIST: u32 = 1 << 4;
    /// `s`
    pub const SET: u32 = 1 << 5;
    /// `h`
    pub const HASH: u32 = 1 << 6;
    /// `z`
    pub const ZSET: u32 = 1 << 7;
    /// `x`
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`
    pub const EVICTED: u32 = 1 << 9;
    /// `t`
    pub const STREAM: u32 = 1 << 10;
    /// `m`
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`
    pub const MODULE: u32 = 1 << 12;
    /// `n`
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but `m` and `n`, as in Redis.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Parses a `notify-keyspace-events` value (Redis's
/// `keyspaceEventsStringToFlags`); `None` on an unknown letter.
pub fn parse_notify_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => notify::ALL,
            'g' => notify::GENERIC,
            '$' => notify::STRING,
            'l' => notify::LIST,
            's' => notify::SET,
            'h' => notify::HASH,
            'z' => notify::ZSET,
            'x' => notify::EXPIRED,
            'e' => notify::EVICTED,
            'K' => notify::KEYSPACE,
            'E' => notify::KEYEVENT,
            't' => notify::STREAM,
            'm' => notify::KEY_MISS,
            'd' => notify::MODULE,
            'n' => notify::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Formats flags as CONFIG GET prints them (Redis's
/// `keyspaceEventsFlagsToString`: `A` hides every other class letter,
/// including `n`).
pub fn notify_flags_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & notify::ALL == notify::ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (notify::GENERIC, 'g'),
            (notify::STRING, '$'),
            (notify::LIST, 'l'),
            (notify::SET, 's'),
            (notify::HASH, 'h'),
            (notify::ZSET, 'z'),
            (notify::EXPIRED, 'x'),
            (notify::EVICTED, 'e'),
            (notify::STREAM, 't'),
            (notify::MODULE, 'd'),
            (notify::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (notify::KEYSPACE, 'K'),
        (notify::KEYEVENT, 'E'),
        (notify::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn class_bit(class: EventClass) -> u32 {
    match class {
        EventClass::Generic => notify::GENERIC,
        EventClass::String => notify::STRING,
        EventClass::List => notify::LIST,
        EventClass::Set => notify::SET,
        EventClass::Hash => notify::HASH,
        EventClass::ZSet => notify::ZSET,
        EventClass::Expired => notify::EXPIRED,
        EventClass::Evicted => notify::EVICTED,
        EventClass::New => notify::NEW,
        EventClass::KeyMiss => notify::KEY_MISS,
    }
}

/// A message on its way to one subscriber.
#[derive(Debug, Clone)]
pub enum Push {
    /// `message <channel> <payload>`
    Message {
        /// Channel.
        channel: Bytes,
        /// Payload.
        message: Bytes,
    },
    /// `pmessage <pattern> <channel> <payload>`
    PMessage {
        /// The subscribed pattern that matched.
        pattern: Bytes,
        /// Channel.
        channel: Bytes,
        /// Payload.
        message: Bytes,
    },
    /// `smessage <shardchannel> <payload>`
    SMessage {
        /// Shard channel.
        channel: Bytes,
        /// Payload.
        message: Bytes,
    },
    /// Client-side caching (`crate::tracking`): `invalidate` with the keys,
    /// or null for every key. A RESP3 push; a RESP2 connection (a REDIRECT
    /// target in subscribed context) gets it as a `message` on
    /// `__redis__:invalidate`.
    Invalidate {
        /// The keys; `None` after a flush.
        keys: Option<Arc<[Bytes]>>,
    },
    /// `tracking-redir-broken <id>`: the REDIRECT target has gone.
    RedirBroken {
        /// The client the invalidations were redirected to.
        id: u64,
    },
}

impl Push {
    /// Bytes this push accounts for against the output limit: its encoded
    /// size, roughly (headers estimated).
    fn size(&self) -> usize {
        match self {
            Push::Message { channel, message } | Push::SMessage { channel, message } => {
                channel.len() + message.len() + 40
            }
            Push::PMessage {
                pattern,
                channel,
                message,
            } => pattern.len() + channel.len() + message.len() + 52,
            Push::Invalidate { keys } => {
                keys.as_deref()
                    .map_or(0, |k| k.iter().map(|k| k.len() + 16).sum::<usize>())
                    + 48
            }
            Push::RedirBroken { .. } => 56,
        }
    }

    /// Appends the frame: a RESP3 push, or a RESP2 array.
    pub fn encode(&self, buf: &mut BytesMut, v: Version) {
        match self {
            Push::Message { channel, message } => {
                encode::push_header(buf, 3, v);
                encode::bulk(buf, b"message");
                encode::bulk(buf, channel);
                encode::bulk(buf, message);
            }
            Push::SMessage { channel, message } => {
                encode::push_header(buf, 3, v);
                encode::bulk(buf, b"smessage");
                encode::bulk(buf, channel);
                encode::bulk(buf, message);
            }
            Push::PMessage {
                pattern,
                channel,
                message,
            } => {
                encode::push_header(buf, 4, v);
                encode::bulk(buf, b"pmessage");
                encode::bulk(buf, pattern);
                encode::bulk(buf, channel);
                encode::bulk(buf, message);
            }
            Push::Invalidate { keys } => {
                if v == Version::Resp3 {
                    encode::push_header(buf, 2, v);
                    encode::bulk(buf, b"invalidate");
                } else {
                    encode::push_header(buf, 3, v);
                    encode::bulk(buf, b"message");
                    encode::bulk(buf, b"__redis__:invalidate");
                }
                match keys {
                    Some(keys) => {
                        encode::array_header(buf, keys.len());
                        for k in keys.iter() {
                            encode::bulk(buf, k);
                        }
                    }
                    None => encode::null(buf, v),
                }
            }
            Push::RedirBroken { id } => {
                encode::push_header(buf, 2, v);
                encode::bulk(buf, b"tracking-redir-broken");
                encode::integer(buf, i64::try_from(*id).unwrap_or(i64::MAX));
            }
        }
    }
}

/// One connection as publishers see it: the sending side of its push queue.
pub struct Subscriber {
    handle: Arc<ClientHandle>,
    tx: mpsc::UnboundedSender<Push>,
    /// Bytes queued and not yet taken by the connection.
    pending: AtomicUsize,
    /// When the queue went over the soft limit (ms since the registry's
    /// start, plus one), 0 when under it.
    soft_since: AtomicU64,
}

impl Subscriber {
    /// Queues `push` unless that takes the queue over the limits, in which
    /// case the client is disconnected (Redis's output buffer limit).
    fn deliver(&self, push: Push, limits: &Limits, now_ms: u64) {
        if self.handle.killed.load(Ordering::Relaxed) {
            return;
        }
        let size = push.size();
        let used = (self.pending.load(Ordering::Relaxed) + size) as u64;
        let mut over = limits.hard > 0 && used >= limits.hard;
        if !over && limits.soft > 0 && used >= limits.soft {
            let since = self.soft_since.load(Ordering::Relaxed);
            if since == 0 {
                self.soft_since.store(now_ms + 1, Ordering::Relaxed);
            } else if now_ms + 1 - since > limits.soft_seconds.saturating_mul(1000) {
                over = true;
            }
        } else {
            self.soft_since.store(0, Ordering::Relaxed);
        }
        if over {
            tracing::warn!(
                client = self.handle.id,
                addr = %self.handle.addr,
                "pubsub client output buffer limit reached, closing"
            );
            self.handle.kill();
            return;
        }
        self.pending.fetch_add(size, Ordering::Relaxed);
        let _ = self.tx.send(push);
    }
}

impl Subscriber {
    /// The connection this queue belongs to.
    pub(crate) fn handle(&self) -> &Arc<ClientHandle> {
        &self.handle
    }

    /// Queues `push` under `ps`'s output limit (the pubsub class).
    pub(crate) fn send(&self, ps: &PubSub, push: Push) {
        let (limits, now) = ps.limits();
        self.deliver(push, &limits, now);
    }
}

/// The receiving side of a connection's push queue, drained by its task.
pub struct PushQueue {
    rx: mpsc::UnboundedReceiver<Push>,
    sub: Arc<Subscriber>,
}

impl PushQueue {
    /// Waits for the next push (cancel-safe, for `select!`).
    pub async fn recv(&mut self) -> Option<Push> {
        self.rx.recv().await
    }

    /// Encodes `first` (if any) and the queued pushes into `out`, up to
    /// about 64 KiB so the buffer stays bounded; the rest waits.
    pub fn drain(&mut self, first: Option<Push>, out: &mut BytesMut, v: Version) {
        let mut taken = 0;
        let mut next = first.or_else(|| self.rx.try_recv().ok());
        while let Some(p) = next {
            taken += p.size();
            p.encode(out, v);
            if out.len() >= DRAIN_AT {
                break;
            }
            next = self.rx.try_recv().ok();
        }
        if taken > 0 {
            self.sub.pending.fetch_sub(taken, Ordering::Relaxed);
        }
    }
}

/// `client-output-buffer-limit pubsub`.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    hard: u64,
    soft: u64,
    soft_seconds: u64,
}

type Subs = Vec<Arc<Subscriber>>;

/// Who listens where.
#[derive(Default)]
struct Registry {
    channels: HashMap<Bytes, Subs>,
    /// Patterns in the order they were first subscribed.
    patterns: Vec<(Bytes, Subs)>,
    shard: HashMap<Bytes, Subs>,
}

fn remove_sub(subs: &mut Subs, id: u64) {
    subs.retain(|s| s.handle.id != id);
}

/// The pub/sub registry and keyspace-notification settings.
pub struct PubSub {
    reg: Mutex<Registry>,
    notify_flags: AtomicU32,
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
    started: Instant,
}

impl PubSub {
    /// An empty registry configured from `cfg`.
    pub fn new(cfg: &ServerConfig) -> Self {
        let ps = Self {
            reg: Mutex::new(Registry::default()),
            notify_flags: AtomicU32::new(0),
            hard: AtomicU64::new(0),
            soft: AtomicU64::new(0),
            soft_seconds: AtomicU64::new(0),
            started: Instant::now(),
        };
        ps.configure(cfg);
        ps
    }

    /// Takes `notify-keyspace-events` and the pubsub output limit from `cfg`.
    pub fn configure(&self, cfg: &ServerConfig) {
        self.notify_flags
            .store(cfg.notify_keyspace_events, Ordering::Relaxed);
        let l = cfg.output_limits.get(1).copied().unwrap_or_default();
        self.hard.store(l.hard, Ordering::Relaxed);
        self.soft.store(l.soft, Ordering::Relaxed);
        self.soft_seconds.store(l.soft_seconds, Ordering::Relaxed);
    }

    fn reg(&self) -> MutexGuard<'_, Registry> {
        self.reg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn limits(&self) -> (Limits, u64) {
        (
            Limits {
                hard: self.hard.load(Ordering::Relaxed),
                soft: self.soft.load(Ordering::Relaxed),
                soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
            },
            self.started.elapsed().as_millis() as u64,
        )
    }

    /// PUBLISH: delivers to the channel's subscribers, then to every
    /// matching pattern's; returns the number of receivers.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> usize {
        let (limits, now) = self.limits();
        let reg = self.reg();
        let mut n = 0;
        if let Some(subs) = reg.channels.get(channel) {
            for s in subs {
                s.deliver(
                    Push::Message {
                        channel: channel.clone(),
                        message: message.clone(),
                    },
                    &limits,
                    now,
                );
                n += 1;
            }
        }
        for (pattern, subs) in &reg.patterns {
            if !glob_match(pattern, channel) {
                continue;
            }
            for s in subs {
                s.deliver(
                    Push::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        message: message.clone(),
                    },
                    &limits,
                    now,
                );
                n += 1;
            }
        }
        n
    }

    /// SPUBLISH: delivers to the shard channel's subscribers.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> usize {
        let (limits, now) = self.limits();
        let reg = self.reg();
        let Some(subs) = reg.shard.get(channel) else {
            return 0;
        };
        for s in subs {
            s.deliver(
                Push::SMessage {
                    channel: channel.clone(),
                    message: message.clone(),
                },
                &limits,
                now,
            );
        }
        subs.len()
    }

    /// Publishes the keyspace notifications among an applied write's
    /// effects (Redis's `notifyKeyspaceEvent`). Non-blocking: it only
    /// queues pushes, so it may run under the engine lock.
    pub fn notify_effects(&self, effects: &[Effect]) {
        let flags = self.notify_flags.load(Ordering::Relaxed);
        if flags & (notify::KEYSPACE | notify::KEYEVENT) == 0 {
            return;
        }
        for e in effects {
            let Effect::Notify {
                class,
                event,
                db,
                key,
            } = e
            else {
                continue;
            };
            if flags & class_bit(*class) == 0 {
                continue;
            }
            if flags & notify::KEYSPACE != 0 {
                let mut ch = format!("__keyspace@{db}__:").into_bytes();
                ch.extend_from_slice(key);
                self.publish(&Bytes::from(ch), &Bytes::from_static(event.as_bytes()));
            }
            if flags & notify::KEYEVENT != 0 {
                let ch = format!("__keyevent@{db}__:{event}");
                self.publish(&Bytes::from(ch), key);
            }
        }
    }

    /// Counts for INFO: (channels, patterns, shard channels).
    pub fn counts(&self) -> (usize, usize, usize) {
        let reg = self.reg();
        (reg.channels.len(), reg.patterns.len(), reg.shard.len())
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// A set that remembers insertion order (a client's subscriptions).
#[derive(Default)]
struct Ordered {
    order: Vec<Bytes>,
    set: HashSet<Bytes>,
}

impl Ordered {
    fn insert(&mut self, b: &Bytes) -> bool {
        if !self.set.insert(b.clone()) {
            return false;
        }
        self.order.push(b.clone());
        true
    }

    fn remove(&mut self, b: &Bytes) -> bool {
        if !self.set.remove(b) {
            return false;
        }
        self.order.retain(|x| x != b);
        true
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

/// One connection's subscriptions; dropping it unsubscribes from all, so
/// the registry never keeps a connection that is gone.
pub struct ClientSubs {
    ps: Arc<PubSub>,
    sub: Arc<Subscriber>,
    channels: Ordered,
    patterns: Ordered,
    shard: Ordered,
}

/// A new connection's subscription state and push queue.
pub fn client(ps: Arc<PubSub>, handle: Arc<ClientHandle>) -> (ClientSubs, PushQueue) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sub = Arc::new(Subscriber {
        handle,
        tx,
        pending: AtomicUsize::new(0),
        soft_since: AtomicU64::new(0),
    });
    (
        ClientSubs {
            ps,
            sub: sub.clone(),
            channels: Ordered::default(),
            patterns: Ordered::default(),
            shard: Ordered::default(),
        },
        PushQueue { rx, sub },
    )
}

impl ClientSubs {
    /// The sending side of this connection's push queue.
    pub(crate) fn subscriber(&self) -> Arc<Subscriber> {
        self.sub.clone()
    }

    /// Subscribed to anything (Redis's `CLIENT_PUBSUB` flag).
    pub fn active(&self) -> bool {
        self.channels.len() + self.patterns.len() + self.shard.len() > 0
    }

    /// (channels, patterns, shard channels), for CLIENT LIST.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }

    /// The count a (un)subscribe confirmation carries.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    fn set(&mut self, kind: Kind) -> &mut Ordered {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn subscribe(&mut self, ps: &PubSub, kind: Kind, name: &Bytes) {
        if !self.set(kind).insert(name) {
            return;
        }
        let sub = self.sub.clone();
        let mut reg = ps.reg();
        match kind {
            Kind::Channel => reg.channels.entry(name.clone()).or_default().push(sub),
            Kind::Shard => reg.shard.entry(name.clone()).or_default().push(sub),
            Kind::Pattern => match reg.patterns.iter_mut().find(|(p, _)| p == name) {
                Some((_, subs)) => subs.push(sub),
                None => reg.patterns.push((name.clone(), vec![sub])),
            },
        }
    }

    fn unsubscribe(&mut self, ps: &PubSub, kind: Kind, name: &Bytes) -> bool {
        if !self.set(kind).remove(name) {
            return false;
        }
        let id = self.sub.handle.id;
        let mut reg = ps.reg();
        let map = match kind {
            Kind::Channel => &mut reg.channels,
            Kind::Shard => &mut reg.shard,
            Kind::Pattern => {
                if let Some((_, subs)) = reg.patterns.iter_mut().find(|(p, _)| p == name) {
                    remove_sub(subs, id);
                }
                reg.patterns.retain(|(_, subs)| !subs.is_empty());
                return true;
            }
        };
        if let Some(subs) = map.get_mut(name) {
            remove_sub(subs, id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
        true
    }

    /// Drops every subscription without replying (RESET, disconnect).
    pub fn clear(&mut self) {
        let ps = self.ps.clone();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names = self.set(kind).order.clone();
            for n in &names {
                self.unsubscribe(&ps, kind, n);
            }
        }
    }
}

impl Drop for ClientSubs {
    fn drop(&mut self) {
        self.clear();
    }
}

fn confirm(out: &mut BytesMut, v: Version, verb: &[u8], name: Option<&[u8]>, count: usize) {
    encode::push_header(out, 3, v);
    encode::bulk(out, verb);
    match name {
        Some(n) => encode::bulk(out, n),
        None => encode::null(out, v),
    }
    encode::integer(out, count as i64);
}

/// Runs SUBSCRIBE, UNSUBSCRIBE and their P/S forms: one confirmation per
/// channel, each with the client's subscription count after it.
pub fn subscription_command(
    conn: &mut Conn,
    name: &str,
    args: &[Bytes],
    out: &mut BytesMut,
) -> Control {
    let (kind, subscribe) = match name {
        "subscribe" => (Kind::Channel, true),
        "psubscribe" => (Kind::Pattern, true),
        "ssubscribe" => (Kind::Shard, true),
        "unsubscribe" => (Kind::Channel, false),
        "punsubscribe" => (Kind::Pattern, false),
        _ => (Kind::Shard, false),
    };
    let shared = conn.shared.clone();
    let ps = &shared.pubsub;
    let v = conn.resp;
    let names = args.get(1..).unwrap_or_default();
    if subscribe {
        for n in names {
            conn.pubsub.subscribe(ps, kind, n);
            confirm(out, v, kind.sub_name(), Some(n), conn.pubsub.count(kind));
        }
    } else if names.is_empty() {
        let all = conn.pubsub.set(kind).order.clone();
        if all.is_empty() {
            confirm(out, v, kind.unsub_name(), None, conn.pubsub.count(kind));
        }
        for n in &all {
            conn.pubsub.unsubscribe(ps, kind, n);
            confirm(out, v, kind.unsub_name(), Some(n), conn.pubsub.count(kind));
        }
    } else {
        for n in names {
            conn.pubsub.unsubscribe(ps, kind, n);
            confirm(out, v, kind.unsub_name(), Some(n), conn.pubsub.count(kind));
        }
    }
    sync_info(conn);
    Control::Continue
}

/// Mirrors the subscription counts into the client registry (CLIENT LIST).
fn sync_info(conn: &Conn) {
    let (c, p, s) = conn.pubsub.counts();
    let mut info = conn.handle.info();
    info.sub = c;
    info.psub = p;
    info.ssub = s;
}

/// RESET and disconnect: drop every subscription.
pub fn reset(conn: &mut Conn) {
    conn.pubsub.clear();
    sync_info(conn);
}

/// PUBLISH / SPUBLISH.
pub fn publish(conn: &Conn, sharded: bool, args: &[Bytes], out: &mut BytesMut) -> Control {
    let (Some(ch), Some(msg)) = (args.get(1), args.get(2)) else {
        return reply(conn, out, Reply::Error(CmdError::Syntax));
    };
    let n = if sharded {
        conn.shared.pubsub.spublish(ch, msg)
    } else {
        conn.shared.pubsub.publish(ch, msg)
    };
    reply(conn, out, Reply::Int(n as i64))
}

/// PUBSUB subcommands.
pub fn pubsub_command(conn: &Conn, sub: &str, args: &[Bytes]) -> Result<Reply, CmdError> {
    let reg = conn.shared.pubsub.reg();
    let listing = |map: &HashMap<Bytes, Subs>| {
        let pat = args.get(2);
        Reply::Array(
            map.keys()
                .filter(|c| pat.is_none_or(|p| glob_match(p, c)))
                .map(|c| Reply::Bulk(c.clone()))
                .collect(),
        )
    };
    let numsub = |map: &HashMap<Bytes, Subs>| {
        let mut items = Vec::new();
        for c in args.iter().skip(2) {
            items.push(Reply::Bulk(c.clone()));
            items.push(Reply::Int(map.get(c).map_or(0, Vec::len) as i64));
        }
        Reply::Array(items)
    };
    match sub {
        "channels" | "shardchannels" if args.len() > 3 => Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            crate::builtin::arg_str(args, 1)
        ))),
        "channels" => Ok(listing(&reg.channels)),
        "shardchannels" => Ok(listing(&reg.shard)),
        "numsub" => Ok(numsub(&reg.channels)),
        "shardnumsub" => Ok(numsub(&reg.shard)),
        "numpat" => Ok(Reply::Int(reg.patterns.len() as i64)),
        _ => Ok(crate::builtin::help(&[
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        ])),
    }
}

/// Whether a RESP2 client in subscribed context may run this command.
pub fn allowed_in_context(r: &lattice_engine::cmd::Resolved) -> bool {
    r.parent.is_none()
        && matches!(
            r.spec.name,
            "ping"
                | "subscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "sunsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "quit"
                | "reset"
        )
}

/// The RESP2 subscribed-context error.
pub fn context_error(name: &str) -> CmdError {
    CmdError::err(format!("Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_flags_round_trip_as_redis() {
        let f = |s: &str| notify_flags_string(parse_notify_flags(s).unwrap());
        assert_eq!(f("KEA"), "AKE");
        assert_eq!(f("Kgx$"), "g$xK");
        assert_eq!(f("Ammtd"), "Am");
        assert_eq!(f("mAKEnd"), "AKEm");
        assert_eq!(f(""), "");
        assert_eq!(f("Elshzxetdn"), "lshzxetdnE");
        assert!(parse_notify_flags("Q").is_none());
    }

    #[test]
    fn push_frames() {
        let p = Push::PMessage {
            pattern: Bytes::from("a*"),
            channel: Bytes::from("ab"),
            message: Bytes::from("hi"),
        };
        let mut b = BytesMut::new();
        p.encode(&mut b, Version::Resp3);
        assert_eq!(
            &b[..],
            b">4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$2\r\nab\r\n$2\r\nhi\r\n"
        );
        b.clear();
        p.encode(&mut b, Version::Resp2);
        assert!(b.starts_with(b"*4\r\n"));
    }
}
