//! Accepting connections (SPEC §16 "slow and many clients"): hyper's server with limits
//! `axum::serve` does not set. At most `max_connections` are open at once (further ones
//! wait in the kernel's backlog), every connection is served on its own task so a slow one
//! delays nobody, and on shutdown in-flight requests finish (up to [`DRAIN_TIMEOUT`]).
//!
//! A connection holds its place only while it works. Each one counts its requests in
//! flight, from the call of the router until the answer's body is dropped (an SSE stream
//! is in flight as long as it streams), and remembers when the count last fell to zero.
//! A watchdog per connection closes it once it has been idle for [`HEADER_TIMEOUT`],
//! whatever it is doing meanwhile: a socket that never sends a byte or stops in the middle
//! of the HTTP/2 preface, a request whose headers do not arrive, an idle HTTP/1.1
//! keep-alive connection, an idle HTTP/2 connection answering PINGs. Closing is polite
//! first (an HTTP/2 GOAWAY, so a request already on its way is not lost) and final
//! [`CLOSE_GRACE`] later. hyper does not do this by itself: its auto-detection waits for
//! the preface without a timeout and its HTTP/2 side has no header or idle timeout.
//! The watchdog's timer wakes once per [`HEADER_TIMEOUT`] at most; a request costs a few
//! atomic operations and one clock read.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes, HttpBody},
    extract::ConnectInfo,
    http::{Request, Response},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
    time::Instant,
};
use tower::Service;

/// How long a connection may go without a request in flight: a client has this long to
/// send a request's headers, from the connection's start or the end of the previous answer.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle connection told to close may take to do so before it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, app, max_connections, HEADER_TIMEOUT, shutdown).await;
}

/// [`serve`] with the idle timeout as a parameter (the tests shorten it).
async fn serve_with(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    idle_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    // Every connection holds a receiver: shutdown sends, then waits for all to be dropped.
    let (stop, stopped) = watch::channel(());
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a page streamed in several writes waits for the
        // browser's delayed ACK (40 ms on Linux) before its last chunk.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::new());
        let service = TowerToHyperService::new(Tracked {
            app: app.clone(),
            peer: ConnectInfo(peer),
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let mut stop = stopped.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let watchdog = tokio::time::sleep(idle_timeout);
            tokio::pin!(watchdog);
            let mut closing = false;
            let result = loop {
                tokio::select! {
                    result = connection.as_mut() => break result,
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    () = watchdog.as_mut() => {
                        let now = Instant::now();
                        if let Some(deadline) = activity.deadline(now, idle_timeout) {
                            watchdog.as_mut().reset(deadline);
                        } else if closing {
                            tracing::debug!("dropping an idle connection");
                            break Ok(());
                        } else {
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                            watchdog.as_mut().reset(now + CLOSE_GRACE);
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // No receiver is cloned any more, so every connection sees this.
    let _ = stop.send(());
    drop(stopped);
    tokio::select! {
        () = stop.closed() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("shutting down with requests still in flight");
        }
    }
}

/// One connection's requests in flight and the moment it last became idle.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds from `start` to the end of the last request (0: none yet).
    idle_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When to look again, or `None` if at `now` the connection has had no request in
    /// flight for `idle_timeout`.
    fn deadline(&self, now: Instant, idle_timeout: Duration) -> Option<Instant> {
        // Acquire: pairs with the Release in `InFlight::drop`, so `idle_since` is the
        // moment the last request ended.
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Some(now + idle_timeout);
        }
        let idle_since = self.start + Duration::from_nanos(self.idle_since.load(Ordering::Relaxed));
        Some(idle_since + idle_timeout).filter(|&deadline| deadline > now)
    }
}

/// A request in flight, from the router's call until its answer's body is dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let ended = u64::try_from(activity.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // fetch_max: with HTTP/2, answers on other tasks may end in any order.
        activity.idle_since.fetch_max(ended, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// The router, with the peer's address for `ConnectInfo`, counting requests in flight.
#[derive(Clone)]
struct Tracked {
    app: Router,
    peer: ConnectInfo<SocketAddr>,
    activity: Arc<Activity>,
}

impl<B> Service<Request<B>> for Tracked
where
    Router: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    <Router as Service<Request<B>>>::Future: Unpin,
{
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = TrackedFuture<<Router as Service<Request<B>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request<B>>::poll_ready(&mut self.app, cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        TrackedFuture {
            in_flight: Some(self.activity.begin()),
            answer: self.app.call(request),
        }
    }
}

/// The router's answer; the request stays in flight in its body.
struct TrackedFuture<F> {
    answer: F,
    in_flight: Option<InFlight>,
}

impl<F> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>> + Unpin,
{
    type Output = Result<Response<TrackedBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(response) = ready!(Pin::new(&mut self.answer).poll(cx));
        let in_flight = self.in_flight.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _in_flight: in_flight,
        })))
    }
}

