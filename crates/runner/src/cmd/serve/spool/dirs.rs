//! The spool's folders, the slot `work/N/` of each file in flight, and the recovery of `work`
//! after a killed server.
//!
//! Invariant: the spool creates nothing in `work` but slots — a folder named by a number,
//! holding the job file under its own name and [`SLOT_LEDGER`]. Job file names never start
//! with `.`, so no job file can be taken for the ledger; recovery deletes only that ledger and
//! the emptied slot. (Servers before slots kept `work/N.NAME` beside
//! `work/N.NAME.ledger.jsonl`; recovery still understands that layout.)

use std::collections::HashSet;
use std::fs::DirEntry;
use std::io;
use std::path::{Path, PathBuf};

use super::super::state::Origin;
use super::names::{LEDGER_SUFFIX, free_name};

/// In a slot, the file's ledger: a name no job file can have.
pub(super) const SLOT_LEDGER: &str = ".ledger.jsonl";

/// The four folders of a spool.
#[derive(Debug, Clone)]
pub(crate) struct SpoolDirs {
    root: PathBuf,
    pub(super) inbox: PathBuf,
    pub(super) work: PathBuf,
    pub(super) done: PathBuf,
    pub(super) failed: PathBuf,
}

impl SpoolDirs {
    /// Creates the folders under `root` (if missing) and puts files a killed server left in
    /// `work` back into `inbox`. Returns the names it put back. What cannot be put back stays
    /// in `work` with a warning (the next start tries again).
    pub(crate) fn prepare(root: &Path) -> io::Result<(SpoolDirs, Vec<String>)> {
        let dirs = SpoolDirs {
            root: root.to_path_buf(),
            inbox: root.join("inbox"),
            work: root.join("work"),
            done: root.join("done"),
            failed: root.join("failed"),
        };
        for dir in [&dirs.inbox, &dirs.work, &dirs.done, &dirs.failed] {
            std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        }
        let back = dirs.recover()?;
        Ok((dirs, back))
    }

    /// The spool folder as given.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the empty slot `work/N/` of the next file, with N after `*last` (numbers whose
    /// slot is still there are skipped). Returns N and the slot.
    pub(super) fn new_slot(&self, last: &mut Origin) -> io::Result<(Origin, PathBuf)> {
        loop {
            *last += 1;
            let slot = self.work.join(last.to_string());
            match std::fs::create_dir(&slot) {
                Ok(()) => return Ok((*last, slot)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(with_path(e, &slot)),
            }
        }
    }

    fn recover(&self) -> io::Result<Vec<String>> {
        let mut entries = std::fs::read_dir(&self.work)
            .and_then(|dir| dir.collect::<io::Result<Vec<DirEntry>>>())
            .map_err(|e| with_path(e, &self.work))?;
        entries.sort_by_key(DirEntry::file_name);
        // Decided on the whole listing, before anything moves.
        let names: HashSet<String> =
            entries.iter().filter_map(|e| e.file_name().into_string().ok()).collect();
        let mut back = Vec::new();
        for entry in entries {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name().into_string().unwrap_or_default();
            let recovered = if is_dir && is_number(&name) {
                self.recover_slot(&path, &mut back)
            } else if let (false, Some((n, rest))) = (is_dir, legacy(&name)) {
                let file = rest.strip_suffix(LEDGER_SUFFIX).map(|file| format!("{n}.{file}"));
                if file.is_some_and(|file| names.contains(&file)) {
                    // An old server's ledger of `N.FILE`, whose jobs run again.
                    std::fs::remove_file(&path).map_err(|e| with_path(e, &path))
                } else {
                    self.put_back(&path, rest, &mut back)
                }
            } else {
                tracing::warn!(file = %path.display(), "spool: not made by the spool; left alone in work");
                Ok(())
            };
            if let Err(e) = recovered {
                tracing::warn!(error = %e, "spool: cannot put a file of work back into the inbox; left there");
            }
        }
        Ok(back)
    }

    /// Puts the job file of a slot back, then deletes the slot's ledger and the slot.
    fn recover_slot(&self, slot: &Path, back: &mut Vec<String>) -> io::Result<()> {
        let mut entries = std::fs::read_dir(slot)
            .and_then(|dir| dir.collect::<io::Result<Vec<DirEntry>>>())
            .map_err(|e| with_path(e, slot))?;
        entries.sort_by_key(DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            match entry.file_name().into_string() {
                Ok(name) if !name.starts_with('.') => self.put_back(&path, &name, back)?,
                // The slot's ledger, or not the spool's: the slot then stays.
                _ => {}
            }
        }
        let ledger = slot.join(SLOT_LEDGER);
        match std::fs::remove_file(&ledger) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(with_path(e, &ledger)),
            _ => {}
        }
        std::fs::remove_dir(slot).map_err(|e| with_path(e, slot))
    }

