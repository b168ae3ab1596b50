//! `JobSet` at scale: a 100k-job `join_all` completes with every result in submit order, and
//! a set's memory is bounded per job (and all of it comes back). A counting global allocator
//! measures the bytes live; the tests take turns so that they do not count each other's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Duration;

use conveyor_pool::{Job, JobSet, Pool};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator, that is, from `System`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time: the counter is global.
static TURN: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.load(Relaxed)
}

const JOBS: usize = 100_000;

/// Runs `test` on a fresh current-thread runtime, while no other test of this file runs.
fn in_turn<F: std::future::Future<Output = ()>>(test: F) {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test);
}

#[test]
fn join_all_of_100k_jobs_returns_every_result_in_submit_order() {
    in_turn(join_all_of_100k());
}

async fn join_all_of_100k() {
    let pool = Pool::builder().workers(2).build();
    let started = std::time::Instant::now();
    let mut set = JobSet::new(&pool);
    for i in 0..JOBS {
        set.submit(Job::new(move |_| async move { Ok::<_, std::io::Error>(i) })).await.unwrap();
    }
    let results = set.join_all().await;
    let took = started.elapsed();
    assert_eq!(results.len(), JOBS);
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), i);
    }
    println!("100k-job join_all with 2 workers: {took:?}");
}

#[test]
fn a_set_costs_a_bounded_amount_per_job_and_gives_it_all_back() {
    in_turn(memory_per_job());
}

async fn memory_per_job() {
    let before_pool = live();
    let pool = Pool::builder().workers(2).capacity(JOBS).build();
    pool.pause(); // every job stays pending: the set holds all of them at once
    tokio::task::yield_now().await;
    let before = live();
    let mut set = JobSet::new(&pool);
    for i in 0..JOBS {
        set.submit(Job::new(move |_| async move { Ok::<_, std::io::Error>(i) })).await.unwrap();
    }
    let per_job = (live() - before) / JOBS as isize;
    println!("{JOBS} pending jobs in a set: {per_job} bytes each (job cell, queue entry, set entry)");
    assert!(per_job < 1024, "{per_job} bytes per pending job");

    pool.resume();
    let results = set.join_all().await;
    assert_eq!(results.len(), JOBS);
    assert!(results.iter().enumerate().all(|(i, r)| matches!(r, Ok(v) if *v == i)));
    drop(results);
    pool.shutdown(Duration::from_secs(1)).await;
    drop(pool);
    tokio::task::yield_now().await;
    let left = live() - before_pool;
    println!("left after the pool is gone: {left} bytes");
    assert!(left < 64 * 1024, "{left} bytes still live: about {} per job", left / JOBS as isize);
}
