//! A span-keeping JSON tree: every value remembers the byte offset where it starts.
//!
//! serde_json reports positions only for the errors it raises itself, and only where it
//! noticed them (usually just *after* a value). To point semantic errors (a bad duration,
//! a duplicate id, a probability of 2) at the *start* of the offending value, job files are
//! parsed in two steps: serde_json checks the syntax and gives its well-known messages for
//! syntax errors; then this module builds a small tree over the (now known valid) text, and
//! [`super::de`] deserializes the typed wire structs from it, attaching each error to the
//! node it came from.
//!
//! Invariants: the parser never panics, whatever the input (it returns an error if it meets
//! something serde_json let through that it does not handle), recursion is bounded by
//! [`MAX_DEPTH`], and strings without escapes borrow from the input.
//!
//! Duplicate keys in an object are recorded (see [`Tree::duplicates`]) and the later entry is
//! dropped, so serde never sees them: a repeated key is an error in a job file (RFC 8259 says
//! names SHOULD be unique; a silent "last one wins" would hide typos).

use std::borrow::Cow;

/// Deeper nesting than this is refused (serde_json's own limit is 128).
pub(crate) const MAX_DEPTH: usize = 128;

/// A JSON value and the byte offset of its first character.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) start: usize,
    pub(crate) value: Value<'a>,
}

/// The value of a [`Node`].
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// The number's text as written (already checked against the JSON grammar).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<Member<'a>>),
}

/// One `"key": value` entry of an object.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    pub(crate) key: Cow<'a, str>,
    /// Byte offset of the key's opening quote.
    pub(crate) key_start: usize,
    pub(crate) value: Node<'a>,
}

/// A repeated key found while parsing.
#[derive(Debug, Clone)]
pub(crate) struct Duplicate {
    /// Path of the repeated member, e.g. `jobs[2].timeout` (relative to the parsed value).
    pub(crate) path: Vec<Segment>,
    pub(crate) key: String,
    /// Offset of the repeated key.
    pub(crate) at: usize,
    /// Offset of the first occurrence of the key.
    pub(crate) first: usize,
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed value plus the duplicate keys met on the way.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    pub(crate) root: Node<'a>,
    pub(crate) duplicates: Vec<Duplicate>,
    /// `true` when the text held nothing on which serde_json could judge differently (no
    /// escapes, no fractions, exponents or integers over 18 digits, nesting under
    /// [`PLAIN_DEPTH`]): serde_json then accepts it too, and its syntax check can be skipped.
    pub(crate) plain: bool,
}

/// Nesting deeper than this makes a tree not [`plain`](Tree::plain).
const PLAIN_DEPTH: usize = 64;

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) at: usize,
    pub(crate) message: String,
}

impl<'a> Node<'a> {
    /// The member called `key`, if this is an object that has one.
    pub(crate) fn member(&self, key: &str) -> Option<&Member<'a>> {
        match &self.value {
            Value::Object(members) => members.iter().find(|m| m.key == key),
            _ => None,
        }
    }

    /// Follows `keys` through nested objects.
    pub(crate) fn find(&self, keys: &[&str]) -> Option<&Member<'a>> {
        let (first, rest) = keys.split_first()?;
        let member = self.member(first)?;
        if rest.is_empty() { Some(member) } else { member.value.find(rest) }
    }

    /// A short description of the value's type, for messages (`"an array"`).
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Parses one complete JSON value (surrounded by optional whitespace) from `text`.
pub(crate) fn parse(text: &str) -> Result<Tree<'_>, SyntaxError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        path: Vec::new(),
        duplicates: Vec::new(),
        plain: true,
    };
    parser.skip_ws();
    let root = parser.value(0)?;
    parser.skip_ws();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(Tree { root, duplicates: parser.duplicates, plain: parser.plain })
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The path to the value being parsed, kept only to name duplicate keys.
    path: Vec<PathStep<'a>>,
    duplicates: Vec<Duplicate>,
    /// See [`Tree::plain`].
    plain: bool,
}

#[derive(Clone)]
enum PathStep<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

