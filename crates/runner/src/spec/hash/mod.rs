//! `spec_hash`: a stable fingerprint of a job's normalised spec, for the ledger and
//! `--resume`.
//!
//! [`canonical`] writes the canonical JSON: the common fields itself, each kind's parameters
//! through that kind's `canonical` hook (`kind/*.rs`), as [`Params`].

mod canonical;

use sha2::{Digest, Sha256};

use canonical::write_canonical_job;
pub(crate) use canonical::{Param, Params};

use super::job::JobSpec;

/// The SHA-256 (64 lowercase hex digits) of a job's canonical JSON.
///
/// Equal for equal jobs however they are written, and different as soon as anything the job
/// does changes, so `--resume` reruns an edited job and nothing else.
///
/// **What it covers** — the job as resolved, after the file's `defaults` are applied: the `id`
/// when the file gives one (generated ids are made *from* the hash, so they are left out), the
/// `name`, the `kind` and all its parameters (defaults such as `method: "GET"` or empty `args`
/// filled in; header names lower-cased), `priority` (0 when absent), `timeout`, each set part
/// of `retry`, `delay` or `not_before`, `concurrency_key`, `rate_key` (only when set, so jobs
/// without one keep their earlier hashes), `every` or `cron`, and a version number of the
/// canonical form.
///
/// **What it ignores** — key order, whitespace, the order of jobs and files, how a value is
/// spelt (`"90s"` and `"1m30s"`; `"+02:00"` and `"Z"` for the same instant), the file's
/// name and the job's position, the file's `limits` (how fast jobs may run, not what they do)
/// and the runner's flags (`--timeout` and `--max-attempts` apply to jobs that set none, and
/// do not change their hash).
///
/// **Canonical form** — a JSON object without whitespace, keys sorted by their UTF-8 bytes at
/// every level, absent optional fields left out, durations in [`format_duration`](crate::spec::format_duration)'s form,
/// instants as RFC 3339 UTC (`2025-06-01T12:00:00Z`, fraction only when non-zero). It is what
/// [`JobSpec::canonical_json`] returns, so the hash can be checked with `sha256sum`.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, spec_hash, ParseOptions};
///
/// let opts = ParseOptions::default();
/// let a = parse_str("a.jsonl", r#"{"kind": "sleep", "duration": "90s", "priority": 0}"#, &opts)
///     .unwrap();
/// let b = parse_str("b.jsonl", r#"{"duration": "1m30s", "kind": "sleep"}"#, &opts).unwrap();
/// assert_eq!(a.jobs[0].spec_hash, b.jobs[0].spec_hash);
/// assert_eq!(spec_hash(&a.jobs[0]), a.jobs[0].spec_hash);
///
/// let c = parse_str("c.jsonl", r#"{"kind": "sleep", "duration": "91s"}"#, &opts).unwrap();
/// assert_ne!(a.jobs[0].spec_hash, c.jobs[0].spec_hash);
/// ```
pub fn spec_hash(job: &JobSpec) -> SpecHash {
    CANONICAL.with(|buf| {
        // A job's canonical form is built in this thread's buffer, reused from job to job:
        // the hash is on every job's path, and costs no allocation at all.
        let mut buf = buf.borrow_mut();
        buf.clear();
        write_canonical_job(job, !job.id_generated, &mut buf);
        let digest = Sha256::digest(buf.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest.iter()) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
        SpecHash(hex)
    })
}

/// A [`spec_hash`]: 64 lowercase hex digits, kept inline (no allocation, nothing for
/// another thread to free), read as a `str`. The default, for a spec not hashed yet, reads
/// as the empty string.
///
/// # Examples
///
/// ```
/// use conveyor::spec::{parse_str, ParseOptions, SpecHash};
///
/// let batch = parse_str("a.jsonl", r#"{"kind": "noop", "id": "n"}"#, &ParseOptions::default())
///     .unwrap();
/// let hash: &SpecHash = &batch.jobs[0].spec_hash;
/// assert_eq!(hash.len(), 64);
/// assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
/// assert_eq!(hash.to_string(), hash.as_str());
/// assert_eq!(SpecHash::default().as_str(), "");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SpecHash([u8; 64]);

impl SpecHash {
    /// The hex digits (empty when not hashed yet).
    pub fn as_str(&self) -> &str {
        if self.0[0] == 0 {
            return "";
        }
        // ASCII hex by construction (`spec_hash` is the only writer).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for SpecHash {
    fn default() -> SpecHash {
        SpecHash([0; 64])
    }
}

impl std::ops::Deref for SpecHash {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for SpecHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for SpecHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

thread_local! {
    static CANONICAL: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(256));
}

/// The canonical JSON of `job` (see [`spec_hash`]); the id only when `with_id`.
pub(crate) fn canonical_json(job: &JobSpec, with_id: bool) -> String {
    let mut out = String::with_capacity(128);
    write_canonical_job(job, with_id, &mut out);
    out
}

#[cfg(test)]
mod tests;
