//! Which certificate a handshake gets: the one naming the host the client
//! asked for (SNI) exactly, else a wildcard one label up, else the first
//! configured. The set is swapped whole on reload: a handshake reads the
//! set once, and open connections keep the certificate they were given.

use crate::edge::certs::Loaded;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Certificates by the names they serve.
#[derive(Debug)]
pub struct CertSet {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl CertSet {
    /// `None` for an empty list. A name covered twice goes to the
    /// certificate listed first.
    pub fn new(loaded: &[Loaded]) -> Option<Self> {
        let default = loaded.first()?.key.clone();
        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        for cert in loaded {
            for name in &cert.names {
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_string()),
                    None => exact.entry(name.clone()),
                }
                .or_insert_with(|| cert.key.clone());
            }
        }
        Some(CertSet {
            exact,
            wildcard,
            default,
        })
    }

    /// The certificate for a handshake naming `server_name`.
    pub fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name.map(|n| n.trim_end_matches('.').to_ascii_lowercase()) else {
            return self.default.clone();
        };
        if let Some(cert) = self.exact.get(&name) {
            return cert.clone();
        }
        name.split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent))
            .unwrap_or(&self.default)
            .clone()
    }
}

/// The set the listener serves from now, replaceable while it serves.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertSet>>,
}

impl CertStore {
    pub fn new(set: CertSet) -> Self {
        CertStore {
            current: RwLock::new(Arc::new(set)),
        }
    }

    fn current(&self) -> Arc<CertSet> {
        match self.current.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serve `set` to every handshake from now on.
    pub fn replace(&self, set: CertSet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut current) => *current = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The certificate a handshake naming `server_name` gets now.
    pub fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        self.current().choose(server_name)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::certs::{load, provider};
    use crate::edge::test_certs::Pair;

    fn loaded(dir: &std::path::Path, stem: &str, names: &[&str]) -> Loaded {
        load(&Pair::new(names).write(dir, stem), &provider()).unwrap()
    }

    #[test]
    fn the_name_asked_for_picks_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let first = loaded(dir.path(), "first", &["first.example.com"]);
        let apps = loaded(
            dir.path(),
            "apps",
            &["*.apps.example.com", "apps.example.com"],
        );
        let exact = loaded(dir.path(), "exact", &["one.apps.example.com"]);
        let set = CertSet::new(&[first.clone(), apps.clone(), exact.clone()]).unwrap();
        let is = |name: Option<&str>, want: &Loaded| Arc::ptr_eq(&set.choose(name), &want.key);
        assert!(is(Some("first.example.com"), &first));
        assert!(is(Some("FIRST.example.com."), &first));
        assert!(is(Some("apps.example.com"), &apps));
        assert!(is(Some("two.apps.example.com"), &apps));
        // Exact beats wildcard; a wildcard covers one label only.
        assert!(is(Some("one.apps.example.com"), &exact));
        assert!(is(Some("a.b.apps.example.com"), &first));
        // No name, or a name nothing covers: the first configured.
        assert!(is(None, &first));
        assert!(is(Some("other.test"), &first));
    }

    #[test]
    fn a_replaced_set_serves_new_handshakes() {
        let dir = tempfile::tempdir().unwrap();
        let old = loaded(dir.path(), "old", &["app.example.com"]);
        let new = loaded(dir.path(), "new", &["app.example.com"]);
        let store = CertStore::new(CertSet::new(std::slice::from_ref(&old)).unwrap());
        let held = store.choose(Some("app.example.com"));
        store.replace(CertSet::new(std::slice::from_ref(&new)).unwrap());
        assert!(Arc::ptr_eq(
            &store.choose(Some("app.example.com")),
            &new.key
        ));
        // What a handshake already took is untouched.
        assert!(Arc::ptr_eq(&held, &old.key));
        assert!(CertSet::new(&[]).is_none());
    }
}
