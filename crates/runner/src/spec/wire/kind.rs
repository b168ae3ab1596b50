//! [`job_wire!`](crate::spec::wire::job_wire): one kind's job struct, as written.
//!
//! serde cannot combine `#[serde(flatten)]` with `deny_unknown_fields`, and a job is one flat
//! object (common fields + its kind's parameters) in which unknown fields are errors. So each
//! kind's file (`kind/*.rs`) writes its struct with this macro, which repeats the common
//! fields before the kind's parameters; the kind table (`kind/mod.rs`) gathers the structs
//! into the `kind`-tagged enum the schema is derived from, and into the parser's dispatch.

/// Writes a kind's flat wire struct: the common fields, then the kind's parameters (with
/// their docs, which are the schema's descriptions, and serde attributes), plus
///
/// - `Wire`, an alias the kind table names it by;
/// - `Wire::FIELDS`, the parameter names (for "missing field … required by kind" and "did
///   you mean");
/// - `Wire::split`, which gives the common fields and the [`JobKind`](crate::spec::JobKind)
///   that `=> expr` builds from the parameters (each bound by its name);
/// - `Wire::sets_delay_and_not_before`, for the check pass.
macro_rules! job_wire {
    (
        $(#[$kind_doc:meta])*
        $Wire:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        } => $to_kind:expr
    ) => {
        $(#[$kind_doc])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $Wire {
            /// Unique across everything loaded together; generated when absent.
            pub(crate) id: Option<$crate::spec::wire::JobId>,
            /// A name for people (logs, ledger).
            pub(crate) name: Option<String>,
            /// Lower runs first; negative allowed. Default 0.
            pub(crate) priority: Option<$crate::spec::wire::Priority>,
            /// Time limit for each attempt, e.g. "30s".
            pub(crate) timeout: Option<$crate::spec::wire::PositiveDur>,
            /// Retry settings.
            pub(crate) retry: Option<$crate::spec::wire::RetryWire>,
            /// Wait this long after loading before the first attempt (not with `not_before`).
            pub(crate) delay: Option<$crate::spec::wire::Dur>,
            /// Do not start before this instant, RFC 3339 (not with `delay`).
            pub(crate) not_before: Option<$crate::spec::wire::Timestamp>,
            /// Jobs with the same key obey that key's `limits`; no limit when none is set.
            pub(crate) concurrency_key: Option<$crate::spec::wire::NonEmpty>,
            /// The key whose `limits.rate` applies to the job; without it, the
            /// `concurrency_key` carries both limits.
            pub(crate) rate_key: Option<$crate::spec::wire::NonEmpty>,
            /// `conveyor serve` only: run every period (not with `cron`).
            pub(crate) every: Option<$crate::spec::wire::PositiveDur>,
            /// `conveyor serve` only: run on a cron expression (not with `every`).
            pub(crate) cron: Option<$crate::spec::wire::CronExpr>,
            $( $(#[$field_meta])* pub(crate) $field: $ty, )*
        }

        /// This kind's wire struct, by the name the kind table uses.
        pub(crate) type Wire = $Wire;

        impl $Wire {
            /// The kind's parameter names, in the order written.
            pub(crate) const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Splits the job into its common fields and its kind.
            pub(crate) fn split(self) -> ($crate::spec::wire::CommonWire, $crate::spec::JobKind) {
                let common = $crate::spec::wire::CommonWire {
                    id: self.id,
                    name: self.name,
                    priority: self.priority,
                    timeout: self.timeout,
                    retry: self.retry,
                    delay: self.delay,
                    not_before: self.not_before,
                    concurrency_key: self.concurrency_key,
                    rate_key: self.rate_key,
                    every: self.every,
                    cron: self.cron,
                };
                $( let $field = self.$field; )*
                (common, $to_kind)
            }

            /// Whether the job sets both `delay` and `not_before` (an error the full parser
            /// words; the check pass only needs to know).
            pub(crate) fn sets_delay_and_not_before(&self) -> bool {
                self.delay.is_some() && self.not_before.is_some()
            }
        }
    };
}

pub(crate) use job_wire;
