//! Periodic jobs (`Pool::schedule`): runs on the period, `stop` ends the schedule, the
//! overlap policy (skip or delay a tick that comes while the previous run is going), a first
//! run at once (`first_run_now`), the end
//! of a schedule with its pool, and cron expressions (parsing only: cron timing uses the wall
//! clock). Timing on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_pool::{Job, Overlap, Pool, Run, Schedule, Tick};
use tokio::time::{Instant, sleep};

type Io<T> = Result<T, std::io::Error>;

const SECOND: Duration = Duration::from_secs(1);

/// (tick number, start second, end second) of each run.
type Runs = Arc<Mutex<Vec<(u64, u64, Option<u64>)>>>;

/// A run lasting `secs`, recording its start and end relative to `t0`.
fn run(runs: Runs, t0: Instant, secs: u64, tick: Tick) -> Job<impl Run<()>> {
    Job::new(move |_| {
        let runs = runs.clone();
        async move {
            let index = {
                let mut runs = runs.lock().unwrap();
                runs.push((tick.number, t0.elapsed().as_secs(), None));
                runs.len() - 1
            };
            sleep(Duration::from_secs(secs)).await;
            runs.lock().unwrap()[index].2 = Some(t0.elapsed().as_secs());
            Io::Ok(())
        }
    })
}

/// The factory of [`run`]s for `Pool::schedule`.
macro_rules! recorder {
    ($runs:expr, $t0:expr, $secs:expr) => {{
        let (runs, t0, secs) = ($runs.clone(), $t0, $secs);
        move |tick: Tick| run(runs.clone(), t0, secs, tick)
    }};
}

fn starts(runs: &Runs) -> Vec<u64> {
    runs.lock().unwrap().iter().map(|r| r.1).collect()
}

#[tokio::test(start_paused = true)]
async fn every_runs_once_a_period_until_stopped() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(Duration::from_secs(60)), recorder!(runs, t0, 0));
    sleep(Duration::from_secs(59)).await;
    assert_eq!(schedule.runs(), 0, "the first run comes one period after scheduling");
    sleep(Duration::from_secs(122)).await;
    assert_eq!(starts(&runs), [60, 120, 180]);
    let numbers: Vec<u64> = runs.lock().unwrap().iter().map(|r| r.0).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(schedule.runs(), 3);

    schedule.stop().await;
    sleep(Duration::from_secs(600)).await;
    assert_eq!(starts(&runs), [60, 120, 180], "no run after stop");
    assert_eq!(schedule.runs(), 3);
    assert_eq!(schedule.skipped(), 0);
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_skips_the_ticks_that_come_while_a_run_is_going() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    // Runs of 25 s every 10 s: ticks at 20, 30, 50, 60 come while a run is going.
    let schedule =
        pool.schedule(Schedule::every(10 * SECOND).overlap(Overlap::Skip), recorder!(runs, t0, 25));
    sleep(Duration::from_secs(75)).await;
    schedule.stop().await;
    assert_eq!(*runs.lock().unwrap(), [(1, 10, Some(35)), (2, 40, Some(65)), (3, 70, None)]);
    assert_eq!(schedule.skipped(), 4);
    assert_eq!(schedule.runs(), 3);
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_is_the_default() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(10 * SECOND), recorder!(runs, t0, 25));
    sleep(Duration::from_secs(75)).await;
    schedule.stop().await;
    assert_eq!(starts(&runs), [10, 40, 70]);
    assert_eq!(schedule.skipped(), 4);
}

#[tokio::test(start_paused = true)]
async fn overlap_delay_runs_right_after_the_previous_run_ends() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule =
        pool.schedule(Schedule::every(10 * SECOND).overlap(Overlap::Delay), recorder!(runs, t0, 25));
    sleep(Duration::from_secs(100)).await;
    schedule.stop().await;
    let runs = runs.lock().unwrap().clone();
    // Never two at once, no tick replayed in a burst: each run starts as the one before ends.
    assert_eq!(runs, [(1, 10, Some(35)), (2, 35, Some(60)), (3, 60, Some(85)), (4, 85, None)]);
    assert_eq!(schedule.runs(), 4);
}

#[tokio::test(start_paused = true)]
async fn overlap_delay_keeps_the_period_when_runs_are_short() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule =
        pool.schedule(Schedule::every(10 * SECOND).overlap(Overlap::Delay), recorder!(runs, t0, 3));
    sleep(Duration::from_secs(45)).await;
    schedule.stop().await;
    assert_eq!(starts(&runs), [10, 20, 30, 40]);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_ends_when_its_pool_shuts_down() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(10 * SECOND), recorder!(runs, t0, 0));
    sleep(Duration::from_secs(25)).await;
    pool.shutdown(SECOND).await;
    sleep(Duration::from_secs(100)).await;
    assert_eq!(starts(&runs), [10, 20]);
    assert_eq!(schedule.runs(), 2);
    // Its task is over: stop returns at once.
    let t = Instant::now();
    schedule.stop().await;
    assert_eq!(t.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_ends_when_the_last_pool_clone_is_dropped() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(10 * SECOND), recorder!(runs, t0, 0));
    sleep(Duration::from_secs(15)).await;
    drop(pool);
    sleep(Duration::from_secs(100)).await;
    assert_eq!(starts(&runs), [10]);
    schedule.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stopping_a_schedule_lets_its_running_run_finish() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(10 * SECOND), recorder!(runs, t0, 5));
    sleep(Duration::from_secs(12)).await;
    schedule.stop().await;
    pool.join().await;
    assert_eq!(*runs.lock().unwrap(), [(1, 10, Some(15))]);
}

