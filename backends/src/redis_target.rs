//! Where Redis is, as one URL: a single node (`redis://host:6379`), a
//! master found through Sentinel (`redis+sentinel://s1:26379,s2:26379/name`)
//! or a Cluster (`redis+cluster://n1:6379,n2:6379`). `rediss` in place of
//! `redis` means TLS to every node; the user and password apply to every
//! node (sentinels, masters, replicas, cluster nodes).

use crate::redact::redact_url;

/// How the Redis deployment is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One node (perhaps behind a proxy that fails over for it).
    Node,
    /// A master and its replicas, watched by sentinels that name the
    /// current master of `master`.
    Sentinel { master: String, db: i64 },
    /// A Redis Cluster, reached first through any of the listed nodes.
    Cluster,
}

/// A parsed Redis location.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub topology: Topology,
    /// One URL per listed node (`redis://` or `rediss://`, with the
    /// credentials): the node itself, a sentinel, or a cluster seed.
    pub nodes: Vec<String>,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Why a Redis location cannot be read, in words for the `redis_url` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

const FORMS: &str = "redis://host:6379, redis+sentinel://s1:26379,s2:26379/master-name \
                     or redis+cluster://n1:6379,n2:6379 (rediss… for TLS)";

impl RedisTarget {
    /// Read `url` in one of the three forms.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let fail = |why: &str| TargetError(format!("{why}; expected {FORMS}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| fail("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (base, topology) = match scheme.split_once('+') {
            None => (scheme.as_str(), None),
            Some((base, "sentinel")) => (base, Some("sentinel")),
            Some((base, "cluster")) => (base, Some("cluster")),
            Some(_) => return Err(fail(&format!("unknown scheme `{scheme}`"))),
        };
        let tls = match base {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            _ => return Err(fail(&format!("unknown scheme `{scheme}`"))),
        };
        let Some(topology) = topology else {
            // One node: the URL as the client reads it.
            let parsed = url::Url::parse(url).map_err(|e| fail(&e.to_string()))?;
            return Ok(RedisTarget {
                topology: Topology::Node,
                nodes: vec![url.to_string()],
                tls,
                username: Some(parsed.username().to_string()).filter(|u| !u.is_empty()),
                password: parsed.password().map(str::to_string),
            });
        };
        if rest.contains(['?', '#']) {
            return Err(fail("options (`?…`, `#…`) are not read in this form"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let base = if tls { "rediss" } else { "redis" };
        let default_port = if topology == "sentinel" { 26379 } else { 6379 };
        let mut nodes = Vec::new();
        let (mut username, mut password) = (None, None);
        for host in hosts.split(',') {
            if host.is_empty() {
                return Err(fail("an empty node address"));
            }
            let node = match userinfo {
                Some(u) => format!("{base}://{u}@{host}"),
                None => format!("{base}://{host}"),
            };
            let mut parsed =
                url::Url::parse(&node).map_err(|e| fail(&format!("node `{host}`: {e}")))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(fail(&format!("node `{host}` names no host")));
            }
            if parsed.port().is_none() && parsed.set_port(Some(default_port)).is_err() {
                return Err(fail(&format!("node `{host}` cannot take a port")));
            }
            username = Some(parsed.username().to_string()).filter(|u| !u.is_empty());
            password = parsed.password().map(str::to_string);
            nodes.push(parsed.to_string().trim_end_matches('/').to_string());
        }
        let topology = if topology == "sentinel" {
            let mut parts = path.split('/').filter(|p| !p.is_empty());
            let master = parts
                .next()
                .ok_or_else(|| fail("no master name after the sentinels (`…/master-name`)"))?
                .to_string();
            let db = match parts.next() {
                Some(db) => db
                    .parse()
                    .map_err(|_| fail(&format!("`{db}` is not a database number")))?,
                None => 0,
            };
            if parts.next().is_some() {
                return Err(fail("too many path segments (`…/master-name[/db]`)"));
            }
            Topology::Sentinel { master, db }
        } else {
            if !path.is_empty() {
                return Err(fail("a cluster has no database or path"));
            }
            Topology::Cluster
        };
        Ok(RedisTarget {
            topology,
            nodes,
            tls,
            username,
            password,
        })
    }

    /// `single node`, `sentinel (master …)` or `cluster`, for messages.
    pub fn describe(&self) -> String {
        match &self.topology {
            Topology::Node => "single node".into(),
            Topology::Sentinel { master, .. } => format!("sentinel, master `{master}`"),
            Topology::Cluster => format!("cluster, {} seed nodes", self.nodes.len()),
        }
    }

    /// The nodes without credentials, for messages.
    pub fn shown_nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| redact_url(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_are_read() {
        let one = RedisTarget::parse("redis://:pw@cache:6380/2").unwrap();
        assert_eq!(one.topology, Topology::Node);
        assert_eq!(one.nodes, ["redis://:pw@cache:6380/2"]);
        assert_eq!(one.password.as_deref(), Some("pw"));

        let s = RedisTarget::parse("rediss+sentinel://app:pw@s1,s2:26380,[::1]:26381/wrnexus/3")
            .unwrap();
        assert_eq!(
            s.topology,
            Topology::Sentinel {
                master: "wrnexus".into(),
                db: 3
            }
        );
        assert!(s.tls);
        assert_eq!(
            s.nodes,
            [
                "rediss://app:pw@s1:26379",
                "rediss://app:pw@s2:26380",
                "rediss://app:pw@[::1]:26381"
            ]
        );
        assert_eq!(s.username.as_deref(), Some("app"));
        assert!(s.shown_nodes().iter().all(|n| !n.contains("pw")));

        let c = RedisTarget::parse("redis+cluster://n1:7000,n2:7001").unwrap();
        assert_eq!(c.topology, Topology::Cluster);
        assert_eq!(c.nodes, ["redis://n1:7000", "redis://n2:7001"]);
        assert_eq!(c.describe(), "cluster, 2 seed nodes");
    }

    #[test]
    fn unclear_locations_are_refused_with_the_forms() {
        for (url, why) in [
            ("redis+sentinel://s1:26379", "no master name"),
            ("redis+sentinel://s1/m/x", "not a database number"),
            ("redis+cluster://n1,,n2", "an empty node address"),
            ("redis+cluster://n1/0", "a cluster has no database"),
            ("redis+mesh://n1", "unknown scheme"),
            ("http://n1", "unknown scheme"),
            ("redis+cluster://n1?timeout=1", "options"),
            ("cache:6379", "no scheme"),
        ] {
            let err = RedisTarget::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
            assert!(err.contains("redis+sentinel://"), "{url}: {err}");
        }
    }
}
