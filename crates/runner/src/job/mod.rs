//! A validated spec becomes a pool job: its tag ([`Meta`], which also makes its ledger
//! records), the retry defaults ([`DEFAULT_RETRY_INITIAL`], [`DEFAULT_RETRY_MAX`]), its kind
//! label ([`DEFAULT_KIND`]), its body ([`pool_job`], [`Shared`]), the count of attempts
//! running ([`Running`]) and the [`stopper`] that ends a pool on a stop request. `run`,
//! `serve` and the queue worker share these; none of them owns them.

mod meta;
mod pool_job;
mod stop;

pub(crate) use meta::{Done, Meta};
pub(crate) use pool_job::{
    CANCEL_GRACE, DEFAULT_KIND, DEFAULT_RETRY_INITIAL, DEFAULT_RETRY_MAX, Shared, pool_job, retry_policy,
};
pub(crate) use stop::{Running, stopper};