#[test]
fn cron_parses_valid_expressions_and_rejects_invalid_ones() {
    for valid in ["*/5 * * * *", "0 3 * * *", "0 0 1 1 *", "30 */10 * * * *", "0 9-17 * * MON-FRI"] {
        assert!(Schedule::cron(valid).is_ok(), "{valid:?} should parse");
    }
    for invalid in ["", "not cron", "61 * * * *", "* * *", "* 25 * * *", "* * * * * * * *"] {
        let err = Schedule::cron(invalid).unwrap_err();
        assert!(err.to_string().starts_with("invalid cron expression"), "{invalid:?}: {err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_can_be_stopped() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let schedule = pool.schedule(Schedule::cron("0 3 * * *").unwrap(), recorder!(runs, Instant::now(), 0));
    schedule.stop().await;
    assert_eq!(schedule.runs(), 0);
}

#[test]
#[should_panic(expected = "period must be more than zero")]
fn a_zero_period_is_refused() {
    let _ = Schedule::every(Duration::ZERO);
}

/// Lets the schedule's task and the workers run without moving the paused clock.
async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// `first_run_now`: the first run at t = 0, then on the period (tokio's `interval` rhythm).
#[tokio::test(start_paused = true)]
async fn first_run_now_runs_at_once_then_every_period() {
    let pool = Pool::builder().build();
    let at = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let a = at.clone();
    let schedule = pool.schedule(Schedule::every(10 * SECOND).first_run_now(), move |tick: Tick| {
        let a = a.clone();
        Job::new(move |_| {
            let a = a.clone();
            async move {
                a.lock().unwrap().push((tick.number, t0.elapsed()));
                Io::Ok(())
            }
        })
    });
    settle().await; // only yields: the clock stays at 0
    assert_eq!(*at.lock().unwrap(), [(1, Duration::ZERO)], "the first run is at t = 0");
    assert_eq!(schedule.runs(), 1);

    sleep(10 * SECOND - Duration::from_millis(1)).await;
    assert_eq!(schedule.runs(), 1, "no second run before one period");
    sleep(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(*at.lock().unwrap(), [(1, Duration::ZERO), (2, 10 * SECOND)]);

    sleep(10 * SECOND).await;
    settle().await;
    schedule.stop().await;
    assert_eq!(*at.lock().unwrap(), [(1, Duration::ZERO), (2, 10 * SECOND), (3, 20 * SECOND)]);
    assert_eq!(schedule.skipped(), 0);
}

/// Without `first_run_now` nothing changes: the first run is a period away.
#[tokio::test(start_paused = true)]
async fn by_default_the_first_run_is_a_period_away() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let schedule = pool.schedule(Schedule::every(10 * SECOND), recorder!(runs, t0, 0));
    sleep(25 * SECOND).await;
    schedule.stop().await;
    assert_eq!(starts(&runs), [10, 20]);
}

/// The immediate run is an ordinary run: a tick that comes while it is going is skipped.
#[tokio::test(start_paused = true)]
async fn first_run_now_is_subject_to_the_overlap_policy() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    // Runs of 15 s every 10 s, the first at 0: the ticks at 10 and 30 come while a run is
    // going.
    let schedule = pool.schedule(Schedule::every(10 * SECOND).first_run_now(), recorder!(runs, t0, 15));
    sleep(Duration::from_secs(32)).await;
    schedule.stop().await;
    assert_eq!(*runs.lock().unwrap(), [(1, 0, Some(15)), (2, 20, None)]);
    assert_eq!(schedule.skipped(), 2);
}

/// A cron schedule with `first_run_now` runs at once, then waits for its (here distant) due
/// time.
#[tokio::test(start_paused = true)]
async fn first_run_now_applies_to_cron_schedules() {
    let pool = Pool::builder().build();
    let runs = Runs::default();
    let t0 = Instant::now();
    let yearly = Schedule::cron("0 0 1 1 *").unwrap().first_run_now();
    let schedule = pool.schedule(yearly, recorder!(runs, t0, 0));
    sleep(Duration::from_secs(60)).await;
    schedule.stop().await;
    assert_eq!(starts(&runs), [0]);
    assert_eq!(schedule.runs(), 1);
}
