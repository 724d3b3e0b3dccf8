//! A DNS server on loopback answering TXT queries from an in-memory map, for
//! the domain-verification suites: the control plane's resolver is pointed
//! at it (`[control_plane] dns_resolver`).
//!
//! UDP and TCP on the same port of 127.0.0.1. A name with records gets them
//! (TTL 0, so nothing caches them); a known name asked for another type gets
//! an empty answer; any other name, NXDOMAIN. Names are matched without case
//! and without the trailing dot. Every query is counted, so a suite can see
//! that something asked again.

use crate::TestResult;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Zone {
    txt: HashMap<String, Vec<String>>,
    queries: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Zone>>;

/// The running server; it stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// A server on 127.0.0.1, UDP and TCP on one free port.
    pub async fn start() -> TestResult<Self> {
        let zone = Shared::default();
        let mut last_error = None;
        // The TCP port of the same number may be taken; try a few.
        for _ in 0..16 {
            let udp = UdpSocket::bind("127.0.0.1:0").await?;
            let addr = udp.local_addr()?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => {
                    let tasks = vec![
                        tokio::spawn(serve_udp(udp, zone.clone())),
                        tokio::spawn(serve_tcp(tcp, zone.clone())),
                    ];
                    return Ok(DnsServer { addr, zone, tasks });
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(format!("no loopback port free for both UDP and TCP: {last_error:?}").into())
    }

    /// `name` answers TXT queries with `values`, one record each (a value
    /// longer than 255 bytes is split into several strings of one record).
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let values = values.iter().map(|v| v.to_string()).collect();
        self.lock().txt.insert(key(name), values);
    }

    /// `name` is unknown again (NXDOMAIN).
    pub fn clear(&self, name: &str) {
        self.lock().txt.remove(&key(name));
    }

    /// How many queries (any type) asked about `name` so far.
    pub fn queries(&self, name: &str) -> usize {
        self.lock().queries.get(&key(name)).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Zone> {
        // A poisoned map is still a map: the suites only insert and remove.
        self.zone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve_udp(socket: UdpSocket, zone: Shared) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = buf.get(..len).and_then(|q| answer(q, &zone)) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, zone: Shared) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let zone = zone.clone();
        tokio::spawn(async move {
            // Each message is preceded by its length (two bytes, RFC 1035 §4.2.2).
            loop {
                let Ok(len) = stream.read_u16().await else {
                    return;
                };
                let mut query = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                let Some(reply) = answer(&query, &zone) else {
                    return;
                };
                let Ok(reply_len) = u16::try_from(reply.len()) else {
                    return;
                };
                if stream.write_u16(reply_len).await.is_err()
                    || stream.write_all(&reply).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The wire-format reply to a wire-format query; `None` for bytes that are
/// not a DNS query at all.
fn answer(query: &[u8], zone: &Shared) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.authoritative = true;
    reply.add_queries(request.queries.iter().cloned());
    let Some(question) = request.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let name = key(&question.name.to_ascii());
    let mut zone = zone
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *zone.queries.entry(name.clone()).or_default() += 1;
    match zone.txt.get(&name) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(values) if question.query_type == RecordType::TXT => {
            for value in values {
                let mut strings: Vec<&[u8]> = value.as_bytes().chunks(255).collect();
                if strings.is_empty() {
                    strings.push(b"");
                }
                let txt = TXT::from_bytes(strings);
                reply.add_answer(Record::from_rdata(
                    question.name.clone(),
                    0,
                    RData::TXT(txt),
                ));
            }
        }
        Some(_) => {}
    }
    reply.to_vec().ok()
}
