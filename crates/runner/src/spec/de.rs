//! A serde `Deserializer` over the span-keeping tree of [`super::json`].
//!
//! Every error that comes out of deserializing a node is tagged with that node's start offset
//! and field path, innermost node first, so a bad duration points at the duration string, an
//! unknown field at its key and a missing field at the object. Doing this inside the
//! deserializer (rather than through `serde_path_to_error` over serde_json) gives the *start*
//! of the value; serde_json only knows where it was when the error was raised.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::SegmentRef;
use super::json::{Member, Node, Segment, Value};

/// A field path being built on the stack: no allocation unless an error needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathCtx<'p> {
    parent: Option<&'p PathCtx<'p>>,
    segment: Option<SegmentRef<'p>>,
}

impl<'p> PathCtx<'p> {
    pub(crate) const ROOT: PathCtx<'static> = PathCtx { parent: None, segment: None };

    pub(crate) fn key(&'p self, key: &'p str) -> PathCtx<'p> {
        PathCtx { parent: Some(self), segment: Some(SegmentRef::Key(key)) }
    }

    pub(crate) fn index(&'p self, index: usize) -> PathCtx<'p> {
        PathCtx { parent: Some(self), segment: Some(SegmentRef::Index(index)) }
    }

    pub(crate) fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = Some(self);
        while let Some(ctx) = at {
            match ctx.segment {
                Some(SegmentRef::Key(k)) => out.push(Segment::Key(k.to_owned())),
                Some(SegmentRef::Index(i)) => out.push(Segment::Index(i)),
                None => {}
            }
            at = ctx.parent;
        }
        out.reverse();
        out
    }
}

/// What went wrong while deserializing a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeErrorKind {
    Message(String),
    UnknownField { field: String, expected: &'static [&'static str] },
    MissingField(&'static str),
    UnknownVariant { variant: String, expected: &'static [&'static str] },
}

/// A deserialization error, located at the innermost node it passed through.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub(crate) kind: DeErrorKind,
    pub(crate) at: Option<usize>,
    pub(crate) path: Vec<Segment>,
}

impl DeError {
    pub(crate) fn message(message: impl Into<String>) -> DeError {
        DeError { kind: DeErrorKind::Message(message.into()), at: None, path: Vec::new() }
    }

    fn locate(mut self, at: usize, path: &PathCtx<'_>) -> DeError {
        if self.at.is_none() {
            self.at = Some(at);
            self.path = path.segments();
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::Message(m) => f.write_str(m),
            DeErrorKind::UnknownField { field, .. } => write!(f, "unknown field `{field}`"),
            DeErrorKind::MissingField(field) => write!(f, "missing field `{field}`"),
            DeErrorKind::UnknownVariant { variant, .. } => write!(f, "unknown value `{variant}`"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::message(msg.to_string())
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        // serde's words are Rust's ("sequence", "map", "struct RetryWire"); say JSON's.
        let found = match unexpected {
            de::Unexpected::Seq => "array".to_owned(),
            de::Unexpected::Map => "object".to_owned(),
            de::Unexpected::Unit => "null".to_owned(),
            other => other.to_string(),
        };
        let expected = expected.to_string();
        let expected = match expected.as_str() {
            "a sequence" => "an array".to_owned(),
            "a map" => "an object".to_owned(),
            e if e.starts_with("struct ") => "an object".to_owned(),
            e if e.starts_with("enum ") => "a string".to_owned(),
            _ => expected,
        };
        DeError::message(format!("invalid type: {found}, expected {expected}"))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: DeErrorKind::UnknownField { field: field.to_owned(), expected },
            at: None,
            path: Vec::new(),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError { kind: DeErrorKind::MissingField(field), at: None, path: Vec::new() }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            kind: DeErrorKind::UnknownVariant { variant: variant.to_owned(), expected },
            at: None,
            path: Vec::new(),
        }
    }
}

/// Deserializes a `T` from `node`, whose own path is `path`; members named in `skip` are
/// invisible (a job's `kind`, which chose `T`).
pub(crate) fn from_node<'de, T: de::Deserialize<'de>>(
    node: &Node<'_>,
    path: &PathCtx<'_>,
    skip: &'static [&'static str],
) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, path, skip }).map_err(|e| e.locate(node.start, path))
}

struct NodeDe<'n, 'a, 'p> {
    node: &'n Node<'a>,
    path: &'p PathCtx<'p>,
    /// Object members to hide (only at this level).
    skip: &'static [&'static str],
}

