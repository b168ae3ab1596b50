//! Reading a claimed job file, whatever sits under its name: only a regular file (or a
//! symbolic link to one) is read; a directory, FIFO, socket or device, a dangling link or an
//! unreadable file gives the reason it cannot be run. Never blocks: the file is opened
//! non-blocking, so a FIFO without a writer answers at once.

use std::fs::{FileType, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use nix::libc;

/// The bytes of the regular file at `path`, or why it cannot be read (for its errors file).
pub(super) fn read(path: &Path) -> Result<Vec<u8>, String> {
    let opened = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound && path.symlink_metadata().is_ok() => {
            return Err("cannot read: a symbolic link to nothing".into());
        }
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("not a regular file ({}): the spool runs only files", kind(meta.file_type())));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.jsonl");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(read(&file).unwrap(), b"{}");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"{}");

        let sub = dir.path().join("d.json");
        std::fs::create_dir(&sub).unwrap();
        assert!(read(&sub).unwrap_err().contains("a directory"));
        let fifo = dir.path().join("f.json");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read(&fifo).unwrap_err().contains("a FIFO"));
        let dangling = dir.path().join("gone.json");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(read(&dangling).unwrap_err().contains("a symbolic link to nothing"));
    }
}
