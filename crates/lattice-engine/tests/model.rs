//! Model-based property test: random string/key operations with a driven
//! clock run against the engine and against a plain `HashMap` model; every
//! reply must agree. Also checks that applying the same ops to a second
//! engine gives the same replies (apply is deterministic).

use std::collections::HashMap;

use bytes::Bytes;
use lattice_engine::{cmd, Engine, EngineConfig, Reply};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8, Option<u16>),
    Get(u8),
    Del(u8),
    Incr(u8),
    Append(u8, u8),
    Expire(u8, u16),
    Persist(u8),
    Pttl(u8),
    Exists(u8),
    Strlen(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..5;
    prop_oneof![
        (k.clone(), 0u8..4, proptest::option::of(1u16..3000))
            .prop_map(|(k, v, t)| Op::Set(k, v, t)),
        k.clone().prop_map(Op::Get),
        k.clone().prop_map(Op::Del),
        k.clone().prop_map(Op::Incr),
        (k.clone(), 0u8..4).prop_map(|(k, v)| Op::Append(k, v)),
        (k.clone(), 1u16..3000).prop_map(|(k, s)| Op::Expire(k, s)),
        k.clone().prop_map(Op::Persist),
        k.clone().prop_map(Op::Pttl),
        k.clone().prop_map(Op::Exists),
        k.prop_map(Op::Strlen),
        (0u16..2000).prop_map(Op::Advance),
    ]
}

#[derive(Default)]
struct Model {
    map: HashMap<String, (Vec<u8>, Option<u64>)>,
}

impl Model {
    fn live(&mut self, k: &str, now: u64) -> Option<&mut (Vec<u8>, Option<u64>)> {
        if self
            .map
            .get(k)
            .is_some_and(|(_, e)| e.is_some_and(|e| e <= now))
        {
            self.map.remove(k);
        }
        self.map.get_mut(k)
    }
}

fn key(k: u8) -> String {
    format!("k{k}")
}

fn val(v: u8) -> Vec<u8> {
    match v {
        0 => b"10".to_vec(),
        1 => b"-3".to_vec(),
        2 => b"abc".to_vec(),
        _ => b"".to_vec(),
    }
}

fn run(engine: &mut Engine, now: u64, seed: u64, args: Vec<&[u8]>) -> Reply {
    let args: Vec<Bytes> = args.into_iter().map(Bytes::copy_from_slice).collect();
    let r = cmd::resolve(&args).expect("valid command");
    if r.spec.is_write() {
        let op = engine.prepare(0, args, now, seed);
        engine.apply(&op, false).reply
    } else {
        engine.read(r.spec, 0, &args, now, seed).reply
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut engine = Engine::new(EngineConfig::default());
        let mut twin = Engine::new(EngineConfig::default());
        let mut model = Model::default();
        let mut now: u64 = 1_700_000_000_000;
        for (i, op) in ops.into_iter().enumerate() {
            let seed = i as u64;
            let (args, expected): (Vec<Vec<u8>>, Reply) = match op {
                Op::Advance(ms) => { now += u64::from(ms); continue; }
                Op::Set(k, v, ttl) => {
                    let mut a = vec![b"SET".to_vec(), key(k).into_bytes(), val(v)];
                    if let Some(t) = ttl { a.push(b"PX".to_vec()); a.push(t.to_string().into_bytes()); }
                    model.map.insert(key(k), (val(v), ttl.map(|t| now + u64::from(t))));
                    (a, Reply::Ok)
                }
                Op::Get(k) => {
                    let r = model.live(&key(k), now).map_or(Reply::Nil, |(v, _)| Reply::bulk(v));
                    (vec![b"GET".to_vec(), key(k).into_bytes()], r)
                }
                Op::Del(k) => {
                    let r = i64::from(model.live(&key(k), now).is_some());
                    model.map.remove(&key(k));
                    (vec![b"DEL".to_vec(), key(k).into_bytes()], Reply::Int(r))
                }
                Op::Incr(k) => {
                    let r = match model.live(&key(k), now) {
                        None => { model.map.insert(key(k), (b"1".to_vec(), None)); Reply::Int(1) }
                        Some((v, _)) => match std::str::from_utf8(v).ok().and_then(|s| lattice_engine::number::parse_i64(s.as_bytes())) {
                            Some(n) => { *v = (n + 1).to_string().into_bytes(); Reply::Int(n + 1) }
                            None => Reply::Error(lattice_engine::CmdError::NotInteger),
                        },
                    };
                    (vec![b"INCR".to_vec(), key(k).into_bytes()], r)
                }
                Op::Append(k, v) => {
                    let add = val(v);
                    let len = match model.live(&key(k), now) {
                        Some((cur, _)) => { cur.extend_from_slice(&add); cur.len() }
                        None => { let l = add.len(); model.map.insert(key(k), (add.clone(), None)); l }
                    };
                    (vec![b"APPEND".to_vec(), key(k).into_bytes(), val(v)], Reply::Int(len as i64))
                }
                Op::Expire(k, s) => {
                    let r = match model.live(&key(k), now) {
                        Some(e) => { e.1 = Some(now + u64::from(s)); 1 }
                        None => 0,
                    };
                    (vec![b"PEXPIRE".to_vec(), key(k).into_bytes(), s.to_string().into_bytes()], Reply::Int(r))
                }
                Op::Persist(k) => {
                    let r = match model.live(&key(k), now) {
                        Some(e) if e.1.is_some() => { e.1 = None; 1 }
                        _ => 0,
                    };
                    (vec![b"PERSIST".to_vec(), key(k).into_bytes()], Reply::Int(r))
                }
                Op::Pttl(k) => {
                    let r = match model.live(&key(k), now) {
                        None => -2,
                        Some((_, None)) => -1,
                        Some((_, Some(e))) => (*e - now) as i64,
                    };
                    (vec![b"PTTL".to_vec(), key(k).into_bytes()], Reply::Int(r))
                }
                Op::Exists(k) => {
                    let r = i64::from(model.live(&key(k), now).is_some());
                    (vec![b"EXISTS".to_vec(), key(k).into_bytes()], Reply::Int(r))
                }
                Op::Strlen(k) => {
                    let r = model.live(&key(k), now).map_or(0, |(v, _)| v.len() as i64);
                    (vec![b"STRLEN".to_vec(), key(k).into_bytes()], Reply::Int(r))
                }
            };
            let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let got = run(&mut engine, now, seed, argv.clone());
            let got_twin = run(&mut twin, now, seed, argv);
            prop_assert_eq!(&got, &expected, "after {:?}", args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
            prop_assert_eq!(got, got_twin);
        }
    }
}
