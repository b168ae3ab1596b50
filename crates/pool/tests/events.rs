//! Events: a job's lifecycle in order, exactly one `Finished` per job matching its handle, a
//! slow subscriber told how many events it missed without slowing the pool, and the stream's
//! end.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use conveyor_pool::{Event, Job, JobError, JobId, Missed, Outcome, Pool, RetryPolicy};
use futures_util::{FutureExt, StreamExt};
use support::{Io, within};

/// Every event until the stream ends.
async fn collect(events: &mut conveyor_pool::Events) -> Vec<Event> {
    let mut all = Vec::new();
    while let Some(e) = within(events.next()).await {
        all.push(e.expect("nothing missed"));
    }
    all
}

#[tokio::test(start_paused = true)]
async fn one_job_reports_queued_started_retry_scheduled_and_finished_in_order() {
    let pool = Pool::builder().workers(1).build();
    let mut events = pool.events();
    let h = pool
        .submit(
            Job::new(|ctx| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if ctx.attempt() == 1 { Err("flaky upstream") } else { Ok(()) }
            })
            .name("fetch")
            .kind("http")
            .priority(3)
            .retry(RetryPolicy::fixed(2, Duration::from_secs(1))),
        )
        .await
        .unwrap();
    let id = h.id();
    within(h).await.unwrap();
    let report = pool.shutdown(Duration::from_secs(1)).await;
    let all = collect(&mut events).await;
    assert_eq!(all.len(), 6, "{all:#?}");

    let Event::Queued(info) = &all[0] else { panic!("{:?}", all[0]) };
    assert_eq!((info.id, info.name.as_deref(), &*info.kind, info.priority), (id, Some("fetch"), "http", 3));
    assert!(
        matches!(&all[1], Event::Started { job, attempt: 1, wait } if job.id == id && *wait == Duration::ZERO)
    );
    assert!(matches!(
        &all[2],
        Event::RetryScheduled { job, attempt: 1, delay, error }
            if job.id == id && *delay == Duration::from_secs(1) && error == "flaky upstream"
    ));
    assert!(
        matches!(&all[3], Event::Started { job, attempt: 2, wait } if job.id == id && *wait == Duration::ZERO)
    );
    let Event::Finished(f) = &all[4] else { panic!("{:?}", all[4]) };
    assert_eq!(f.job.id, id);
    assert_eq!(f.outcome, Outcome::Succeeded);
    assert_eq!(f.attempts, 2);
    assert_eq!(f.error, None);
    assert_eq!(f.wait, Duration::ZERO);
    assert_eq!(f.run, Duration::from_millis(200), "two attempts of 100 ms");
    assert_eq!(f.finished_at.duration_since(f.queued_at).unwrap(), Duration::from_millis(1200));
    assert!(matches!(&all[5], Event::Shutdown(r) if *r == report));
}

/// A job queued while nobody read timings keeps none (its cell stays small, see
/// `core::Timings`); a subscriber that joins before it starts sees it wait 0 and run 0, and
/// queued, started and finished when it finished, not a wait counted from the pool's start.
#[tokio::test(start_paused = true)]
async fn a_job_queued_before_anyone_listened_reports_no_invented_wait() {
    let pool = Pool::builder().workers(1).build();
    pool.pause();
    tokio::time::advance(Duration::from_secs(60)).await;
    let h = pool
        .submit(Job::new(|_| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, std::io::Error>(())
        }))
        .await
        .unwrap();
    let id = h.id();
    let mut events = pool.events();
    tokio::time::advance(Duration::from_secs(5)).await;
    pool.resume();
    within(h).await.unwrap();
    pool.shutdown(Duration::from_secs(1)).await;
    let all = collect(&mut events).await;
    assert!(
        matches!(&all[0], Event::Started { job, attempt: 1, wait } if job.id == id && *wait == Duration::ZERO),
        "{all:#?}"
    );
    let Event::Finished(f) = &all[1] else { panic!("{all:#?}") };
    assert_eq!((f.job.id, f.attempts, f.wait, f.run), (id, 1, Duration::ZERO, Duration::ZERO));
    assert_eq!(f.started_at, Some(f.finished_at), "it did start");
    assert_eq!(f.queued_at, f.finished_at);
}

