//! Input already in memory (an HTTP request body): both passes at once.

use std::path::Path;
use std::sync::Arc;

use super::super::file::{Format, Limits};
use super::super::{JobSpec, SpecError};
use super::ParseOptions;
use super::check::check;
use super::source::{Data, Source, stem};

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
}
