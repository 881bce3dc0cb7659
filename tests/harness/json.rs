//! Checks on an export document beyond its values: the order of its keys, the one textual form
//! of its instants, and its published JSON schema.
//!
//! Key order needs the document's text, because `serde_json::Value` (without the
//! `preserve_order` feature, which this workspace does not enable) sorts object keys. [`Shape`]
//! reads the text again and keeps only the keys, in the order they were written.

use std::fmt;
use std::sync::LazyLock;

use jsonschema::Validator;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The published schema of the data-export document, version 1.0.
const SCHEMA_TEXT: &str =
    include_str!("../../plugins/data-export/schema/data-export-1.0.schema.json");

static SCHEMA: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).expect("the schema file is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
});

/// The compiled data-export schema, compiled once per test binary.
pub fn schema() -> &'static Validator {
    &SCHEMA
}

/// Every way `document` breaks the schema, one line each (`/json/pointer: message`); empty
/// when it validates.
pub fn schema_errors(document: &Value) -> Vec<String> {
    schema()
        .iter_errors(document)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

/// Panics with every schema violation when `document` does not validate.
pub fn assert_valid(document: &Value) {
    let errors = schema_errors(document);
    assert!(
        errors.is_empty(),
        "the export breaks its schema:\n{}",
        errors.join("\n")
    );
}

/// Whether `text` is an instant in Clocky's one form, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`.
///
/// Written out character by character rather than with a regex engine: the pattern is fixed
/// width, so a template says it exactly.
pub fn is_utc_instant(text: &str) -> bool {
    const TEMPLATE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
    text.len() == TEMPLATE.len()
        && text
            .bytes()
            .zip(TEMPLATE.iter())
            .all(|(byte, &wanted)| match wanted {
                b'd' => byte.is_ascii_digit(),
                other => byte == other,
            })
}

/// The keys of a JSON document in the order they were written, with values reduced to their
/// own keys (objects), items (arrays) or nothing (everything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// An object's keys in written order, with each value's shape.
    Object(Vec<(String, Shape)>),
    /// An array's items.
    Array(Vec<Shape>),
    /// A string, number, boolean or null.
    Leaf,
}

impl Shape {
    /// Reads the shape of a document's text.
    pub fn of(bytes: &[u8]) -> Shape {
        serde_json::from_slice(bytes).expect("the document is JSON")
    }

    /// An object's keys in written order; panics on anything but an object.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Shape::Object(fields) => fields.iter().map(|(key, _)| key.as_str()).collect(),
            other => panic!("expected an object, found {other:?}"),
        }
    }

    /// The shape of an object's field; panics when there is none.
    pub fn field(&self, key: &str) -> &Shape {
        match self {
            Shape::Object(fields) => fields
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, shape)| shape)
                .unwrap_or_else(|| panic!("the object has no field {key:?}")),
            other => panic!("expected an object, found {other:?}"),
        }
    }

    /// An array's items; panics on anything but an array.
    pub fn items(&self) -> &[Shape] {
        match self {
            Shape::Array(items) => items,
            other => panic!("expected an array, found {other:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Shape>()?;
            fields.push((key, value));
        }
        Ok(Shape::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Shape>()? {
            items.push(item);
        }
        Ok(Shape::Array(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }
}
