//! How long an idle client connection is kept: HTTP/1.1 between requests
//! and HTTP/2 with no stream open, both bounded by one setting, whatever
//! the client's `Keep-Alive` header asks for.

use pingora::apps::HttpServerOptions;
use pingora::protocols::http::ServerSession;
use std::time::Duration;

/// The default bound (nginx keeps 75 s, most load balancers 60 s).
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// Whole seconds of `bound`, at least one (HTTP/1.1 keep-alive is counted in
/// seconds; zero would mean "forever").
pub fn whole_secs(bound: Duration) -> u64 {
    bound.as_secs().max(1)
}

/// Bound an HTTP/1.1 session's wait for its next request to `secs`: a
/// connection kept forever (pingora's HTTP/1.1 default, whatever the
/// client's `Keep-Alive: timeout=` says) or longer gets the bound; a
/// connection closing after this request stays closing. HTTP/2 sessions
/// are bounded per connection ([`server_options`]).
pub fn bound(session: &mut ServerSession, secs: u64) {
    match session.get_keepalive() {
        Some(current) if current == 0 || current > secs => session.set_keepalive(Some(secs)),
        _ => {}
    }
}

/// The listener's options with HTTP/2 connections closed after `bound`
/// without a stream.
pub fn server_options(options: Option<HttpServerOptions>, bound: Duration) -> HttpServerOptions {
    let mut options = options.unwrap_or_default();
    options.h2_idle_timeout = Some(bound);
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn session(request: &[u8]) -> ServerSession {
        let (mut client, server) = tokio::io::duplex(4096);
        let written = client.write_all(request).await;
        assert!(written.is_ok(), "the request is written");
        let mut session = ServerSession::new_http1(Box::new(server));
        let read = session.read_request().await;
        assert!(matches!(read, Ok(true)), "the request parses: {read:?}");
        session
    }

    #[tokio::test]
    async fn http11_connections_wait_at_most_the_bound() {
        let mut s = session(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(s.get_keepalive(), Some(0), "pingora keeps HTTP/1.1 forever");
        bound(&mut s, 60);
        assert_eq!(s.get_keepalive(), Some(60));
    }

    #[tokio::test]
    async fn a_client_cannot_ask_for_longer() {
        let mut s =
            session(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=86400\r\n\r\n")
                .await;
        bound(&mut s, 60);
        assert_eq!(s.get_keepalive(), Some(60));
    }

    #[tokio::test]
    async fn closing_connections_stay_closing() {
        let mut close = session(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").await;
        bound(&mut close, 60);
        assert_eq!(close.get_keepalive(), None);
        let mut http10 = session(b"GET / HTTP/1.0\r\n\r\n").await;
        bound(&mut http10, 60);
        assert_eq!(http10.get_keepalive(), None);
    }

    #[test]
    fn http2_connections_get_the_bound_and_other_options_stay() {
        let mut given = HttpServerOptions::default();
        given.h2c = true;
        let options = server_options(Some(given), Duration::from_secs(30));
        assert_eq!(options.h2_idle_timeout, Some(Duration::from_secs(30)));
        assert!(options.h2c);
        assert_eq!(whole_secs(Duration::from_millis(200)), 1);
    }
}
