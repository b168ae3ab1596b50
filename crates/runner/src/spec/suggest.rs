//! "Did you mean …?" for misspelt field names, kinds and values.

/// The candidate closest to `input`, if one is close enough to be a likely typo.
///
/// Close enough means: equal ignoring case, or an optimal-string-alignment distance (edits,
/// counting a swap of neighbours as one) of at most a third of the candidate's length (at
/// least 1), or a Jaro-Winkler similarity of at least 0.9, or a plural of it (`retries` → `retry`).
/// Ties go to the more similar candidate by Jaro-Winkler, then to the earlier one.
pub(crate) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = input.to_lowercase();
    let mut best: Option<(&'c str, usize, f64)> = None;
    for candidate in candidates {
        if candidate.to_lowercase() == lower || is_plural_of(&lower, candidate) {
            return Some(candidate);
        }
        let distance = strsim::osa_distance(&lower, candidate);
        let similarity = strsim::jaro_winkler(&lower, candidate);
        let threshold = (candidate.chars().count() / 3).max(1);
        if distance > threshold && similarity < 0.9 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, d, s)) => distance < d || (distance == d && similarity > s),
        };
        if better {
            best = Some((candidate, distance, similarity));
        }
    }
    best.map(|(c, _, _)| c)
}

/// `retries` for `retry`, `headers` for `header`.
fn is_plural_of(input: &str, candidate: &str) -> bool {
    input.strip_suffix('s') == Some(candidate)
        || input.strip_suffix("es") == Some(candidate)
        || (input.strip_suffix("ies").is_some_and(|stem| candidate.strip_suffix('y') == Some(stem)))
}

/// `` `a`, `b` or `c` ``: a list of names for messages.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &[
        "id",
        "name",
        "kind",
        "priority",
        "timeout",
        "retry",
        "delay",
        "not_before",
        "concurrency_key",
        "every",
        "cron",
        "duration",
    ];

    #[test]
    fn suggests_close_names() {
        let cases = [
            ("timout", "timeout"),
            ("Timeout", "timeout"),
            ("priorty", "priority"),
            ("prioirty", "priority"),
            ("concurency_key", "concurrency_key"),
            ("notbefore", "not_before"),
            ("not-before", "not_before"),
            ("retries", "retry"),
            ("durration", "duration"),
            ("knd", "kind"),
            ("ID", "id"),
        ];
        for (typo, want) in cases {
            assert_eq!(did_you_mean(typo, FIELDS.iter().copied()), Some(want), "{typo}");
        }
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        for input in ["colour", "program", "x", "max_attempts", "foo", ""] {
            assert_eq!(did_you_mean(input, FIELDS.iter().copied()), None, "{input}");
        }
    }

    #[test]
    fn lists_names() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
