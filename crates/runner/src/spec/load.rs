//! Loading job files from paths, folders, stdin and memory, in two passes.
//!
//! **Pass 1**, [`Loader::validate`], reads every source once, start to end, and returns every
//! error (up to [`ParseOptions::max_errors`]), or a [`Validated`] set that knows how many jobs
//! there are and what `limits` the files declare. Jobs are parsed and checked, then dropped:
//! all that is kept is one entry per id (a 128-bit hash of the id and where it was first
//! seen, 32 bytes) to find duplicates, so a 1M-line JSON Lines file is checked in bounded
//! memory apart from that.
//!
//! **Pass 2**, [`Validated::jobs`], reads the sources again and yields the [`JobSpec`]s one
//! by one, with the same generated ids. It can be run any number of times.
//!
//! **stdin** (`-`) cannot be read twice: pass 1 copies it to an anonymous temporary file
//! (deleted when the [`Validated`] is dropped), which pass 2 reads again; if no temporary
//! file can be made, it is kept in memory instead.
//!
//! For input already in memory (an HTTP request body), [`parse_bytes`] and [`parse_str`] do
//! both passes at once and return every job or every error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::location;
use super::file::{
    Event, Format, JobPath, LimitValue, Limits, MAX_DOCUMENT, MAX_LINE, Pos, SourceCtx, check_line,
    parse_document, parse_line, parse_line_full,
};
use super::{JobSpec, SpecError};

/// How job files are parsed.
///
/// # Examples
///
/// ```
/// use conveyor::spec::ParseOptions;
///
/// // What `conveyor serve` uses: periodic jobs (`every`, `cron`) allowed.
/// let serve = ParseOptions::default().allow_periodic(true);
/// assert!(serve.allow_periodic);
/// assert_eq!(ParseOptions::default().max_errors, 1000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Accept `every` and `cron` (default `false`; `run` and `validate` refuse them with an
    /// error saying they need `conveyor serve`).
    pub allow_periodic: bool,
    /// Accept `shell` jobs (default `true`). `conveyor run` and `serve` set it from
    /// `--allow-shell`, so a file with `shell` jobs is refused, with every such job located,
    /// before anything runs.
    pub allow_shell: bool,
    /// Stop collecting errors after this many (default 1000); the last error then says how
    /// many more there were. Keeps memory bounded on a huge file of garbage.
    pub max_errors: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { allow_periodic: false, allow_shell: true, max_errors: 1000 }
    }
}

impl ParseOptions {
    /// Sets [`allow_periodic`](Self::allow_periodic) (default `false`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{parse_str, ParseOptions};
    ///
    /// let job = r#"{"kind": "noop", "every": "1m"}"#;
    /// assert!(parse_str("p.jsonl", job, &ParseOptions::default()).is_err());
    /// assert!(parse_str("p.jsonl", job, &ParseOptions::default().allow_periodic(true)).is_ok());
    /// ```
    #[must_use = "options are built by value"]
    pub fn allow_periodic(mut self, allow: bool) -> Self {
        self.allow_periodic = allow;
        self
    }

    /// Sets [`allow_shell`](Self::allow_shell) (default `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{parse_str, ParseOptions};
    ///
    /// let job = r#"{"kind": "shell", "script": "echo hi"}"#;
    /// assert!(parse_str("s.jsonl", job, &ParseOptions::default()).is_ok());
    /// let errors = parse_str("s.jsonl", job, &ParseOptions::default().allow_shell(false)).unwrap_err();
    /// assert!(errors[0].to_string().starts_with("s.jsonl:1:10: kind: `shell` jobs"), "{}", errors[0]);
    /// ```
    #[must_use = "options are built by value"]
    pub fn allow_shell(mut self, allow: bool) -> Self {
        self.allow_shell = allow;
        self
    }

    /// Sets [`max_errors`](Self::max_errors) (default 1000; at least 1 is kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{parse_str, ParseOptions};
    ///
    /// let text = "1\n2\n3\n";
    /// let errors = parse_str("x.jsonl", text, &ParseOptions::default().max_errors(2)).unwrap_err();
    /// assert_eq!(errors.len(), 3);
    /// assert_eq!(errors[2].message, "1 more error not shown");
    /// ```
    #[must_use = "options are built by value"]
    pub fn max_errors(mut self, max: usize) -> Self {
        self.max_errors = max.max(1);
        self
    }
}

/// Jobs parsed from memory by [`parse_bytes`] or [`parse_str`].
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions};
///
/// let batch = parse_str("b.json", r#"[{"kind": "noop"}, {"kind": "noop"}]"#,
///                       &ParseOptions::default()).unwrap();
/// assert_eq!(batch.jobs.len(), 2);
/// assert!(batch.limits.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobBatch {
    /// The jobs, in file order.
    pub jobs: Vec<JobSpec>,
    /// The limits the input declares.
    pub limits: Limits,
}

/// Parses a job file held in memory: every job, or every error.
///
/// `name` stands for the file: errors say `name:LINE:COL`, generated ids start with its stem,
/// and its extension chooses the form (`.jsonl` JSON Lines, `.json` a document); with any
/// other name (say `"request"` for an HTTP body) the form is sniffed as for stdin: a document
/// when it starts with `[`, or with an object that has a `jobs` key; JSON Lines otherwise.
///
/// # Errors
///
/// Every problem found (up to [`ParseOptions::max_errors`]), in file order.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_bytes, ParseOptions};
///
/// let body = b"{\"id\": \"a\", \"kind\": \"noop\"}\n{\"id\": \"a\", \"kind\": \"noop\"}\n";
/// let errors = parse_bytes("request", body, &ParseOptions::default()).unwrap_err();
/// assert_eq!(
///     errors[0].to_string(),
///     "request:2:8: id: duplicate id `a` (first defined at request:1:8)"
/// );
/// ```
pub fn parse_bytes(name: &str, input: &[u8], options: &ParseOptions) -> Result<JobBatch, Vec<SpecError>> {
    let path: Arc<Path> = Path::new(name).into();
    let format = Format::from_name(&path).unwrap_or_else(|| Format::sniff(input));
    let source = Source {
        stem: stem(&path),
        display: path,
        data: Data::Memory(Arc::from(input)),
        format: Some(format),
    };
    let mut jobs = Vec::new();
    let checked = check(vec![source], options, true, |job| jobs.push(job))?;
    Ok(JobBatch { jobs, limits: checked.limits })
}