#[tokio::test(start_paused = true)]
async fn finished_reports_wait_and_run_times_and_the_error() {
    let pool = Pool::builder().workers(1).build();
    let mut events = pool.events();
    let sleepy = |secs| {
        Job::new(move |_| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Err::<(), _>(std::io::Error::other(format!("failed after {secs} s")))
        })
    };
    let first = pool.submit(sleepy(2)).await.unwrap();
    let second = pool.submit(sleepy(3)).await.unwrap();
    let never = pool.submit(sleepy(0)).await.unwrap();
    assert!(never.cancel());
    assert!(within(first).await.is_err());
    assert!(within(second).await.is_err());
    pool.shutdown_now().await;
    let finished: Vec<_> = collect(&mut events)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::Finished(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 3);
    // The cancelled queued job resolved first.
    assert_eq!(
        (finished[0].outcome, finished[0].attempts, finished[0].started_at),
        (Outcome::Cancelled, 0, None)
    );
    assert_eq!(finished[0].error.as_deref(), Some("job cancelled"));
    let second = &finished[2];
    assert_eq!(second.outcome, Outcome::Failed);
    assert_eq!(second.error.as_deref(), Some("failed after 3 s"));
    assert_eq!(second.wait, Duration::from_secs(2), "queued behind the first job");
    assert_eq!(second.run, Duration::from_secs(3));
    let started: SystemTime = second.started_at.unwrap();
    assert_eq!(started.duration_since(second.queued_at).unwrap(), Duration::from_secs(2));
    assert_eq!(second.finished_at.duration_since(started).unwrap(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn exactly_one_finished_per_job_matching_its_handle_and_the_hook() {
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let h2 = hooked.clone();
    let pool =
        Pool::builder().workers(3).on_finish(move |f| h2.lock().unwrap().push((f.job.id, f.outcome))).build();
    let mut events = pool.events();
    let mut handles = Vec::new();
    for n in 0..60u32 {
        let job = Job::new(move |ctx| async move {
            match n % 5 {
                0 => Ok(n),
                1 => Err(std::io::Error::other("failed")),
                2 => panic!("boom"),
                3 => {
                    ctx.cancelled().await;
                    Ok(n)
                }
                _ => {
                    tokio::time::sleep(Duration::from_secs(u64::from(n))).await;
                    Ok(n)
                }
            }
        })
        .timeout(Duration::from_secs(30))
        .retry(RetryPolicy::fixed(2, Duration::from_millis(10)));
        handles.push(pool.submit(job).await.unwrap());
    }
    handles[7].cancel();
    let mut outcomes = HashMap::new();
    for h in handles {
        let id = h.id();
        let outcome = match within(h).await {
            Ok(_) => Outcome::Succeeded,
            Err(e) => e.outcome(),
        };
        outcomes.insert(id, outcome);
    }
    pool.shutdown(Duration::ZERO).await;
    let mut finished: HashMap<JobId, Outcome> = HashMap::new();
    for e in collect(&mut events).await {
        if let Event::Finished(f) = e {
            assert!(finished.insert(f.job.id, f.outcome).is_none(), "two Finished for job {}", f.job.id);
        }
    }
    assert_eq!(finished, outcomes);
    let hooked: HashMap<_, _> = hooked.lock().unwrap().iter().copied().collect();
    assert_eq!(hooked, outcomes);
    let count = |o| outcomes.values().filter(|&&x| x == o).count();
    // n%5: 0 succeeds; 1 fails; 2 panics (#7 was cancelled while queued); 3 times out;
    // 4 sleeps n s: succeeds under the 30 s timeout (4..=29), times out above.
    let counts: Vec<_> = Outcome::ALL.iter().map(|&o| (o, count(o))).collect();
    assert_eq!(
        counts,
        [
            (Outcome::Succeeded, 12 + 6),
            (Outcome::Failed, 12),
            (Outcome::Panicked, 11),
            (Outcome::TimedOut, 12 + 6),
            (Outcome::Cancelled, 1)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_subscriber_misses_events_and_is_told_how_many() {
    let pool = Pool::builder().workers(2).event_buffer(4).build();
    let mut slow = pool.events(); // never read until the end
    let mut handles = Vec::new();
    for n in 0..100u64 {
        handles.push(pool.submit(Job::new(move |_| async move { Io::Ok(n) })).await.unwrap());
    }
    // The pool is not slowed by it: every job completes while it reads nothing.
    let mut sum = 0;
    for h in handles {
        sum += within(h).await.unwrap();
    }
    assert_eq!(sum, 4950);

    let first = slow.next().now_or_never().expect("ready").expect("not ended");
    let Err(Missed(missed)) = first else { panic!("expected Missed, got {first:?}") };
    assert!(missed > 0);
    let mut received = 0;
    while let Some(Some(e)) = slow.next().now_or_never() {
        e.expect("only one gap");
        received += 1;
    }
    assert_eq!(received, 4, "the buffer's worth");
    assert_eq!(missed + received, 300, "Queued, Started and Finished for 100 jobs");
}

#[tokio::test(start_paused = true)]
async fn the_stream_ends_after_shutdown() {
    let pool = Pool::builder().build();
    let mut events = pool.events();
    let report = pool.shutdown_now().await;
    assert!(matches!(within(events.next()).await, Some(Ok(Event::Shutdown(r))) if r == report));
    assert!(within(events.next()).await.is_none());
    assert!(events.next().now_or_never().unwrap().is_none(), "and stays ended");
}

#[tokio::test(start_paused = true)]
async fn with_no_event_buffer_the_stream_ends_at_once() {
    let pool = Pool::builder().event_buffer(0).build();
    let mut events = pool.events();
    let h = pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap();
    within(h).await.unwrap();
    assert!(events.next().now_or_never().expect("ready at once").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_sees_only_events_after_it_subscribed() {
    let pool = Pool::builder().workers(1).build();
    within(pool.submit(Job::new(|_| async { Io::Ok(()) })).await.unwrap()).await.unwrap();
    let mut events = pool.events();
    let h = pool.submit(Job::new(|_| async { Err::<(), _>("x") })).await.unwrap();
    let id = h.id();
    assert!(matches!(within(h).await, Err(JobError::Failed(_))));
    pool.shutdown_now().await;
    let all = collect(&mut events).await;
    assert!(matches!(&all[0], Event::Queued(info) if info.id == id), "{all:?}");
    assert_eq!(all.len(), 4);
}

/// A job's tag comes back, the same allocation, in every event of that job and in its
/// finish report, whatever the outcome; an untagged job reports none; the pool keeps no
/// tag once the job is over.
#[tokio::test(start_paused = true)]
async fn a_jobs_tag_comes_back_in_its_events_and_its_report() {
    struct Row(u32);
    let hooked = Arc::new(Mutex::new(HashMap::new()));
    let h2 = hooked.clone();
    let pool = Pool::builder()
        .workers(2)
        .on_finish(move |f| {
            let row = f.job.tag.as_ref().and_then(|t| t.downcast_ref::<Row>()).map(|r| r.0);
            h2.lock().unwrap().insert(f.job.id, row);
        })
        .build();
    let mut events = pool.events();
    let tags: Vec<conveyor_pool::Tag> = (0..6).map(|n| Arc::new(Row(n)) as conveyor_pool::Tag).collect();
    let mut expected = HashMap::new();
    for (n, tag) in tags.iter().enumerate() {
        let job = Job::new(move |_ctx| async move {
            if n % 2 == 0 { Ok(()) } else { Err(std::io::Error::other("failed")) }
        })
        .tag(tag.clone());
        let h = pool.submit(job).await.unwrap();
        expected.insert(h.id(), Some(n as u32));
    }
    let untagged = pool.submit(Job::new(|_ctx| async { Io::Ok(()) })).await.unwrap();
    expected.insert(untagged.id(), None);
    pool.shutdown(Duration::from_secs(1)).await;
    assert_eq!(*hooked.lock().unwrap(), expected);
    for e in collect(&mut events).await {
        let info = match &e {
            Event::Queued(info) => info,
            Event::Finished(f) => &f.job,
            _ => continue,
        };
        let want = expected[&info.id].map(|n| &tags[n as usize]);
        match (info.tag.as_ref(), want) {
            (Some(got), Some(want)) => assert!(Arc::ptr_eq(got, want), "{e:?}: another tag"),
            (None, None) => {}
            (got, want) => panic!("{e:?}: tag {got:?}, expected {want:?}"),
        }
    }

    // Nothing in the pool keeps a tag once its job is over.
    drop(events);
    drop(pool);
    for tag in &tags {
        assert_eq!(Arc::strong_count(tag), 1, "the pool still holds a tag");
    }
}

/// A worker that goes from one job straight to the next takes the first one's stop time as
/// the next one's start (one clock reading, not two), but a job never starts before it was
/// queued: one queued by the previous job's `on_finish` hook, after that job stopped,
/// starts when it was queued.
#[tokio::test(flavor = "current_thread")]
async fn back_to_back_attempts_share_a_clock_reading_but_never_start_before_queued() {
    type Times = (JobId, SystemTime, Option<SystemTime>, SystemTime);
    let times: Arc<Mutex<Vec<Times>>> = Arc::default();
    let weak: Arc<std::sync::OnceLock<conveyor_pool::WeakPool>> = Arc::default();
    let second: Arc<std::sync::OnceLock<JobId>> = Arc::default();
    let (t2, w2, s2) = (times.clone(), weak.clone(), second.clone());
    let pool = Pool::builder()
        .workers(1)
        .on_finish(move |f| {
            t2.lock().unwrap().push((f.job.id, f.queued_at, f.started_at, f.finished_at));
            if s2.get() == Some(&f.job.id) {
                let pool = w2.get().and_then(|w| w.upgrade()).expect("the pool");
                let _detached = pool.try_submit(Job::new(|_ctx| async { Io::Ok(()) })).expect("room");
            }
        })
        .build();
    weak.set(pool.downgrade()).unwrap();
    // Both queued before the worker first runs: it takes them one after the other.
    let first = pool.try_submit(Job::new(|_ctx| async { Io::Ok(()) })).unwrap();
    let next = pool.try_submit(Job::new(|_ctx| async { Io::Ok(()) })).unwrap();
    second.set(next.id()).unwrap();
    pool.join().await;
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "{times:?}");
    let [(a, _, _, a_end), (b, _, b_start, b_end), (_, c_queued, c_start, _)] = times[..] else {
        unreachable!()
    };
    assert_eq!((a, b), (first.id(), next.id()));
    assert_eq!(b_start, Some(a_end), "the next job's start is the previous one's stop");
    assert!(c_queued >= b_end, "queued by the hook, after the job before it stopped");
    assert_eq!(c_start, Some(c_queued), "a job queued after that stop starts when queued");
    for (id, queued, started, finished) in times {
        let started = started.expect("every job ran");
        assert!(queued <= started && started <= finished, "{id:?}: {queued:?} {started:?} {finished:?}");
    }
}

/// Issue 23: events are made only while a subscriber listens. A job run with none is not
/// reported later; one that starts after a subscriber joins is, with real timings; and a
/// subscriber that left stops nothing for the next one.
#[tokio::test(start_paused = true)]
async fn events_are_made_only_while_someone_listens() {
    let pool = Pool::builder().workers(1).build();
    pool.submit(Job::new(|_| async { Ok::<_, JobError>(()) })).await.unwrap().await.unwrap();
    let first = pool.events();
    drop(first);
    let mut events = pool.events();
    let h = pool
        .submit(Job::new(|_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, JobError>(())
        }))
        .await
        .unwrap();
    h.await.unwrap();
    pool.shutdown(Duration::ZERO).await;
    let all = collect(&mut events).await;
    let finished: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Event::Finished(f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "only the job run while listening: {all:?}");
    assert!(matches!(all[0], Event::Queued(_)), "{all:?}");
    assert_eq!(finished[0].run, Duration::from_millis(50));
}