/// An answer's body that ends its request when dropped.
struct TrackedBody {
    body: Body,
    _in_flight: Option<InFlight>,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::time::Duration;

    use axum::{Router, body::Body, routing::get};
    use futures_util::StreamExt as _;
    use tokio::{
        io::{AsyncReadExt as _, AsyncWriteExt as _},
        net::{TcpListener, TcpStream},
        sync::oneshot,
        time::{Instant, sleep},
    };

    use super::serve_with;

    /// Shortened for the tests.
    const IDLE: Duration = Duration::from_millis(300);

    /// A server with an answer that streams for 3 × `IDLE` and one that takes as long
    /// to begin; a send on the sender shuts it down.
    async fn server() -> (u16, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let app = Router::new()
            .route(
                "/stream",
                get(|| async {
                    Body::from_stream(futures_util::stream::iter(0..6).then(|i| async move {
                        sleep(IDLE / 2).await;
                        Ok::<_, std::convert::Infallible>(format!("chunk {i}\n"))
                    }))
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    sleep(IDLE * 3).await;
                    "finally"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(serve_with(listener, app, 4, IDLE, async {
            let _ = stopped.await;
        }));
        (port, stop, server)
    }

    /// Sends a keep-alive GET for `path`; reads until the server closes the connection.
    /// Returns what was read, when the last byte came and when the connection closed.
    async fn get_until_closed(port: u16, path: &str) -> (String, Instant, Instant) {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        socket
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (mut read, mut last) = (Vec::new(), Instant::now());
        let mut buffer = [0u8; 1024];
        while let Ok(n @ 1..) = socket.read(&mut buffer).await {
            read.extend_from_slice(&buffer[..n]);
            last = Instant::now();
        }
        (String::from_utf8(read).unwrap(), last, Instant::now())
    }

    #[tokio::test]
    async fn an_answer_streaming_longer_than_the_idle_timeout_is_not_cut() {
        let (port, _stop, _server) = server().await;
        let (read, last, closed) = get_until_closed(port, "/stream").await;
        assert!(read.starts_with("HTTP/1.1 200"), "{read}");
        assert!(
            read.contains("chunk 5\n") && read.ends_with("0\r\n\r\n"),
            "{read}"
        );
        // Then the connection is idle, and closed after `IDLE`.
        let idle = closed - last;
        assert!(idle >= IDLE && idle < IDLE * 5, "{idle:?}");
    }

    #[tokio::test]
    async fn a_request_in_flight_longer_than_the_idle_timeout_is_answered() {
        let (port, _stop, _server) = server().await;
        let (read, last, closed) = get_until_closed(port, "/slow").await;
        assert!(read.starts_with("HTTP/1.1 200"), "{read}");
        assert!(read.ends_with("finally"), "{read}");
        let idle = closed - last;
        assert!(idle >= IDLE && idle < IDLE * 5, "{idle:?}");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_idle_timeout() {
        let (port, _stop, _server) = server().await;
        let started = Instant::now();
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(socket.read(&mut [0u8; 16]).await.unwrap_or(0), 0);
        let closed = started.elapsed();
        assert!(closed >= IDLE && closed < IDLE * 5, "{closed:?}");
    }

    #[tokio::test]
    async fn shutdown_lets_requests_in_flight_finish() {
        let (port, stop, server) = server().await;
        let request = tokio::spawn(get_until_closed(port, "/slow"));
        sleep(IDLE).await;
        stop.send(()).unwrap();
        let (read, _, _) = request.await.unwrap();
        assert!(read.ends_with("finally"), "{read}");
        tokio::time::timeout(IDLE * 5, server)
            .await
            .unwrap()
            .unwrap();
    }
}