pub(crate) fn number<'de, V: Visitor<'de>>(text: &str, visitor: V) -> Result<V::Value, DeError> {
    if text.contains(['.', 'e', 'E']) {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => visitor.visit_f64(f),
            _ => Err(DeError::message(format!("number `{text}` is out of range"))),
        }
    } else if text.starts_with('-') {
        match text.parse::<i64>() {
            Ok(i) => visitor.visit_i64(i),
            Err(_) => Err(DeError::message(format!("number `{text}` is out of range"))),
        }
    } else {
        match text.parse::<u64>() {
            Ok(u) => visitor.visit_u64(u),
            Err(_) => Err(DeError::message(format!("number `{text}` is out of range"))),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_, '_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(text) => number(text, visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => {
                visitor.visit_seq(SeqDe { items: items.iter().enumerate(), path: self.path })
            }
            Value::Object(members) => visitor.visit_map(MapDe {
                members: members.iter(),
                current: None,
                path: self.path,
                skip: self.skip,
            }),
        };
        result.map_err(|e| e.locate(self.node.start, self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            // `null` never means "use the default": a field is either given or left out.
            Value::Null => Err(DeError::message("`null` is not allowed; leave the field out instead")
                .locate(self.node.start, self.path)),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::String(s) => visitor
                .visit_enum(IntoDeserializer::<DeError>::into_deserializer(s.as_ref()))
                .map_err(|e| e.locate(self.node.start, self.path)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct SeqDe<'n, 'a, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'n, Node<'a>>>,
    path: &'p PathCtx<'p>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(i);
        seed.deserialize(NodeDe { node, path: &path, skip: &[] })
            .map(Some)
            // Errors raised after the value was read (a newtype's own check) belong to it too.
            .map_err(|e| e.locate(node.start, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'n, 'a, 'p> {
    members: std::slice::Iter<'n, Member<'a>>,
    current: Option<&'n Member<'a>>,
    path: &'p PathCtx<'p>,
    skip: &'static [&'static str],
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let member = loop {
            match self.members.next() {
                None => return Ok(None),
                Some(m) if self.skip.contains(&m.key.as_ref()) => continue,
                Some(m) => break m,
            }
        };
        self.current = Some(member);
        let path = self.path.key(&member.key);
        seed.deserialize(KeyDe { key: &member.key }).map(Some).map_err(|e| e.locate(member.key_start, &path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(member) = self.current.take() else {
            return Err(DeError::message("value requested before its key"));
        };
        let path = self.path.key(&member.key);
        seed.deserialize(NodeDe { node: &member.value, path: &path, skip: &[] })
            // Errors raised after the value was read (a newtype's own check) belong to it too.
            .map_err(|e| e.locate(member.value.start, &path))
    }
}

/// An object key: always a string.
pub(crate) struct KeyDe<'k> {
    pub(crate) key: &'k str,
}

impl<'de> de::Deserializer<'de> for KeyDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.key)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::super::json;
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        count: u32,
        tags: Option<Vec<String>>,
        env: Option<BTreeMap<String, String>>,
    }

    fn de(text: &str) -> Result<Thing, DeError> {
        let tree = json::parse(text).unwrap();
        from_node(&tree.root, &PathCtx::ROOT, &[])
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let text = r#"{"count": 1, "tags": ["a", 7]}"#;
        let e = de(text).unwrap_err();
        assert_eq!(e.at, Some(text.find('7').unwrap()));
        assert_eq!(e.path, vec![Segment::Key("tags".into()), Segment::Index(1)]);
        assert_eq!(e.to_string(), "invalid type: integer `7`, expected a string");
    }

    #[test]
    fn unknown_fields_point_at_the_key() {
        let text = r#"{"count": 1, "cuont": 2}"#;
        let e = de(text).unwrap_err();
        assert_eq!(e.at, Some(13));
        assert!(matches!(e.kind, DeErrorKind::UnknownField { ref field, .. } if field == "cuont"));
    }

    #[test]
    fn missing_fields_point_at_the_object() {
        let e = de(r#"  {"tags": []}"#).unwrap_err();
        assert_eq!(e.at, Some(2));
        assert_eq!(e.kind, DeErrorKind::MissingField("count"));
        assert!(e.path.is_empty());
    }

    #[test]
    fn null_is_refused_and_big_numbers_are_out_of_range() {
        let e = de(r#"{"count": 1, "env": null}"#).unwrap_err();
        assert_eq!(e.to_string(), "`null` is not allowed; leave the field out instead");
        let e = de(r#"{"count": 123456789012345678901234567890}"#).unwrap_err();
        assert_eq!(e.to_string(), "number `123456789012345678901234567890` is out of range");
        let e = de(r#"{"count": 1e999}"#).unwrap_err();
        assert_eq!(e.to_string(), "number `1e999` is out of range");
    }

    #[test]
    fn map_values_carry_their_key_in_the_path() {
        let text = r#"{"count": 1, "env": {"A": "x", "B": false}}"#;
        let e = de(text).unwrap_err();
        assert_eq!(e.path, vec![Segment::Key("env".into()), Segment::Key("B".into())]);
        assert_eq!(e.at, Some(text.find("false").unwrap()));
    }
}