/// [`parse_bytes`] for text.
///
/// # Errors
///
/// Every problem found (up to [`ParseOptions::max_errors`]), in file order.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions};
///
/// let batch = parse_str("batch.jsonl", "{\"kind\": \"noop\"}\n\n{\"kind\": \"noop\"}\n",
///                       &ParseOptions::default()).unwrap();
/// // Identical jobs without ids: the second gets `-2`.
/// assert_eq!(*batch.jobs[1].id, format!("{}-2", batch.jobs[0].id));
/// assert!(batch.jobs[0].id.starts_with("batch-"));
/// ```
pub fn parse_str(name: &str, text: &str, options: &ParseOptions) -> Result<JobBatch, Vec<SpecError>> {
    parse_bytes(name, text.as_bytes(), options)
}

/// Collects job files (paths, folders, `-` for stdin) and validates them: pass 1.
///
/// A folder stands for its `*.json` and `*.jsonl` files, sorted by name, not recursive
/// (`*.ledger.jsonl` files, the runner's ledgers, are skipped). A file's form comes from its
/// extension; any other file, and stdin, is sniffed (see [`parse_bytes`]).
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

const STDIN: &str = "<stdin>";

/// Job files that passed [`Loader::validate`]: ready for pass 2.
///
/// Dropping it deletes stdin's temporary copy.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{Loader, ParseOptions};
///
/// let validated = Loader::new(ParseOptions::default())
///     .path("-")
///     .stdin(&br#"{"limits": {"concurrency": {"db": 2}}, "jobs": [{"kind": "noop"}]}"#[..])
///     .validate()
///     .unwrap();
/// assert_eq!(validated.job_count(), 1);
/// assert_eq!(validated.limits().concurrency["db"], 2);
/// assert_eq!(validated.files().map(|p| p.display().to_string()).collect::<Vec<_>>(), ["<stdin>"]);
/// ```
#[derive(Debug)]
pub struct Validated {
    sources: Vec<Source>,
    options: ParseOptions,
    job_count: u64,
    core_jobs: u64,
    limits: Limits,
    /// Generated base ids that more than one job has: only these need counting in pass 2.
    repeated: HashSet<IdKey, IdHasher>,
}

impl Validated {
    /// How many jobs pass 2 yields (for a progress bar's total).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let v = Loader::new(ParseOptions::default()).path("-").stdin(&b"[]"[..]).validate().unwrap();
    /// assert_eq!(v.job_count(), 0);
    /// ```
    pub fn job_count(&self) -> u64 {
        self.job_count
    }

    /// How many of those jobs use a core while they run (`exec`, `shell` and `cpu`, see
    /// [`JobKind::uses_a_core`](super::JobKind::uses_a_core)).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let lines = b"{\"kind\": \"exec\", \"program\": \"true\"}\n{\"kind\": \"noop\"}\n";
    /// let v = Loader::new(ParseOptions::default()).path("-").stdin(&lines[..]).validate().unwrap();
    /// assert_eq!((v.job_count(), v.core_job_count()), (2, 1));
    /// ```
    pub fn core_job_count(&self) -> u64 {
        self.core_jobs
    }

    /// The limits all files declare together.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let v = Loader::new(ParseOptions::default()).path("-").stdin(&b"[]"[..]).validate().unwrap();
    /// assert!(v.limits().is_empty());
    /// ```
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The files loaded, in order (folders expanded; `<stdin>` for standard input).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let v = Loader::new(ParseOptions::default()).path("-").stdin(&b""[..]).validate().unwrap();
    /// assert_eq!(v.files().count(), 1);
    /// ```
    pub fn files(&self) -> impl Iterator<Item = &Path> + '_ {
        self.sources.iter().map(|s| &*s.display)
    }

    /// Pass 2: reads the files again and yields their jobs one at a time, in order.
    ///
    /// Yields `Err` only if a file changed or became unreadable since pass 1. Memory stays
    /// flat however many jobs there are (JSON Lines files are streamed; a document is held
    /// while its jobs are yielded).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let v = Loader::new(ParseOptions::default())
    ///     .path("-")
    ///     .stdin(&b"{\"id\": \"x\", \"kind\": \"noop\"}\n{\"id\": \"y\", \"kind\": \"noop\"}\n"[..])
    ///     .validate()
    ///     .unwrap();
    /// let ids: Vec<String> = v.jobs().map(|job| job.unwrap().id.to_string()).collect();
    /// assert_eq!(ids, ["x", "y"]);
    /// assert_eq!(v.jobs().count(), 2); // can be read again
    /// ```
    pub fn jobs(&self) -> Jobs<'_> {
        Jobs(JobCursor::new(self))
    }
}

impl<'v> IntoIterator for &'v Validated {
    type Item = Result<JobSpec, SpecError>;
    type IntoIter = Jobs<'v>;

    fn into_iter(self) -> Jobs<'v> {
        self.jobs()
    }
}

impl IntoIterator for Validated {
    type Item = Result<JobSpec, SpecError>;
    type IntoIter = IntoJobs;

    /// Pass 2, owning the set: an iterator that can be moved to another thread or task (to
    /// feed a pool from `spawn_blocking`, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor::spec::{Loader, ParseOptions};
    ///
    /// let v = Loader::new(ParseOptions::default())
    ///     .path("-")
    ///     .stdin(&b"{\"id\": \"x\", \"kind\": \"noop\"}\n"[..])
    ///     .validate()
    ///     .unwrap();
    /// let ids = std::thread::spawn(move || {
    ///     v.into_iter().map(|job| job.unwrap().id.to_string()).collect::<Vec<_>>()
    /// });
    /// assert_eq!(ids.join().unwrap(), ["x"]);
    /// ```
    fn into_iter(self) -> IntoJobs {
        IntoJobs(JobCursor::new(self))
    }
}

/// The jobs of a [`Validated`] set, read from the files one at a time: pass 2.
///
/// Made by [`Validated::jobs`]; [`IntoJobs`] is the owning form.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{Jobs, Loader, ParseOptions};
///
/// let v = Loader::new(ParseOptions::default()).path("-").stdin(&b"[]"[..]).validate().unwrap();
/// let mut jobs: Jobs<'_> = v.jobs();
/// assert!(jobs.next().is_none());
/// ```
#[must_use = "iterators are lazy"]
#[derive(Debug)]
pub struct Jobs<'v>(JobCursor<&'v Validated>);

impl Iterator for Jobs<'_> {
    type Item = Result<JobSpec, SpecError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| r.map(Arc::unwrap_or_clone))
    }
}

