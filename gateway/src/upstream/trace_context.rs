//! W3C trace context (`traceparent`): the trace a request belongs to —
//! a trusted proxy's when it sent a valid one, else a new trace — and the
//! `traceparent` the gateway passes on to the app or the control plane, so
//! their spans join the same trace. A client that is not a trusted proxy
//! cannot pick the trace its requests are recorded under.

use crate::upstream::forwarded::TrustedProxies;
use http::HeaderMap;
use std::cell::Cell;
use std::net::IpAddr;

/// The `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header (vendor data; never passed on from a client).
pub const TRACESTATE: &str = "tracestate";

/// The sampled flag of `trace-flags`.
const SAMPLED: u8 = 0x01;

/// One request's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The caller's span (a trusted proxy's), when adopted.
    pub parent_span_id: Option<[u8; 8]>,
    /// The gateway's own span for this request: the parent the upstream
    /// is told about.
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// `text` as `N` bytes, lowercase hex only (the recommendation's form).
fn lower_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    let mut out = [0u8; N];
    ::hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0u8; bytes.len() * 2];
    write_hex(&mut text, bytes);
    // Hex digits are ASCII: always UTF-8.
    String::from_utf8(text).unwrap_or_default()
}

/// Write the lowercase hex of `bytes` into `out` (two digits a byte; a
/// table lookup per digit: this runs for every request, traced or not).
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// A `traceparent` value's trace id, parent span id and flags; `None` for
/// anything the W3C recommendation says to ignore (bad form, version
/// `ff`, all-zero ids).
pub fn parse(value: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let bytes = value.trim().as_bytes();
    if bytes.len() < 55 {
        return None;
    }
    let [version] = lower_hex::<1>(&bytes[0..2])?;
    // Version 00 is exactly 55 characters; later versions may append
    // fields after a dash.
    let exact = version == 0 && bytes.len() == 55;
    let extended = version != 0 && bytes.get(55).is_none_or(|b| *b == b'-');
    if version == 0xff || !(exact || extended) {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id: [u8; 16] = lower_hex(&bytes[3..35])?;
    let parent: [u8; 8] = lower_hex(&bytes[36..52])?;
    let [flags] = lower_hex::<1>(&bytes[53..55])?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace_id, parent, flags))
}

fn random_bytes() -> [u8; 16] {
    // v4: 122 random bits from the OS generator; the version and variant
    // nibbles are fixed, which leaves a trace id still unique enough.
    *uuid::Uuid::new_v4().as_bytes()
}

