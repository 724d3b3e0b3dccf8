//! `wrnexus dev`'s mailbox (`GET /.wrnexus/dev/mail` as JSON), and the
//! links a message carries.

use crate::TestResult;
use reqwest::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every message in the dev mailbox, newest first.
pub async fn dev_mail(client: &Client, gateway: &str) -> TestResult<Vec<Value>> {
    let response = client
        .get(format!("{gateway}/.wrnexus/dev/mail"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("the dev mailbox answered {status}: {body}").into());
    }
    Ok(body["messages"].as_array().cloned().unwrap_or_default())
}

/// Wait up to `within` for the newest message to `to` whose subject
/// contains `subject`.
pub async fn wait_for_dev_mail(
    client: &Client,
    gateway: &str,
    to: &str,
    subject: &str,
    within: Duration,
) -> TestResult<Value> {
    let started = Instant::now();
    loop {
        let messages = dev_mail(client, gateway).await?;
        let found = messages
            .iter()
            .find(|m| m["to"] == to && m["subject"].as_str().is_some_and(|s| s.contains(subject)));
        if let Some(found) = found {
            return Ok(found.clone());
        }
        if started.elapsed() > within {
            return Err(format!(
                "no mail to {to} about {subject:?} after {within:?}; the mailbox: {messages:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first link in `text` that contains `path` (e.g. `/.wrnexus/verify-email?token=`).
pub fn link(text: &str, path: &str) -> TestResult<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>'))
        .find(|word| word.starts_with("http") && word.contains(path))
        .map(str::to_string)
        .ok_or_else(|| format!("no link with {path} in {text}").into())
}

/// A quoted-printable body decoded (soft line breaks joined, `=XX` bytes
/// read), as mail over SMTP often carries long links.
pub fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_bodies_read_back() {
        assert_eq!(
            quoted_printable("https://x/a?token=3D=\nabc caf=C3=A9"),
            "https://x/a?token=abc café"
        );
        assert_eq!(
            link("Open\nhttps://x/v?token=t\n", "/v?token=").unwrap(),
            "https://x/v?token=t"
        );
    }
}
