//! Property test: random sequences of operations on a real queue, checked step by step
//! against a plain model (a list of `(priority, seq, item)`; best = lowest priority, then
//! oldest — or newest in LIFO mode). Every result is compared: items and their order, the
//! exact item handed back by `Full`/`Closed`, remove results, `len`, `counts`, close. At the
//! end every accepted item must have come out exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};

use conveyor_queue::{ClosedError, Key, Permit, PushError, Queue, TryPopError, TryPushError};
use futures_util::FutureExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    TryPush(i32),
    /// `push(..).await`, polled once: pending (dropped) when full.
    Push(i32),
    TryPop,
    /// `pop().await`, polled once: pending (dropped) when empty and not finished.
    Pop,
    /// `try_pop_many` with a limit of 1 to 4.
    TryPopMany(usize),
    /// `try_pop_many`, then every item taken put back with `unpop` (as a pool worker gives
    /// back a batch): the queue must be as before.
    PopManyGiveBack(usize),
    /// Remove the key of an earlier push, picked by index.
    Remove(usize),
    Close,
    Drain,
    /// `reserve().await`, polled once; a permit is kept.
    Reserve,
    /// Push through a kept permit, picked by index.
    PermitPush(usize, i32),
    /// Drop a kept permit, picked by index.
    PermitDrop(usize),
}

fn priority() -> impl Strategy<Value = i32> {
    prop_oneof![
        8 => -3..=3i32,
        1 => prop::sample::select(vec![-65, 64, 1_000, i32::MIN, i32::MAX]),
        1 => any::<i32>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => priority().prop_map(Op::TryPush),
        4 => priority().prop_map(Op::Push),
        4 => Just(Op::TryPop),
        3 => Just(Op::Pop),
        3 => (1..=4usize).prop_map(Op::TryPopMany),
        2 => (1..=4usize).prop_map(Op::PopManyGiveBack),
        3 => any::<usize>().prop_map(Op::Remove),
        1 => Just(Op::Close),
        1 => Just(Op::Drain),
        2 => Just(Op::Reserve),
        2 => (any::<usize>(), priority()).prop_map(|(i, p)| Op::PermitPush(i, p)),
        1 => any::<usize>().prop_map(Op::PermitDrop),
    ]
}

struct Model {
    /// Queued `(priority, seq, item)`, in push order.
    items: Vec<(i32, u64, u32)>,
    next_seq: u64,
    reserved: usize,
    closed: bool,
    capacity: Option<usize>,
    lifo: bool,
}

impl Model {
    fn has_room(&self) -> bool {
        self.capacity.is_none_or(|c| self.items.len() + self.reserved < c)
    }

    fn finished(&self) -> bool {
        self.closed && self.items.is_empty() && self.reserved == 0
    }

    fn push(&mut self, priority: i32, item: u32) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.items.push((priority, seq, item));
        seq
    }

    fn pop(&mut self) -> Option<u32> {
        let best = if self.lifo {
            (0..self.items.len()).min_by_key(|&i| {
                let (p, s, _) = self.items[i];
                (p, std::cmp::Reverse(s))
            })
        } else {
            (0..self.items.len()).min_by_key(|&i| (self.items[i].0, self.items[i].1))
        }?;
        Some(self.items.remove(best).2)
    }

    fn remove(&mut self, seq: u64) -> Option<u32> {
        let at = self.items.iter().position(|&(_, s, _)| s == seq)?;
        Some(self.items.remove(at).2)
    }

    fn counts(&self) -> Vec<(i32, usize)> {
        let mut m = BTreeMap::new();
        for &(p, _, _) in &self.items {
            *m.entry(p).or_insert(0) += 1;
        }
        m.into_iter().collect()
    }
}

fn deliver(item: u32, delivered: &mut HashSet<u32>) {
    assert!(delivered.insert(item), "item {item} delivered twice");
}

