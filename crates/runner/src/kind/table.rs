//! The [`kinds!`] macro: everything that lists the kinds, written from the one table in
//! `kind/mod.rs`.
//!
//! A row names a kind's [`JobKind`](crate::spec::JobKind) variant and its fields, its name in
//! job files, and its module (`kind/NAME.rs`). The module provides, by these names:
//!
//! - `Wire`: its flat job struct, written with
//!   [`job_wire!`](crate::spec::wire::job_wire) (the parser, the fast path, the check pass
//!   and the schema read it; its doc comment is the schema's description of the kind);
//! - `USES_A_CORE` and `SPAWNS_PROCESS`: `bool`s (the default `--workers`, the ledger's
//!   `exit_code` and `output_tail`);
//! - `canonical(fields…, &mut Params)`: pushes the kind's parameters for
//!   [`spec_hash`](crate::spec::spec_hash) (each set one under its field name);
//! - `async fn run(Attempt, fields…)`: one attempt (the executor; a kind whose future holds
//!   much state boxes it, so that a `noop` future stays small).
//!
//! The fields are passed by reference, in the table's order.

/// The job (id, pool context, run-wide settings) an attempt runs for; every kind's `run`
/// takes it first.
#[derive(Clone, Copy)]
pub(super) struct Attempt<'a> {
    /// The job's id.
    pub(super) id: &'a str,
    /// The attempt's context (cancellation, attempt number).
    pub(super) ctx: &'a conveyor_pool::JobContext,
    /// What all jobs of the run share.
    pub(super) env: &'a super::KindEnv,
}

