//! Names in the spool's folders: which files it takes from `inbox`, which names are too long
//! for it, and a free name in `done`/`failed` (or `inbox`) that leaves room for the suffixes
//! the spool puts beside a file.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The longest file name (bytes) of the file systems the spool runs on (Linux, macOS).
pub(super) const NAME_MAX: usize = 255;

/// Beside a finished file: its jobs' ledger lines.
pub(super) const LEDGER_SUFFIX: &str = ".ledger.jsonl";

/// Beside a file that was not run: why.
pub(super) const ERRORS_SUFFIX: &str = ".errors.txt";

/// The room a file in `done`/`failed` needs for what goes beside it (the longer suffix).
pub(super) const BESIDE: usize =
    if LEDGER_SUFFIX.len() > ERRORS_SUFFIX.len() { LEDGER_SUFFIX.len() } else { ERRORS_SUFFIX.len() };

/// Whether the spool takes a file of this name from `inbox`.
pub(super) fn takes(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name).extension().and_then(OsStr::to_str).is_some_and(|e| e == "json" || e == "jsonl")
}

/// Whether `name` is too long to get `NAME.ledger.jsonl` beside it: such a file is not run.
pub(super) fn too_long(name: &str) -> bool {
    name.len() + BESIDE > NAME_MAX
}

/// `dir/name`, or `dir/STEM-2.EXT`, `dir/STEM-3.EXT`, … if that is taken (by a file or its
/// ledger or errors), with STEM cut (at a character) so that the name plus `room` bytes of
/// suffix fit in [`NAME_MAX`]: the spool never makes a name the OS refuses.
pub(super) fn free_name(dir: &Path, name: &str, room: usize) -> PathBuf {
    // Only a name's own entries count; a dangling symlink is taken too. A name too long to
    // exist is free.
    let exists = |n: &str| dir.join(n).symlink_metadata().is_ok();
    let taken = |n: &str| {
        exists(n) || exists(&format!("{n}{LEDGER_SUFFIX}")) || exists(&format!("{n}{ERRORS_SUFFIX}"))
    };
    let max = NAME_MAX.saturating_sub(room);
    let (stem, ext) = split(name);
    let first = fit(stem, ext, max);
    if !taken(&first) {
        return dir.join(first);
    }
    (2u64..)
        .map(|n| fit(stem, &format!("-{n}{ext}"), max))
        .find(|n| !taken(n))
        .map_or_else(|| dir.join(name), |n| dir.join(n))
}

/// `name` as STEM and `.EXT` (empty without one). A long "extension" is part of the stem, so
/// that the `-N` of [`free_name`] always has room and every N gives another name.
fn split(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// `stem` + `tail`, the stem cut at a character boundary to fit in `max` bytes.
fn fit(stem: &str, tail: &str, max: usize) -> String {
    let mut end = max.saturating_sub(tail.len()).min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{tail}", &stem[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_job_files_are_taken() {
        assert!(takes("a.json") && takes("b.jsonl") && takes("x.y.jsonl") && takes("x.ledger.jsonl"));
        assert!(!takes(".a.json") && !takes("a.json.tmp") && !takes("a.part") && !takes("jsonl"));
    }

    #[test]
    fn taken_names_get_a_number() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl", BESIDE), dir.path().join("a.jsonl"));
        std::fs::write(dir.path().join("a.jsonl"), "").unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl", BESIDE), dir.path().join("a-2.jsonl"));
        std::fs::write(dir.path().join("a-2.jsonl.ledger.jsonl"), "").unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl", BESIDE), dir.path().join("a-3.jsonl"));
        std::os::unix::fs::symlink("nowhere", dir.path().join("a-3.jsonl")).unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl", BESIDE), dir.path().join("a-4.jsonl"));
    }

    #[test]
    fn names_too_long_for_their_suffixes_are_cut_at_a_character() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}.jsonl", "é".repeat(120));
        assert!(too_long(&long) && !too_long(&"a".repeat(NAME_MAX - BESIDE)));
        let free = free_name(dir.path(), &long, BESIDE);
        let name = free.file_name().unwrap().to_str().unwrap();
        assert!(name.len() + BESIDE <= NAME_MAX && name.ends_with("é.jsonl"), "{name}");
        std::fs::write(&free, "").unwrap();
        std::fs::write(format!("{}{ERRORS_SUFFIX}", free.display()), "").unwrap();
        let second = free_name(dir.path(), &long, BESIDE);
        let name = second.file_name().unwrap().to_str().unwrap();
        assert!(name.len() + BESIDE <= NAME_MAX && name.ends_with("é-2.jsonl"), "{name}");
        // A name of NAME_MAX bytes taken in `inbox` (no room needed) still gets its `-2`.
        let full = "b".repeat(NAME_MAX);
        std::fs::write(dir.path().join(&full), "").unwrap();
        let again = free_name(dir.path(), &full, 0);
        assert_eq!(again.file_name().unwrap().len(), NAME_MAX);
        assert!(again.to_str().unwrap().ends_with("b-2"));
    }
}
