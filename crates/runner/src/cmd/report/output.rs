//! Writing the page: to stdout, or to a file replaced whole (a temporary file in the same
//! folder, then a rename), so that a reader never sees half a page and a failed write leaves
//! the previous page, if any, as it was.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Where the page goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Output {
    /// Standard output (`-o -`).
    Stdout,
    /// A file, replaced whole.
    File(PathBuf),
}

impl Output {
    /// `-` is stdout; anything else a file.
    pub(super) fn new(path: &Path) -> Output {
        if path == Path::new("-") { Output::Stdout } else { Output::File(path.to_owned()) }
    }

    /// Refuses an output that is one of the `inputs` (replacing a ledger with its report
    /// would lose the ledger) or a folder. Checked before anything is read.
    ///
    /// # Errors
    ///
    /// The message names the path and what to do.
    pub(super) fn check(&self, inputs: &[PathBuf]) -> anyhow::Result<()> {
        let Output::File(path) = self else { return Ok(()) };
        let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
        if meta.is_dir() {
            bail!(
                "-o {}: is a folder (give a file name, e.g. {}/report.html)",
                path.display(),
                path.display()
            );
        }
        for input in inputs {
            if same_file(path, input) {
                bail!(
                    "-o {}: is also an input ledger; it would be replaced by the page (give another file)",
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Writes `page`.
    ///
    /// # Errors
    ///
    /// Creating, writing or renaming the file failed (the message names it); writing to
    /// stdout failed.
    pub(super) fn write(&self, page: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(page)?;
                out.flush()?;
                Ok(())
            }
            Output::File(path) => {
                write_file(path, page).with_context(|| format!("cannot write {}", path.display()))
            }
        }
    }
}

fn write_file(path: &Path, page: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".conveyor-report-").suffix(".tmp").tempfile_in(folder)?;
    tmp.write_all(page)?;
    tmp.as_file().sync_all()?;
    // tempfile creates 0600; a report is for reading, like any file the user's umask allows.
    set_readable(tmp.as_file())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(unix)]
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_readable(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.html");
        std::fs::write(&path, "old").unwrap();
        Output::new(&path).write(b"new page").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new page");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/folder/r.html");
        let e = Output::new(&path).write(b"x").unwrap_err();
        assert!(format!("{e:#}").starts_with(&format!("cannot write {}: ", path.display())), "{e:#}");
    }

    #[test]
    fn an_input_or_a_folder_is_refused_as_output() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("l.jsonl");
        std::fs::write(&ledger, "x").unwrap();
        let e = Output::new(&ledger).check(std::slice::from_ref(&ledger)).unwrap_err();
        assert!(e.to_string().contains("is also an input ledger"), "{e}");
        let e = Output::new(dir.path()).check(&[]).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        assert!(Output::new(Path::new("-")).check(std::slice::from_ref(&ledger)).is_ok());
        assert!(Output::new(&dir.path().join("new.html")).check(&[ledger]).is_ok());
    }
}
