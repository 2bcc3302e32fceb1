//! The runtime seam: the only module that names glommio.
//!
//! Sluice runs one glommio executor per core ("shard"). Each shard owns its
//! listeners (SO_REUSEPORT, so the kernel spreads connections over shards),
//! its connections to stores and its caches; shards share nothing mutable on
//! the request path. Everything outside this module sees only the small
//! vocabulary below: [`spawn`], [`sleep`], [`timeout`], [`yield_if_needed`],
//! [`Listener`], [`connect`], [`UdpSocket`], [`block_on`] and
//! [`start_shards`]. Moving to another executor means rewriting this module
//! and nothing else.
//!
//! Streams are exposed with tokio's `AsyncRead`/`AsyncWrite` traits (through
//! tokio-util's compat adapter) because h2 and hyper speak those; no tokio
//! runtime is ever started.

mod cores;
pub mod pool;
mod preflight;

pub use cores::available_cores;
pub use preflight::RuntimeError;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::{LocalExecutorBuilder, Placement};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

/// A TCP stream with tokio's IO traits.
pub type Stream = Compat<glommio::net::TcpStream>;

/// A handle to a spawned task; awaiting it yields the task's output. Dropping
/// it cancels the task unless [`Task::detach`] was called.
pub struct Task<T>(glommio::Task<T>);

impl<T> Task<T> {
    /// Lets the task run to completion on its own.
    pub fn detach(self) {
        self.0.detach();
    }
}

impl<T> Future for Task<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns a task on the current shard. Tasks never move between shards.
pub fn spawn<T: 'static>(fut: impl Future<Output = T> + 'static) -> Task<T> {
    Task(glommio::spawn_local(fut))
}

/// Runs CPU-bound work without IO on a thread of its own and waits for it
/// without holding the shard, so the shard keeps serving its other
/// connections and queries. (glommio's blocking pool has one thread per
/// executor, which would queue one query's evaluation behind another's;
/// callers bound how many run at once, the query API through its gate.)
/// A panic in `f` comes back as `Err` with its message.
pub async fn spawn_blocking<F, R>(f: F) -> Result<R, String>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let job = move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(pool::panic_message)
    };
    let (tx, rx) = futures_channel::oneshot::channel();
    pool::spawn_thread("sluice-eval", move || {
        let _ = tx.send(job());
    });
    rx.await.unwrap_or_else(|_| {
        Err("the evaluation thread could not start or ended without an answer".into())
    })
}

/// Sleeps for `d` on the current shard's timer.
pub async fn sleep(d: Duration) {
    glommio::timer::sleep(d).await;
}

/// The error of a [`timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

/// Runs `fut` for at most `d`. The future is dropped (cancelled) when the
/// time runs out.
pub async fn timeout<T>(d: Duration, fut: impl Future<Output = T>) -> Result<T, Elapsed> {
    async { Ok(fut.await) }
        .or(async {
            sleep(d).await;
            Err(Elapsed)
        })
        .await
}

/// Yields to other tasks of this shard if this one has run for longer than
/// the executor's preemption budget. Long loops call it regularly.
pub async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// Yields unconditionally once.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// A TCP listener bound with SO_REUSEPORT, so every shard can bind the same
/// address and the kernel balances connections across them.
pub struct Listener(glommio::net::TcpListener);

impl Listener {
    /// Binds `addr` on the current shard.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        glommio::net::TcpListener::bind(addr)
            .map(Listener)
            .map_err(io::Error::from)
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(io::Error::from)
    }

    /// Accepts one connection, with Nagle disabled.
    pub async fn accept(&self) -> io::Result<Stream> {
        let s = self.0.accept().await.map_err(io::Error::from)?;
        s.set_nodelay(true).map_err(io::Error::from)?;
        Ok(s.compat())
    }
}

