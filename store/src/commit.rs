//! [`Commit`]: the future a [`crate::Store::submit`] returns.
//!
//! A one-shot slot shared by the submitter and the store's writer thread: a
//! mutex-protected result plus the waker of the task awaiting it and a condvar
//! for [`Commit::wait_blocking`]. The mutex is taken once by the writer and
//! once or twice per poll, never contended for long; its cost is nothing next
//! to the fsync the writer waits for.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::StoreError;

/// What a successful [`Commit`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Number of the transaction that made the batch durable (1, 2, ... since
    /// the store was opened). Batches committed together share it. 0 when the
    /// batch was empty and needed no transaction.
    pub commit_seq: u64,
    /// Batches in that transaction (group-commit width).
    pub batches: u32,
    /// Records (ops) in that transaction, all batches together.
    pub records: u32,
    /// Time the transaction took, fsync included, in microseconds.
    pub commit_latency_us: u64,
    /// Time from `submit` to durable for this batch, in microseconds.
    pub waited_us: u64,
}

type CommitResult = Result<CommitInfo, StoreError>;

struct State {
    result: Option<CommitResult>,
    waker: Option<Waker>,
}

struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections cannot leave the state inconsistent, so a
        // poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Resolves once the batch is durable (`Ok`) or known not to be acknowledged
/// (`Err`). Await it from any runtime on any thread: the wake-up comes from the
/// store's writer thread (with monoio, enable its `sync` feature so that a wake
/// from another thread reaches the core). Or block on it with
/// [`Commit::wait_blocking`].
///
/// Dropping a `Commit` does not cancel the write: the batch is still committed,
/// only the notification is lost.
#[must_use = "a write is acknowledged only once its Commit resolves"]
pub struct Commit {
    inner: Inner,
}

enum Inner {
    Pending(Arc<Slot>),
    Ready(Option<CommitResult>),
}

impl Commit {
    /// A commit that is already resolved (e.g. the store is closed).
    pub fn ready(result: Result<CommitInfo, StoreError>) -> Self {
        Self {
            inner: Inner::Ready(Some(result)),
        }
    }

    /// A pending commit and the sender that resolves it. For backends (and
    /// test doubles of [`crate::Store`]).
    pub fn channel() -> (CommitSender, Commit) {
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                result: None,
                waker: None,
            }),
            done: Condvar::new(),
        });
        (
            CommitSender {
                slot: Some(slot.clone()),
            },
            Commit {
                inner: Inner::Pending(slot),
            },
        )
    }

    /// Blocks the calling thread until the commit resolves. For tests, the
    /// CLI and background threads; never call it on a request core.
    pub fn wait_blocking(self) -> Result<CommitInfo, StoreError> {
        match self.inner {
            Inner::Ready(result) => result.unwrap_or_else(|| Err(polled_after_completion())),
            Inner::Pending(slot) => {
                let mut state = slot.lock();
                loop {
                    if let Some(result) = state.result.take() {
                        return result;
                    }
                    state = slot
                        .done
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// True once the result is available (a poll would return `Ready`).
    pub fn is_resolved(&self) -> bool {
        match &self.inner {
            Inner::Ready(result) => result.is_some(),
            Inner::Pending(slot) => slot.lock().result.is_some(),
        }
    }
}

fn polled_after_completion() -> StoreError {
    StoreError::Closed {
        reason: "the Commit was already resolved and its result taken",
    }
}

impl Future for Commit {
    type Output = Result<CommitInfo, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = match &mut this.inner {
            Inner::Ready(result) => result
                .take()
                .unwrap_or_else(|| Err(polled_after_completion())),
            Inner::Pending(slot) => {
                let mut state = slot.lock();
                match state.result.take() {
                    Some(result) => result,
                    None => {
                        match &state.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => state.waker = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
            }
        };
        this.inner = Inner::Ready(None);
        Poll::Ready(result)
    }
}

impl std::fmt::Debug for Commit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commit")
            .field("resolved", &self.is_resolved())
            .finish()
    }
}

/// Resolves a [`Commit`]. Dropping it unresolved resolves the commit with
/// [`StoreError::Closed`] (a writer that dies never leaves a caller hanging).
pub struct CommitSender {
    slot: Option<Arc<Slot>>,
}

impl CommitSender {
    /// Resolves the commit and wakes whoever awaits it.
    pub fn send(mut self, result: Result<CommitInfo, StoreError>) {
        if let Some(slot) = self.slot.take() {
            resolve(&slot, result);
        }
    }
}

fn resolve(slot: &Slot, result: CommitResult) {
    let waker = {
        let mut state = slot.lock();
        state.result = Some(result);
        state.waker.take()
    };
    slot.done.notify_all();
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl Drop for CommitSender {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            resolve(
                &slot,
                Err(StoreError::Closed {
                    reason: "the writer exited before committing this batch",
                }),
            );
        }
    }
}

impl std::fmt::Debug for CommitSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitSender").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize, std::thread::Thread);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
            self.1.unpark();
        }
    }

    fn info() -> CommitInfo {
        CommitInfo {
            commit_seq: 7,
            batches: 1,
            records: 1,
            commit_latency_us: 1,
            waited_us: 1,
        }
    }

    #[test]
    fn wakes_the_registered_waker_from_another_thread() {
        let (tx, mut commit) = Commit::channel();
        let w = Arc::new(CountingWaker(AtomicUsize::new(0), std::thread::current()));
        let waker = Waker::from(w.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut commit).poll(&mut cx).is_pending());
        let t = std::thread::spawn(move || tx.send(Ok(info())));
        while w.0.load(Ordering::SeqCst) == 0 {
            std::thread::park();
        }
        t.join().expect("sender thread");
        match Pin::new(&mut commit).poll(&mut cx) {
            Poll::Ready(Ok(i)) => assert_eq!(i.commit_seq, 7),
            other => panic!("expected Ready(Ok), got {other:?}"),
        }
    }

    #[test]
    fn dropped_sender_resolves_with_closed() {
        let (tx, commit) = Commit::channel();
        drop(tx);
        assert!(matches!(
            commit.wait_blocking(),
            Err(StoreError::Closed { .. })
        ));
    }

    #[test]
    fn wait_blocking_returns_result_sent_later() {
        let (tx, commit) = Commit::channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send(Ok(info()));
        });
        assert_eq!(commit.wait_blocking().map(|i| i.commit_seq).ok(), Some(7));
        t.join().expect("sender thread");
    }
}