/// Writes, from the rows of the kind table: [`JobKind`](crate::spec::JobKind),
/// [`KindName`](crate::spec::KindName) with its lists and per-kind answers, the schema's
/// `Job` enum, the parser's dispatch on the kind, the hash's and the executor's.
macro_rules! kinds {
    ($(
        $(#[$doc:meta])*
        $Variant:ident = $name:literal in $module:ident
            $({ $( $(#[$field_doc:meta])* $field:ident : $ty:ty ),* $(,)? })?;
    )*) => {
        /// What a job does: its `kind` and that kind's parameters.
        ///
        /// # Examples
        ///
        /// ```
        /// use conveyor::spec::{parse_str, JobKind, ParseOptions};
        ///
        /// let batch = parse_str("k.jsonl", r#"{"kind": "http", "url": "http://127.0.0.1:8080/ok"}"#,
        ///                       &ParseOptions::default()).unwrap();
        /// let JobKind::Http { method, url, expect_status, .. } = &batch.jobs[0].kind else {
        ///     panic!("not http")
        /// };
        /// assert_eq!((method.as_str(), url.as_str(), *expect_status), ("GET", "http://127.0.0.1:8080/ok", None));
        /// assert_eq!(batch.jobs[0].kind.name(), "http");
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum JobKind {
            $(
                $(#[$doc])*
                $Variant $({ $( $(#[$field_doc])* $field: $ty ),* })?,
            )*
        }

        /// A kind's name: which kind a job is, without its parameters. The one list of the
        /// kinds, in the order the schema lists them.
        ///
        /// # Examples
        ///
        /// ```
        /// use conveyor::spec::KindName;
        ///
        /// assert_eq!(KindName::parse("sleep"), Some(KindName::Sleep));
        /// assert_eq!(KindName::Sleep.as_str(), "sleep");
        /// assert_eq!(KindName::Sleep.fields(), ["duration"]);
        /// assert!(KindName::ALL.iter().all(|k| KindName::parse(k.as_str()) == Some(*k)));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum KindName {
            $( $(#[$doc])* $Variant, )*
        }

        impl KindName {
            /// Every kind, in the table's order.
            pub const ALL: &'static [KindName] = &[$(KindName::$Variant),*];

            /// Every kind's name, as job files write it, in the table's order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The name job files write (`"sleep"`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( KindName::$Variant => $name, )*
                }
            }

            /// The kind named `name` exactly (names are lower case), if there is one.
            pub fn parse(name: &str) -> Option<KindName> {
                match name {
                    $( $name => Some(KindName::$Variant), )*
                    _ => None,
                }
            }

            /// The kind's parameter names (its fields besides the common ones).
            pub fn fields(self) -> &'static [&'static str] {
                match self {
                    $( KindName::$Variant => $module::Wire::FIELDS, )*
                }
            }

            /// Whether a job of this kind starts a process (`exec`, `shell`): its ledger
            /// line has `exit_code` and `output_tail`.
            pub const fn spawns_process(self) -> bool {
                match self {
                    $( KindName::$Variant => $module::SPAWNS_PROCESS, )*
                }
            }

            /// Whether a job of this kind keeps a core busy while it runs (a process, or
            /// `cpu`'s hashing): `conveyor run`'s default `--workers` follows it.
            pub const fn uses_a_core(self) -> bool {
                match self {
                    $( KindName::$Variant => $module::USES_A_CORE, )*
                }
            }
        }

        impl JobKind {
            /// Every kind's name, as job files write it (as [`KindName::NAMES`]).
            ///
            /// # Examples
            ///
            /// ```
            /// assert!(conveyor::spec::JobKind::NAMES.contains(&"sleep"));
            /// ```
            pub const NAMES: &'static [&'static str] = KindName::NAMES;

            /// Which kind this is.
            ///
            /// # Examples
            ///
            /// ```
            /// use conveyor::spec::{JobKind, KindName};
            ///
            /// assert_eq!(JobKind::Noop.kind_name(), KindName::Noop);
            /// ```
            pub const fn kind_name(&self) -> KindName {
                match self {
                    $( JobKind::$Variant { .. } => KindName::$Variant, )*
                }
            }
        }

        /// One job: its `kind` picks which parameters it takes; the common fields go with every
        /// kind. (Schema only: the parser dispatches on `kind` itself, so that errors keep their
        /// positions.)
        #[derive(schemars::JsonSchema)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        #[schemars(
            rename = "Job",
            description = "One job: `kind` picks which parameters it takes, besides the common \
                           fields every job may have."
        )]
        #[allow(dead_code)]
        pub(crate) enum JobWire {
            $( $Variant($module::Wire), )*
        }

        /// Deserializes a job of `kind` from any deserializer that hides the `kind` member
        /// (the JSON Lines fast path's).
        pub(crate) fn job_from_de<'de, D: serde::Deserializer<'de>>(
            kind: KindName,
            d: D,
        ) -> Result<($crate::spec::wire::CommonWire, JobKind), D::Error> {
            match kind {
                $( KindName::$Variant => <$module::Wire as serde::Deserialize<'de>>::deserialize(d)
                    .map($module::Wire::split), )*
            }
        }

        /// As [`job_from_de`], for the check pass, which keeps nothing of a valid job: builds
        /// no spec parts, only says whether the job sets both `delay` and `not_before` (an
        /// error the full parser words).
        pub(crate) fn job_check_de<'de, D: serde::Deserializer<'de>>(
            kind: KindName,
            d: D,
        ) -> Result<bool, D::Error> {
            match kind {
                $( KindName::$Variant => <$module::Wire as serde::Deserialize<'de>>::deserialize(d)
                    .map(|w| w.sets_delay_and_not_before()), )*
            }
        }

        /// Deserializes a job of `kind` from its node (without the `kind` member).
        pub(crate) fn job_from_node(
            kind: KindName,
            node: &$crate::spec::json::Node<'_>,
            path: &$crate::spec::de::PathCtx<'_>,
        ) -> Result<($crate::spec::wire::CommonWire, JobKind), $crate::spec::de::DeError> {
            match kind {
                $( KindName::$Variant =>
                    $crate::spec::de::from_node::<$module::Wire>(node, path, &["kind"])
                        .map($module::Wire::split), )*
            }
        }

        /// Pushes `kind`'s parameters for the canonical form (see `spec_hash`).
        pub(crate) fn canonical_params<'a>(kind: &'a JobKind, out: &mut $crate::spec::hash::Params<'a>) {
            match kind {
                $( JobKind::$Variant $({ $($field),* })? => $module::canonical($($($field,)*)? out), )*
            }
        }

        /// Runs one attempt of `spec` (see [`run`]).
        async fn run_kind(
            spec: &JobSpec,
            ctx: &conveyor_pool::JobContext,
            env: &KindEnv,
        ) -> Result<KindOutput, KindError> {
            match &spec.kind {
                $( JobKind::$Variant $({ $($field),* })? =>
                    $module::run(table::Attempt { id: &spec.id, ctx, env } $($(, $field)*)?).await, )*
            }
        }
    };
}

pub(super) use kinds;
