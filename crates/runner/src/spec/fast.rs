//! The JSON Lines fast path: one flat job object per line, parsed in one pass.
//!
//! Most lines of a big JSON Lines file look alike: `{"id": "thumb-17", "kind": "noop"}`, a
//! flat object of plain strings and whole numbers. The full parser ([`super::file`]) builds a
//! span-keeping tree, deserializes from it and locates every error; that costs ~4k
//! instructions a line, twice (both passes of the loader read every line).
//!
//! [`job_line`] scans such a line into at most [`MAX_MEMBERS`] `(key, value)` pairs on the
//! stack, deserializes the kind's wire struct from them — the same serde impls, so every value
//! is checked by the same code — and builds the [`JobSpec`] with [`resolve::build`].
//!
//! **It never reports an error.** Anything it does not take — escapes, `null`, fractions,
//! exponents, arrays, nested objects, duplicate keys, periodic fields, `delay` with
//! `not_before`, or any value the wire types refuse — makes it return `None`, and the full
//! parser reads the line and says what is wrong, where. When it returns a job, it is the job
//! the full parser would return, field for field (a proptest in this module holds it to that).

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::KindName;
use super::de::{DeError, KeyDe, number};
use super::file::{Event, IdText, JobPath, Pos, SourceCtx};
use super::resolve::{self, Defaults};
use super::wire;

/// The most members a fast-path line may have (12 common fields and kind parameters is the
/// most a flat job can use).
const MAX_MEMBERS: usize = 16;

/// A member's value, as written.
#[derive(Debug, Clone, Copy)]
enum Flat<'a> {
    /// A string without escapes (its text between the quotes).
    Str(&'a str),
    /// A whole number of at most 18 digits (its text).
    Int(&'a str),
    Bool(bool),
}

/// A line's members, on the stack (filled as scanned: nothing to initialise first).
type Members<'a> = smallvec::SmallVec<[Member<'a>; MAX_MEMBERS]>;

#[derive(Debug, Clone, Copy)]
struct Member<'a> {
    key: &'a str,
    value: Flat<'a>,
    /// Byte offset of the value.
    at: usize,
}

/// A valid job line as the check pass needs it: its explicit id, where that is, and whether
/// the job starts a process. Borrows the line: nothing is copied or built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedLine<'t> {
    pub(crate) id: &'t str,
    /// Column (in characters, from 1) of the id's value.
    pub(crate) id_column: usize,
    pub(crate) core_bound: bool,
}

/// The check pass's fast path: the line's job, if it is flat, valid and has an explicit id
/// (`None` says nothing about validity: the full parser reads the line then). The line is
/// already stripped of its line break, `\r` and BOM, and known to be UTF-8 and not blank.
pub(crate) fn check_line<'t>(ctx: &SourceCtx<'_>, text: &'t str) -> Option<CheckedLine<'t>> {
    let mut members = Members::new();
    let (_, kind) = flat_job(ctx, text, &mut members)?;
    check_members(text, kind, &members)
}

/// [`check_line`] after the scan.
fn check_members<'t>(text: &'t str, kind: KindName, members: &[Member<'t>]) -> Option<CheckedLine<'t>> {
    // The id is checked here rather than through serde, which would copy it into an
    // allocation. An id that is not a plain valid string goes to the full parser.
    let (id, at) = match members.iter().find(|m| m.key == "id") {
        Some(&Member { value: Flat::Str(id), at, .. }) if wire::job_id_problem(id).is_none() => (id, at),
        _ => return None,
    };
    // The job's parts are checked and dropped in place.
    let map = FlatMap { members, next: 0, value: None, skip_id: true };
    if crate::kind::job_check_de(kind, map).ok()? {
        return None;
    }
    Some(CheckedLine { id, id_column: column(text, at), core_bound: kind.uses_a_core() })
}

/// Scans a flat job object into `members`: its offset and kind, or `None` when
/// the fast path does not take it (repeated keys, `jobs`, periodic fields, no plain `kind`, a
/// `shell` job not allowed).
fn flat_job<'a>(ctx: &SourceCtx<'_>, text: &'a str, members: &mut Members<'a>) -> Option<(usize, KindName)> {
    let start = scan(text, members)?;
    let members = &members[..];
    for (i, m) in members.iter().enumerate() {
        // Repeated keys are errors; `jobs` and the periodic fields have their own messages.
        if members[..i].iter().any(|earlier| earlier.key == m.key)
            || matches!(m.key, "jobs" | "every" | "cron")
        {
            return None;
        }
    }
    let kind = members.iter().find(|m| m.key == "kind").and_then(|m| match m.value {
        // A refused `shell` job gets its error from the full parser; so does an unknown kind.
        Flat::Str(name) => KindName::parse(name).filter(|&kind| ctx.allow_shell || kind != KindName::Shell),
        _ => None,
    })?;
    Some((start, kind))
}