/// The jobs of a [`Validated`] set that the iterator owns: pass 2, `'static` and `Send`.
///
/// Made by `Validated::into_iter`. Dropping it drops the set (and stdin's temporary copy).
///
/// # Examples
///
/// ```
/// use conveyor::spec::{IntoJobs, Loader, ParseOptions};
///
/// let v = Loader::new(ParseOptions::default()).path("-").stdin(&b"[{\"kind\": \"noop\"}]"[..])
///     .validate().unwrap();
/// let jobs: IntoJobs = v.into_iter();
/// assert_eq!(jobs.count(), 1);
/// ```
#[must_use = "iterators are lazy"]
#[derive(Debug)]
pub struct IntoJobs(JobCursor<Validated>);

impl Iterator for IntoJobs {
    type Item = Result<JobSpec, SpecError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|r| r.map(Arc::unwrap_or_clone))
    }
}

impl IntoJobs {
    /// The next job in the `Arc` the parser built it in, as the pool job shares it: a spec is
    /// some 350 bytes, and the run loop hands it on several times before the pool takes it.
    pub(crate) fn next_shared(&mut self) -> Option<Result<Arc<JobSpec>, SpecError>> {
        self.0.next()
    }
}

/// Pass 2's engine, over a borrowed or owned [`Validated`].
struct JobCursor<V> {
    validated: V,
    next_source: usize,
    current: Option<SourceEvents>,
    counters: HashMap<IdKey, u32, IdHasher>,
}

impl<V> std::fmt::Debug for JobCursor<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCursor").field("next_source", &self.next_source).finish_non_exhaustive()
    }
}

impl<V: std::borrow::Borrow<Validated>> JobCursor<V> {
    fn new(validated: V) -> Self {
        JobCursor { validated, next_source: 0, current: None, counters: HashMap::default() }
    }

    fn next(&mut self) -> Option<Result<Arc<JobSpec>, SpecError>> {
        loop {
            let validated = self.validated.borrow();
            if self.current.is_none() {
                let source = validated.sources.get(self.next_source)?;
                self.next_source += 1;
                self.current = Some(SourceEvents::open(source, &validated.options, true));
            }
            let event = match self.current.as_mut().and_then(Iterator::next) {
                Some(event) => event,
                None => {
                    self.current = None;
                    continue;
                }
            };
            match event {
                Event::Job { mut spec, .. } => {
                    if spec.id_generated {
                        let stem = &validated.sources[self.next_source - 1].stem;
                        let base = generated_base(stem, &spec.spec_hash);
                        let key = id_key(&base);
                        // The parser's `Arc` is not shared yet: this changes it in place.
                        Arc::make_mut(&mut spec).id = if validated.repeated.contains(&key) {
                            let n = self.counters.entry(key).or_insert(0);
                            *n += 1;
                            numbered(base, *n).into()
                        } else {
                            base.into()
                        };
                    }
                    return Some(Ok(spec));
                }
                Event::Error(e) => return Some(Err(e)),
                Event::Id { .. } | Event::Valid { .. } | Event::Limit { .. } => {}
            }
        }
    }
}

fn generated_base(stem: &str, hash: &str) -> String {
    format!("{stem}-{}", hash.get(..12).unwrap_or(hash))
}

fn numbered(base: String, n: u32) -> String {
    if n <= 1 { base } else { format!("{base}-{n}") }
}

/// A 128-bit hash of an id: two foldhash runs with independent random seeds, drawn once per
/// process (both check-pass threads and pass 2 must agree; nothing stores these). A
/// collision among a million ids has a probability near 1e-27, far below any hardware error
/// rate, and the seeds are secret, so a job file cannot be written to collide. Two SipHash
/// runs did the same for ~500 instructions an id, a tenth of the check pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdKey(u64, u64);

impl Hash for IdKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a hash: one word is enough for the table.
        state.write_u64(self.0);
    }
}

/// The fingerprint of an id, from its bytes.
fn id_key(id: impl AsRef<[u8]>) -> IdKey {
    use std::hash::BuildHasher as _;
    let [a, b] = id_seeds();
    let id = id.as_ref();
    IdKey(a.hash_one(id), b.hash_one(id))
}

/// The first word of [`id_key`] alone (one hash run, not two).
fn id_word(id: impl AsRef<[u8]>) -> u64 {
    use std::hash::BuildHasher as _;
    id_seeds()[0].hash_one(id.as_ref())
}

fn id_seeds() -> &'static [foldhash::quality::RandomState; 2] {
    static SEEDS: std::sync::OnceLock<[foldhash::quality::RandomState; 2]> = std::sync::OnceLock::new();
    SEEDS.get_or_init(Default::default)
}

/// Passes [`IdKey`]'s word through as the hash.
#[derive(Default, Clone, Copy, Debug)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdHasher = BuildHasherDefault<PassThrough>;

/// Where an id was first seen; `generated` counts jobs sharing a generated base id (0 for an
/// id written in a file).
#[derive(Debug, Clone, Copy)]
struct IdEntry {
    source: u32,
    line: u32,
    column: u32,
    generated: u32,
}

/// What pass 1 found.
struct Checked {
    sources: Vec<Source>,
    job_count: u64,
    core_jobs: u64,
    limits: Limits,
    repeated: HashSet<IdKey, IdHasher>,
}

