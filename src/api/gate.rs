//! `--query.max-concurrent`: queries beyond the limit wait their turn
//! (Thanos's gate queues, it does not reject). Each shard has its own gate
//! with its share of the limit (rounded up), so no lock or wake-up crosses
//! shards; the kernel spreads connections, and with them queries, evenly.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures_channel::oneshot;

/// A first-come, first-served async semaphore for one shard.
#[derive(Debug)]
pub struct Gate {
    limit: usize,
    in_flight: Cell<usize>,
    waiters: RefCell<VecDeque<oneshot::Sender<()>>>,
}

/// Held while a query runs; dropping it lets the next one in.
#[derive(Debug)]
pub struct Permit {
    gate: Rc<Gate>,
}

impl Gate {
    pub fn new(limit: usize) -> Rc<Gate> {
        Rc::new(Gate {
            limit: limit.max(1),
            in_flight: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
        })
    }

    /// Waits for a place.
    pub async fn acquire(self: &Rc<Self>) -> Permit {
        if self.in_flight.get() < self.limit && self.waiters.borrow().is_empty() {
            self.in_flight.set(self.in_flight.get() + 1);
            return Permit { gate: self.clone() };
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push_back(tx);
        // The place is handed over by the permit that leaves; a cancelled
        // wait is skipped when its turn comes.
        let _ = rx.await;
        Permit { gate: self.clone() }
    }

    /// Queries running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Hand the place to the first waiter that is still waiting.
        loop {
            let next = self.gate.waiters.borrow_mut().pop_front();
            match next {
                Some(tx) => {
                    if tx.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    self.gate.in_flight.set(self.gate.in_flight.get() - 1);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_in_order_and_skips_cancelled_waits() {
        crate::rt::block_on(async {
            let g = Gate::new(1);
            let first = g.acquire().await;
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..3 {
                let (g, order) = (g.clone(), order.clone());
                tasks.push(crate::rt::spawn(async move {
                    let _p = g.acquire().await;
                    order.borrow_mut().push(i);
                    crate::rt::sleep(std::time::Duration::from_millis(5)).await;
                }));
            }
            // A waiter that gives up.
            let cancelled = crate::rt::spawn({
                let g = g.clone();
                async move {
                    let _p = g.acquire().await;
                    unreachable!("cancelled before its turn");
                }
            });
            crate::rt::sleep(std::time::Duration::from_millis(10)).await;
            drop(cancelled);
            assert_eq!(g.in_flight(), 1);
            drop(first);
            for t in tasks {
                t.await;
            }
            assert_eq!(*order.borrow(), vec![0, 1, 2]);
            assert_eq!(g.in_flight(), 0);
        })
        .unwrap();
    }
}
