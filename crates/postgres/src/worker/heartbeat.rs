//! The heartbeat (every third of the lease: renew every held lease in one statement) and
//! the watchdog (a lease not renewed in time is given up here before any other worker may
//! rescue it).
//!
//! A lease is known valid until `sent + lease`, where `sent` is when the last statement
//! that renewed (or claimed) it was sent: the server's expiry is later than that. The
//! watchdog cancels a job at `lease × 4/5` after that, so a worker cut off from the server
//! stops before anyone else can start the job.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{Fate, Shared, leases_lost};
use crate::lease::Lease;

pub(crate) async fn heartbeat(shared: Arc<Shared>) {
    let every = shared.lease() / 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let leases: Vec<Lease> = shared
            .held()
            .iter()
            .filter(|(_, h)| h.fate != Fate::Lost)
            .map(|(id, h)| Lease { id: id.clone(), token: h.token })
            .collect();
        let sent = Instant::now();
        let renewed = tokio::time::timeout(
            every,
            shared.config.queue.heartbeat(shared.name(), &leases, shared.lease()),
        )
        .await;
        match renewed {
            Ok(Ok(renewed)) => {
                if failing {
                    eprintln!("conveyor: heartbeats reach the queue again");
                    failing = false;
                }
                let renewed: HashSet<String> = renewed.into_iter().collect();
                let mut held = shared.held();
                let mut lost = 0;
                for l in &leases {
                    let Some(h) = held.get_mut(&l.id) else { continue };
                    if h.token != l.token {
                        continue;
                    }
                    if renewed.contains(&l.id) {
                        h.valid_until = sent + shared.lease();
                    } else if h.fate == Fate::Running && h.lose() {
                        lost += 1;
                    }
                }
                drop(held);
                if lost > 0 {
                    eprintln!(
                        "conveyor: lost the lease of {lost} job(s) to another worker; cancelled them here"
                    );
                    leases_lost(&shared, lost);
                }
            }
            Ok(Err(e)) => {
                if !failing {
                    eprintln!(
                        "conveyor: warning: heartbeat failed: {}",
                        conveyor_pool::error::chain_text(&e)
                    );
                    failing = true;
                }
            }
            Err(_) => {
                if !failing {
                    eprintln!("conveyor: warning: heartbeat got no answer within {} ms", every.as_millis());
                    failing = true;
                }
            }
        }
    }
}

pub(crate) async fn watchdog(shared: Arc<Shared>) {
    let margin = shared.lease() / 5;
    let mut tick = tokio::time::interval((shared.lease() / 10).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let deadline = Instant::now() + margin;
        let mut lost = 0;
        for h in shared.held().values_mut() {
            if h.fate == Fate::Running && h.valid_until <= deadline && h.lose() {
                lost += 1;
            }
        }
        if lost > 0 {
            eprintln!("conveyor: could not renew the lease of {lost} job(s) in time; cancelled them here");
            leases_lost(&shared, lost);
        }
    }
}
