//! The steady load: `wrk` against the gateway for a fixed time, with a
//! session cookie, and what it reports (requests, non-2xx/3xx answers,
//! socket errors, requests per second).

use anyhow::{Context, Result};
use std::process::Stdio;
use tokio::process::{Child, Command};

/// How `wrk` runs.
#[derive(Debug, Clone)]
pub struct Load {
    pub url: String,
    pub cookie: String,
    pub threads: usize,
    pub connections: usize,
    pub seconds: u64,
}

/// What `wrk` reported.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: u64,
    pub non_2xx_3xx: u64,
    /// connect, read, write, timeout.
    pub socket_errors: [u64; 4],
    pub rps: f64,
    pub text: String,
}

impl Load {
    /// Start `wrk` (it runs for `seconds`).
    pub fn start(&self) -> Result<Child> {
        Command::new("wrk")
            .args([
                "-t",
                &self.threads.to_string(),
                "-c",
                &self.connections.to_string(),
                "-d",
                &format!("{}s", self.seconds),
                "--latency",
                "-H",
                &format!("Cookie: {}", self.cookie),
                &self.url,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting wrk (install it: apt-get install wrk)")
    }
}

/// Wait for `wrk` and parse its report.
pub async fn finish(child: Child) -> Result<Report> {
    let output = child.wait_with_output().await?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        anyhow::bail!(
            "wrk failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(parse(text))
}

fn numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Parse `wrk`'s summary.
pub fn parse(text: String) -> Report {
    let mut report = Report::default();
    for line in text.lines().map(str::trim) {
        if line.contains("requests in") {
            report.requests = numbers(line).first().copied().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.non_2xx_3xx = numbers(rest).first().copied().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            let n = numbers(rest);
            for (slot, value) in report.socket_errors.iter_mut().zip(n) {
                *slot = value;
            }
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            report.rps = rest.trim().parse().unwrap_or(0.0);
        }
    }
    report.text = text;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_summary() {
        let r = parse(
            "  123456 requests in 30.00s, 50.00MB read\n  \
             Socket errors: connect 0, read 2, write 0, timeout 1\n  \
             Non-2xx or 3xx responses: 7\nRequests/sec:   4115.20\n"
                .to_string(),
        );
        assert_eq!(r.requests, 123_456);
        assert_eq!(r.socket_errors, [0, 2, 0, 1]);
        assert_eq!(r.non_2xx_3xx, 7);
        assert!((r.rps - 4115.2).abs() < 1e-9);
    }
}
