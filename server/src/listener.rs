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
//!
//! A request in flight holds the connection only while its client reads. A client that
//! never reads the answer (an HTTP/1.1 client with a full receive buffer, an HTTP/2 client
//! that grants no flow-control window and answers PINGs) would otherwise keep it forever:
//! every answer's body notes when it handed a frame to hyper, and the watchdog closes a
//! connection whose writer has left a frame untaken for two to three of its periods
//! (20–30 s) and taken no frame of any answer in the last one. A body waiting for its
//! own data (an SSE stream whose upstream is quiet) is not waiting on the writer and is
//! never cut. Frames are handed out in pieces of at most [`FRAME_PIECE`] bytes, so a
//! whole page or bundle in one frame is not mistaken for a stall: a client is cut only
//! when its socket (or HTTP/2 window) takes nothing for that long.
//!
//! The watchdog's timer wakes once per [`HEADER_TIMEOUT`] at most; a request costs a few
//! atomic operations and one clock read, a frame three atomic operations.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
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
/// The largest data frame an answer's body hands to the writer at once.
const FRAME_PIECE: usize = 64 * 1024;

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

/// One connection's requests in flight, the moment it last became idle, and the answer
/// frames its writer has not taken yet.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Nanoseconds from `start` to the end of the last request (0: none yet).
    idle_since: AtomicU64,
    /// The watchdog's period, advanced on each of its checks while requests are in flight.
    period: AtomicUsize,
    /// Bodies that handed a frame to the writer and were not polled since, by the period
    /// (modulo 3) in which they handed it.
    waiting: [AtomicUsize; 3],
    /// Frames taken by the writer so far, and as many at the watchdog's last check.
    taken: AtomicU64,
    taken_seen: AtomicU64,
    /// A body waited on the writer for a whole period: the client does not read.
    stalled: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            period: AtomicUsize::new(0),
            waiting: Default::default(),
            taken: AtomicU64::new(0),
            taken_seen: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When to look again, or `None` if at `now` the connection has had no request in
    /// flight for `idle_timeout`, or its client has stopped reading.
    fn deadline(&self, now: Instant, idle_timeout: Duration) -> Option<Instant> {
        // Acquire: pairs with the Release in `InFlight::drop`, so `idle_since` is the
        // moment the last request ended.
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return (!self.writer_stalled()).then_some(now + idle_timeout);
        }
        let idle_since = self.start + Duration::from_nanos(self.idle_since.load(Ordering::Relaxed));
        Some(idle_since + idle_timeout).filter(|&deadline| deadline > now)
    }

    /// Starts the next period; `true` (from then on) if a body that handed its frame two
    /// periods ago still waits for the writer and the writer took no frame at all in the
    /// last period. While requests are in flight the watchdog checks once per idle
    /// timeout, so that body has waited at least two of them. An HTTP/2 connection whose
    /// other streams still move is left alone: one stalled stream (a slow reader among
    /// the users a proxy multiplexes) must not cut the others.
    fn writer_stalled(&self) -> bool {
        if self.stalled.load(Ordering::Relaxed) {
            return true;
        }
        let taken = self.taken.load(Ordering::Relaxed);
        let moved = self.taken_seen.swap(taken, Ordering::Relaxed) != taken;
        let next = self.period.load(Ordering::Relaxed).wrapping_add(1);
        if !moved && self.waiting[next % 3].load(Ordering::Relaxed) > 0 {
            self.stalled.store(true, Ordering::Relaxed);
            return true;
        }
        self.period.store(next, Ordering::Relaxed);
        false
    }

    /// A body handed a frame to the writer: returns its slot in `waiting`.
    fn hand_frame(&self) -> usize {
        let slot = self.period.load(Ordering::Relaxed) % 3;
        self.waiting[slot].fetch_add(1, Ordering::Relaxed);
        slot
    }

    /// The writer polled a body again: its frame was taken.
    fn frame_taken(&self, slot: usize) {
        self.waiting[slot].fetch_sub(1, Ordering::Relaxed);
        self.taken.fetch_add(1, Ordering::Relaxed);
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
        // The head is handed to the writer like a frame: an HTTP/2 stream without
        // flow-control window never polls its body at all.
        let handed = in_flight.as_ref().map(|in_flight| in_flight.0.hand_frame());
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            in_flight,
            handed,
            rest: None,
        })))
    }
}

/// An answer's body that ends its request when dropped, and tells the watchdog when a
/// frame it handed out has not been taken.
struct TrackedBody {
    body: Body,
    in_flight: Option<InFlight>,
    /// The `waiting` slot of the frame handed out last, until the writer polls again.
    handed: Option<usize>,
    /// What is left of a data frame larger than [`FRAME_PIECE`].
    rest: Option<Bytes>,
}