fn new_span_id() -> [u8; 8] {
    let random = random_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&random[8..16]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

impl TraceContext {
    /// The trace of a request from `peer`: the one its single valid
    /// `traceparent` names when `peer` is a trusted proxy, else a new one
    /// (sampled: whether to record it is the exporter's sampler's call).
    pub fn of_request(client: &HeaderMap, peer: Option<IpAddr>, trusted: &TrustedProxies) -> Self {
        let adopted = trusted
            .trusts(peer)
            .then(|| {
                let mut values = client.get_all(TRACEPARENT).iter();
                match (values.next(), values.next()) {
                    (Some(one), None) => one.to_str().ok().and_then(parse),
                    _ => None,
                }
            })
            .flatten();
        match adopted {
            Some((trace_id, parent, flags)) => TraceContext {
                trace_id,
                parent_span_id: Some(parent),
                span_id: new_span_id(),
                flags,
            },
            None => TraceContext {
                trace_id: random_bytes(),
                parent_span_id: None,
                span_id: new_span_id(),
                flags: SAMPLED,
            },
        }
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` for a request the gateway makes on behalf of
    /// this one: this trace, with the gateway's span as the parent.
    pub fn traceparent(&self) -> String {
        // `00-{trace id}-{span id}-{flags}`, written in place.
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        write_hex(&mut text[3..35], &self.trace_id);
        write_hex(&mut text[36..52], &self.span_id);
        write_hex(&mut text[53..55], &[self.flags & SAMPLED]);
        std::str::from_utf8(&text)
            .map(str::to_owned)
            .unwrap_or_default()
    }
}

/// Where a request's decision data came from, shallowest first: the
/// gateway's memory, Redis, or the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Memory,
    Redis,
    ControlPlane,
}

impl Layer {
    /// The `wrnexus.cache.layer` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Memory => "memory",
            Layer::Redis => "redis",
            Layer::ControlPlane => "control_plane",
        }
    }
}

/// The parent a call made while admitting a request names.
#[derive(Debug)]
pub enum Parent {
    /// The admission's own span (traced), as a `traceparent` value.
    Span(String),
    /// The request's context (untraced): formatted only when a call is
    /// made, which a request answered from the gateway's memory never does.
    Request(TraceContext),
}

impl Parent {
    fn traceparent(&self) -> String {
        match self {
            Parent::Span(text) => text.clone(),
            Parent::Request(context) => context.traceparent(),
        }
    }
}

/// What calls made while admitting a request carry, and note.
struct Admission {
    parent: Option<Parent>,
    /// The deepest layer asked for this request's data (`None`: none was,
    /// or another request's fetch was awaited).
    deepest: Cell<Option<Layer>>,
}

tokio::task_local! {
    static ADMISSION: Admission;
}

/// Run `admission` with `parent` as the one its calls to the control
/// plane carry (a fetch shared by several requests carries the trace of
/// the request that started it).
pub async fn within<F: Future>(parent: Option<Parent>, admission: F) -> F::Output {
    let scope = Admission {
        parent,
        deepest: Cell::new(None),
    };
    ADMISSION.scope(scope, admission).await
}

/// The `traceparent` of the request being admitted, if any.
pub fn outgoing() -> Option<String> {
    ADMISSION
        .try_with(|a| a.parent.as_ref().map(Parent::traceparent))
        .ok()
        .flatten()
}

/// Note that the request being admitted asked `layer` for data.
pub fn asked(layer: Layer) {
    let _outside = ADMISSION.try_with(|a| {
        if a.deepest.get().is_none_or(|deepest| deepest < layer) {
            a.deepest.set(Some(layer));
        }
    });
}

/// The deepest layer the request being admitted asked so far.
pub fn deepest_asked() -> Option<Layer> {
    ADMISSION.try_with(|a| a.deepest.get()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(TRACEPARENT, value);
        }
        headers
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(&["10.0.0.0/8"]).unwrap_or_default()
    }

    #[test]
    fn parses_the_recommendations_example() {
        let (trace, parent, flags) = parse(GOOD).unwrap_or(([0; 16], [0; 8], 0));
        assert_eq!(hex(&trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent), "00f067aa0ba902b7");
        assert_eq!(flags, 1);
    }

    #[test]
    fn ignores_what_the_recommendation_says_to_ignore() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").is_some());
    }

    #[test]
    fn a_trusted_proxys_trace_is_adopted() {
        let peer = "10.1.2.3".parse().ok();
        let context = TraceContext::of_request(&with(GOOD), peer, &proxies());
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let passed = context.traceparent();
        assert!(passed.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(
            !passed.contains("00f067aa0ba902b7"),
            "the gateway's span is the parent"
        );
        assert!(parse(&passed).is_some());
    }

    #[test]
    fn a_clients_trace_is_not_adopted() {
        let peer = "192.0.2.7".parse().ok();
        let context = TraceContext::of_request(&with(GOOD), peer, &proxies());
        assert_ne!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_span_id, None);
        assert!(parse(&context.traceparent()).is_some());
    }

    #[tokio::test]
    async fn calls_made_while_admitting_carry_the_trace() {
        assert_eq!(outgoing(), None);
        let seen = within(Some(Parent::Span(GOOD.to_string())), async { outgoing() }).await;
        assert_eq!(seen.as_deref(), Some(GOOD));
        // Untraced, the request's own context is the parent.
        let context = TraceContext::of_request(&with(GOOD), "10.0.0.1".parse().ok(), &proxies());
        let seen = within(Some(Parent::Request(context)), async { outgoing() }).await;
        assert_eq!(seen, Some(context.traceparent()));
        let (trace_id, span_id, flags) = parse(&context.traceparent()).unwrap_or_default();
        assert_eq!(
            (trace_id, span_id, flags),
            (context.trace_id, context.span_id, 1)
        );
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff, 0x4b]), "000fa0ff4b");
        assert_eq!(hex(&[]), "");
    }

    #[tokio::test]
    async fn the_deepest_layer_asked_is_kept() {
        asked(Layer::Redis);
        assert_eq!(
            deepest_asked(),
            None,
            "outside an admission nothing is noted"
        );
        let deepest = within(None, async {
            asked(Layer::ControlPlane);
            asked(Layer::Redis);
            deepest_asked()
        })
        .await;
        assert_eq!(deepest, Some(Layer::ControlPlane));
    }

    #[test]
    fn two_traceparents_start_a_new_trace() {
        let mut headers = with(GOOD);
        headers.append(TRACEPARENT, HeaderValue::from_static(GOOD));
        let context = TraceContext::of_request(&headers, "10.0.0.1".parse().ok(), &proxies());
        assert_ne!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
