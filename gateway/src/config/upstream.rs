//! An upstream's address as configured: `http://host[:port]` or
//! `https://host[:port]`, read with `http::Uri` (IPv6 literals in
//! brackets), nothing after the authority; and a route's list of them.

/// An upstream address parsed from `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// A name or an IP address (an IPv6 one without its brackets).
    pub host: String,
    pub port: u16,
    /// `https://`: TLS to the upstream, its certificate verified.
    pub tls: bool,
}

/// A bad upstream URL, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{url}` is not an upstream url like http://127.0.0.1:9000, https://app.internal or \
     http://[::1]:9000: {why}"
)]
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
        let (tls, default_port) = match uri.scheme_str() {
            Some("http") => (false, 80),
            Some("https") => (true, 443),
            _ => return Err(bad("the scheme must be http:// or https://")),
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
            Some("") => default_port,
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

    /// A route's upstreams: at least one URL, all with the same scheme, no
    /// URL twice. An error names the URL at fault and its place in `urls`.
    pub fn parse_list(urls: &[String]) -> Result<Vec<Self>, (usize, BadUpstream)> {
        let mut upstreams: Vec<Upstream> = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let upstream = Upstream::parse(url).map_err(|e| (index, e))?;
            let bad = |why| {
                (
                    index,
                    BadUpstream {
                        url: url.clone(),
                        why,
                    },
                )
            };
            if upstreams
                .first()
                .is_some_and(|first| first.tls != upstream.tls)
            {
                return Err(bad(
                    "the upstreams of a route must share one scheme (all http:// or all https://)",
                ));
            }
            if upstreams.contains(&upstream) {
                return Err(bad("it is listed twice"));
            }
            upstreams.push(upstream);
        }
        if upstreams.is_empty() {
            return Err((
                0,
                BadUpstream {
                    url: String::new(),
                    why: "a route needs at least one upstream",
                },
            ));
        }
        Ok(upstreams)
    }

    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host is an IP address: nothing to resolve, ever.
    pub fn is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(host: &str, port: u16, tls: bool) -> Result<Upstream, BadUpstream> {
        Ok(Upstream {
            host: host.into(),
            port,
            tls,
        })
    }

    #[test]
    fn parses_upstreams() {
        assert_eq!(
            Upstream::parse("http://127.0.0.1:9000"),
            upstream("127.0.0.1", 9000, false)
        );
        assert_eq!(
            Upstream::parse("http://app.internal/"),
            upstream("app.internal", 80, false)
        );
        let v6 = Upstream::parse("http://[::1]:9000");
        assert_eq!(v6, upstream("::1", 9000, false));
        assert_eq!(v6.map(|u| u.address()), Ok("[::1]:9000".to_string()));
    }

    #[test]
    fn https_upstreams_default_to_443() {
        assert_eq!(
            Upstream::parse("https://app.internal"),
            upstream("app.internal", 443, true)
        );
        assert_eq!(
            Upstream::parse("HTTPS://app.internal:8443/"),
            upstream("app.internal", 8443, true)
        );
        assert_eq!(
            Upstream::parse("https://[2001:db8::1]"),
            upstream("2001:db8::1", 443, true)
        );
        assert!(upstream("10.0.0.1", 1, true).is_ok_and(|u| u.is_ip()));
        assert!(upstream("app.internal", 1, true).is_ok_and(|u| !u.is_ip()));
    }

    #[test]
    fn refuses_what_it_cannot_serve_and_says_why() {
        for (url, why) in [
            ("ftp://x", "scheme"),
            ("http://", "parse"),
            ("app.internal:80", "scheme"),
            ("http://app.internal/api", "path"),
            ("https://app.internal/?a=1", "path"),
            ("http://user:pw@app.internal", "credentials"),
            ("https://app.internal:99999", "port"),
            ("http://app.internal:0", "port"),
        ] {
            match Upstream::parse(url) {
                Err(e) => assert!(e.to_string().contains(why), "{url}: {e}"),
                Ok(u) => panic!("{url} accepted as {u:?}"),
            }
        }
    }

    fn list(urls: &[&str]) -> Result<Vec<Upstream>, (usize, BadUpstream)> {
        Upstream::parse_list(&urls.iter().map(|u| u.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn lists_share_a_scheme_and_name_the_url_at_fault() {
        let both = list(&["http://10.0.0.1:80", "http://10.0.0.2"]).unwrap();
        assert_eq!(
            both.iter().map(Upstream::address).collect::<Vec<_>>(),
            ["10.0.0.1:80", "10.0.0.2:80"]
        );
        let (index, e) = list(&["https://a.internal", "http://b.internal"]).unwrap_err();
        assert_eq!(index, 1);
        assert!(e.to_string().contains("`http://b.internal`"), "{e}");
        assert!(e.to_string().contains("share one scheme"), "{e}");
        let (index, e) = list(&["http://a:1", "http://a:1/"]).unwrap_err();
        assert_eq!(index, 1);
        assert!(e.to_string().contains("listed twice"), "{e}");
        let (index, e) = list(&["http://a:1", "http://a:1/x"]).unwrap_err();
        assert_eq!(index, 1);
        assert!(e.to_string().contains("path"), "{e}");
        let (_, e) = list(&[]).unwrap_err();
        assert!(e.to_string().contains("at least one upstream"), "{e}");
    }
}
