//! How job files are parsed: [`ParseOptions`].

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
