//! Sources: the job files, folders and spooled streams the two passes read.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::SpecError;
use super::super::file::Format;

pub(super) const STDIN: &str = "<stdin>";

/// One job file to read.
#[derive(Debug)]
pub(super) struct Source {
    /// The path shown in errors and origins.
    pub(super) display: Arc<Path>,
    /// The start of generated ids.
    pub(super) stem: String,
    pub(super) data: Data,
    /// `None`: sniff when opened.
    pub(super) format: Option<Format>,
}

#[derive(Debug)]
pub(super) enum Data {
    File(PathBuf),
    Temp(tempfile::NamedTempFile),
    Memory(Arc<[u8]>),
}

impl Source {
    pub(super) fn file(path: PathBuf) -> Source {
        let display: Arc<Path> = path.as_path().into();
        Source { stem: stem(&display), format: Format::from_name(&display), display, data: Data::File(path) }
    }

    /// A fresh reader from the start (its own cursor: pass 2 may run several times at once).
    pub(super) fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        Ok(match &self.data {
            Data::File(path) => Box::new(BufReader::with_capacity(64 * 1024, File::open(path)?)),
            Data::Temp(file) => Box::new(BufReader::with_capacity(64 * 1024, file.reopen()?)),
            Data::Memory(bytes) => Box::new(io::Cursor::new(Arc::clone(bytes))),
        })
    }
}

/// The start of a generated id: the file's stem (`jobs` for `jobs.json`), `stdin`, or `job`.
pub(super) fn stem(path: &Path) -> String {
    if path.as_os_str() == STDIN {
        return "stdin".to_owned();
    }
    match path.file_stem().map(|s| s.to_string_lossy()) {
        Some(s) if !s.is_empty() => s.into_owned(),
        _ => "job".to_owned(),
    }
}

/// Copies an input that can be read only once (stdin, a FIFO, `<(…)`, a character device)
/// to a temporary file (or, failing that, to memory), which both passes then read.
pub(super) fn spool(
    mut reader: Box<dyn Read + Send>,
    display: Arc<Path>,
    format: Option<Format>,
) -> io::Result<Source> {
    let data = match tempfile::NamedTempFile::new() {
        Ok(mut temp) => {
            io::copy(&mut reader, &mut temp)?;
            Data::Temp(temp)
        }
        Err(_) => {
            let mut buffer = Vec::new();
            reader.read_to_end(&mut buffer)?;
            Data::Memory(buffer.into())
        }
    };
    Ok(Source { stem: stem(&display), display, data, format })
}

/// Adds the input at `path` (`meta` is its metadata, links followed): a regular file is
/// read from its path in each pass; anything else that can be read (a FIFO, `<(…)`,
/// `/dev/stdin`, a character device) is read once, now, and spooled.
pub(super) fn add_source(
    path: PathBuf,
    meta: &std::fs::Metadata,
    once: &mut HashSet<(u64, u64)>,
    sources: &mut Vec<Source>,
    errors: &mut Vec<SpecError>,
) {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    if meta.is_file() {
        sources.push(Source::file(path));
        return;
    }
    let kind = meta.file_type();
    if kind.is_dir() || kind.is_socket() || kind.is_block_device() {
        let what = if kind.is_dir() { "a folder" } else { "not a file that can be read" };
        errors.push(SpecError::file(&path, format!("{what}, not a job file")));
        return;
    }
    if !once.insert((meta.dev(), meta.ino())) {
        errors.push(SpecError::file(&path, "given twice (it can be read only once)"));
        return;
    }
    let display: Arc<Path> = path.as_path().into();
    let format = Format::from_name(&display);
    match File::open(&path).and_then(|file| spool(Box::new(file), display, format)) {
        Ok(source) => sources.push(source),
        Err(e) => errors.push(SpecError::file(&path, io_message(&e))),
    }
}

/// The entries of a folder that hold jobs by their name (`*.json`, `*.jsonl`, but not
/// `*.ledger.jsonl`), sorted by name, each with its metadata (links followed) or the error
/// that names it: an entry that should be read but cannot be (a broken or looping link,
/// no permission) is an error, never skipped.
pub(super) fn folder(dir: &Path) -> io::Result<Vec<(PathBuf, Result<std::fs::Metadata, SpecError>)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
        let Some(name) = name else { continue };
        if name.ends_with(".ledger.jsonl") || Format::from_name(&path).is_none() {
            continue;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => Ok(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound && std::fs::symlink_metadata(&path).is_ok() => {
                Err(SpecError::file(&path, "broken symbolic link (its target does not exist)"))
            }
            Err(e) => Err(SpecError::file(&path, io_message(&e))),
        };
        entries.push((path, meta));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

pub(super) fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => "read error".to_owned(),
            }
        }
    }
}