impl<'a> Parser<'a> {
    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError { at: self.pos.min(self.bytes.len()), message: message.to_owned() }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, message: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, SyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        if depth >= PLAIN_DEPTH {
            self.plain = false;
        }
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(_) => return Err(self.error("expected value")),
            None => return Err(self.error("EOF while parsing a value")),
        };
        Ok(Node { start, value })
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        self.pos += 1; // `{`
        let mut members: Vec<Member<'a>> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("key must be a string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected `:`")?;
            self.skip_ws();
            self.path.push(PathStep::Key(key.clone()));
            let value = self.value(depth + 1);
            self.path.pop();
            let value = value?;
            let first = members.iter().find(|m| m.key == key).map(|m| m.key_start);
            match first {
                Some(first) => {
                    let mut path = self.segments();
                    path.push(Segment::Key(key.clone().into_owned()));
                    self.duplicates.push(Duplicate { path, key: key.into_owned(), at: key_start, first });
                }
                None => members.push(Member { key, key_start, value }),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, SyntaxError> {
        self.pos += 1; // `[`
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            self.path.push(PathStep::Index(items.len()));
            let item = self.value(depth + 1);
            self.path.pop();
            items.push(item?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn segments(&self) -> Vec<Segment> {
        self.path
            .iter()
            .map(|step| match step {
                PathStep::Key(k) => Segment::Key(k.clone().into_owned()),
                PathStep::Index(i) => Segment::Index(*i),
            })
            .collect()
    }

    fn number(&mut self) -> Result<&'a str, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) || self.pos - start > 18 {
            self.plain = false;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        self.text.get(start..self.pos).ok_or_else(|| self.error("invalid number"))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Parses a string starting at its opening quote; borrows when there are no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes.
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = self.text.get(start..self.pos).ok_or_else(|| self.error("invalid string"))?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => {
                    self.plain = false;
                    break;
                }
                Some(0x00..=0x1f) => {
                    return Err(
                        self.error("control character (\\u0000-\\u001F) found while parsing a string")
                    );
                }
                Some(_) => self.pos += 1,
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        let mut out =
            String::from(self.text.get(start..self.pos).ok_or_else(|| self.error("invalid string"))?);
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.text.get(run_start..self.pos).ok_or_else(|| self.error("invalid string"))?);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    return Err(
                        self.error("control character (\\u0000-\\u001F) found while parsing a string")
                    );
                }
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let high = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&high) {
                    if !(self.peek() == Some(b'\\') && self.bytes.get(self.pos + 1) == Some(&b'u')) {
                        return Err(self.error("lone leading surrogate in hex escape"));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("lone leading surrogate in hex escape"));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    high
                };
                let c =
                    char::from_u32(c).ok_or_else(|| self.error("lone trailing surrogate in hex escape"))?;
                out.push(c);
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut n = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = n * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(n)
    }
}

/// Maps byte offsets of one text to 1-based line and column numbers.
///
/// Columns count characters (Unicode scalar values), not bytes, like rustc's diagnostics, so
/// a column is right in an editor even after non-ASCII text on the same line.
#[derive(Debug)]
pub(crate) struct LineIndex<'a> {
    text: &'a [u8],
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// Added to every line number (for a JSON Lines line parsed on its own).
    first_line: usize,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a [u8], first_line: usize) -> Self {
        let mut starts = vec![0];
        starts.extend(text.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1));
        LineIndex { text, starts, first_line }
    }

    /// The 1-based line and column of byte offset `at` (clamped to the text).
    pub(crate) fn position(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = char_count(self.text.get(start..at).unwrap_or(&[])) + 1;
        (line + self.first_line, column)
    }

    /// The byte offset serde_json's 1-based line and byte column point at.
    pub(crate) fn offset_from_serde(&self, line: usize, column: usize) -> usize {
        // serde_json's column is the 1-based byte column of the offending byte (0 at the very
        // start of a line).
        match self.starts.get(line.saturating_sub(1)) {
            Some(&start) => (start + column.saturating_sub(1)).min(self.text.len()),
            None => self.text.len(),
        }
    }
}

/// Counts characters in possibly-cut UTF-8 (continuation bytes are not counted).
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_starts_of_values_and_keys() {
        let tree = parse(r#" {"a": [1, "x"], "b": {"c": null}}"#).unwrap();
        assert_eq!(tree.root.start, 1);
        let a = tree.root.member("a").unwrap();
        assert_eq!(a.key_start, 2);
        assert_eq!(a.value.start, 7);
        let Value::Array(items) = &a.value.value else { panic!("not an array") };
        assert_eq!(items[1].start, 11);
        assert_eq!(tree.root.find(&["b", "c"]).unwrap().value.start, 28);
    }

    #[test]
    fn decodes_escapes() {
        let tree = parse(r#""a\n\u00e9\ud83d\ude00""#).unwrap();
        let Value::String(s) = tree.root.value else { panic!("not a string") };
        assert_eq!(s, "a\né😀");
    }

    #[test]
    fn duplicate_keys_are_recorded_and_dropped() {
        let tree = parse(r#"{"jobs": [{"a": 1, "a": 2}]}"#).unwrap();
        assert_eq!(tree.duplicates.len(), 1);
        let dup = &tree.duplicates[0];
        assert_eq!(dup.path, vec![Segment::Key("jobs".into()), Segment::Index(0), Segment::Key("a".into())]);
        assert_eq!((dup.first, dup.at), (11, 19));
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep).unwrap_err().message, "recursion limit exceeded");
    }

    #[test]
    fn positions_count_characters() {
        let text = "{\n  \"é\": x}";
        let index = LineIndex::new(text.as_bytes(), 1);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x), (2, 8));
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(index.offset_from_serde(2, 9)), (2, 8));
    }
}