/// Connects to `addr` from the current shard, with Nagle disabled.
pub async fn connect(addr: SocketAddr, within: Duration) -> io::Result<Stream> {
    let s = glommio::net::TcpStream::connect_timeout(addr, within)
        .await
        .map_err(io::Error::from)?;
    s.set_nodelay(true).map_err(io::Error::from)?;
    Ok(s.compat())
}

/// A UDP socket on the current shard (used by the DNS client and the test
/// DNS server).
///
/// Unlike glommio's own `UdpSocket::bind`, this one does not set
/// SO_REUSEPORT: with it, Linux may hand a port-0 bind a port that another
/// socket of this process already holds, and datagrams would then be spread
/// over both sockets.
pub struct UdpSocket(glommio::net::UdpSocket);

impl UdpSocket {
    /// Binds `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let std = std::net::UdpSocket::bind(addr)?;
        Ok(UdpSocket(glommio::net::UdpSocket::from(
            socket2::Socket::from(std),
        )))
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr().map_err(io::Error::from)
    }

    /// Sends one datagram to `to`.
    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.0.send_to(buf, to).await.map_err(io::Error::from)
    }

    /// Receives one datagram into `buf`; the excess of a longer datagram is
    /// discarded. Returns its length and sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_from(buf).await.map_err(io::Error::from)
    }
}

/// Runs `fut` to completion on a new single executor on the current thread.
/// Used by tests, benches and one-shot commands.
pub fn block_on<T>(fut: impl Future<Output = T>) -> Result<T, RuntimeError> {
    preflight::raise_memlock();
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .map_err(|e| preflight::diagnose(&e.to_string()))?;
    Ok(ex.run(fut))
}

/// Running shards; [`Shards::join`] waits for all of them.
pub struct Shards {
    handles: Vec<glommio::ExecutorJoinHandle<()>>,
}

impl Shards {
    /// Waits for every shard's main future to end. The first error (an
    /// executor that could not start) is returned.
    pub fn join(self) -> Result<(), RuntimeError> {
        let mut first = None;
        for h in self.handles {
            if let Err(e) = h.join() {
                first.get_or_insert_with(|| preflight::diagnose(&e.to_string()));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Starts `n` shards, each on its own thread running one executor; shard `i`
/// runs `main(i)`. Shards are pinned to the CPUs of this process's affinity
/// mask when there are at least `n` of them, unbound otherwise.
///
/// io_uring is probed first, so that a machine where it cannot be set up gets
/// one clear error saying why and what to change, rather than `n` panics.
pub fn start_shards<G, F>(n: usize, main: G) -> Result<Shards, RuntimeError>
where
    G: Fn(usize) -> F + Send + Sync + Clone + 'static,
    F: Future<Output = ()> + 'static,
{
    preflight::check()?;
    // Before any thread is pinned: the workers must be free to use every core.
    pool::start();
    SHARDS.store(n, std::sync::atomic::Ordering::Relaxed);
    let cpus = cores::affinity_cpus();
    let pin = cpus.len() >= n;
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let placement = match cpus.get(i) {
            Some(&cpu) if pin => Placement::Fixed(cpu),
            _ => Placement::Unbound,
        };
        let main = main.clone();
        let h = LocalExecutorBuilder::new(placement)
            .name(&format!("sluice-shard-{i}"))
            .spawn(move || main(i))
            .map_err(|e| preflight::diagnose(&e.to_string()))?;
        handles.push(h);
    }
    Ok(Shards { handles })
}

/// How many shards this process runs (1 outside [`start_shards`]).
pub fn shard_count() -> usize {
    SHARDS.load(std::sync::atomic::Ordering::Relaxed).max(1)
}

static SHARDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The index of the current shard's CPU-bound executor, for logs and metrics.
pub fn shard_id() -> usize {
    SHARD.with(|s| s.get())
}

/// Records the current thread's shard index (called once by shard main).
pub fn set_shard_id(i: usize) {
    SHARD.with(|s| s.set(i));
}

thread_local! {
    static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
