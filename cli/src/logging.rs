//! Logs to standard error (human or flat JSON lines, `WRNEXUS_LOG`
//! filtering them) and, when tracing is on, the control plane's `tracing`
//! spans exported as OpenTelemetry spans. Each has its own filter: the log
//! level does not decide what is traced, and log lines carry no span
//! prefixes.

use crate::telemetry::{CONTROL_PLANE_SCOPE, Telemetry};
use tracing::Metadata;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry};

/// The default `WRNEXUS_LOG`.
const DEFAULT_FILTER: &str = "info,pingora_core=warn,pingora_proxy=warn";

/// Human-readable lines or one flat JSON object per event.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Which `tracing` spans become OpenTelemetry spans: the control plane's,
/// and of those only a request's own span starts a trace (a background
/// job's store calls make no trace of their own). Warnings and errors
/// inside them become span events.
#[derive(Debug)]
struct ControlPlaneSpans;

impl<S> Filter<S> for ControlPlaneSpans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if !meta.target().starts_with("wrnexus_control_plane") {
            return false;
        }
        if meta.is_event() {
            return *meta.level() <= tracing::Level::WARN && cx.lookup_current().is_some();
        }
        meta.target() == REQUEST_TARGET || cx.lookup_current().is_some()
    }

    /// The control plane's spans are all at `INFO` (and the events kept
    /// are warnings and errors): a hint the process's maximum level is
    /// taken from, so that more verbose callsites stay off at the source.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

/// The target of the control plane's per-request span.
const REQUEST_TARGET: &str = "wrnexus_control_plane::request";

/// The log lines' layer: events in `format`, those `filter` lets through.
fn log_layer<S>(format: LogFormat, filter: EnvFilter) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // Log lines are events only: spans (kept for tracing) add no prefixes.
    // The hint keeps `filter`'s own maximum level in force: without one,
    // the pair would have none, the process's maximum level would be
    // `TRACE`, and every `log` callsite in pingora (debug and trace lines
    // on each request) would be formatted into an event only to be
    // filtered out here.
    let events = tracing_subscriber::filter::filter_fn(|meta| meta.is_event())
        .with_max_level_hint(LevelFilter::TRACE);
    match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter.and(events))
            .boxed(),
        // One flat object per event: its fields beside `timestamp`, `level`
        // and `target`, not under `fields`.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .with_current_span(false)
            .with_writer(std::io::stderr)
            .with_filter(filter.and(events))
            .boxed(),
    }
}

/// Install the process's subscriber: logs in `format`, and spans to
/// `telemetry` when tracing is on.
pub fn init(format: LogFormat, telemetry: Option<&Telemetry>) {
    let filter =
        EnvFilter::try_from_env("WRNEXUS_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let logs = log_layer(format, filter);
    let spans = telemetry.map(|t| {
        tracing_opentelemetry::layer::<Registry>()
            .with_tracer(t.tracer(CONTROL_PLANE_SCOPE))
            // The span's own fields only: no source locations, thread names
            // or busy/idle timings on every span.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(ControlPlaneSpans)
    });
    let installed = tracing_subscriber::registry()
        .with(spans)
        .with(logs)
        .try_init();
    if let Err(e) = installed {
        eprintln!("logging: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Subscriber as _;

    /// The process's maximum level is the log filter's, so that pingora's
    /// per-request `debug!`/`trace!` lines stop at the callsite.
    #[test]
    fn the_maximum_level_is_the_filters() {
        for format in [LogFormat::Human, LogFormat::Json] {
            let quiet = Registry::default().with(log_layer(format, EnvFilter::new(DEFAULT_FILTER)));
            assert_eq!(quiet.max_level_hint(), Some(LevelFilter::INFO));
            let verbose = Registry::default().with(log_layer(format, EnvFilter::new("debug")));
            assert_eq!(verbose.max_level_hint(), Some(LevelFilter::DEBUG));
        }
        let spans = <ControlPlaneSpans as Filter<Registry>>::max_level_hint(&ControlPlaneSpans);
        assert_eq!(spans, Some(LevelFilter::INFO));
    }
}
