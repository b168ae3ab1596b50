//! The list API's query, `GET /jobs?status=…&q=…&limit=…&after=…` (plus a console's own
//! filters, such as the queue console's `queue`), checked the same way by every console.
//!
//! | parameter | meaning |
//! |---|---|
//! | `status` | keep jobs with one of these status words (comma-separated; each console lists its own) |
//! | `q` | keep jobs whose id contains this text (ASCII case ignored; at most 256 bytes) |
//! | `limit` | jobs per page, 1 to [`MAX_LIMIT`] (larger values are cut to it); default [`DEFAULT_LIMIT`] |
//! | `after` | the `next` of the previous page: the page goes on from there |
//!
//! A cursor is opaque text naming the last job's sequence number (`c` and hex): pages are
//! keyset pages, newest first, so paging on never repeats nor skips a job however many
//! arrive meanwhile. An unknown parameter, a repeated one or a bad value is an error saying
//! which.

/// The page size when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest page: a larger `limit` is cut to this.
pub(crate) const MAX_LIMIT: usize = 500;
/// The longest `q` (and the longest value of a console's own filter).
const MAX_SEARCH: usize = 256;

/// A checked `GET /jobs` query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    /// The status words to keep (all when empty).
    pub(crate) statuses: Vec<&'static str>,
    /// The id search, lower-cased.
    pub(crate) q: Option<String>,
    /// Jobs per page.
    pub(crate) limit: usize,
    /// Where the page starts (exclusive), from `after`.
    pub(crate) before: Option<u64>,
    /// The console's own filters that were given (name, non-empty value).
    pub(crate) filters: Vec<(&'static str, String)>,
}

/// The cursor of the job numbered `seq`.
pub(crate) fn cursor(seq: u64) -> String {
    format!("c{seq:x}")
}

pub(crate) fn parse_cursor(text: &str) -> Option<u64> {
    let hex = text.strip_prefix('c')?;
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

impl ListQuery {
    /// Checks a query string (`None`: no `?`) against a console's status words and its own
    /// filter parameters.
    ///
    /// # Errors
    ///
    /// A message for people, naming the parameter.
    pub(crate) fn parse(
        query: Option<&str>,
        statuses: &'static [&'static str],
        filters: &'static [&'static str],
    ) -> Result<ListQuery, String> {
        let mut out = ListQuery { limit: DEFAULT_LIMIT, ..ListQuery::default() };
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if seen.iter().any(|k| *k == key) {
                return Err(format!("`{key}` given twice"));
            }
            seen.push(key.to_string());
            match &*key {
                "status" => {
                    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        let Some(known) = statuses.iter().find(|s| **s == word) else {
                            return Err(format!(
                                "unknown status `{word}`; expected one of {}",
                                statuses.join(", ")
                            ));
                        };
                        if !out.statuses.contains(known) {
                            out.statuses.push(known);
                        }
                    }
                }
                "q" => {
                    if value.len() > MAX_SEARCH {
                        return Err(format!("`q` is too long (at most {MAX_SEARCH} bytes)"));
                    }
                    if !value.is_empty() {
                        out.q = Some(value.to_ascii_lowercase());
                    }
                }
                "limit" => match value.parse::<usize>() {
                    Ok(0) | Err(_) => {
                        return Err(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}, not `{value}`"
                        ));
                    }
                    Ok(n) => out.limit = n.min(MAX_LIMIT),
                },
                "after" => match parse_cursor(&value) {
                    Some(seq) => out.before = Some(seq),
                    None => return Err(format!("`after` is not a cursor from a `next`: `{value}`")),
                },
                other => {
                    let Some(name) = filters.iter().find(|f| **f == other) else {
                        let expected: Vec<&str> = ["status", "q", "limit", "after"]
                            .into_iter()
                            .chain(filters.iter().copied())
                            .collect();
                        let (last, rest) = expected.split_last().unwrap_or((&"after", &[]));
                        return Err(format!(
                            "unknown parameter `{other}`; expected {} or {last}",
                            rest.join(", ")
                        ));
                    };
                    if value.len() > MAX_SEARCH {
                        return Err(format!("`{name}` is too long (at most {MAX_SEARCH} bytes)"));
                    }
                    if !value.is_empty() {
                        out.filters.push((name, value.into_owned()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The value of the console's own filter `name`, if given.
    pub(crate) fn filter(&self, name: &str) -> Option<&str> {
        self.filters.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: &[&str] = &["queued", "running"];

    #[test]
    fn a_console_s_own_filters_are_taken_and_named_in_errors() {
        let query = ListQuery::parse(Some("queue=mail&status=queued"), WORDS, &["queue"]).unwrap();
        assert_eq!(query.filter("queue"), Some("mail"));
        assert_eq!(query.statuses, ["queued"]);
        assert_eq!(ListQuery::parse(Some("queue="), WORDS, &["queue"]).unwrap().filter("queue"), None);
        assert_eq!(
            ListQuery::parse(Some("queue=a"), WORDS, &[]).unwrap_err(),
            "unknown parameter `queue`; expected status, q, limit or after"
        );
        assert_eq!(
            ListQuery::parse(Some("kind=a"), WORDS, &["queue"]).unwrap_err(),
            "unknown parameter `kind`; expected status, q, limit, after or queue"
        );
        assert_eq!(
            ListQuery::parse(Some("queue=a&queue=b"), WORDS, &["queue"]).unwrap_err(),
            "`queue` given twice"
        );
    }
}