/// Pass 1 over `sources`; `on_job` sees every valid job with its final id (and, when `hash`,
/// its `spec_hash`; without, only jobs with a generated id have one).
fn check(
    sources: Vec<Source>,
    options: &ParseOptions,
    hash: bool,
    mut on_job: impl FnMut(JobSpec),
) -> Result<Checked, Vec<SpecError>> {
    let mut ids: HashMap<IdKey, IdEntry, IdHasher> = HashMap::default();
    let mut declared: BTreeMap<(bool, String), (LimitValue, String)> = BTreeMap::new();
    let mut errors = Errors::new(options.max_errors);
    let mut job_count = 0u64;
    let mut core_jobs = 0u64;
    let mut file_errors = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let source_no = u32::try_from(index).unwrap_or(u32::MAX);
        let here = |pos: Pos, path: JobPath, child: Option<&str>, message: String| SpecError {
            path: source.display.to_path_buf(),
            line: pos.line,
            column: pos.column,
            field: path.render(child),
            message,
        };
        let first_at = |entry: &IdEntry| {
            let path = sources.get(entry.source as usize).map_or(Path::new("?"), |s| &s.display);
            location(path, entry.line as usize, entry.column as usize)
        };
        let entry_at = |pos: Pos, generated: u32| IdEntry {
            source: source_no,
            line: u32::try_from(pos.line).unwrap_or(u32::MAX),
            column: u32::try_from(pos.column).unwrap_or(u32::MAX),
            generated,
        };
        // A big JSON Lines file is checked on two threads; when that finds anything to say (or
        // cannot be used), the file is read again below, on one, for exact messages.
        if !hash
            && errors.is_empty()
            && let Some((jobs, spawning)) =
                split::check(source, source_no, options, &mut ids, index + 1 < sources.len())
        {
            job_count += jobs;
            core_jobs += spawning;
            continue;
        }
        for event in SourceEvents::open(source, options, hash) {
            match event {
                Event::Job { mut spec, id_pos, path } => {
                    job_count += 1;
                    core_jobs += u64::from(spec.kind.uses_a_core());
                    if spec.id_generated {
                        let base = generated_base(&source.stem, &spec.spec_hash);
                        let key = id_key(&base);
                        let n = match ids.get_mut(&key) {
                            None => {
                                ids.insert(key, entry_at(id_pos, 1));
                                1
                            }
                            Some(entry) if entry.generated > 0 => {
                                entry.generated += 1;
                                entry.generated
                            }
                            Some(entry) => {
                                let message = format!(
                                    "duplicate id `{base}` (generated for this job; first \
                                     defined at {})",
                                    first_at(entry)
                                );
                                file_errors.push(here(id_pos, path, None, message));
                                continue;
                            }
                        };
                        Arc::make_mut(&mut spec).id = numbered(base, n).into();
                        if n > 1 {
                            let key = id_key(&*spec.id);
                            if let Some(entry) = ids.get(&key) {
                                let message = format!(
                                    "duplicate id `{}` (generated for this job; first defined \
                                     at {})",
                                    spec.id,
                                    first_at(entry)
                                );
                                file_errors.push(here(id_pos, path, None, message));
                                continue;
                            }
                            ids.insert(key, entry_at(id_pos, 0));
                        }
                    } else if let Some(message) = claim(&mut ids, &*spec.id, entry_at(id_pos, 0), &first_at) {
                        file_errors.push(here(id_pos, path, Some("id"), message));
                        continue;
                    }
                    if errors.is_empty() && file_errors.is_empty() {
                        on_job(Arc::unwrap_or_clone(spec));
                    }
                }
                Event::Valid { id, pos, path, core_bound } => {
                    job_count += 1;
                    core_jobs += u64::from(core_bound);
                    if let Some(message) = claim(&mut ids, &id, entry_at(pos, 0), &first_at) {
                        file_errors.push(here(pos, path, Some("id"), message));
                    }
                }
                Event::Id { id, pos, path } => {
                    if let Some(message) = claim(&mut ids, &*id, entry_at(pos, 0), &first_at) {
                        file_errors.push(here(pos, path, Some("id"), message));
                    }
                }
                Event::Limit { key, value, pos, field } => {
                    let is_rate = matches!(value, LimitValue::Rate(_));
                    let at = location(&source.display, pos.line, pos.column);
                    match declared.get(&(is_rate, key.clone())) {
                        Some((earlier, earlier_at)) if *earlier != value => {
                            let show = |v: &LimitValue| match v {
                                LimitValue::Concurrency(n) => n.to_string(),
                                LimitValue::Rate(r) => format!("\"{r}\""),
                            };
                            file_errors.push(SpecError {
                                path: source.display.to_path_buf(),
                                line: pos.line,
                                column: pos.column,
                                field,
                                message: format!(
                                    "conflicting {} limit for `{key}`: {} here, {} at {earlier_at}",
                                    if is_rate { "rate" } else { "concurrency" },
                                    show(&value),
                                    show(earlier)
                                ),
                            });
                        }
                        Some(_) => {}
                        None => {
                            declared.insert((is_rate, key), (value, at));
                        }
                    }
                }
                Event::Error(e) => file_errors.push(e),
            }
        }
        // Within a file, errors read top to bottom.
        file_errors.sort_by_key(|e| (e.line, e.column));
        for e in file_errors.drain(..) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(errors.finish());
    }
    let mut limits = Limits::default();
    for ((_, key), (value, _)) in declared {
        match value {
            LimitValue::Concurrency(n) => {
                limits.concurrency.insert(key, n);
            }
            LimitValue::Rate(r) => {
                limits.rate.insert(key, r);
            }
        }
    }
    let repeated = ids.iter().filter(|(_, e)| e.generated > 1).map(|(k, _)| *k).collect();
    Ok(Checked { sources, job_count, core_jobs, limits, repeated })
}

/// Pass 1 of one big JSON Lines file on two threads.
///
/// The check pass is the only part of a run that cannot overlap with running jobs, and it
/// left one of the two cores idle. The file is cut at the first line break after its middle;
/// each half is read by its own thread into its own id table. The halves' result is used only
/// when it is clean — no error, no generated id (their numbering depends on order), no id in
/// both halves or in an earlier file — and then the second half's entries are renumbered to
/// whole-file lines and merged. Otherwise [`check`] reads the file again on one thread, which
/// finds and words every problem exactly as it always has.
mod split {
    use super::*;

    /// Files smaller than this are checked on one thread (a second one would not pay).
    const MIN_BYTES: u64 = 1 << 20;

    /// What one half found: its ids (lines counted from `first_line`), jobs (and how many
    /// start a process) and lines.
    struct Half {
        seen: Seen,
        jobs: u64,
        core_jobs: u64,
        lines: usize,
    }

    /// The ids one half has seen.
    enum Seen {
        /// Each id's fingerprint and place: what the tables of other files are made of.
        Places(HashMap<IdKey, IdEntry, IdHasher>),
        /// One word of each id's fingerprint, when nothing reads where an id was (the only
        /// file, whose ids are only compared with each other). Half the entries of `Places`
        /// (an eighth of the bytes), and cache misses were most of an insert. A collision of
        /// two words reads as a duplicate, which sends the file to the exact one-thread
        /// check: slower, never wrong.
        Words(HashSet<u64, IdHasher>),
    }

    impl Seen {
        fn new(words: bool, capacity: usize) -> Seen {
            if words {
                Seen::Words(HashSet::with_capacity_and_hasher(capacity, IdHasher::default()))
            } else {
                Seen::Places(HashMap::with_capacity_and_hasher(capacity, IdHasher::default()))
            }
        }

        /// Records `id` at `at`; `Some(false)` if it was seen before (`None`: a place too far
        /// for the table).
        fn insert(&mut self, source: u32, id: &[u8], at: Pos) -> Option<bool> {
            Some(match self {
                Seen::Words(words) => words.insert(id_word(id)),
                Seen::Places(places) => {
                    let entry = IdEntry {
                        source,
                        line: u32::try_from(at.line).ok()?,
                        column: u32::try_from(at.column).ok()?,
                        generated: 0,
                    };
                    places.insert(id_key(id), entry).is_none()
                }
            })
        }

