//! The TXT check against a tiny UDP DNS server on loopback that answers
//! from a fixed map (NXDOMAIN for any other name), or never answers.

use super::*;
use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{Record, RecordType};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::UdpSocket;

type Zone = Arc<HashMap<String, Vec<Vec<String>>>>;

/// Answer `query` (a DNS message) from `zone`: each entry a record's
/// character-strings.
fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let question = request.queries.first()?.clone();
    let mut response = Message::response(request.metadata.id, OpCode::Query);
    response.metadata.message_type = MessageType::Response;
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_query(question.clone());
    let name = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_lowercase();
    match zone.get(&name) {
        Some(records) if question.query_type() == RecordType::TXT => {
            for strings in records {
                response.add_answer(Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::TXT(TXT::new(strings.clone())),
                ));
            }
        }
        Some(_) => {}
        None => response.metadata.response_code = ResponseCode::NXDomain,
    }
    response.to_vec().ok()
}

/// A server on 127.0.0.1 answering from `zone` (or, when `silent`, never).
async fn serve(zone: Zone, silent: bool) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("address");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            if silent {
                continue;
            }
            if let Some(reply) = answer(&buf[..n], &zone) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    addr
}

fn zone(entries: &[(&str, &[&[&str]])]) -> Zone {
    Arc::new(
        entries
            .iter()
            .map(|(name, records)| {
                let records = records
                    .iter()
                    .map(|strings| strings.iter().map(|s| s.to_string()).collect())
                    .collect();
                (name.to_string(), records)
            })
            .collect(),
    )
}

#[tokio::test]
async fn the_exact_value_verifies() {
    let addr = serve(
        zone(&[(
            "_wrnexus-challenge.example.com",
            &[&["v=spf1 -all"], &["wrnexus-domain-verification=tok123"]],
        )]),
        false,
    )
    .await;
    let checker = TxtChecker::new(Some(addr), Duration::from_secs(2)).expect("checker");
    assert_eq!(checker.check("example.com", "tok123").await, Ok(()));
}

#[tokio::test]
async fn a_value_split_into_strings_is_joined() {
    let addr = serve(
        zone(&[(
            "_wrnexus-challenge.example.org",
            &[&["wrnexus-domain-", "verification=tok"]],
        )]),
        false,
    )
    .await;
    let checker = TxtChecker::new(Some(addr), Duration::from_secs(2)).expect("checker");
    assert_eq!(checker.check("example.org", "tok").await, Ok(()));
}

#[tokio::test]
async fn another_value_or_a_longer_one_does_not_verify() {
    let addr = serve(
        zone(&[(
            "_wrnexus-challenge.example.com",
            &[
                &["wrnexus-domain-verification=other"],
                &["wrnexus-domain-verification=tok123 extra"],
                &["prefix wrnexus-domain-verification=tok123"],
            ],
        )]),
        false,
    )
    .await;
    let checker = TxtChecker::new(Some(addr), Duration::from_secs(2)).expect("checker");
    let failure = checker.check("example.com", "tok123").await;
    assert_eq!(
        failure,
        Err(CheckFailure::Mismatch {
            name: "_wrnexus-challenge.example.com".to_string()
        })
    );
    assert!(failure.err().is_some_and(|f| f.is_definite()));
}

#[tokio::test]
async fn no_record_is_missing() {
    let addr = serve(zone(&[]), false).await;
    let checker = TxtChecker::new(Some(addr), Duration::from_secs(2)).expect("checker");
    let failure = checker.check("example.net", "tok").await;
    assert_eq!(
        failure,
        Err(CheckFailure::Missing {
            name: "_wrnexus-challenge.example.net".to_string()
        })
    );
}

#[tokio::test]
async fn a_silent_server_is_a_failed_lookup_not_a_missing_record() {
    let addr = serve(zone(&[]), true).await;
    let checker = TxtChecker::new(Some(addr), Duration::from_millis(200)).expect("checker");
    let started = std::time::Instant::now();
    let failure = checker.check("example.com", "tok").await;
    assert!(
        matches!(&failure, Err(CheckFailure::Lookup { .. })),
        "{failure:?}"
    );
    assert!(failure.err().is_some_and(|f| !f.is_definite()));
    assert!(started.elapsed() < Duration::from_secs(10));
}
