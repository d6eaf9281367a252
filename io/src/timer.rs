//! One timer per client connection, moved to each new deadline.
//!
//! `monoio::time::timeout` makes a timer for every wait: a clock read, a timer-wheel insert
//! when the wait does not end at once (with io_uring, every socket operation), and a removal
//! when it ends. A keep-alive connection waits at least twice per request (for the request
//! head, for the response write), so it keeps one timer and moves it: moving it to a later
//! deadline only records the new time, and the wheel sees the move when the old deadline comes.
//!
//! Node connections do not keep one: a pooled connection serves a different request task each
//! time, and a moved timer would then be made anew anyway (see `ConnTimer::owner`).

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Poll, Waker};

use monoio::time::{Instant, Sleep};

pub(crate) struct ConnTimer {
    sleep: Pin<Box<Sleep>>,
    /// The task the timer wakes. monoio keeps the first waker a timer is polled with until the
    /// timer fires, so a timer moved to another task (a pooled node connection taken by another
    /// request) would wake the old one: it is made anew for the new task.
    owner: Option<Waker>,
}

impl ConnTimer {
    /// A timer set to `deadline` (registered on the first wait).
    pub(crate) fn new(deadline: Instant) -> ConnTimer {
        ConnTimer {
            sleep: Box::pin(monoio::time::sleep_until(deadline)),
            owner: None,
        }
    }

    /// `op`'s output, or `None` when `deadline` passes first (`op` is then dropped).
    pub(crate) async fn within<F: Future>(
        &mut self,
        deadline: Instant,
        op: F,
    ) -> Option<F::Output> {
        let ConnTimer { sleep, owner } = self;
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        let mut op = pin!(op);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = op.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if !owner.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                if owner.is_some() {
                    sleep.set(monoio::time::sleep_until(deadline));
                }
                *owner = Some(cx.waker().clone());
            }
            sleep.as_mut().poll(cx).map(|()| None)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(f: impl Future<Output = ()>) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime")
            .block_on(f);
    }

    #[test]
    fn a_moved_timer_fires_at_its_new_deadline() {
        run(async {
            let now = Instant::now();
            let mut timer = ConnTimer::new(now + Duration::from_secs(30));
            // A wait that ends at once, then waits that never end, each moved earlier or later.
            assert_eq!(
                timer
                    .within(now + Duration::from_secs(30), async { 1 })
                    .await,
                Some(1)
            );
            for (i, ms) in [50u64, 100, 60, 200].into_iter().enumerate() {
                let start = Instant::now();
                let deadline = start + Duration::from_millis(ms);
                let out = timer.within(deadline, std::future::pending::<()>()).await;
                let took = start.elapsed();
                assert_eq!(out, None, "wait {i}");
                assert!(
                    took >= Duration::from_millis(ms) && took < Duration::from_millis(ms + 500),
                    "wait {i}: {took:?}"
                );
                assert_eq!(
                    timer
                        .within(deadline + Duration::from_secs(9), async { 2 })
                        .await,
                    Some(2)
                );
            }
        });
    }

    #[test]
    fn a_timer_taken_by_another_task_wakes_that_task() {
        run(async {
            // Polled by one task, which ends before the deadline and hands the timer on.
            let mut timer = ConnTimer::new(Instant::now());
            let timer = monoio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                let slept = timer
                    .within(deadline, monoio::time::sleep(Duration::from_millis(5)))
                    .await;
                assert_eq!(slept, Some(()));
                timer
            })
            .await;
            // Another task's wait on the same timer ends at its own deadline.
            let start = Instant::now();
            let waited = monoio::spawn(async move {
                let mut timer = timer;
                let deadline = Instant::now() + Duration::from_millis(50);
                timer.within(deadline, std::future::pending::<()>()).await
            });
            // Bounded by a timer of its own: a wait that is never woken fails the test.
            let out = monoio::time::timeout(Duration::from_secs(2), waited).await;
            assert_eq!(out.ok(), Some(None), "{:?}", start.elapsed());
        });
    }
}