        /// Whether an id is in both (`true` when they cannot be compared).
        fn overlaps(&self, other: &Seen) -> bool {
            match (self, other) {
                (Seen::Places(a), Seen::Places(b)) => b.keys().any(|k| a.contains_key(k)),
                (Seen::Words(a), Seen::Words(b)) => b.iter().any(|k| a.contains(k)),
                _ => true,
            }
        }

        /// Whether an id is in the table of earlier files (`true` when that cannot be told).
        fn any_in(&self, ids: &HashMap<IdKey, IdEntry, IdHasher>) -> bool {
            match self {
                Seen::Places(places) => places.keys().any(|k| ids.contains_key(k)),
                Seen::Words(_) => !ids.is_empty(),
            }
        }
    }

    /// Checks `source` on two threads against the ids of earlier sources, `ids`, and, when
    /// `more` sources follow, merges its own ids into them; its job count and how many of them
    /// start a process, or `None` when the caller must check it on one thread.
    pub(super) fn check(
        source: &Source,
        source_no: u32,
        options: &ParseOptions,
        ids: &mut HashMap<IdKey, IdEntry, IdHasher>,
        more: bool,
    ) -> Option<(u64, u64)> {
        if source.format != Some(Format::Lines) || matches!(source.data, Data::Memory(_)) {
            return None;
        }
        let len = std::fs::metadata(path_of(source)?).ok()?.len();
        if len < MIN_BYTES {
            return None;
        }
        let cut = cut_after_middle(source, len)?;
        // When the ids are merged (more sources follow), the first half's table is sized for
        // the whole file, so that the second half's entries merge into it without a rehash:
        // peak memory is then what one thread's growing table reached (old and new tables
        // side by side), not a merged copy besides both halves. The last source's ids are
        // only looked up across the halves, not merged: nothing reads them afterwards.
        let lines = estimate_lines(source, len)?;
        let first_capacity = if more { lines } else { lines / 2 };
        // The only source (the usual run): its ids are only compared with each other.
        let words = !more && ids.is_empty();
        let (first, second) = std::thread::scope(|scope| {
            let second =
                scope.spawn(|| half(source, source_no, options, (cut, len), 2, Seen::new(words, lines / 2)));
            let first = half(source, source_no, options, (0, cut), 1, Seen::new(words, first_capacity));
            (first, second.join().ok().flatten())
        });
        let (first, second) = (first?, second?);
        let counts = (first.jobs + second.jobs, first.core_jobs + second.core_jobs);
        // The second half's lines were numbered from 2 (so that a byte order mark is only
        // skipped on the file's first line): renumber them after the first half's.
        let shift = u32::try_from(first.lines).ok()?.checked_sub(1)?;
        if !ids.is_empty() && (first.seen.any_in(ids) || second.seen.any_in(ids)) {
            return None;
        }
        if first.seen.overlaps(&second.seen) {
            return None;
        }
        if !more {
            return Some(counts);
        }
        let (Seen::Places(mut merged), Seen::Places(later)) = (first.seen, second.seen) else {
            return None;
        };
        for (key, mut entry) in later {
            entry.line = entry.line.checked_add(shift)?;
            merged.insert(key, entry);
        }
        if ids.is_empty() {
            *ids = merged;
        } else {
            ids.extend(merged);
        }
        Some(counts)
    }

    /// The file's line count, estimated from its first 64 KiB (at least 1).
    fn estimate_lines(source: &Source, len: u64) -> Option<usize> {
        let mut sample = Vec::with_capacity(64 * 1024);
        open_at(source, 0)?.take(64 * 1024).read_to_end(&mut sample).ok()?;
        let breaks = sample.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
        let estimate = len.saturating_mul(breaks) / (sample.len().max(1) as u64);
        // Over-estimating wastes memory: cap the hint at one table entry per 16 bytes.
        usize::try_from(estimate.min(len / 16).max(1)).ok()
    }

    fn path_of(source: &Source) -> Option<&Path> {
        match &source.data {
            Data::File(path) => Some(path),
            Data::Temp(file) => Some(file.path()),
            Data::Memory(_) => None,
        }
    }

    fn open_at(source: &Source, at: u64) -> Option<BufReader<File>> {
        use std::io::Seek as _;
        let mut file = match &source.data {
            Data::File(path) => File::open(path).ok()?,
            Data::Temp(file) => file.reopen().ok()?,
            Data::Memory(_) => return None,
        };
        file.seek(io::SeekFrom::Start(at)).ok()?;
        Some(BufReader::with_capacity(64 * 1024, file))
    }

    /// The offset just after the first line break at or after the middle.
    fn cut_after_middle(source: &Source, len: u64) -> Option<u64> {
        let middle = len / 2;
        let mut reader = open_at(source, middle)?;
        let mut skipped = Vec::new();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut skipped).ok()?;
        (skipped.last() == Some(&b'\n')).then(|| middle + n as u64).filter(|&cut| cut < len)
    }

    /// Checks bytes `start..end` of the file, numbering lines from `first_line`; `None` as
    /// soon as anything is not clean.
    fn half(
        source: &Source,
        source_no: u32,
        options: &ParseOptions,
        (start, end): (u64, u64),
        first_line: usize,
        seen: Seen,
    ) -> Option<Half> {
        let mut lines = LineReader::new(open_at(source, start)?.take(end - start));
        let ctx = SourceCtx {
            path: &source.display,
            allow_periodic: options.allow_periodic,
            allow_shell: options.allow_shell,
            hash: false,
        };
        let mut out = Half { seen, jobs: 0, core_jobs: 0, lines: 0 };
        let mut events = Vec::new();
        loop {
            let line = match lines.next_line().ok()? {
                LineRead::End => return Some(out),
                LineRead::TooLong => return None,
                LineRead::Line(line) => line,
            };
            let line_no = first_line + out.lines;
            out.lines += 1;
            // The usual line, a valid flat job, lends its id; any other goes through the full
            // parser, whose events say the same (or that the line is not clean).
            if let Some(job) = check_line(&ctx, line, line_no) {
                let at = Pos { line: line_no, column: job.id_column };
                out.add(source_no, job.id.as_bytes(), at, job.core_bound)?;
                continue;
            }
            parse_line_full(&ctx, line, line_no, &mut events);
            for event in events.drain(..) {
                match &event {
                    Event::Valid { id, pos, core_bound, .. } => {
                        out.add(source_no, id.as_bytes(), *pos, *core_bound)?
                    }
                    Event::Job { spec, id_pos, .. } if !spec.id_generated => {
                        out.add(source_no, spec.id.as_bytes(), *id_pos, spec.kind.uses_a_core())?
                    }
                    _ => return None,
                }
            }
        }
    }

    impl Half {
        /// Counts a valid job with an explicit id; `None` if the id was seen before.
        fn add(&mut self, source: u32, id: &[u8], at: Pos, core_bound: bool) -> Option<()> {
            if !self.seen.insert(source, id, at)? {
                return None;
            }
            self.jobs += 1;
            self.core_jobs += u64::from(core_bound);
            Some(())
        }
    }
}

