//! The accept loop of both listeners, over hyper's HTTP/1 connection, with the limits `axum::serve` cannot
//! set: a header-read timeout, a request-body timeout, an idle keep-alive timeout and a cap on open
//! connections (the rules are in `http::connections`).
//!
//! hyper's own `header_read_timeout` is off: its timer starts whenever the connection is ready for a head,
//! so after an answer it runs over keep-alive silence too, and would close idle connections at the header
//! limit. Instead each connection's task watches its [`Phase`]: the I/O marks the first byte of a head, the
//! service marks the head, the body's end and the answer's end, and the task closes the connection when the
//! phase's deadline passes. The body timeout itself is tower-http's `RequestBodyDeadlineLayer`, so a body
//! that does not come in time is answered 408 before the connection closes.
//!
//! Accept errors (out of file descriptors above all) neither spin nor stop the loop: they are logged once a
//! window, the connection that has waited longest on its client is closed to free a descriptor, and the
//! loop backs off briefly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::http::connections::{Connection, ErrorLog, Limits, Registry};

/// How long the loop pauses after an accept error that is not the client's (no descriptor left ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Accept errors are logged once per this window.
const ERROR_LOG_WINDOW: Duration = Duration::from_secs(10);
/// At the cap with every connection being answered, how often the loop looks again for room.
const ROOM_RECHECK: Duration = Duration::from_millis(100);

/// What the listeners of one server share: the limits, the open connections, the stop signal, and the
/// connection tasks to wait for.
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) limits: Limits,
    pub(crate) registry: Arc<Registry>,
    pub(crate) stopping: watch::Receiver<bool>,
    pub(crate) tasks: TaskTracker,
}

/// Accepts connections on `listener` and serves `router` on each, until `stopping` turns true. Returns
/// then, without waiting for the connections (they are in `tasks`).
pub(crate) async fn accept_loop(listener: TcpListener, router: Router, mut serving: Serving, name: &'static str) {
    let mut errors = ErrorLog::new(ERROR_LOG_WINDOW);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = serving.stopping.wait_for(|stop| *stop) => return,
            accepted = async {
                serving.registry.wait_for_room(ROOM_RECHECK).await;
                listener.accept().await
            } => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = Arc::new(Connection::new(Instant::now()));
                let (id, evicted) = serving.registry.admit(Arc::clone(&connection));
                if evicted {
                    metrics::counter!(crate::metrics::CONNECTIONS_CLOSED, "reason" => "evicted").increment(1);
                    tracing::debug!(
                        listener = name,
                        open = serving.registry.len(),
                        "at the connection cap: closed the connection that waited longest on its client"
                    );
                }
                let task = serve_connection(stream, peer, router.clone(), (id, connection), serving.clone());
                serving.tasks.spawn(task);
            }
            Err(error) if is_the_clients(&error) => {}
            Err(error) => {
                if let Some(unlogged) = errors.should_log(Instant::now()) {
                    tracing::error!(
                        listener = name,
                        %error,
                        unlogged,
                        "cannot accept connections; backing off (further errors this window are counted, not logged)"
                    );
                }
                serving.registry.evict_one();
                tokio::select! {
                    _ = serving.stopping.wait_for(|stop| *stop) => return,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

/// Errors that concern one client's connection, not the listener: go on at once.
fn is_the_clients(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset)
}

/// Serves one connection until the client closes it, its phase's deadline passes, it is evicted for a
/// newcomer, or (once stopping) its last answer has gone.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    (id, connection): (u64, Arc<Connection>),
    serving: Serving,
) {
    let Serving {
        limits,
        registry,
        mut stopping,
        ..
    } = serving;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Watched {
        stream,
        connection: Arc::clone(&connection),
    });
    let service = {
        let connection = Arc::clone(&connection);
        let registry = Arc::clone(&registry);
        hyper::service::service_fn(move |request| {
            answer(
                request,
                router.clone(),
                peer,
                Arc::clone(&connection),
                Arc::clone(&registry),
            )
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The header limit is ours (see the module's comment); hyper wants a timer all the same.
    http.timer(TokioTimer::new()).header_read_timeout(None);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = connection.phase().deadline(&limits);
        let wake = deadline.map_or_else(|| Instant::now() + limits.idle, |(at, _)| at);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            () = connection.evicted.notified() => break,
            () = connection.changed.notified() => {}
            () = tokio::time::sleep_until(wake.into()) => {
                if let Some((at, why)) = connection.phase().deadline(&limits)
                    && at <= Instant::now()
                {
                    metrics::counter!(crate::metrics::CONNECTIONS_CLOSED, "reason" => why.label()).increment(1);
                    tracing::debug!(reason = why.label(), "connection closed by its limit");
                    break;
                }
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    registry.remove(id);
}

/// One request: the phase follows it, the client's address goes with it (for the throttle of failed admin
/// authentications), and the answer's end marks the connection waiting again.
async fn answer(
    request: hyper::Request<Incoming>,
    router: Router,
    peer: SocketAddr,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
) -> Result<axum::response::Response<Answering>, Infallible> {
    let body_ended = request.body().is_end_stream();
    connection.head_came(Instant::now(), body_ended);
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = RequestBody {
        inner: body,
        connection: Arc::clone(&connection),
        ended: body_ended,
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::new(body));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(response.map(|inner| Answering {
        inner,
        done: Some(Done { connection, registry }),
    }))
}

/// A request's body, which marks the connection busy once it has fully come.
struct RequestBody {
    inner: Incoming,
    connection: Arc<Connection>,
    ended: bool,
}

impl Body for RequestBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended && !self.ended {
            self.ended = true;
            self.connection.body_ended();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body, which marks the connection waiting for its next request once written (dropped).
pub(crate) struct Answering {
    inner: axum::body::Body,
    done: Option<Done>,
}

struct Done {
    connection: Arc<Connection>,
    registry: Arc<Registry>,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.connection.answered(Instant::now());
        self.registry.maybe_room();
    }
}

impl Body for Answering {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.done = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's socket, which tells the connection when bytes come.
struct Watched {
    stream: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.connection.bytes_came();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
