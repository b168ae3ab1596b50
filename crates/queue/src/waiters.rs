//! Lists of tasks waiting to pop (queue empty) or to push (queue full).
//!
//! Each waiting future owns a slot index. A slot is `Waiting` while its task sleeps and is in
//! `order` (the FIFO of sleepers), or `Notified` once a wake-up was handed to it (it left
//! `order`). The invariant that makes dropped futures safe: a future that is dropped while its
//! slot is `Notified` got a wake-up it will never use, so its owner must pass that wake-up on
//! ([`WaitList::cancel`] reports it). All of this runs under the queue's one mutex, which is
//! why no wake-up can be lost between "found nothing" and "went to sleep".

use std::collections::VecDeque;
use std::task::Waker;

enum Slot {
    Free,
    Waiting(Waker),
    Notified,
}

pub(crate) struct WaitList {
    slots: Vec<Slot>,
    free: Vec<usize>,
    order: VecDeque<usize>,
    /// Slots in `Notified`: wake-ups handed out and not yet used or passed on.
    notified: usize,
}

impl WaitList {
    pub(crate) const fn new() -> Self {
        WaitList { slots: Vec::new(), free: Vec::new(), order: VecDeque::new(), notified: 0 }
    }

    /// Hands a wake-up to the longest sleeper unless one is already on its way (see
    /// [`Queue`](crate::Queue)'s "one wake-up in flight"): the task woken then wakes the next
    /// one if it leaves items behind. Waking a sleeper per item instead woke most of them for
    /// nothing (the items were gone when they ran), each wake-up a task switch and often a
    /// thread unpark.
    pub(crate) fn notify_if_idle(&mut self) -> Option<Waker> {
        if self.notified == 0 { self.notify_one() } else { None }
    }

    /// Whether some task sleeps in this list (a cheap check before notifying).
    pub(crate) fn has_sleepers(&self) -> bool {
        !self.order.is_empty()
    }

    /// Puts the task behind `slot` to sleep with `waker`, allocating a slot on first use.
    ///
    /// A task that was notified but found nothing goes back to the front: it was first in line.
    pub(crate) fn register(&mut self, slot: &mut Option<usize>, waker: &Waker) {
        match *slot {
            None => {
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slots[i] = Slot::Waiting(waker.clone());
                        i
                    }
                    None => {
                        self.slots.push(Slot::Waiting(waker.clone()));
                        self.slots.len() - 1
                    }
                };
                self.order.push_back(i);
                *slot = Some(i);
            }
            Some(i) => match &mut self.slots[i] {
                Slot::Waiting(w) => {
                    if !w.will_wake(waker) {
                        *w = waker.clone();
                    }
                }
                s @ (Slot::Notified | Slot::Free) => {
                    if matches!(s, Slot::Notified) {
                        self.notified -= 1;
                    }
                    *s = Slot::Waiting(waker.clone());
                    self.order.push_front(i);
                }
            },
        }
    }

    /// Hands a wake-up to the longest sleeper; the caller wakes it after unlocking.
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        let i = self.order.pop_front()?;
        match std::mem::replace(&mut self.slots[i], Slot::Notified) {
            Slot::Waiting(w) => {
                self.notified += 1;
                Some(w)
            }
            // `order` holds only waiting slots; keep the list sane if that ever breaks.
            other => {
                self.slots[i] = other;
                None
            }
        }
    }

    /// Hands a wake-up to every sleeper (used by `close`).
    pub(crate) fn notify_all(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::with_capacity(self.order.len());
        while let Some(w) = self.notify_one() {
            wakers.push(w);
        }
        wakers
    }

    /// Releases `slot`. Returns `true` if it held an unused wake-up, which the caller must pass
    /// on if there is still something to wake for.
    #[inline]
    pub(crate) fn cancel(&mut self, slot: &mut Option<usize>) -> bool {
        match slot.take() {
            None => false,
            Some(i) => self.release(i),
        }
    }

    fn release(&mut self, i: usize) -> bool {
        let was_notified = match std::mem::replace(&mut self.slots[i], Slot::Free) {
            Slot::Waiting(_) => {
                // Few tasks wait at once (bounded by the number of consumers or producers),
                // so a scan is cheaper than an intrusive list and needs no unsafe code.
                if let Some(pos) = self.order.iter().position(|&j| j == i) {
                    self.order.remove(pos);
                }
                false
            }
            Slot::Notified => {
                self.notified -= 1;
                true
            }
            Slot::Free => false,
        };
        self.free.push(i);
        was_notified
    }
}