/// Records an id written in a file; the duplicate message when it was seen before.
fn claim(
    ids: &mut HashMap<IdKey, IdEntry, IdHasher>,
    id: &(impl AsRef<[u8]> + std::fmt::Display + ?Sized),
    entry: IdEntry,
    first_at: &dyn Fn(&IdEntry) -> String,
) -> Option<String> {
    match ids.entry(id_key(id)) {
        std::collections::hash_map::Entry::Occupied(first) => {
            Some(format!("duplicate id `{id}` (first defined at {})", first_at(first.get())))
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(entry);
            None
        }
    }
}

/// Errors collected up to a cap, then counted.
struct Errors {
    max: usize,
    kept: Vec<SpecError>,
    omitted: usize,
    omitted_path: Option<PathBuf>,
}

impl Errors {
    fn new(max: usize) -> Errors {
        Errors { max: max.max(1), kept: Vec::new(), omitted: 0, omitted_path: None }
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn push(&mut self, e: SpecError) {
        if self.kept.len() < self.max {
            self.kept.push(e);
        } else {
            self.omitted += 1;
            self.omitted_path.get_or_insert(e.path);
        }
    }

    fn finish(mut self) -> Vec<SpecError> {
        if let Some(path) = self.omitted_path {
            let n = self.omitted;
            let s = if n == 1 { "" } else { "s" };
            self.kept.push(SpecError::file(path, format!("{n} more error{s} not shown")));
        }
        self.kept
    }
}

/// One job file to read.
#[derive(Debug)]
struct Source {
    /// The path shown in errors and origins.
    display: Arc<Path>,
    /// The start of generated ids.
    stem: String,
    data: Data,
    /// `None`: sniff when opened.
    format: Option<Format>,
}

#[derive(Debug)]
enum Data {
    File(PathBuf),
    Temp(tempfile::NamedTempFile),
    Memory(Arc<[u8]>),
}

impl Source {
    fn file(path: PathBuf) -> Source {
        let display: Arc<Path> = path.as_path().into();
        Source { stem: stem(&display), format: Format::from_name(&display), display, data: Data::File(path) }
    }

    /// A fresh reader from the start (its own cursor: pass 2 may run several times at once).
    fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        Ok(match &self.data {
            Data::File(path) => Box::new(BufReader::with_capacity(64 * 1024, File::open(path)?)),
            Data::Temp(file) => Box::new(BufReader::with_capacity(64 * 1024, file.reopen()?)),
            Data::Memory(bytes) => Box::new(io::Cursor::new(Arc::clone(bytes))),
        })
    }
}

