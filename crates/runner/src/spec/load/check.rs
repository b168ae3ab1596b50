//! Pass 1: the check of every source, with its id table and error cap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::error::location;
use super::super::file::{Event, JobPath, LimitValue, Limits, Pos};
use super::super::{JobSpec, SpecError};
use super::ParseOptions;
use super::ids::{IdEntry, IdHasher, IdKey, generated_base, id_key, numbered};
use super::lines::SourceEvents;
use super::source::Source;
use super::split;

/// What pass 1 found.
pub(super) struct Checked {
    pub(super) sources: Vec<Source>,
    pub(super) job_count: u64,
    pub(super) core_jobs: u64,
    pub(super) limits: Limits,
    pub(super) repeated: HashSet<IdKey, IdHasher>,
}

/// Pass 1 over `sources`; `on_job` sees every valid job with its final id (and, when `hash`,
/// its `spec_hash`; without, only jobs with a generated id have one).
pub(super) fn check(
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
