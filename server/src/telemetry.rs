//! Logging and traces.
//!
//! Logs: text or JSON lines on standard error. Nothing logs request headers or bodies,
//! so secrets, tokens, passwords and session ids cannot reach the log. Lines are
//! written by a background thread (`tracing-appender`'s non-blocking writer): a request
//! never waits for standard error. When its buffer is full (a stalled log reader, or
//! `debug` under heavy load) further lines are dropped rather than stalling every
//! thread that logs; the count of dropped lines is printed at exit.
//!
//! Traces (SPEC §20): with an OTLP endpoint, the server's spans ([`Span`]) are made
//! with the OpenTelemetry API and exported by its SDK and `opentelemetry-otlp`
//! (OTLP/HTTP, protobuf, batched on the SDK's own thread) through the process's reqwest
//! client; W3C trace context is read and written by the SDK's propagator. A recorded
//! request's context is current while its future is polled, so log lines written inside
//! it carry its `trace_id` and its child spans find their parent. Without an endpoint no
//! span is built: traces off cost nothing.
//!
//! The spans are OpenTelemetry's own, not `tracing` spans bridged by
//! `tracing-opentelemetry`: the bridge kept a `tracing` span, its registry entry and an
//! OpenTelemetry span for each, and entered and left both on every poll, which cost a
//! recorded gateway call about as much as exporting its spans did (bench/results.md).
//!
//! No span attribute holds a secret, a token, an assertion or a header's value: the
//! spans record route templates, methods, statuses, client ids, slugs, MCP methods and
//! tool names, outcomes and timings, nothing else.

use std::{
    borrow::Cow,
    sync::{
        OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::http::HeaderMap;
use opentelemetry::{
    Context, ContextGuard, KeyValue, Value,
    context::FutureExt as _,
    propagation::{Extractor, TextMapPropagator as _},
    trace::{
        SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags,
        TraceId, TraceState, Tracer as _, TracerProvider as _,
    },
};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracer, SdkTracerProvider},
};
use tracing::{Metadata, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{
    Layer, Registry,
    filter::{FilterExt as _, filter_fn},
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{self, JsonFields, Writer},
    },
    layer::SubscriberExt as _,
    registry::LookupSpan,
    util::SubscriberInitExt as _,
};

use crate::config::{Config, LogFormat, Traces};

/// Lines the writer holds before it drops new ones (tracing-appender's default).
const BUFFERED_LINES: usize = 128_000;
/// How long one export may take (the OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Keeps the log writer running and the traces exported; dropping it (at the end of
/// `main`) writes out every buffered line and says how many were dropped.
#[must_use = "the log stops being written when this is dropped"]
pub struct LogGuard {
    worker: Option<WorkerGuard>,
    dropped: ErrorCounter,
    traces: Option<SdkTracerProvider>,
}

impl LogGuard {
    /// Exports the spans still buffered and stops exporting. Call while the runtime
    /// that sends them still runs, from outside it.
    pub fn stop_traces(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "the last traces could not be exported");
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.stop_traces();
        // The buffered lines first, so the count comes last.
        drop(self.worker.take());
        let dropped = self.dropped.dropped_lines();
        if dropped > 0 {
            eprintln!("clavis: {dropped} log lines were dropped (the log writer fell behind)");
        }
    }
}

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
#[error("traces: {0}")]
pub struct TraceError(String);

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber for the configured format and filter, and with
/// `runtime` (the server's) exports traces when [`Config::traces`] says so.
pub fn init(
    config: &Config,
    runtime: Option<&tokio::runtime::Handle>,
) -> Result<LogGuard, TraceError> {
    let provider = match (&config.traces, runtime) {
        (Some(traces), Some(runtime)) => Some(provider(traces, runtime.clone())?),
        _ => None,
    };
    let (writer, worker) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("clavis-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let traced = provider.is_some();
    // Events only: no layer wants `tracing` spans (the exported spans are [`Span`]s).
    let events = config
        .log_filter
        .clone()
        .and(filter_fn(|metadata: &Metadata<'_>| metadata.is_event()));
    let log: BoxedLayer = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .event_format(WithTraceId {
                inner: format::format(),
                traced,
                json: false,
            })
            .with_filter(events)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceId {
                inner: format::format().json().flatten_event(true),
                traced,
                json: true,
            })
            .with_filter(events)
            .boxed(),
    };
    if let (Some(provider), Some(traces)) = (&provider, &config.traces) {
        RATIO.store(traces.sampling.to_bits(), Ordering::Relaxed);
        // Set once per process (the server's `main`).
        if TRACER.set(provider.tracer("clavis")).is_ok() {
            ENABLED.store(true, Ordering::Relaxed);
        }
    }
    // A subscriber already installed (tests) is fine.
    drop(tracing_subscriber::registry().with(log).try_init());
    Ok(LogGuard {
        worker: Some(worker),
        dropped,
        traces: provider,
    })
}

/// The tracer provider: a batch exporter to the collector, the sampler, the resource.
fn provider(
    traces: &Traces,
    runtime: tokio::runtime::Handle,
) -> Result<SdkTracerProvider, TraceError> {
    // No redirects: `OTEL_EXPORTER_OTLP_HEADERS` (a collector's key) go to the collector
    // named and nowhere else.
    let client = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TraceError(format!("no HTTP client: {e}")))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(Exporting { client, runtime });
    if let Some(endpoint) = &traces.endpoint {
        exporter = exporter.with_endpoint(endpoint.clone());
    }
    let exporter = exporter.build().map_err(|e| TraceError(e.to_string()))?;
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if !named {
        resource = resource.with_service_name("clavis");
    }
    let builder = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build());
    // Sampled before any span is built ([`sampled`]): every span made is recorded.
    Ok(builder.with_sampler(Sampler::AlwaysOn).build())
}

