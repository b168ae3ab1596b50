//! Pass 1 over files, folders and stdin: [`Loader`].

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::super::SpecError;
use super::check::check;
use super::source::{STDIN, add_source, folder, io_message, spool};
use super::{ParseOptions, Validated};

/// Collects job files (paths, folders, `-` for stdin) and validates them: pass 1.
///
/// A folder stands for its `*.json` and `*.jsonl` files, sorted by name, not recursive
/// (`*.ledger.jsonl` files, the runner's ledgers, are skipped). A file's form comes from its
/// extension; any other file, and stdin, is sniffed (see [`parse_bytes`](super::parse_bytes)).
///
/// # Examples
///
/// ```
/// use conveyor::spec::{Loader, ParseOptions};
/// # let dir = tempfile::tempdir().unwrap();
/// # std::fs::write(dir.path().join("a.jsonl"), "{\"id\": \"a1\", \"kind\": \"noop\"}\n").unwrap();
/// # std::fs::write(dir.path().join("b.json"), r#"[{"id": "b1", "kind": "noop"}]"#).unwrap();
/// # let folder = dir.path();
///
/// let validated = Loader::new(ParseOptions::default()).path(folder).validate().unwrap();
/// assert_eq!(validated.job_count(), 2);
/// let ids: Vec<String> = validated.jobs().map(|job| job.unwrap().id.to_string()).collect();
/// assert_eq!(ids, ["a1", "b1"]);
/// ```
#[must_use = "a Loader does nothing until `validate` is called"]
pub struct Loader {
    options: ParseOptions,
    inputs: Vec<PathBuf>,
    stdin: Option<Box<dyn Read + Send>>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("options", &self.options)
            .field("inputs", &self.inputs)
            .field("stdin", &self.stdin.as_ref().map(|_| "<reader>"))
            .finish()
    }
}

impl Loader {
    /// A loader with no inputs yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let validated = Loader::new(ParseOptions::default()).validate().unwrap();
    /// assert_eq!(validated.job_count(), 0);
    /// ```
    pub fn new(options: ParseOptions) -> Loader {
        Loader { options, inputs: Vec::new(), stdin: None }
    }

    /// Adds a file, a folder, or `-` for standard input.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let errors = Loader::new(ParseOptions::default())
    ///     .path("does/not/exist.json")
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(errors[0].to_string(), "does/not/exist.json: no such file or directory");
    /// ```
    pub fn path(mut self, path: impl Into<PathBuf>) -> Loader {
        self.inputs.push(path.into());
        self
    }

    /// Adds several paths (see [`path`](Self::path)), e.g. the command line's.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let validated = Loader::new(ParseOptions::default())
    ///     .paths(["-"])
    ///     .stdin(&b"{\"kind\": \"noop\"}\n"[..])
    ///     .validate()
    ///     .unwrap();
    /// assert_eq!(validated.job_count(), 1);
    /// ```
    pub fn paths<I>(mut self, paths: I) -> Loader
    where
        I: IntoIterator,
        I::Item: Into<PathBuf>,
    {
        self.inputs.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Reads `-` from `reader` instead of the process's standard input (for tests, or a
    /// server handing over a stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let errors = Loader::new(ParseOptions::default())
    ///     .path("-")
    ///     .stdin(&b"{\"kind\": \"nop\"}\n"[..])
    ///     .validate()
    ///     .unwrap_err();
    /// assert_eq!(errors[0].to_string(), "<stdin>:1:10: kind: unknown kind `nop`; did you mean `noop`?");
    /// ```
    pub fn stdin(mut self, reader: impl Read + Send + 'static) -> Loader {
        self.stdin = Some(Box::new(reader));
        self
    }

    /// Pass 1: reads every input once and checks everything.
    ///
    /// # Errors
    ///
    /// Every problem in every input, in input order and, within a file, in position order:
    /// unreadable paths, syntax and type errors, unknown fields, bad values, duplicate ids
    /// (named at the second occurrence, with where the first is), conflicting limits. At most
    /// [`ParseOptions::max_errors`] of them, plus a last one counting the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let errors = Loader::new(ParseOptions::default())
    ///     .path("-")
    ///     .stdin(&b"{\"kind\": \"sleep\", \"duration\": \"-1s\"}\n{\"kind\": \"fail\", \"probability\": 2}\n"[..])
    ///     .validate()
    ///     .unwrap_err();
    /// let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    /// assert_eq!(shown, [
    ///     "<stdin>:1:31: duration: invalid duration `-1s`: durations cannot be negative",
    ///     "<stdin>:2:33: probability: probability must be between 0 and 1 (got 2)",
    /// ]);
    /// ```
    pub fn validate(self) -> Result<Validated, Vec<SpecError>> {
        let Loader { options, inputs, stdin } = self;
        let mut stdin = stdin;
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        let mut stdin_seen = false;
        // The inputs that can be read only once, by device and inode: a second mention would
        // wait for a writer that is gone.
        let mut once = HashSet::new();
        for input in inputs {
            if input.as_os_str() == "-" {
                if stdin_seen {
                    errors.push(SpecError::file(STDIN, "standard input (`-`) is given twice"));
                    continue;
                }
                stdin_seen = true;
                let reader = stdin.take().unwrap_or_else(|| Box::new(io::stdin()) as Box<dyn Read + Send>);
                match spool(reader, Path::new(STDIN).into(), None) {
                    Ok(source) => sources.push(source),
                    Err(e) => errors.push(SpecError::file(STDIN, io_message(&e))),
                }
                continue;
            }
            match std::fs::metadata(&input) {
                Ok(meta) if meta.is_dir() => match folder(&input) {
                    Ok(entries) if entries.is_empty() => {
                        errors.push(SpecError::file(&input, "no *.json or *.jsonl files in this folder"))
                    }
                    Ok(entries) => {
                        for (path, meta) in entries {
                            match meta {
                                Ok(meta) => add_source(path, &meta, &mut once, &mut sources, &mut errors),
                                Err(e) => errors.push(e),
                            }
                        }
                    }
                    Err(e) => errors.push(SpecError::file(&input, io_message(&e))),
                },
                Ok(meta) => add_source(input, &meta, &mut once, &mut sources, &mut errors),
                Err(e) => errors.push(SpecError::file(&input, io_message(&e))),
            }
        }
        // The jobs are dropped: only generated ids need their hash in this pass.
        let checked = check(sources, &options, false, |_| {});
        match checked {
            Ok(checked) if errors.is_empty() => Ok(Validated {
                sources: checked.sources,
                options,
                job_count: checked.job_count,
                core_jobs: checked.core_jobs,
                limits: checked.limits,
                repeated: checked.repeated,
            }),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }
}
