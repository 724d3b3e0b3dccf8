//! Active health checks of a route's addresses: a TCP connect, or an HTTP
//! `GET` of `health_check_path` expecting a 2xx — spoken like the route's
//! requests (TLS with its CA, client certificate and server name; its
//! protocol), each bounded by the check timeout. Consecutive failures take
//! an address out of balance, consecutive passes put it back (pingora's
//! health registry keeps the count).

use crate::config::HealthCheck;
use crate::upstream::balance::upstream_host;
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::lb::Backend;
use pingora::lb::health_check::{HealthCheck as Check, HttpHealthCheck, TcpHealthCheck};
use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorType};
use std::collections::HashMap;
use std::sync::Arc;

/// A health check setting that cannot be used; [`Self::key`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHealthCheck {
    #[error("`{0}` is not a path like /healthz")]
    Path(String),
    #[error("must be at least 1")]
    Zero(&'static str),
}

impl BadHealthCheck {
    /// The route key at fault.
    pub fn key(&self) -> &'static str {
        match self {
            BadHealthCheck::Path(_) => "health_check_path",
            BadHealthCheck::Zero(key) => key,
        }
    }
}

/// Check `settings` without building anything.
pub fn check(settings: &HealthCheck) -> Result<(), BadHealthCheck> {
    for (key, zero) in [
        ("health_check_interval_ms", settings.interval.is_zero()),
        ("health_check_timeout_ms", settings.timeout.is_zero()),
        ("unhealthy_threshold", settings.unhealthy_threshold == 0),
        ("healthy_threshold", settings.healthy_threshold == 0),
    ] {
        if zero {
            return Err(BadHealthCheck::Zero(key));
        }
    }
    if let Some(path) = &settings.path {
        let target: Option<http::uri::PathAndQuery> = path.parse().ok();
        if !path.starts_with('/') || target.is_none_or(|t| t.as_str() != path) {
            return Err(BadHealthCheck::Path(path.clone()));
        }
    }
    Ok(())
}

/// How an address is checked.
enum Kind {
    Tcp(Box<TcpHealthCheck>),
    /// By the upstream host the address came from (its `Host` and SNI).
    Http(HashMap<Arc<str>, HttpHealthCheck>),
}

/// The health check of one route.
pub struct Probe {
    kind: Kind,
    settings: HealthCheck,
}

impl Probe {
    /// The probe for `settings`, speaking like `template` (a route's peer)
    /// to upstreams named `hosts` (`host[:port]` as the `Host` header).
    pub fn new(
        settings: &HealthCheck,
        template: &HttpPeer,
        hosts: &[(Arc<str>, String)],
    ) -> Result<Self, BadHealthCheck> {
        check(settings)?;
        let kind = match &settings.path {
            None => {
                let mut tcp = TcpHealthCheck::new();
                tcp.peer_template.options.connection_timeout = Some(settings.timeout);
                Kind::Tcp(tcp)
            }
            Some(path) => {
                let mut by_host = HashMap::new();
                for (host, host_header) in hosts {
                    let http = http_check(settings, template, host, host_header, path)
                        .map_err(|_| BadHealthCheck::Path(path.clone()))?;
                    by_host.insert(host.clone(), http);
                }
                Kind::Http(by_host)
            }
        };
        Ok(Probe {
            kind,
            settings: settings.clone(),
        })
    }
}

fn http_check(
    settings: &HealthCheck,
    template: &HttpPeer,
    host: &str,
    host_header: &str,
    path: &str,
) -> pingora::Result<HttpHealthCheck> {
    let mut check = HttpHealthCheck::new(host, template.is_tls());
    let mut peer = template.clone();
    if template.is_tls() && peer.sni.is_empty() {
        peer.sni = host.to_string();
    }
    peer.options.connection_timeout = Some(settings.timeout);
    peer.options.read_timeout = Some(settings.timeout);
    // Its own connections: a check must not ride a request's.
    peer.group_key = peer.group_key.wrapping_add(1);
    check.peer_template = peer;
    let mut req = RequestHeader::build("GET", path.as_bytes(), None)?;
    req.insert_header(http::header::HOST, host_header)?;
    req.insert_header(http::header::USER_AGENT, "wrnexus-health-check")?;
    check.req = req;
    check.validator = Some(Box::new(|answer: &ResponseHeader| {
        if answer.status.is_success() {
            Ok(())
        } else {
            Error::e_explain(
                ErrorType::CustomCode("health check status", answer.status.as_u16()),
                "the health check did not answer 2xx",
            )
        }
    }));
    Ok(check)
}

