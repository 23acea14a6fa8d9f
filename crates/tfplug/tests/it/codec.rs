//! Property tests: every value of every type survives the msgpack round trip,
//! including unknowns, nulls, nested collections, sets and dynamic values,
//! and no input makes the decoder panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tfplug::{Number, Type, Value, msgpack};

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::Number),
        Just(Type::String),
        Just(Type::Dynamic)
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::Int),
        (-1.0e12f64..1.0e12).prop_map(Number::from_f64),
        "[1-9][0-9]{23}[1-9]".prop_map(Number::Big),
    ]
}

fn known(ty: &Type) -> BoxedStrategy<Value> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::String => ".{0,12}".prop_map(Value::String).boxed(),
        Type::Dynamic => arb_type()
            .prop_filter("no nested dynamic at the top", |t| *t != Type::Dynamic)
            .prop_flat_map(|t| {
                arb_value(&t).prop_map(move |v| match v {
                    Value::Null | Value::Unknown => v,
                    v => Value::Dynamic(t.clone(), Box::new(v)),
                })
            })
            .boxed(),
        Type::List(e) => prop::collection::vec(arb_value(e), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(e), 0..4)
            .prop_map(Value::Set)
            .boxed(),
        Type::Map(e) => prop::collection::btree_map(".{0,6}", arb_value(e), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(attrs) => {
            let fields: Vec<(String, BoxedStrategy<Value>)> = attrs
                .iter()
                .map(|(k, t)| (k.clone(), arb_value(t)))
                .collect();
            let (names, strats): (Vec<String>, Vec<BoxedStrategy<Value>>) =
                fields.into_iter().unzip();
            strats
                .prop_map(move |vals| {
                    Value::Object(names.iter().cloned().zip(vals).collect::<BTreeMap<_, _>>())
                })
                .boxed()
        }
        Type::Tuple(ts) => ts
            .iter()
            .map(arb_value)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
    }
}

fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known(ty)].boxed()
}

fn typed_value() -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(|t| arb_value(&t).prop_map(move |v| (t.clone(), v)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips_every_value((ty, v) in typed_value()) {
        let bytes = msgpack::encode(&v, &ty).unwrap();
        prop_assert_eq!(msgpack::decode(&bytes, &ty).unwrap(), v);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(ty in arb_type(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = msgpack::decode(&bytes, &ty);
    }

    #[test]
    fn type_constraints_round_trip_through_json(ty in arb_type()) {
        prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }
}

#[test]
fn refined_unknowns_inside_collections_decode_as_unknown() {
    // [ "a", <unknown refined: not null, prefix "x"> ] as list(string)
    let bytes = [
        0x92, 0xa1, b'a', 0xc7, 0x05, 0x0c, 0x82, 0x01, 0xc2, 0x02, 0xa0,
    ];
    let v = msgpack::decode(&bytes, &Type::list(Type::String)).unwrap();
    assert_eq!(v, Value::List(vec![Value::from("a"), Value::Unknown]));
}