/// The column (in characters, from 1) of byte offset `at`, as `LineIndex` counts.
fn column(text: &str, at: usize) -> usize {
    char_count(&text.as_bytes()[..at]) + 1
}

/// The job on this line (already stripped of its line break, `\r` and BOM, and known to be
/// UTF-8 and not blank), if the fast path takes it: see the module docs. The check pass
/// (`ctx.hash` false) gets [`Event::Valid`] for a job with an explicit id, as [`check_line`].
pub(crate) fn job_line(ctx: &SourceCtx<'_>, text: &str, line_no: usize) -> Option<Event> {
    let mut members = Members::new();
    let (start, kind) = flat_job(ctx, text, &mut members)?;
    let members = &members[..];
    let id_member = members.iter().find(|m| m.key == "id");
    if !ctx.hash && matches!(id_member, Some(Member { value: Flat::Str(_), .. })) {
        let checked = check_members(text, kind, members)?;
        return Some(Event::Valid {
            id: IdText::new(checked.id),
            pos: Pos { line: line_no, column: checked.id_column },
            path: JobPath::Line,
            core_bound: checked.core_bound,
        });
    }
    let map = FlatMap { members, next: 0, value: None, skip_id: false };
    let (common, kind) = crate::kind::job_from_de(kind, map).ok()?;
    if common.delay.is_some() && common.not_before.is_some() {
        return None;
    }
    let origin = (line_no, column(text, start));
    let id_column = id_member.map_or(origin.1, |m| column(text, m.at));
    let mut spec = resolve::build(common, kind, &Defaults::default(), ctx.allow_periodic, ctx.path, origin);
    if ctx.hash || spec.id_generated {
        spec.spec_hash = super::hash::spec_hash(&spec);
    }
    Some(Event::Job {
        spec: std::sync::Arc::new(spec),
        id_pos: Pos { line: line_no, column: id_column },
        path: JobPath::Line,
    })
}

/// Counts characters in UTF-8 (continuation bytes are not counted), as `LineIndex` does.
fn char_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Scans `{ "key": value, … }` (JSON whitespace around tokens) into `out`; the object's
/// offset, or `None` for anything else.
fn scan<'a>(text: &'a str, out: &mut Members<'a>) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    let start = pos;
    if bytes.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    loop {
        pos = skip_ws(bytes, pos);
        let (key, after) = string(text, pos)?;
        pos = skip_ws(bytes, after);
        if bytes.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_ws(bytes, pos + 1);
        let at = pos;
        let (value, after) = match bytes.get(pos)? {
            b'"' => {
                let (s, after) = string(text, pos)?;
                (Flat::Str(s), after)
            }
            b'-' | b'0'..=b'9' => {
                let end = integer(bytes, pos)?;
                (Flat::Int(text.get(pos..end)?), end)
            }
            b't' if bytes[pos..].starts_with(b"true") => (Flat::Bool(true), pos + 4),
            b'f' if bytes[pos..].starts_with(b"false") => (Flat::Bool(false), pos + 5),
            _ => return None,
        };
        if out.len() == MAX_MEMBERS {
            return None;
        }
        out.push(Member { key, value, at });
        pos = skip_ws(bytes, after);
        match bytes.get(pos)? {
            b',' => pos += 1,
            b'}' => {
                pos = skip_ws(bytes, pos + 1);
                return (pos == bytes.len()).then_some(start);
            }
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// A string starting at `pos` (its opening quote) without escapes or control characters:
/// its text and the offset after its closing quote.
fn string(text: &str, pos: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'"') {
        return None;
    }
    let body = bytes.get(pos + 1..)?;
    let len = body.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    if body[len] != b'"' {
        return None;
    }
    Some((text.get(pos + 1..pos + 1 + len)?, pos + len + 2))
}

/// The end of a JSON integer at `pos` (`-?(0|[1-9][0-9]*)`, at most 18 digits), not followed
/// by a fraction or an exponent.
fn integer(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut end = pos;
    if bytes.get(end) == Some(&b'-') {
        end += 1;
    }
    let digits = end;
    match bytes.get(end) {
        Some(b'0') => end += 1,
        Some(b'1'..=b'9') => {
            while let Some(b'0'..=b'9') = bytes.get(end) {
                end += 1;
            }
        }
        _ => return None,
    }
    if end - digits > 18 || matches!(bytes.get(end), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
        return None;
    }
    Some(end)
}

/// The job object's members as a serde map, `kind` hidden (it chose the wire struct), as the
/// full parser's deserializer presents them.
struct FlatMap<'m, 'a> {
    members: &'m [Member<'a>],
    next: usize,
    value: Option<Flat<'a>>,
    /// Hide the `id` member too (the check pass reads it itself).
    skip_id: bool,
}

