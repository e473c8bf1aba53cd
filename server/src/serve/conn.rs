//! The HTTP/1.1 front: a custom accept loop over hyper (axum's `serve` exposes none
//! of these bounds), with SPEC §6's connection bounds:
//!
//! * a cap on open connections (a semaphore; beyond it, clients wait in the
//!   kernel's accept queue instead of exhausting file descriptors);
//! * a header read timeout, counted from a connection's first byte of a request (or
//!   from its accept), so a slowloris client is cut;
//! * an idle keep-alive timeout between requests;
//! * the body read timeout is the handler's (`tokio::time::timeout` around the read);
//! * on shutdown, no new connections, idle ones close, requests in progress get the
//!   grace period; then whatever is left is closed.
//!
//! hyper's own `header_read_timeout` starts when a connection begins to wait for a
//! request, i.e. it also bounds the idle time between keep-alive requests; to keep
//! the two apart the timeouts are enforced by [`TimedStream`], which knows whether
//! a request is being read, handled, or awaited.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::config::Http;

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests: the idle timeout runs.
    Idle,
    /// A request's head is being read: the header timeout runs.
    Head,
    /// A request is being handled (its body read is bounded by the handler).
    Busy,
}

/// Shared by a connection's stream and its service.
struct ConnState {
    phase: Mutex<(Phase, Instant)>,
}

impl ConnState {
    fn set(&self, from: &[Phase], to: Phase) {
        let mut p = self.phase.lock().unwrap();
        if from.contains(&p.0) {
            *p = (to, Instant::now());
        }
    }

    fn deadline(&self, t: &Http) -> Option<Instant> {
        let p = self.phase.lock().unwrap();
        match p.0 {
            Phase::Idle => Some(p.1 + t.idle_timeout),
            Phase::Head => Some(p.1 + t.header_read_timeout),
            Phase::Busy => None,
        }
    }
}

/// A TCP stream that fails its reads with `TimedOut` once the header or idle
/// deadline of its connection's phase has passed.
struct TimedStream {
    inner: TcpStream,
    state: Arc<ConnState>,
    bounds: Http,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl AsyncRead for TimedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    // The first bytes of a new request: its head must arrive in time.
                    self.state.set(&[Phase::Idle], Phase::Head);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = self.state.deadline(&self.bounds) else { return Poll::Pending };
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out")));
                }
                if self.armed != Some(deadline) {
                    self.sleep.as_mut().reset(deadline);
                    self.armed = Some(deadline);
                }
                match self.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            // An answer is going out: the next read waits for a new request.
            self.state.set(&[Phase::Busy, Phase::Head], Phase::Idle);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.set(&[Phase::Busy, Phase::Head], Phase::Idle);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Decrements the open-connections gauge however the connection task ends.
struct Open(prometheus::IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains for at most
/// the grace period and closes what is left. Returns when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    bounds: Http,
    open: prometheus::IntGauge,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(bounds.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut conns = tokio::task::JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header and idle timeouts are TimedStream's (see the module comment).
    builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept:
                    // wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        while conns.try_join_next().is_some() {}
        let state = Arc::new(ConnState { phase: Mutex::new((Phase::Head, Instant::now())) });
        let io = TimedStream {
            inner: stream,
            state: state.clone(),
            bounds,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now() + bounds.idle_timeout)),
            armed: None,
        };
        let router = router.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            state.set(&[Phase::Idle, Phase::Head], Phase::Busy);
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), svc));
        open.inc();
        let guard = Open(open.clone());
        conns.spawn(async move {
            let _ = conn.await;
            drop(permit);
            drop(guard);
        });
    }
    drop(listener);
    tracing::info!(open = conns.len(), "no new connections; draining");
    if tokio::time::timeout(bounds.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = conns.len(),
            grace_secs = bounds.shutdown_grace.as_secs(),
            "grace period over: closing the remaining connections"
        );
    }
    conns.shutdown().await;
}