/// The start of a generated id: the file's stem (`jobs` for `jobs.json`), `stdin`, or `job`.
fn stem(path: &Path) -> String {
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
fn spool(mut reader: Box<dyn Read + Send>, display: Arc<Path>, format: Option<Format>) -> io::Result<Source> {
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
fn add_source(
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
fn folder(dir: &Path) -> io::Result<Vec<(PathBuf, Result<std::fs::Metadata, SpecError>)>> {
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

fn io_message(e: &io::Error) -> String {
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

/// The events of one source, read lazily. Owns its reader (no borrow of the [`Source`]), so
/// that [`IntoJobs`] can own the [`Validated`] it reads.
enum SourceEvents {
    /// Everything already parsed (a document, or a failure to open).
    Buffered(std::vec::IntoIter<Event>),
    /// A JSON Lines stream.
    Lines {
        path: Arc<Path>,
        allow_periodic: bool,
        allow_shell: bool,
        hash: bool,
        lines: LineReader<Box<dyn BufRead + Send>>,
        line_no: usize,
        pending: std::collections::VecDeque<Event>,
        scratch: Vec<Event>,
        done: bool,
    },
}

impl SourceEvents {
    fn open(source: &Source, options: &ParseOptions, hash: bool) -> SourceEvents {
        let fail = |e: io::Error| {
            SourceEvents::Buffered(
                vec![Event::Error(SpecError::file(source.display.to_path_buf(), io_message(&e)))].into_iter(),
            )
        };
        let mut reader = match source.open() {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let format = match source.format {
            Some(f) => f,
            None => match first_line(&mut *reader) {
                Ok(start) => {
                    let f = Format::sniff(&start);
                    // Start again from the top.
                    reader = match source.open() {
                        Ok(r) => r,
                        Err(e) => return fail(e),
                    };
                    f
                }
                Err(e) => return fail(e),
            },
        };
        let ctx = SourceCtx {
            path: &source.display,
            allow_periodic: options.allow_periodic,
            allow_shell: options.allow_shell,
            hash,
        };
        match format {
            Format::Document => {
                let mut bytes = Vec::new();
                if let Err(e) = (&mut reader).take(MAX_DOCUMENT + 1).read_to_end(&mut bytes) {
                    return fail(e);
                }
                let mut events = Vec::new();
                if bytes.len() as u64 > MAX_DOCUMENT {
                    events.push(Event::Error(SpecError::file(
                        source.display.to_path_buf(),
                        "file is larger than 256 MiB; use JSON Lines (.jsonl), which is read \
                         as a stream",
                    )));
                } else {
                    parse_document(&ctx, &bytes, &mut events);
                }
                SourceEvents::Buffered(events.into_iter())
            }
            Format::Lines => SourceEvents::Lines {
                path: Arc::clone(&source.display),
                allow_periodic: options.allow_periodic,
                allow_shell: options.allow_shell,
                hash,
                lines: LineReader::new(reader),
                line_no: 0,
                pending: Default::default(),
                scratch: Vec::new(),
                done: false,
            },
        }
    }
}

/// The input up to the end of the first line that is not blank (at most [`MAX_LINE`] bytes).
fn first_line(reader: &mut dyn BufRead) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = reader.take((MAX_LINE - out.len().min(MAX_LINE)) as u64).read_until(b'\n', &mut out)?;
        if n == 0 || out.len() >= MAX_LINE || !out[start..].iter().all(u8::is_ascii_whitespace) {
            return Ok(out);
        }
    }
}

/// One line, as [`LineReader::next_line`] gives it.
enum LineRead<'a> {
    /// The line, without its `\n`.
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE`], skipped.
    TooLong,
    End,
}

/// Reads lines, refusing to hold more than [`MAX_LINE`] bytes of one (the rest of a longer
/// line is skipped).
///
/// A line that lies whole in the reader's buffer — nearly every line — is lent from there,
/// not copied: one copy a line fewer, and the UTF-8 check's reads of a just-copied line no
/// longer wait on the copy's stores (that check held ~19% of the check pass's samples;
/// measured, `validate` of 200k lines went 34.5 → 33.3 ms). Only a line that straddles two
/// buffer fills is gathered in a buffer of its own.
struct LineReader<R> {
    reader: R,
    /// A line that straddles buffer fills, or is too long.
    gathered: Vec<u8>,
    /// Bytes of the reader's buffer lent out by the last call, consumed at the next.
    lent: usize,
}

impl<R: BufRead> LineReader<R> {
    fn new(reader: R) -> Self {
        LineReader { reader, gathered: Vec::new(), lent: 0 }
    }

    fn next_line(&mut self) -> io::Result<LineRead<'_>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        let whole = loop {
            match self.reader.fill_buf() {
                Ok(chunk) => break memchr::memchr(b'\n', chunk).filter(|&i| i <= MAX_LINE),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if let Some(i) = whole {
            // The buffer is not empty: this reads nothing (returning the first call's slice
            // does not borrow-check).
            let chunk = self.reader.fill_buf()?;
            self.lent = i + 1;
            return Ok(LineRead::Line(&chunk[..i]));
        }
        self.gather()
    }

    /// The slow path: a line that straddles buffer fills (or does not end in a `\n`).
    fn gather(&mut self) -> io::Result<LineRead<'_>> {
        let buf = &mut self.gathered;
        buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(match (any, too_long) {
                    (false, _) => LineRead::End,
                    (true, true) => LineRead::TooLong,
                    (true, false) => LineRead::Line(buf),
                });
            }
            any = true;
            let (take, found) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if buf.len() + take > MAX_LINE {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(if found { take + 1 } else { take });
            if found {
                return Ok(if too_long { LineRead::TooLong } else { LineRead::Line(buf) });
            }
        }
    }
}

impl Iterator for SourceEvents {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        match self {
            SourceEvents::Buffered(events) => events.next(),
            SourceEvents::Lines {
                path,
                allow_periodic,
                allow_shell,
                hash,
                lines,
                line_no,
                pending,
                scratch,
                done,
            } => loop {
                if let Some(event) = pending.pop_front() {
                    return Some(event);
                }
                if *done {
                    return None;
                }
                let read = lines.next_line();
                *line_no += 1;
                match read {
                    Ok(LineRead::End) => {
                        *done = true;
                    }
                    Ok(LineRead::TooLong) => pending.push_back(Event::Error(SpecError {
                        path: path.to_path_buf(),
                        line: *line_no,
                        column: 1,
                        field: None,
                        message: "line is longer than 16 MiB".to_owned(),
                    })),
                    Ok(LineRead::Line(line)) => {
                        let ctx = SourceCtx {
                            path,
                            allow_periodic: *allow_periodic,
                            allow_shell: *allow_shell,
                            hash: *hash,
                        };
                        parse_line(&ctx, line, *line_no, scratch);
                        // `pending` is empty here: the usual line's one event skips the queue.
                        if scratch.len() == 1 {
                            return scratch.pop();
                        }
                        pending.extend(scratch.drain(..));
                    }
                    Err(e) => {
                        *done = true;
                        pending.push_back(Event::Error(SpecError {
                            path: path.to_path_buf(),
                            line: *line_no,
                            column: 1,
                            field: None,
                            message: io_message(&e),
                        }));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_stem_hash_and_counter() {
        let text = "{\"kind\": \"noop\"}\n{\"kind\": \"cpu\", \"rounds\": 1}\n{\"kind\": \"noop\"}\n";
        let batch = parse_str("dir/batch.jsonl", text, &ParseOptions::default()).unwrap();
        let ids: Vec<&str> = batch.jobs.iter().map(|j| &*j.id).collect();
        let noop = format!("batch-{}", &batch.jobs[0].spec_hash[..12]);
        let cpu = format!("batch-{}", &batch.jobs[1].spec_hash[..12]);
        assert_eq!(ids, [noop.clone(), cpu, format!("{noop}-2")]);
        assert!(batch.jobs.iter().all(|j| j.id_generated));
    }

    #[test]
    fn generated_ids_survive_reordering() {
        let a = parse_str(
            "f.jsonl",
            "{\"kind\": \"noop\"}\n{\"kind\": \"sleep\", \"duration\": \"1s\"}\n",
            &ParseOptions::default(),
        )
        .unwrap();
        let b = parse_str(
            "f.jsonl",
            "{\"duration\": \"1s\", \"kind\": \"sleep\"}\n{\"kind\": \"noop\"}\n",
            &ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(a.jobs[0].id, b.jobs[1].id);
        assert_eq!(a.jobs[1].id, b.jobs[0].id);
    }

    #[test]
    fn pass_two_gives_pass_one_ids() {
        let text = "{\"kind\": \"noop\"}\n{\"kind\": \"noop\"}\n{\"id\": \"x\", \"kind\": \"noop\"}\n{\"kind\": \"noop\"}\n";
        let in_memory = parse_str("s.jsonl", text, &ParseOptions::default()).unwrap();
        let validated = Loader::new(ParseOptions::default())
            .path("-")
            .stdin(io::Cursor::new(text.as_bytes().to_vec()))
            .validate()
            .unwrap();
        let streamed: Vec<String> = validated.jobs().map(|j| j.unwrap().id.to_string()).collect();
        let stdin_ids: Vec<String> =
            in_memory.jobs.iter().map(|j| j.id.replacen("s-", "stdin-", 1)).collect();
        assert_eq!(streamed, stdin_ids);
        assert!(streamed[3].ends_with("-3"), "{streamed:?}");
    }

    #[test]
    fn reads_long_lines_in_pieces_and_refuses_huge_ones() {
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\nok\nlast");
        let mut lines = LineReader::new(BufReader::with_capacity(1000, &data[..]));
        assert!(matches!(lines.next_line().unwrap(), LineRead::TooLong));
        assert!(matches!(lines.next_line().unwrap(), LineRead::Line(b"ok")));
        assert!(matches!(lines.next_line().unwrap(), LineRead::Line(b"last")));
        assert!(matches!(lines.next_line().unwrap(), LineRead::End));
        assert!(matches!(lines.next_line().unwrap(), LineRead::End));

        // Lines lent from the buffer and lines gathered across its fills read the same.
        let data = b"abcdef\nxy\n\nlonger line\nz";
        for capacity in [1, 4, 7, 64] {
            let mut lines = LineReader::new(BufReader::with_capacity(capacity, &data[..]));
            let mut seen = Vec::new();
            while let LineRead::Line(line) = lines.next_line().unwrap() {
                seen.push(String::from_utf8(line.to_vec()).unwrap());
            }
            assert_eq!(seen, ["abcdef", "xy", "", "longer line", "z"], "buffer of {capacity}");
        }
    }

    /// A JSON Lines file big enough to be checked on two threads: `n` no-op jobs `j-0`…
    fn big_file(n: usize, extra: &[(usize, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut text = String::new();
        for i in 0..n {
            match extra.iter().find(|(at, _)| *at == i) {
                Some((_, line)) => text.push_str(line),
                None => text.push_str(&format!("{{\"id\": \"j-{i}\", \"kind\": \"noop\"}}")),
            }
            text.push('\n');
        }
        assert!(text.len() as u64 > 1 << 20, "too small to be split");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_clean_big_file_checks_in_two_halves_like_one() {
        let (_dir, path) = big_file(40_000, &[]);
        let mut ids = HashMap::default();
        let split = split::check(&Source::file(path.clone()), 0, &ParseOptions::default(), &mut ids, true);
        assert_eq!(split, Some((40_000, 0)), "the two-thread check must take a clean big file");
        assert_eq!(ids.get(&id_key("j-39999")).map(|e| e.line), Some(40_000));
        // The last source's ids are not kept: nothing after it needs them.
        let mut last = HashMap::default();
        let split = split::check(&Source::file(path.clone()), 0, &ParseOptions::default(), &mut last, false);
        assert_eq!((split, last.len()), (Some((40_000, 0)), 0));
        // A big file before another one: an id of the second file that the big file has too
        // is found in the merged table, with the big file's line (in its second half).
        let dir = path.parent().unwrap();
        let other = dir.join("other.jsonl");
        std::fs::write(
            &other,
            "{\"id\": \"x\", \"kind\": \"noop\"}\n{\"id\": \"j-39000\", \"kind\": \"noop\"}\n",
        )
        .unwrap();
        let errors = Loader::new(ParseOptions::default()).path(&path).path(&other).validate().unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("big.jsonl:39001:"), "{}", errors[0].message);
        let v = Loader::new(ParseOptions::default()).path(&path).validate().unwrap();
        assert_eq!(v.job_count(), 40_000);
        let ids: Vec<String> = v.jobs().map(|j| j.unwrap().id.to_string()).collect();
        assert_eq!(ids.len(), 40_000);
        assert_eq!(ids[39_999], "j-39999");
    }

    #[test]
    fn core_jobs_are_counted_on_every_path_of_the_check() {
        // In each half of a big file, with explicit and generated ids, and in a JSON file.
        let exec = "{\"id\": \"x-1\", \"kind\": \"exec\", \"program\": \"true\"}";
        let shell = "{\"id\": \"x-2\", \"kind\": \"shell\", \"script\": \"true\"}";
        let sleep = "{\"id\": \"x-3\", \"kind\": \"sleep\", \"duration\": \"1s\"}";
        let (dir, path) = big_file(40_000, &[(3, exec), (39_000, shell), (39_001, sleep)]);
        let options = ParseOptions { allow_shell: true, ..ParseOptions::default() };
        let split = split::check(&Source::file(path.clone()), 0, &options, &mut HashMap::default(), false);
        assert_eq!(split, Some((40_000, 2)));
        let json = dir.path().join("more.json");
        std::fs::write(
            &json,
            r#"[{"kind": "exec", "program": "true"}, {"kind": "noop"}, {"kind": "shell", "script": ":"}]"#,
        )
        .unwrap();
        let v = Loader::new(options).path(&path).path(&json).validate().unwrap();
        assert_eq!((v.job_count(), v.core_job_count()), (40_003, 4));
    }

    #[test]
    fn problems_across_the_halves_are_found_and_worded_as_on_one_thread() {
        // A duplicate whose first occurrence is in the first half and the second in the
        // second: only the whole-file check sees both.
        let dup = "{\"id\": \"j-5\", \"kind\": \"noop\"}";
        let (_dir, path) = big_file(40_000, &[(39_000, dup)]);
        let split = split::check(
            &Source::file(path.clone()),
            0,
            &ParseOptions::default(),
            &mut HashMap::default(),
            false,
        );
        assert_eq!(split, None, "a duplicate across the halves must send the file to one thread");
        // And one within a half (the only file's halves keep a word of each id, not its line).
        let (_dir, near) = big_file(40_000, &[(20, dup)]);
        let options = ParseOptions::default();
        assert_eq!(split::check(&Source::file(near), 0, &options, &mut HashMap::default(), false), None);
        let errors = Loader::new(ParseOptions::default()).path(&path).validate().unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let p = path.display();
        assert_eq!(shown, [format!("{p}:39001:8: id: duplicate id `j-5` (first defined at {p}:6:8)")]);

        // An error in the second half keeps its whole-file line number.
        let (_dir, path) = big_file(40_000, &[(30_000, "{\"kind\": \"nop\"}")]);
        let errors = Loader::new(ParseOptions::default()).path(&path).validate().unwrap_err();
        assert_eq!(errors[0].line, 30_001);

        // Generated ids are numbered in file order: checked on one thread.
        let same = "{\"kind\": \"noop\"}";
        let (_dir, path) = big_file(40_000, &[(10, same), (39_000, same)]);
        let v = Loader::new(ParseOptions::default()).path(&path).validate().unwrap();
        let generated: Vec<String> =
            v.jobs().map(|j| j.unwrap()).filter(|j| j.id_generated).map(|j| j.id.to_string()).collect();
        assert_eq!(generated.len(), 2);
        assert_eq!(generated[1], format!("{}-2", generated[0]));
    }

    #[test]
    fn id_keys_differ() {
        assert_ne!(id_key("a"), id_key("b"));
        assert_eq!(id_key("a"), id_key("a"));
        // The two halves are independent hashes, not one hash twice.
        let k = id_key("a");
        assert_ne!(k.0, k.1);
        assert_eq!(id_word("a"), k.0, "the check's one-word key is the fingerprint's first word");
        // Every thread gets the same fingerprint (the check pass runs on two).
        let other = std::thread::spawn(|| id_key("j-7")).join().unwrap();
        assert_eq!(other, id_key("j-7"));
    }
}