/// The exporter's HTTP client: the process's reqwest, run on the server's runtime (the
/// SDK exports from a thread of its own, outside any runtime).
#[derive(Debug)]
struct Exporting {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Exporting {
    async fn send_bytes(
        &self,
        request: axum::http::Request<axum::body::Bytes>,
    ) -> Result<axum::http::Response<axum::body::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let answer = client.execute(request).await?;
            let mut response = axum::http::Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                headers.extend(answer.headers().clone());
            }
            let body = crate::upstream::read_limited(answer, ANSWER_LIMIT)
                .await
                .unwrap_or_default();
            Ok::<_, opentelemetry_http::HttpError>(response.body(body)?)
        });
        sent.await?
    }
}

/// Log lines with the trace id of the request they were written in (when traced).
struct WithTraceId<F> {
    inner: F,
    traced: bool,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        if !self.traced {
            return self.inner.format_event(ctx, writer, event);
        }
        // The OpenTelemetry context a traced request's span made current.
        let context = Context::current();
        let span = context.span();
        let trace = span.span_context();
        if !trace.is_valid() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let trace_id = trace.trace_id();
        if self.json
            && let Some(rest) = line.strip_prefix('{')
        {
            write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}")
        } else {
            let body = line.strip_suffix('\n').unwrap_or(&line);
            writeln!(writer, "{body} trace_id={trace_id}")
        }
    }
}

/// Whether traces are on (an exporter was installed).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// What makes the spans, when traces are on.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();
/// The share of new traces recorded (`f64` bits).
static RATIO: AtomicU64 = AtomicU64::new(0);

/// Whether traces are on: requests are sampled and trace context goes upstream.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the current trace is recorded: inside a recorded request's span. Spans
/// inside a request are built only then.
pub fn recording() -> bool {
    enabled() && Context::current().span().span_context().is_sampled()
}

/// The caller's trace context named by W3C `traceparent`/`tracestate` `carrier`, if
/// valid.
pub fn remote_parent(carrier: &dyn Extractor) -> Option<Context> {
    let parent = TraceContextPropagator::new().extract(carrier);
    parent.span().span_context().is_valid().then_some(parent)
}

/// Whether a request is recorded, decided before a span is built (parent-based, as
/// OpenTelemetry's default sampler): as the caller's trace says it is sampled, else
/// at the sampling ratio. A request not recorded costs no span at all.
pub fn sampled(parent: Option<&Context>) -> bool {
    match parent {
        Some(parent) => parent.span().span_context().is_sampled(),
        None => {
            let ratio = f64::from_bits(RATIO.load(Ordering::Relaxed));
            ratio >= 1.0 || (ratio > 0.0 && rand::random::<f64>() < ratio)
        }
    }
}

/// The trace context a request that is not recorded hands on: a span id of its own,
/// not sampled, in the caller's trace or a new one.
#[derive(Debug, Clone)]
pub struct Unrecorded(pub Context);

