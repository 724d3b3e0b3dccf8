//! The `[telemetry]` section and the process's trace pipeline: spans are
//! sent in batches over OTLP/HTTP (protobuf) to `otlp_endpoint`, sampled
//! at `sample_ratio` (a caller's sampled or unsampled `traceparent` decides
//! for its trace); without an endpoint nothing is traced or sent. The
//! standard `OTEL_EXPORTER_OTLP_HEADERS` variable adds headers (an API key
//! stays out of the file); `OTEL_*` variables never turn tracing on.

use crate::durations::Ms;
use crate::sources::Sources;
use anyhow::{Result, anyhow};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider,
};
use serde::Deserialize;
use std::time::Duration;

/// The instrumentation scope of the gateway's spans.
pub const GATEWAY_SCOPE: &str = "wrnexus-gateway";
/// The instrumentation scope of the control plane's spans.
pub const CONTROL_PLANE_SCOPE: &str = "wrnexus-control-plane";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP receiver's base URL, e.g. `http://127.0.0.1:4318`
    /// (spans go to `{otlp_endpoint}/v1/traces`). Unset: tracing off.
    pub otlp_endpoint: Option<String>,
    /// The share of new traces recorded, 0.0 to 1.0 (default 1.0).
    pub sample_ratio: Option<f64>,
    /// The `service.name` of the spans (default: `wrnexus-gateway`,
    /// `wrnexus-control-plane`, or `wrnexus` for everything in one process).
    pub service_name: Option<String>,
    /// How long spans wait to be sent in a batch, in milliseconds or with a
    /// unit (default 5s).
    pub export_interval_ms: Option<Ms>,
}

/// Tracing as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// The base URL (no trailing slash).
    pub endpoint: String,
    pub sample_ratio: f64,
    pub service_name: String,
    pub export_interval: Duration,
}

impl TelemetryConfig {
    /// Tracing to `endpoint` with the defaults, for `service_name`.
    pub fn to(endpoint: &str, service_name: &str) -> Result<Self, String> {
        Ok(TelemetryConfig {
            endpoint: endpoint_url(endpoint)?,
            sample_ratio: 1.0,
            service_name: service_name.to_string(),
            export_interval: Duration::from_secs(5),
        })
    }
}

/// `text` as an OTLP/HTTP base URL, or why not.
fn endpoint_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{text}` is not an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}`: the base URL takes no query or fragment (spans go to its /v1/traces)"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl TelemetrySettings {
    /// The tracing these settings ask for (`None`: off), with
    /// `default_service` as the service name unless one is given; an error
    /// names the key and where it was set.
    pub fn config(
        &self,
        sources: &Sources,
        default_service: &str,
    ) -> Result<Option<TelemetryConfig>> {
        let Some(endpoint) = self
            .otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        else {
            return Ok(None);
        };
        let mut config = TelemetryConfig::to(endpoint, default_service)
            .map_err(|e| anyhow!("{}: {e}", sources.locate("telemetry.otlp_endpoint")))?;
        if let Some(ratio) = self.sample_ratio {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(anyhow!(
                    "{}: sample_ratio must be between 0.0 and 1.0, not {ratio}",
                    sources.locate("telemetry.sample_ratio")
                ));
            }
            config.sample_ratio = ratio;
        }
        if let Some(name) = &self.service_name {
            if name.trim().is_empty() {
                return Err(anyhow!(
                    "{}: service_name must not be empty",
                    sources.locate("telemetry.service_name")
                ));
            }
            config.service_name = name.trim().to_string();
        }
        if let Some(interval) = self.export_interval_ms {
            config.export_interval = interval.duration.max(Duration::from_millis(10));
        }
        Ok(Some(config))
    }
}

/// The process's span pipeline: flushed and stopped when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Start sending spans as `config` says.
    pub fn start(config: &TelemetryConfig) -> Result<Self> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", config.endpoint))
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| anyhow!("[telemetry] otlp_endpoint: {e}"))?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(config.export_interval)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batches)
            .build();
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        Ok(Telemetry { provider })
    }

    /// The tracer of the instrumentation scope `scope`.
    pub fn tracer(&self, scope: &'static str) -> SdkTracer {
        self.provider.tracer(scope)
    }
}

impl Drop for Telemetry {
    /// Send what is still batched before the process ends.
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry: the last spans could not be sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn config(text: &str) -> Result<Option<TelemetryConfig>> {
        let settings = Settings::parse_with_env(text, "wrnexus.toml", Vec::new())?;
        settings
            .telemetry
            .config(&settings.sources, "wrnexus-gateway")
    }

    #[test]
    fn off_unless_an_endpoint_is_given() -> Result<()> {
        assert_eq!(config("")?, None);
        assert_eq!(config("[telemetry]\nsample_ratio = 0.5\n")?, None);
        let on = config(
            "[telemetry]\notlp_endpoint = \"http://collector:4318/\"\nsample_ratio = 0.25\nexport_interval_ms = \"200ms\"\n",
        )?;
        assert_eq!(
            on,
            Some(TelemetryConfig {
                endpoint: "http://collector:4318".to_string(),
                sample_ratio: 0.25,
                service_name: "wrnexus-gateway".to_string(),
                export_interval: Duration::from_millis(200),
            })
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        let cases = [
            (
                "otlp_endpoint = \"collector:4318\"",
                "telemetry.otlp_endpoint",
            ),
            (
                "otlp_endpoint = \"ftp://collector\"",
                "telemetry.otlp_endpoint",
            ),
            (
                "otlp_endpoint = \"http://c/?a=b\"",
                "telemetry.otlp_endpoint",
            ),
            (
                "otlp_endpoint = \"http://c\"\nsample_ratio = 1.5",
                "telemetry.sample_ratio",
            ),
            (
                "otlp_endpoint = \"http://c\"\nservice_name = \" \"",
                "telemetry.service_name",
            ),
        ];
        for (body, key) in cases {
            let text = format!("[telemetry]\n{body}\n");
            let error = match config(&text) {
                Ok(c) => panic!("{body}: accepted as {c:?}"),
                Err(e) => e.to_string(),
            };
            assert!(error.contains(key), "{body}: {error}");
            assert!(error.contains("wrnexus.toml:"), "{body}: {error}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(config("[telemetry]\nendpoint = \"http://c\"\n").is_err());
    }
}
