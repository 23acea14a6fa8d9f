//! Feeds arbitrary bytes to the msgpack decoder under a type chosen from the
//! first byte; decoding must never panic, and what decodes must re-encode and
//! decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplug::{Type, msgpack};

fn pick_type(b: u8) -> Type {
    let obj = Type::object([
        ("id", Type::String),
        ("n", Type::Number),
        ("tags", Type::map(Type::String)),
        ("dyn", Type::Dynamic),
        ("items", Type::list(Type::object([("on", Type::Bool)]))),
    ]);
    match b % 6 {
        0 => Type::Dynamic,
        1 => Type::Number,
        2 => Type::set(Type::String),
        3 => Type::Tuple(vec![Type::Bool, Type::Dynamic]),
        4 => Type::map(Type::list(Type::Number)),
        _ => obj,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let ty = pick_type(*first);
    if let Ok(v) = msgpack::decode(rest, &ty) {
        let again = msgpack::encode(&v, &ty).expect("decoded values re-encode");
        assert_eq!(msgpack::decode(&again, &ty).expect("re-encoded values decode"), v);
    }
});
