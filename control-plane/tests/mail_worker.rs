//! The mail worker against real SMTP servers, on SQLite and on Postgres: a
//! message is rendered from its template and sent as text and HTML; a
//! server that keeps refusing leads to retries with backoff and finally a
//! dead message, kept with the last error. Once sent or dead, a message
//! keeps its record but no longer its body or values (its link).

mod common;

use common::{TestResult, on_both};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wrnexus_control_plane::mail::worker::MailWorker;
use wrnexus_control_plane::mail::{MailConfig, Message};
use wrnexus_control_plane::store::Store;
use wrnexus_control_plane::store::meta::Meta;
use wrnexus_testkit::smtp::SmtpSink;

/// An SMTP server that greets, then refuses every command with a
/// temporary failure; how many connections it saw.
async fn refusing_smtp() -> TestResult<(String, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                if write.write_all(b"220 refusing ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut line = String::new();
                while lines.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    let reply: &[u8] = if line.to_ascii_uppercase().starts_with("EHLO") {
                        b"250 refusing\r\n"
                    } else if line.to_ascii_uppercase().starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"451 4.3.0 try again later\r\n"
                    };
                    line.clear();
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((url, seen))
}

fn invitation(email: &str) -> Message {
    Message::Invitation {
        email: email.into(),
        workspace_name: "Acme <Labs>".into(),
        inviter: "owner@example.com".into(),
        role: "member".into(),
        link: "https://front.example.com/.wrnexus/invitations/tok".into(),
        expires_at: 1_796_479_200,
    }
}

/// A workspace to queue mail through (its owner's personal one).
async fn workspace(store: &Store, email: &str) -> TestResult<String> {
    Ok(store
        .sign_up(email, "not-a-real-hash", &Meta::system())
        .await?
        .workspace_id)
}

#[tokio::test]
async fn a_refusing_server_leads_to_retries_then_a_dead_message() -> TestResult {
    let (url, seen) = refusing_smtp().await?;
    on_both(|store| {
        let url = url.clone();
        let seen = seen.clone();
        async move {
            let ws = workspace(&store, "owner@example.com").await?;
            store
                .queue_mail(
                    &ws,
                    "bob@example.com",
                    &invitation("bob@example.com"),
                    &Meta::system(),
                )
                .await?;
            let config = MailConfig {
                smtp_url: Some(url),
                max_attempts: 3,
                backoff_base: Duration::ZERO,
                backoff_max: Duration::ZERO,
                ..MailConfig::default()
            };
            let worker = MailWorker::new(store.clone(), config)?;
            let before = seen.load(std::sync::atomic::Ordering::SeqCst);
            let mut states = Vec::new();
            for _ in 0..3 {
                worker.run_once().await?;
                let mail = store.mail_of(&ws).await?;
                let ours = mail
                    .iter()
                    .find(|m| m.recipient == "bob@example.com")
                    .ok_or("the message is gone")?;
                states.push((ours.status.clone(), ours.attempts));
                assert!(
                    ours.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("try again later")),
                    "{ours:?}"
                );
            }
            assert_eq!(
                states,
                [
                    ("pending".to_string(), 1),
                    ("pending".to_string(), 2),
                    ("dead".to_string(), 3)
                ]
            );
            assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= before + 3);
            // Dead, it keeps its record but not its link.
            let dead = store.mail_of(&ws).await?;
            let ours = dead
                .iter()
                .find(|m| m.recipient == "bob@example.com")
                .ok_or("the message is gone")?;
            assert_eq!((ours.body.as_str(), ours.data.as_deref()), ("", None));
            assert_eq!(ours.template.as_deref(), Some("invitation"));
            // Dead is final: a further pass sends nothing.
            assert_eq!(worker.run_once().await?, 0);
            Ok(())
        }
    })
    .await
}

#[tokio::test]
async fn a_queued_message_is_rendered_and_sent_as_text_and_html() -> TestResult {
    let smtp = SmtpSink::start().await?;
    on_both(|store| {
        let smtp = smtp.clone();
        async move {
            let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());
            let ws = workspace(&store, &format!("o{to}")).await?;
            store
                .queue_mail(&ws, &to, &invitation(&to), &Meta::system())
                .await?;
            // Waiting, it keeps what it carries, link included.
            let queued = store.mail_of(&ws).await?;
            assert_eq!(queued[0].status, "pending", "{queued:?}");
            assert!(
                queued[0]
                    .data
                    .as_deref()
                    .is_some_and(|d| d.contains("/.wrnexus/invitations/tok")),
                "{queued:?}"
            );
            let worker = MailWorker::new(
                store.clone(),
                MailConfig {
                    smtp_url: Some(smtp.url()),
                    ..MailConfig::default()
                },
            )?;
            assert!(worker.run_once().await? >= 1);
            let got = smtp.messages_matching(|m| m.to == [to.clone()]);
            assert_eq!(got.len(), 1, "{got:?}");
            let data = &got[0].data;
            assert!(
                data.contains("Subject: owner@example.com invited you to Acme <Labs> on WRNexus")
                    || data.contains("Subject: =?utf-8?"),
                "{data}"
            );
            assert!(data.contains("multipart/alternative"), "{data}");
            assert!(
                data.contains("text/plain") && data.contains("text/html"),
                "{data}"
            );
            assert!(
                data.contains("Acme &lt;Labs&gt;"),
                "the HTML escapes: {data}"
            );
            let sent = store.mail_of(&ws).await?;
            assert_eq!(sent[0].status, "sent", "{sent:?}");
            assert_eq!(sent[0].template.as_deref(), Some("invitation"));
            // Sent, its link (and so its token) is no longer kept.
            assert_eq!(sent[0].body, "", "{sent:?}");
            assert_eq!(sent[0].data, None, "{sent:?}");
            assert_eq!(sent[0].recipient, to);
            Ok(())
        }
    })
    .await
}
