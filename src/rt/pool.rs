//! Worker threads for CPU work that a shard hands off: one per usable
//! core, shared by every shard, started on first use.
//!
//! A shard stays the owner of its request (connections, merge, response);
//! what it hands off is a closure over owned data (chunk bytes, labels, the
//! query) whose answer comes back through a one-shot channel that wakes the
//! shard's executor. This is how one heavy query uses every core while the
//! shard that accepted it keeps its order and its I/O (see ARCHITECTURE.md,
//! "Using every core for one heavy query").

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};

type Job = Box<dyn FnOnce() + Send>;

struct Inner {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
    /// Jobs submitted and not yet started.
    backlog: AtomicUsize,
    threads: AtomicUsize,
}

static POOL: OnceLock<Arc<Inner>> = OnceLock::new();

/// Starts the workers (and the thread launcher of [`spawn_thread`]) if they
/// are not running yet. Call it before pinning any thread: a new thread
/// inherits its creator's CPU affinity, and workers created from a shard
/// pinned to one core would all share that core. [`super::start_shards`]
/// calls it first; otherwise the first use starts them.
pub fn start() {
    pool();
    launcher();
}

fn pool() -> &'static Arc<Inner> {
    POOL.get_or_init(|| {
        let inner = Arc::new(Inner {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            backlog: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
        });
        // One core: the shard itself is the only worker worth having.
        let want = match super::available_cores() {
            1 => 0,
            n => n,
        };
        for i in 0..want {
            let me = inner.clone();
            let started = std::thread::Builder::new()
                .name(format!("sluice-work-{i}"))
                .spawn(move || work(&me));
            if started.is_ok() {
                inner.threads.fetch_add(1, Ordering::Relaxed);
            }
        }
        inner
    })
}

fn work(inner: &Inner) {
    loop {
        let job = {
            let mut q = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = q.pop_front() {
                    break job;
                }
                q = inner.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        inner.backlog.fetch_sub(1, Ordering::Relaxed);
        job();
    }
}

/// A job for the launcher: a thread's name and body.
type Launch = (String, Job);

static LAUNCHER: OnceLock<Mutex<Option<std::sync::mpsc::Sender<Launch>>>> = OnceLock::new();

fn launcher() -> &'static Mutex<Option<std::sync::mpsc::Sender<Launch>>> {
    LAUNCHER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Launch>();
        let started = std::thread::Builder::new()
            .name("sluice-launch".into())
            .spawn(move || {
                for (name, body) in rx {
                    // A thread that cannot start drops its body, whose
                    // answer channel then tells the caller.
                    let _ = std::thread::Builder::new().name(name).spawn(body);
                }
            });
        Mutex::new(started.ok().map(|_| tx))
    })
}

/// Starts a thread running `body`, created by a thread that was itself
/// started unpinned (see [`start`]), so that it may run on any core even
/// when called from a pinned shard. If the thread cannot be started, `body`
/// is dropped without running.
pub fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) {
    let body: Job = Box::new(body);
    let sent = match launcher().lock() {
        Ok(tx) => match tx.as_ref() {
            Some(tx) => tx.send((name.to_string(), body)).map_err(|e| e.0 .1),
            None => Err(body),
        },
        Err(_) => Err(body),
    };
    if let Err(body) = sent {
        let _ = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(body);
    }
}

/// The number of worker threads (0 on a one-core machine, or if none could
/// be started: callers then do the work themselves).
pub fn workers() -> usize {
    pool().threads.load(Ordering::Relaxed)
}

/// Jobs waiting for a worker, over all shards.
pub fn backlog() -> usize {
    pool().backlog.load(Ordering::Relaxed)
}

/// The message of a caught panic.
pub fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f` on a worker. The answer is taken with [`Handle::try_take`] or
/// by awaiting the handle; a panic in `f` comes back as `Err` with its
/// message. Check [`workers`] first: with none, the job would never run and
/// the handle answers `Err` at once.
pub fn submit<F, R>(f: F) -> Handle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = futures_channel::oneshot::channel();
    let inner = pool();
    if inner.threads.load(Ordering::Relaxed) == 0 {
        // Dropping the sender makes the handle answer at once.
        return Handle(rx);
    }
    let job: Job = Box::new(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(panic_message);
        let _ = tx.send(r);
    });
    inner.backlog.fetch_add(1, Ordering::Relaxed);
    inner
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(job);
    inner.ready.notify_one();
    Handle(rx)
}

/// The answer of a submitted job.
pub struct Handle<R>(futures_channel::oneshot::Receiver<Result<R, String>>);

const LOST: &str = "a worker thread ended without an answer";

impl<R> Handle<R> {
    /// The answer if it is there, without waiting.
    pub fn try_take(&mut self) -> Option<Result<R, String>> {
        match self.0.try_recv() {
            Ok(Some(r)) => Some(r),
            Ok(None) => None,
            Err(_) => Some(Err(LOST.into())),
        }
    }
}

impl<R> Future for Handle<R> {
    type Output = Result<R, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(LOST.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_back_and_panics_become_errors() {
        if workers() == 0 {
            // A one-core machine has no workers; submit must say so.
            assert!(futures_lite::future::block_on(submit(|| 1)).is_err());
            return;
        }
        let handles: Vec<Handle<u64>> = (0..64u64).map(|i| submit(move || i * i)).collect();
        for (i, h) in handles.into_iter().enumerate() {
            let i = i as u64;
            assert_eq!(futures_lite::future::block_on(h), Ok(i * i));
        }
        let h = submit(|| -> u64 { panic!("boom") });
        assert_eq!(futures_lite::future::block_on(h), Err("boom".to_string()));
        // The worker that caught the panic keeps working.
        let mut h = submit(|| 7u64);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(r) = h.try_take() {
                assert_eq!(r, Ok(7));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no answer in 10 s");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
