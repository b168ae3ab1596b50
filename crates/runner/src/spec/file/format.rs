//! Which form a source is in: a document or JSON Lines, by name or by sniffing.

use std::fmt;
use std::path::Path;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};

/// The largest document (`.json`) read; JSON Lines files have no limit.
pub(crate) const MAX_DOCUMENT: u64 = 256 * 1024 * 1024;

/// The longest line of a JSON Lines file.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a source is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Document,
    Lines,
}

impl Format {
    /// The format a file name implies: `.jsonl` is JSON Lines, `.json` a document.
    pub(crate) fn from_name(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => Some(Format::Lines),
            Some(e) if e.eq_ignore_ascii_case("json") => Some(Format::Document),
            _ => None,
        }
    }

    /// Sniffs the format from the start of the input (see the module docs). Only the line
    /// holding the first non-blank character is looked at.
    pub(crate) fn sniff(bytes: &[u8]) -> Format {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Format::Lines;
        };
        match bytes[start] {
            b'[' => Format::Document,
            b'{' => {
                let rest = &bytes[start..];
                let line = rest.iter().position(|&b| b == b'\n').map_or(rest, |end| &rest[..end]);
                let mut de = serde_json::Deserializer::from_slice(line);
                match de::Deserializer::deserialize_map(&mut de, HasJobsKey) {
                    Ok(true) => Format::Document,
                    Ok(false) => Format::Lines,
                    // The object goes on past its first line: a pretty-printed document.
                    Err(e) if e.is_eof() => Format::Document,
                    Err(_) => Format::Lines,
                }
            }
            _ => Format::Lines,
        }
    }
}

/// Visits an object's keys only, answering whether one is `jobs`.
struct HasJobsKey;

impl<'de> Visitor<'de> for HasJobsKey {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            found |= key == "jobs";
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_three_forms() {
        let cases: [(&str, Format); 10] = [
            ("[]", Format::Document),
            ("  \n [{\"kind\": \"noop\"}]", Format::Document),
            ("{\"jobs\": []}", Format::Document),
            ("{\"defaults\": {}, \"jobs\": []}\n", Format::Document),
            ("{\n  \"jobs\": []\n}", Format::Document),
            ("{\"kind\": \"noop\"}\n{\"kind\": \"noop\"}", Format::Lines),
            ("{\"kind\": \"noop\", oops}\n", Format::Lines),
            ("", Format::Lines),
            ("\u{feff}[]", Format::Document),
            ("garbage", Format::Lines),
        ];
        for (text, want) in cases {
            assert_eq!(Format::sniff(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn names_decide_the_format() {
        assert_eq!(Format::from_name(Path::new("a/b.JSONL")), Some(Format::Lines));
        assert_eq!(Format::from_name(Path::new("b.json")), Some(Format::Document));
        assert_eq!(Format::from_name(Path::new("b.txt")), None);
    }
}