impl TrackedBody {
    fn activity(&self) -> Option<&Activity> {
        self.in_flight.as_ref().map(|in_flight| &*in_flight.0)
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if let Some(slot) = self.handed.take()
            && let Some(activity) = self.activity()
        {
            activity.frame_taken(slot);
        }
        let frame = match self.rest.take() {
            Some(rest) => http_body::Frame::data(rest),
            None => match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                other => return Poll::Ready(other),
            },
        };
        let frame = match frame.into_data() {
            Ok(mut data) => {
                if data.len() > FRAME_PIECE {
                    self.rest = Some(data.split_off(FRAME_PIECE));
                }
                http_body::Frame::data(data)
            }
            Err(trailers) => trailers,
        };
        self.handed = self.activity().map(Activity::hand_frame);
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.body.size_hint();
        let rest = self
            .rest
            .as_ref()
            .map_or(0, |rest| u64::try_from(rest.len()).unwrap_or(u64::MAX));
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if let Some(slot) = self.handed.take()
            && let Some(activity) = self.activity()
        {
            activity.frame_taken(slot);
        }
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
            )
            .route(
                "/endless",
                get(|| async {
                    let piece = axum::body::Bytes::from(vec![b'x'; 16 * 1024]);
                    Body::from_stream(futures_util::stream::repeat_with(move || {
                        Ok::<_, std::convert::Infallible>(piece.clone())
                    }))
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

    /// Issue 23 (F2): a client that sends a request and never reads the answer.
    #[tokio::test]
    async fn a_client_that_does_not_read_loses_its_connection() {
        let (port, _stop, _server) = server().await;
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        socket
            .write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // Two to three watchdog periods, then the polite close's grace.
        sleep(IDLE * 3 + super::CLOSE_GRACE + IDLE).await;
        // What the kernels buffered, then the end: reading no longer revives it.
        let mut buffer = vec![0u8; 64 * 1024];
        let drained = tokio::time::timeout(IDLE * 10, async {
            while let Ok(1..) = socket.read(&mut buffer).await {}
        })
        .await;
        assert!(drained.is_ok(), "the endless answer still flows");
    }

    /// Issue 23 (F2): an HTTP/2 client that answers PINGs and grants no window.
    #[tokio::test]
    async fn an_http2_client_without_window_loses_its_connection() {
        let (port, _stop, _server) = server().await;
        let socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, axum::body::Bytes>(socket)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let (response, _) = send
            .send_request(
                axum::http::Request::get(format!("http://127.0.0.1:{port}/endless"))
                    .body(())
                    .unwrap(),
                true,
            )
            .unwrap();
        let _body = response.await.unwrap().into_body();
        let ended = tokio::time::timeout(IDLE * 3 + super::CLOSE_GRACE + IDLE * 3, connection);
        assert!(ended.await.is_ok(), "the stalled connection is still open");
    }

    /// An HTTP/2 stream nobody reads beside one that is read: the busy one finishes,
    /// then the stalled one alone loses the connection.
    #[tokio::test]
    async fn a_stalled_http2_stream_does_not_cut_a_busy_neighbour() {
        let (port, _stop, _server) = server().await;
        let socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The stalled stream may fill its own window (64 KiB), not the connection's.
        let (send, connection) = h2::client::Builder::new()
            .initial_connection_window_size(16 * 1024 * 1024)
            .handshake::<_, axum::body::Bytes>(socket)
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let get = |path: &str| {
            axum::http::Request::get(format!("http://127.0.0.1:{port}{path}"))
                .body(())
                .unwrap()
        };
        let mut send = send.ready().await.unwrap();
        let (stalled, _) = send.send_request(get("/endless"), true).unwrap();
        let _stalled = stalled.await.unwrap().into_body();
        let mut send = send.ready().await.unwrap();
        let (busy, _) = send.send_request(get("/stream"), true).unwrap();
        let mut body = busy.await.unwrap().into_body();
        let mut read = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            read.extend_from_slice(&chunk);
        }
        assert!(String::from_utf8_lossy(&read).ends_with("chunk 5\n"));
        let ended = tokio::time::timeout(IDLE * 3 + super::CLOSE_GRACE + IDLE * 3, connection);
        assert!(ended.await.is_ok(), "the stalled connection is still open");
    }

    /// A frame larger than a piece is handed out in pieces, with the right size hint.
    #[tokio::test]
    async fn large_frames_are_handed_out_in_pieces() {
        use axum::body::HttpBody as _;

        let activity = std::sync::Arc::new(super::Activity::new());
        let size = super::FRAME_PIECE * 3 + 10;
        let mut body = super::TrackedBody {
            body: Body::from(vec![7u8; size]),
            handed: Some(activity.hand_frame()),
            in_flight: Some(activity.begin()),
            rest: None,
        };
        assert_eq!(body.size_hint().exact(), Some(size as u64));
        let mut pieces = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            pieces.push(frame.unwrap().into_data().unwrap().len());
            let left = size - pieces.iter().sum::<usize>();
            assert_eq!(body.size_hint().exact(), Some(left as u64));
            assert_eq!(body.is_end_stream(), left == 0);
        }
        let piece = super::FRAME_PIECE;
        assert_eq!(pieces, [piece, piece, piece, 10]);
        drop(body);
        let waiting: usize = activity
            .waiting
            .iter()
            .map(|w| w.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        assert_eq!(waiting, 0, "every handed frame was taken");
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