    fn put_back(&self, path: &Path, name: &str, back: &mut Vec<String>) -> io::Result<()> {
        let to = free_name(&self.inbox, name, 0);
        std::fs::rename(path, &to).map_err(|e| with_path(e, path))?;
        back.push(name.to_owned());
        Ok(())
    }
}

/// `N.REST` (an old server's name in `work`) as N and REST.
fn legacy(name: &str) -> Option<(&str, &str)> {
    name.split_once('.').filter(|(n, rest)| is_number(n) && !rest.is_empty())
}

fn is_number(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_puts_unfinished_files_back_and_deletes_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (dirs, back) = SpoolDirs::prepare(dir.path()).unwrap();
        assert!(back.is_empty());
        // A slot whose file is named like a ledger, and a slot left empty.
        std::fs::create_dir(dirs.work.join("7")).unwrap();
        std::fs::write(dirs.work.join("7/x.ledger.jsonl"), "{}").unwrap();
        std::fs::write(dirs.work.join("7").join(SLOT_LEDGER), "torn").unwrap();
        std::fs::create_dir(dirs.work.join("8")).unwrap();
        // Something the spool did not make.
        std::fs::write(dirs.work.join("mine.txt"), "").unwrap();
        let (dirs, back) = SpoolDirs::prepare(dir.path()).unwrap();
        assert_eq!(back, ["x.ledger.jsonl"]);
        assert_eq!(std::fs::read_to_string(dirs.inbox.join("x.ledger.jsonl")).unwrap(), "{}");
        let left: Vec<_> = std::fs::read_dir(&dirs.work).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["mine.txt"]);
    }

    #[test]
    fn prepare_understands_the_old_layout() {
        let dir = tempfile::tempdir().unwrap();
        let (dirs, _) = SpoolDirs::prepare(dir.path()).unwrap();
        std::fs::write(dirs.work.join("7.batch.jsonl"), "{}").unwrap();
        std::fs::write(dirs.work.join("7.batch.jsonl.ledger.jsonl"), "{}").unwrap();
        // A job file named like a ledger, claimed as 8: its own ledger has another number.
        std::fs::write(dirs.work.join("8.y.ledger.jsonl"), "{}").unwrap();
        let (dirs, back) = SpoolDirs::prepare(dir.path()).unwrap();
        assert_eq!(back, ["batch.jsonl", "y.ledger.jsonl"]);
        assert!(dirs.inbox.join("batch.jsonl").exists() && dirs.inbox.join("y.ledger.jsonl").exists());
        assert_eq!(std::fs::read_dir(&dirs.work).unwrap().count(), 0);
    }

    #[test]
    fn new_slots_skip_numbers_still_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (dirs, _) = SpoolDirs::prepare(dir.path()).unwrap();
        std::fs::create_dir(dirs.work.join("1")).unwrap();
        let mut last = 0;
        let (n, slot) = dirs.new_slot(&mut last).unwrap();
        assert_eq!((n, last), (2, 2));
        assert!(slot.is_dir());
    }
}
