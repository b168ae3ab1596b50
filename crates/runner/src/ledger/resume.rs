//! Reading a ledger back for `--resume`.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::record::Minimal;
use crate::pass_through::PassThroughState;

/// Which jobs a ledger shows as succeeded, for `--resume`.
#[derive(Debug, Default)]
pub struct ResumeSet {
    /// Fingerprints are uniform hashes already: the table uses their low word as it is.
    done: HashSet<u128, PassThroughState>,
    /// Lines that could not be read (a torn last line, or damage); ignored.
    pub unreadable: u64,
}

/// A 128-bit fingerprint of `(id, spec_hash)`: two SipHash-1-3 passes with different
/// prefixes. Only compared within one process, so the unspecified algorithm is fine.
fn fingerprint(id: &str, spec_hash: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        spec_hash.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

impl ResumeSet {
    /// Reads the ledger at `path`; a missing file is an empty ledger.
    ///
    /// # Errors
    ///
    /// I/O errors other than "not found".
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::ledger::ResumeSet;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("l.jsonl");
    /// std::fs::write(&path, concat!(
    ///     "{\"id\":\"a\",\"outcome\":\"succeeded\",\"spec_hash\":\"h1\"}\n",
    ///     "{\"id\":\"b\",\"outcome\":\"failed\",\"spec_hash\":\"h2\"}\n",
    ///     "{\"id\":\"c\",\"outc")).unwrap();
    /// let set = ResumeSet::read(&path).unwrap();
    /// assert!(set.contains("a", "h1"));
    /// assert!(!set.contains("a", "edited"));
    /// assert!(!set.contains("b", "h2"));
    /// assert_eq!(set.unreadable, 1);
    /// ```
    pub fn read(path: &Path) -> io::Result<ResumeSet> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ResumeSet::default()),
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut set = ResumeSet::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Minimal<'_>>(text) {
                Ok(m) if m.outcome == "succeeded" => {
                    set.done.insert(fingerprint(&m.id, &m.spec_hash));
                }
                Ok(_) => {}
                Err(_) => set.unreadable += 1,
            }
        }
        Ok(set)
    }

    /// Whether `id` has a `succeeded` line for `spec_hash`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!conveyor::ledger::ResumeSet::default().contains("a", "h"));
    /// ```
    pub fn contains(&self, id: &str, spec_hash: &str) -> bool {
        !self.done.is_empty() && self.done.contains(&fingerprint(id, spec_hash))
    }

    /// Succeeded jobs known.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(conveyor::ledger::ResumeSet::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no succeeded job is known.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conveyor::ledger::ResumeSet::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }
}
