//! One change, watched: a prober per gateway sends the affected credential's
//! request in a tight loop on its own keep-alive connection, from before the
//! change until well after the first refusal, and each answer is classified
//! (allowed, the expected refusal, anything else).

use crate::fleet::Gateway;
use crate::subjects::{Kind, Subject, apply};
use anyhow::{Result, bail};
use reqwest::Client;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// How the probers run.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    /// Between two sends on one prober (the next waits for the answer too).
    pub interval: Duration,
    /// Allowed answers each gateway must give before the change is made.
    pub warm: u32,
    /// How long probing goes on after the last gateway refused.
    pub after: Duration,
    /// Give up on a gateway that has not refused this long after the change.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Allowed,
    Refused,
    /// Neither: status and code, or a transport error.
    Other(String),
}

#[derive(Debug)]
struct Sample {
    sent: Instant,
    received: Instant,
    answer: Answer,
}

/// What one gateway did with one change. Lags in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct GatewayOutcome {
    /// First refusal's send time − the change call's return (t0).
    pub lag_ms: Option<f64>,
    /// First refusal's send time − the change call's send.
    pub lag_from_sent_ms: Option<f64>,
    /// First refusal's send − the last allowed send before it.
    pub resolution_ms: Option<f64>,
    /// The first refusal's round trip (send to answer).
    pub refusal_rtt_ms: Option<f64>,
    /// Allowed answers after the first refusal (a flap).
    pub flaps: u32,
    /// Refusals before the change was sent.
    pub early: u32,
    /// Answers that were neither allowed nor the expected refusal.
    pub other: Vec<String>,
    pub probes: usize,
}

/// One change and what each gateway did.
#[derive(Debug, Clone)]
pub struct ChangeOutcome {
    pub kind: Kind,
    /// The control plane's call: send to return.
    pub api_ms: f64,
    pub gateways: Vec<GatewayOutcome>,
}

struct Prober {
    allowed: Arc<AtomicU32>,
    refused: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<Sample>>,
}

/// Make `subject`'s change through `api` while probing every gateway.
pub async fn watch_change(
    api: &Client,
    gateways: &[Gateway],
    subject: &Subject,
    settings: ProbeSettings,
) -> Result<ChangeOutcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let probers: Vec<Prober> = gateways
        .iter()
        .map(|g| spawn_prober(&g.url, subject, settings.interval, stop.clone()))
        .collect();
    let outcome = drive(api, subject, settings, &probers).await;
    stop.store(true, Ordering::SeqCst);
    let mut samples = Vec::with_capacity(probers.len());
    for prober in probers {
        samples.push(prober.handle.await.unwrap_or_default());
    }
    let (sent, returned) = outcome?;
    Ok(ChangeOutcome {
        kind: subject.kind,
        api_ms: ms(returned.duration_since(sent)),
        gateways: samples.iter().map(|s| analyse(s, sent, returned)).collect(),
    })
}

/// Warm up, make the change, wait for every refusal and the window after:
/// the change call's send and return instants.
async fn drive(
    api: &Client,
    subject: &Subject,
    settings: ProbeSettings,
    probers: &[Prober],
) -> Result<(Instant, Instant)> {
    let warm_deadline = Instant::now() + Duration::from_secs(10);
    while !probers
        .iter()
        .all(|p| p.allowed.load(Ordering::SeqCst) >= settings.warm)
    {
        if Instant::now() > warm_deadline {
            bail!(
                "{}: a gateway did not allow the probe before the change",
                subject.kind.name()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sent = Instant::now();
    apply(api, subject).await?;
    let returned = Instant::now();
    let deadline = returned + settings.timeout;
    while Instant::now() < deadline && !probers.iter().all(|p| p.refused.load(Ordering::SeqCst)) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(settings.after).await;
    Ok((sent, returned))
}

fn spawn_prober(
    gateway: &str,
    subject: &Subject,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> Prober {
    let allowed = Arc::new(AtomicU32::new(0));
    let refused = Arc::new(AtomicBool::new(false));
    let url = format!("{gateway}/probe");
    let (kind, credential) = (subject.kind, subject.credential.clone());
    let (a, r) = (allowed.clone(), refused.clone());
    let handle = tokio::spawn(async move {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let (status, code) = kind.expected();
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            let mut request = credential.apply(client.request(kind.probe_method(), &url));
            if kind.probe_method() == reqwest::Method::POST {
                request = request.json(&serde_json::json!({"probe": true}));
            }
            let sent = Instant::now();
            let answer = match request.send().await {
                Ok(response) if response.status().as_u16() == 200 => match response.bytes().await {
                    Ok(_) => Answer::Allowed,
                    Err(e) => Answer::Other(format!("200, body error: {e}")),
                },
                Ok(response) => {
                    let got = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    let got_code = body["code"].as_str().unwrap_or("").to_string();
                    if got == status && got_code == code {
                        Answer::Refused
                    } else {
                        Answer::Other(format!("{got} {got_code}"))
                    }
                }
                Err(e) => Answer::Other(format!("transport error: {e}")),
            };
            let received = Instant::now();
            match answer {
                Answer::Allowed => {
                    a.fetch_add(1, Ordering::SeqCst);
                }
                _ => r.store(true, Ordering::SeqCst),
            }
            samples.push(Sample {
                sent,
                received,
                answer,
            });
        }
        samples
    });
    Prober {
        allowed,
        refused,
        handle,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Signed milliseconds from `from` to `to`.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        ms(to.duration_since(from))
    } else {
        -ms(from.duration_since(to))
    }
}

fn analyse(samples: &[Sample], sent: Instant, returned: Instant) -> GatewayOutcome {
    let mut out = GatewayOutcome {
        probes: samples.len(),
        ..GatewayOutcome::default()
    };
    let first = samples.iter().position(|s| s.answer == Answer::Refused);
    for (i, s) in samples.iter().enumerate() {
        match &s.answer {
            Answer::Refused if s.sent < sent => out.early += 1,
            Answer::Allowed if first.is_some_and(|f| i > f) => out.flaps += 1,
            Answer::Other(what) => out.other.push(what.clone()),
            _ => {}
        }
    }
    if let Some(f) = first {
        let refusal = &samples[f];
        out.lag_ms = Some(signed_ms(returned, refusal.sent));
        out.lag_from_sent_ms = Some(signed_ms(sent, refusal.sent));
        out.resolution_ms = samples[..f]
            .iter()
            .rev()
            .find(|s| s.answer == Answer::Allowed)
            .map(|s| ms(refusal.sent.duration_since(s.sent)));
        out.refusal_rtt_ms = Some(ms(refusal.received.duration_since(refusal.sent)));
    }
    out
}