impl<'de> de::Deserializer<'de> for FlatMap<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for FlatMap<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let member = loop {
            let Some(m) = self.members.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            if m.key != "kind" && !(self.skip_id && m.key == "id") {
                break m;
            }
        };
        self.value = Some(member.value);
        seed.deserialize(KeyDe { key: member.key }).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(value) => seed.deserialize(FlatDe(value)),
            None => Err(DeError::message("value requested before its key")),
        }
    }
}

/// One flat value, deserialized as the full parser's `NodeDe` deserializes the same value.
struct FlatDe<'a>(Flat<'a>);

impl<'de> de::Deserializer<'de> for FlatDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Flat::Str(s) => visitor.visit_str(s),
            Flat::Int(text) => number(text, visitor),
            Flat::Bool(b) => visitor.visit_bool(b),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // There is no `null` here (the scan refuses it).
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Flat::Str(s) => visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s)),
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::spec::file::parse_line_full;

    fn both(text: &str, allow_periodic: bool) -> (Option<Event>, Vec<Event>) {
        let path: Arc<Path> = Path::new("f.jsonl").into();
        let ctx = SourceCtx { path: &path, allow_periodic, allow_shell: true, hash: true };
        let fast = job_line(&ctx, text, 7);
        let mut full = Vec::new();
        parse_line_full(&ctx, text.as_bytes(), 7, &mut full);
        (fast, full)
    }

    /// The fast path's job must be the full parser's, field for field and position for
    /// position; when it declines, anything goes.
    fn assert_same(text: &str, allow_periodic: bool) -> Result<bool, TestCaseError> {
        let (fast, full) = both(text, allow_periodic);
        let Some(fast) = fast else { return Ok(false) };
        let Event::Job { spec, id_pos, path } = fast else {
            return Err(TestCaseError::fail(format!("fast path returned a non-job for {text}")));
        };
        match full.as_slice() {
            [Event::Job { spec: s, id_pos: p, path: j }] => {
                prop_assert_eq!(&spec, s, "{}", text);
                prop_assert_eq!(id_pos, *p, "{}", text);
                prop_assert_eq!(path, *j, "{}", text);
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "fast path took {text}; full parser said {other:?}"
                )));
            }
        }
        // The check pass (no hashes) gets the id and its position alone when there is one.
        let file: Arc<Path> = Path::new("f.jsonl").into();
        let ctx = SourceCtx { path: &file, allow_periodic, allow_shell: true, hash: false };
        match job_line(&ctx, text, 7) {
            Some(Event::Valid { id, pos, path: j, core_bound }) => {
                prop_assert!(!spec.id_generated);
                prop_assert_eq!(core_bound, spec.kind.uses_a_core());
                prop_assert_eq!(id.as_str(), &*spec.id);
                prop_assert_eq!(pos, id_pos);
                prop_assert_eq!(j, path);
            }
            Some(Event::Job { spec: unhashed, .. }) => {
                prop_assert!(spec.id_generated);
                prop_assert_eq!(&unhashed.spec_hash, &spec.spec_hash);
            }
            other => return Err(TestCaseError::fail(format!("check pass: {other:?} for {text}"))),
        }
        Ok(true)
    }

    #[test]
    fn the_check_pass_keeps_ids_of_any_length_whole() {
        // Around the inline limit, a multi-byte character across it, and the longest id.
        let ids = [
            "a".repeat(IdText::INLINE),
            "b".repeat(IdText::INLINE + 1),
            format!("{}é", "c".repeat(IdText::INLINE - 1)),
            "d".repeat(256),
        ];
        for id in ids {
            let text = format!("{{\"id\": \"{id}\", \"kind\": \"noop\"}}");
            assert!(assert_same(&text, false).unwrap(), "the fast path must take {text}");
            let file: Arc<Path> = Path::new("f.jsonl").into();
            let ctx = SourceCtx { path: &file, allow_periodic: false, allow_shell: false, hash: false };
            match job_line(&ctx, &text, 1) {
                Some(Event::Valid { id: got, .. }) => {
                    assert_eq!(got.as_str(), id);
                    assert_eq!(matches!(got, IdText::Inline { .. }), id.len() <= IdText::INLINE, "{id}");
                }
                other => panic!("{other:?}"),
            }
        }
        // Too long for an id: the full parser says why.
        let file: Arc<Path> = Path::new("f.jsonl").into();
        let ctx = SourceCtx { path: &file, allow_periodic: false, allow_shell: false, hash: false };
        let text = format!("{{\"id\": \"{}\", \"kind\": \"noop\"}}", "e".repeat(257));
        assert!(job_line(&ctx, &text, 1).is_none());
    }

    #[test]
    fn takes_the_usual_lines() {
        for text in [
            r#"{"id":"noop-1","kind":"noop"}"#,
            r#"  {"kind": "noop", "id": "é-1"} "#,
            r#"{"kind": "sleep", "duration": "250ms", "priority": -3, "name": "nap"}"#,
            r#"{"kind": "cpu", "rounds": 1000, "timeout": "1m30s", "concurrency_key": "db"}"#,
            r#"{"kind": "exec", "program": "true", "delay": "1s"}"#,
            r#"{"kind": "fail", "probability": 1, "message": "boom"}"#,
            r#"{"kind": "shell", "script": "echo hi", "not_before": "2030-01-01T00:00:00Z"}"#,
            r#"{"kind": "noop"}"#,
        ] {
            assert!(assert_same(text, false).unwrap(), "declined {text}");
        }
    }

    #[test]
    fn declines_what_it_does_not_take() {
        for text in [
            r#"{"id":"a\"b","kind":"noop"}"#,
            r#"{"kind":"noop","kind":"noop"}"#,
            r#"{"kind":"noop","name":null}"#,
            r#"{"kind":"exec","program":"ls","args":["-l"]}"#,
            r#"{"kind":"fail","probability":0.5}"#,
            r#"{"kind":"noop","priority":1e3}"#,
            r#"{"kind":"noop","priority":12345678901234567890}"#,
            r#"{"kind":"noop","every":"1m"}"#,
            r#"{"kind":"noop","delay":"1s","not_before":"2030-01-01T00:00:00Z"}"#,
            r#"{"id":"x","kind":"noop","delay":"1s","not_before":"2030-01-01T00:00:00Z"}"#,
            r#"{"id":"x","kind":"sleep"}"#,
            r#"{"kind":"noop","id":""}"#,
            r#"{"kind":"noop","timout":"1s"}"#,
            r#"{"kind":"nop"}"#,
            r#"{"kind":"noop"} x"#,
            r#"{"kind":"noop",}"#,
            r#"{"kind":"noop","priority":01}"#,
            r#"{}"#,
            r#"[{"kind":"noop"}]"#,
            r#"{"jobs":[]}"#,
        ] {
            let (fast, _) = both(text, false);
            assert!(fast.is_none(), "took {text}");
            // The check pass (no hashes), which drops what it checks, declines the same.
            let path: Arc<Path> = Path::new("f.jsonl").into();
            let check = SourceCtx { path: &path, allow_periodic: false, allow_shell: true, hash: false };
            assert!(job_line(&check, text, 7).is_none(), "the check pass took {text}");
        }
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("id"),
            Just("kind"),
            Just("name"),
            Just("priority"),
            Just("timeout"),
            Just("delay"),
            Just("not_before"),
            Just("concurrency_key"),
            Just("rate_key"),
            Just("every"),
            Just("cron"),
            Just("retry"),
            Just("duration"),
            Just("program"),
            Just("args"),
            Just("script"),
            Just("rounds"),
            Just("probability"),
            Just("message"),
            Just("url"),
            Just("jobs"),
            Just("timout"),
            Just("é"),
        ]
        .prop_map(str::to_owned)
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop_oneof![
                Just("noop"),
                Just("sleep"),
                Just("cpu"),
                Just("exec"),
                Just("shell"),
                Just("fail"),
                Just("http"),
                Just("nop"),
                Just("250ms"),
                Just("0s"),
                Just("1m30s"),
                Just("-1s"),
                Just(""),
                Just(" "),
                Just("x"),
                Just("é-ü"),
                Just("2030-01-01T00:00:00Z"),
                Just("yesterday"),
                Just("*/5 * * * *"),
                Just("true"),
            ]
            .prop_map(|s| format!("\"{s}\"")),
            prop_oneof![
                Just("0"),
                Just("1"),
                Just("-1"),
                Just("2147483647"),
                Just("2147483648"),
                Just("-2147483649"),
                Just("999999999999999999"),
                Just("1.5"),
                Just("1e2"),
                Just("true"),
                Just("false"),
                Just("null"),
                Just("[]"),
                Just("{}"),
                Just("\"a\\nb\""),
            ]
            .prop_map(str::to_owned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn agrees_with_the_full_parser(
            members in proptest::collection::vec((key(), value()), 0..6),
            kind in prop_oneof![Just("noop"), Just("sleep"), Just("cpu"), Just("exec"), Just("fail")],
            kind_at in 0usize..6,
            pad in prop_oneof![Just(""), Just(" "), Just("\t ")],
            periodic in any::<bool>(),
        ) {
            let mut parts: Vec<String> =
                members.iter().map(|(k, v)| format!("\"{k}\":{pad}{v}")).collect();
            parts.insert(kind_at.min(parts.len()), format!("\"kind\":{pad}\"{kind}\""));
            let text = format!("{pad}{{{pad}{}{pad}}}{pad}", parts.join(&format!(",{pad}")));
            assert_same(&text, periodic)?;
        }
    }
}