fn run(ops: Vec<Op>, capacity: Option<usize>, lifo: bool) -> Result<(), TestCaseError> {
    let mut builder = Queue::builder();
    if let Some(c) = capacity {
        builder = builder.capacity(c);
    }
    if lifo {
        builder = builder.lifo();
    }
    let q: Queue<u32> = builder.build();
    let mut m = Model { items: Vec::new(), next_seq: 0, reserved: 0, closed: false, capacity, lifo };
    let mut permits: Vec<Permit<'_, u32>> = Vec::new();
    // Every key handed out, with the model's sequence number for it.
    let mut keys: Vec<(Key, u64)> = Vec::new();
    // The key of every item pushed, for `unpop`.
    let mut key_of: HashMap<u32, Key> = HashMap::new();
    let mut next_item = 0u32;
    let mut accepted = HashSet::new();
    let mut delivered = HashSet::new();

    for (step, op) in ops.into_iter().enumerate() {
        let item = next_item;
        next_item += 1;
        match op {
            Op::TryPush(p) => {
                let got = q.try_push(item, p);
                if m.closed {
                    prop_assert_eq!(got, Err(TryPushError::Closed(item)), "step {}", step);
                } else if !m.has_room() {
                    prop_assert_eq!(got, Err(TryPushError::Full(item)), "step {}", step);
                } else {
                    let key = got.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    prop_assert_eq!(key.priority(), p);
                    key_of.insert(item, key);
                    keys.push((key, m.push(p, item)));
                    accepted.insert(item);
                }
            }
            Op::Push(p) => {
                let got = q.push(item, p).now_or_never();
                if m.closed {
                    prop_assert_eq!(got, Some(Err(PushError(item))), "step {}", step);
                } else if !m.has_room() {
                    prop_assert!(got.is_none(), "step {}: push must wait when full", step);
                } else {
                    let key = match got {
                        Some(Ok(key)) => key,
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    };
                    prop_assert_eq!(key.priority(), p);
                    key_of.insert(item, key);
                    keys.push((key, m.push(p, item)));
                    accepted.insert(item);
                }
            }
            Op::TryPopMany(limit) => {
                let expected: Vec<u32> = std::iter::from_fn(|| m.pop()).take(limit).collect();
                let mut got = vec![u32::MAX]; // appended to, never cleared
                let n = q.try_pop_many(&mut got, limit);
                if expected.is_empty() {
                    let err = if m.finished() { TryPopError::Closed } else { TryPopError::Empty };
                    prop_assert_eq!(n, Err(err), "step {}", step);
                } else {
                    prop_assert_eq!(n, Ok(expected.len()), "step {}", step);
                }
                prop_assert_eq!(&got[1..], &expected[..], "step {}: best first", step);
                for &x in &got[1..] {
                    deliver(x, &mut delivered);
                }
            }
            Op::PopManyGiveBack(limit) => {
                let before = q.counts();
                let mut got = Vec::new();
                let _ = q.try_pop_many(&mut got, limit);
                prop_assert_eq!(got.len(), m.items.len().min(limit), "step {}", step);
                for x in got.into_iter().rev() {
                    let key = key_of.get(&x).copied().ok_or_else(|| TestCaseError::fail("no key"))?;
                    q.unpop(x, key);
                }
                prop_assert_eq!(q.counts(), before, "step {}: all given back", step);
            }
            Op::TryPop => {
                let expected = match m.pop() {
                    Some(x) => Ok(x),
                    None if m.finished() => Err(TryPopError::Closed),
                    None => Err(TryPopError::Empty),
                };
                let got = q.try_pop();
                prop_assert_eq!(got, expected, "step {}", step);
                if let Ok(x) = got {
                    deliver(x, &mut delivered);
                }
            }
            Op::Pop => {
                let expected = match m.pop() {
                    Some(x) => Some(Some(x)),
                    None if m.finished() => Some(None),
                    None => None,
                };
                let got = q.pop().now_or_never();
                prop_assert_eq!(got, expected, "step {}", step);
                if let Some(Some(x)) = got {
                    deliver(x, &mut delivered);
                }
            }
            Op::Remove(i) => {
                if !keys.is_empty() {
                    let (key, seq) = keys[i % keys.len()];
                    let got = q.remove(key);
                    prop_assert_eq!(got, m.remove(seq), "step {}", step);
                    if let Some(x) = got {
                        deliver(x, &mut delivered);
                    }
                }
            }
            Op::Close => {
                prop_assert_eq!(q.close(), !m.closed, "step {}", step);
                m.closed = true;
            }
            Op::Drain => {
                let expected: Vec<_> = std::iter::from_fn(|| m.pop()).collect();
                let got = q.drain();
                prop_assert_eq!(&got, &expected, "step {}", step);
                for x in got {
                    deliver(x, &mut delivered);
                }
            }
            Op::Reserve => {
                let got = q.reserve().now_or_never();
                if m.closed {
                    prop_assert!(matches!(got, Some(Err(ClosedError))), "step {}", step);
                } else if !m.has_room() {
                    prop_assert!(got.is_none(), "step {}: reserve must wait when full", step);
                } else {
                    match got {
                        Some(Ok(permit)) => permits.push(permit),
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    }
                    m.reserved += 1;
                }
            }
            Op::PermitPush(i, p) => {
                if !permits.is_empty() {
                    let permit = permits.swap_remove(i % permits.len());
                    let key = permit.push(item, p);
                    prop_assert_eq!(key.priority(), p);
                    key_of.insert(item, key);
                    m.reserved -= 1;
                    keys.push((key, m.push(p, item)));
                    accepted.insert(item);
                }
            }
            Op::PermitDrop(i) => {
                if !permits.is_empty() {
                    drop(permits.swap_remove(i % permits.len()));
                    m.reserved -= 1;
                }
            }
        }
        prop_assert_eq!(q.len(), m.items.len(), "len after step {}", step);
        prop_assert_eq!(q.is_empty(), m.items.is_empty());
        prop_assert_eq!(q.counts(), m.counts(), "counts after step {}", step);
        prop_assert_eq!(q.is_closed(), m.closed);
        if let Some(c) = capacity {
            prop_assert!(m.items.len() + m.reserved <= c, "never over capacity");
        }
    }

    // Wind down: use up the permits, close, and take everything out.
    for permit in permits.drain(..) {
        let item = next_item;
        next_item += 1;
        permit.push(item, 0);
        m.reserved -= 1;
        m.push(0, item);
        accepted.insert(item);
    }
    q.close();
    while let Some(x) = m.pop() {
        let got = q.try_pop();
        prop_assert_eq!(got, Ok(x));
        deliver(x, &mut delivered);
    }
    prop_assert_eq!(q.try_pop(), Err(TryPopError::Closed));
    prop_assert_eq!(q.pop().now_or_never(), Some(None));
    prop_assert_eq!(accepted, delivered, "every accepted item came out exactly once");
    Ok(())
}

fn capacity() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 3 => (1..6usize).prop_map(Some)]
}

proptest! {
    #[test]
    fn fifo_queue_matches_the_model(
        ops in prop::collection::vec(op(), 0..120),
        capacity in capacity(),
    ) {
        run(ops, capacity, false)?;
    }

    #[test]
    fn lifo_queue_matches_the_model(
        ops in prop::collection::vec(op(), 0..120),
        capacity in capacity(),
    ) {
        run(ops, capacity, true)?;
    }
}