#[async_trait]
impl Check for Probe {
    async fn check(&self, target: &Backend) -> pingora::Result<()> {
        let checked = async {
            match &self.kind {
                Kind::Tcp(tcp) => tcp.check(target).await,
                Kind::Http(by_host) => {
                    let http = upstream_host(target)
                        .and_then(|host| by_host.get(&host))
                        .or_else(|| by_host.values().next());
                    match http {
                        Some(http) => http.check(target).await,
                        None => {
                            Error::e_explain(ErrorType::InternalError, "no check for this host")
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(self.settings.timeout, checked).await {
            Ok(result) => result,
            Err(_) => Error::e_explain(ErrorType::ConnectTimedout, "the health check timed out"),
        }
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.settings.healthy_threshold
        } else {
            self.settings.unhealthy_threshold
        }
    }

    fn backend_summary(&self, target: &Backend) -> String {
        format!("upstream {}", target.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn settings_are_checked_and_name_their_key() {
        let ok = HealthCheck {
            path: Some("/healthz?deep=1".into()),
            ..HealthCheck::default()
        };
        assert_eq!(check(&ok), Ok(()));
        for (path, good) in [
            ("/", true),
            ("healthz", false),
            ("/a b", false),
            ("", false),
        ] {
            let settings = HealthCheck {
                path: Some(path.into()),
                ..HealthCheck::default()
            };
            assert_eq!(check(&settings).is_ok(), good, "{path}");
            if !good {
                assert_eq!(check(&settings).unwrap_err().key(), "health_check_path");
            }
        }
        let zero = HealthCheck {
            interval: Duration::ZERO,
            ..HealthCheck::default()
        };
        assert_eq!(check(&zero).unwrap_err().key(), "health_check_interval_ms");
        let never_back = HealthCheck {
            healthy_threshold: 0,
            ..HealthCheck::default()
        };
        assert_eq!(check(&never_back).unwrap_err().key(), "healthy_threshold");
    }

    fn backend(port: u16) -> Backend {
        Backend::new(&format!("127.0.0.1:{port}")).unwrap()
    }

    #[tokio::test]
    async fn a_tcp_probe_passes_a_listening_port_and_fails_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let settings = HealthCheck {
            timeout: Duration::from_millis(500),
            unhealthy_threshold: 3,
            healthy_threshold: 1,
            ..HealthCheck::default()
        };
        let template = HttpPeer::new("127.0.0.1:1", false, String::new());
        let probe = Probe::new(&settings, &template, &[]).unwrap();
        assert!(probe.check(&backend(open)).await.is_ok());
        assert!(probe.check(&backend(closed)).await.is_err());
        assert_eq!(probe.health_threshold(false), 3);
        assert_eq!(probe.health_threshold(true), 1);
    }

    #[tokio::test]
    async fn an_http_probe_wants_a_2xx_from_its_path() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let heard = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 2048];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let status = if text.starts_with("GET /healthz ") {
                    "204 No Content"
                } else {
                    "503 Unavailable"
                };
                heard.lock().unwrap().push(text);
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        let template = HttpPeer::new("127.0.0.1:1", false, "app.internal".into());
        let hosts = [(Arc::from("app.internal"), "app.internal:8080".to_string())];
        let good = HealthCheck {
            path: Some("/healthz".into()),
            ..HealthCheck::default()
        };
        let probe = Probe::new(&good, &template, &hosts).unwrap();
        probe.check(&backend(port)).await.unwrap();
        let bad = HealthCheck {
            path: Some("/ready".into()),
            ..HealthCheck::default()
        };
        let probe = Probe::new(&bad, &template, &hosts).unwrap();
        assert!(probe.check(&backend(port)).await.is_err());
        let requests = seen.lock().unwrap().clone();
        assert!(
            requests[0]
                .to_ascii_lowercase()
                .contains("host: app.internal:8080"),
            "{requests:?}"
        );
    }
}
