//! An upstream's address as configured: `http://host[:port]`, read with
//! `http::Uri` (IPv6 literals in brackets), nothing after the authority.

/// An upstream address parsed from `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// A name or an IP address (an IPv6 one without its brackets).
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// A bad upstream URL, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{url}` is not an upstream url like http://127.0.0.1:9000 or http://[::1]:9000: {why}")]
pub struct BadUpstream {
    pub url: String,
    pub why: &'static str,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Self, BadUpstream> {
        let bad = |why| BadUpstream {
            url: url.to_string(),
            why,
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("it does not parse as a URL"))?;
        // TLS to upstreams is not built in yet: refuse `https://` plainly
        // rather than fail at the first request.
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => return Err(bad("https upstreams are not supported yet")),
            _ => return Err(bad("the scheme must be http://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it names no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not accepted"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("it names no host"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad(
                "a path is not accepted: the gateway forwards the request's own path",
            ));
        }
        // What follows the host, read here: `http` drops a port that is
        // no u16 rather than refuse it.
        let port = match authority.as_str().strip_prefix(host) {
            Some("") => 80,
            Some(rest) => rest
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            None => return Err(bad("it names no host")),
        };
        if port == 0 {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
        Ok(Upstream {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            tls,
        })
    }

    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(host: &str, port: u16) -> Result<Upstream, BadUpstream> {
        Ok(Upstream {
            host: host.into(),
            port,
            tls: false,
        })
    }

    #[test]
    fn parses_upstreams() {
        assert_eq!(
            Upstream::parse("http://127.0.0.1:9000"),
            upstream("127.0.0.1", 9000)
        );
        assert_eq!(
            Upstream::parse("http://app.internal/"),
            upstream("app.internal", 80)
        );
        let v6 = Upstream::parse("http://[::1]:9000");
        assert_eq!(v6, upstream("::1", 9000));
        assert_eq!(v6.map(|u| u.address()), Ok("[::1]:9000".to_string()));
    }

    #[test]
    fn refuses_what_it_cannot_serve_and_says_why() {
        for (url, why) in [
            ("https://app.internal/", "https upstreams"),
            ("ftp://x", "scheme"),
            ("http://", "parse"),
            ("app.internal:80", "scheme"),
            ("http://app.internal/api", "path"),
            ("http://app.internal/?a=1", "path"),
            ("http://user:pw@app.internal", "credentials"),
            ("http://app.internal:99999", "port"),
        ] {
            match Upstream::parse(url) {
                Err(e) => assert!(e.to_string().contains(why), "{url}: {e}"),
                Ok(u) => panic!("{url} accepted as {u:?}"),
            }
        }
    }
}