impl Unrecorded {
    pub fn new(parent: Option<&Context>) -> Self {
        let (trace_id, state) = match parent {
            Some(parent) => {
                let span = parent.span();
                let context = span.span_context();
                (context.trace_id(), context.trace_state().clone())
            }
            None => (TraceId::from_bytes(rand::random()), TraceState::default()),
        };
        let context = SpanContext::new(
            trace_id,
            SpanId::from_bytes(rand::random()),
            TraceFlags::default(),
            false,
            state,
        );
        Self(Context::new().with_remote_span_context(context))
    }
}

/// One span of a recorded request, or none (when traces are off or the request is not
/// recorded): then every method does nothing. A span ends when dropped; while a future
/// runs [`Span::around`] it is the current span (its parent for child spans, its trace
/// id for log lines).
#[must_use = "a span ends when dropped"]
pub struct Span(Option<Context>);

impl Span {
    pub const fn none() -> Self {
        Self(None)
    }

    /// A request's server span, a new trace or continuing the caller's `parent` (the
    /// request was [`sampled`]).
    pub fn server(
        name: impl Into<Cow<'static, str>>,
        attributes: Vec<KeyValue>,
        parent: Option<Context>,
    ) -> Self {
        Self::start(
            name,
            SpanKind::Server,
            attributes,
            parent.unwrap_or_default(),
        )
    }

    /// A span inside the current one, if the current trace is recorded ([`recording`]):
    /// its name and attributes are made (by `made`) only then.
    pub fn child(
        kind: SpanKind,
        made: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>),
    ) -> Self {
        if !recording() {
            return Self::none();
        }
        let (name, attributes) = made();
        Self::start(name, kind, attributes, Context::current())
    }

    fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        parent: Context,
    ) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self::none();
        };
        let builder = SpanBuilder::from_name(name)
            .with_kind(kind)
            .with_attributes(attributes);
        let span = tracer.build_with_context(builder, &parent);
        Self(Some(parent.with_span(span)))
    }

    /// Whether this span is recorded (it was built).
    pub fn is_recorded(&self) -> bool {
        self.0.is_some()
    }

    /// Sets attribute `key`.
    pub fn record(&self, key: &'static str, value: impl Into<Value>) {
        self.record_with(key, || value);
    }

    /// Sets attribute `key` to what `value` makes, made only when this span is recorded
    /// (an owned copy costs nothing when traces are off).
    pub fn record_with<V: Into<Value>>(&self, key: &'static str, value: impl FnOnce() -> V) {
        if let Some(context) = &self.0 {
            context.span().set_attribute(KeyValue::new(key, value()));
        }
    }

    /// Marks the span failed (OpenTelemetry's `Error` status), with `error.type` when
    /// given.
    pub fn fail(&self, error_type: Option<String>) {
        if let Some(context) = &self.0 {
            let span = context.span();
            if let Some(error_type) = error_type {
                span.set_attribute(KeyValue::new("error.type", error_type));
            }
            span.set_status(Status::error(""));
        }
    }

    /// Runs `future` with this span current.
    pub async fn around<F: Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(context) => future.with_context(context.clone()).await,
            None => future.await,
        }
    }

    /// Makes this span current until the guard is dropped (for code outside
    /// [`Span::around`]; not to be held across an `.await`).
    pub fn enter(&self) -> Option<ContextGuard> {
        self.0.as_ref().map(|context| context.clone().attach())
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(context) = &self.0 {
            context.span().end();
        }
    }
}

/// Request headers as a propagation carrier.
pub fn headers(headers: &HeaderMap) -> impl Extractor + '_ {
    opentelemetry_http::HeaderExtractor(headers)
}

/// `traceparent`/`tracestate` from an MCP request's `params._meta` as a carrier.
pub struct Meta<'a> {
    pub traceparent: &'a str,
    pub tracestate: Option<&'a str>,
}

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.traceparent),
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// `traceparent` and `tracestate` naming `span` (its trace, itself as the parent), or
/// when it was not built the request's `unrecorded` context (made here from `request`'s
/// headers for a request the middleware did not see); replacing any in `headers`.
pub fn inject(
    span: &Span,
    unrecorded: Option<&Unrecorded>,
    request: &HeaderMap,
    headers: &mut HeaderMap,
) {
    headers.remove("traceparent");
    headers.remove("tracestate");
    let made;
    let context = match (&span.0, unrecorded) {
        (Some(context), _) => context,
        (None, Some(unrecorded)) => &unrecorded.0,
        (None, None) => {
            made = Unrecorded::new(remote_parent(&self::headers(request)).as_ref()).0;
            &made
        }
    };
    TraceContextPropagator::new()
        .inject_context(context, &mut opentelemetry_http::HeaderInjector(headers));
}
