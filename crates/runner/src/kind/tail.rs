//! [`Tail`]: the last bytes of a stream, in bounded memory.

/// Keeps the last `limit` bytes pushed into it.
///
/// Invariant: `buf` holds at most `2 * limit` bytes, the newest last; trimming to `limit`
/// happens only when it grows past that, so pushing costs amortised O(bytes pushed).
#[derive(Debug)]
pub(super) struct Tail {
    buf: Vec<u8>,
    limit: usize,
    /// Whether older bytes were thrown away (the kept ones may start mid-character).
    cut: bool,
}

impl Tail {
    pub(super) fn new(limit: usize) -> Tail {
        Tail { buf: Vec::new(), limit, cut: false }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.limit {
            self.cut |= bytes.len() > self.limit || !self.buf.is_empty();
            self.buf.clear();
            self.buf.extend_from_slice(&bytes[bytes.len() - self.limit..]);
            return;
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 2 * self.limit {
            let excess = self.buf.len() - self.limit;
            self.buf.drain(..excess);
            self.cut = true;
        }
    }

    /// The kept bytes as text of at most `limit` bytes: invalid UTF-8 replaced by U+FFFD, a
    /// character cut in two at the start dropped.
    pub(super) fn into_string(self) -> String {
        let start = self.buf.len().saturating_sub(self.limit);
        let mut bytes = &self.buf[start..];
        if self.cut || start > 0 {
            // Skip the continuation bytes (10xxxxxx) of a character whose start was dropped.
            let skip = bytes.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count();
            bytes = &bytes[skip..];
        }
        let text = String::from_utf8_lossy(bytes);
        if text.len() <= self.limit {
            return text.into_owned();
        }
        // Replacement characters (3 bytes each) made it longer: keep its end.
        let mut from = text.len() - self.limit;
        while !text.is_char_boundary(from) {
            from += 1;
        }
        text[from..].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Tail;

    fn tail_of(limit: usize, chunks: &[&[u8]]) -> String {
        let mut tail = Tail::new(limit);
        for chunk in chunks {
            tail.push(chunk);
        }
        tail.into_string()
    }

    #[test]
    fn keeps_everything_under_the_limit() {
        assert_eq!(tail_of(10, &[b"ab", b"cd"]), "abcd");
        assert_eq!(tail_of(4, &[b"ab", b"cd"]), "abcd");
        assert_eq!(tail_of(10, &[]), "");
    }

    #[test]
    fn keeps_the_last_bytes() {
        assert_eq!(tail_of(4, &[b"abc", b"def", b"gh"]), "efgh");
        assert_eq!(tail_of(4, &[b"abcdefgh"]), "efgh");
        assert_eq!(tail_of(4, &[b"ab", b"cdefghij"]), "ghij");
        assert_eq!(tail_of(0, &[b"abc"]), "");
        let many: Vec<&[u8]> = std::iter::repeat_n(&b"0123456789"[..], 1000).collect();
        assert_eq!(tail_of(15, &many), "567890123456789");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut tail = Tail::new(100);
        for _ in 0..10_000 {
            tail.push(b"some output line\n");
            assert!(tail.buf.len() <= 200);
        }
    }

    #[test]
    fn drops_a_character_cut_in_two() {
        // "é" is C3 A9: a cut between them leaves A9, which is dropped, not shown as U+FFFD.
        assert_eq!(tail_of(3, &["xé".as_bytes(), b"ab"]), "ab");
        assert_eq!(tail_of(4, &["xé".as_bytes(), b"ab"]), "éab");
        // "€" is E2 82 AC.
        assert_eq!(tail_of(3, &["€".as_bytes(), b"z"]), "z");
    }

    #[test]
    fn replaced_bytes_stay_within_the_limit() {
        let text = tail_of(4, &[&[0xff, 0xfe, b'a', 0xfd]]);
        assert!(text.len() <= 4, "{text:?}");
        assert!(text.ends_with('\u{fffd}'));
    }
}
