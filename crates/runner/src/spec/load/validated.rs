//! Pass 2: a [`Validated`] set and the iterators over its jobs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::super::file::{Event, Limits};
use super::super::{JobSpec, SpecError};
use super::ParseOptions;
use super::ids::{IdHasher, IdKey, generated_base, id_key, numbered};
use super::lines::SourceEvents;
use super::source::Source;

/// Job files that passed [`Loader::validate`](super::Loader::validate): ready for pass 2.
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
    pub(super) sources: Vec<Source>,
    pub(super) options: ParseOptions,
    pub(super) job_count: u64,
    pub(super) core_jobs: u64,
    pub(super) limits: Limits,
    /// Generated base ids that more than one job has: only these need counting in pass 2.
    pub(super) repeated: HashSet<IdKey, IdHasher>,
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
    /// [`JobKind::uses_a_core`](crate::spec::JobKind::uses_a_core)).
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

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::spec::{Loader, parse_str};

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
}
