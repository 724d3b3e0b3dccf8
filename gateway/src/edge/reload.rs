//! The listener's certificates reloaded when their files change or on
//! SIGHUP: every file is read and checked before any is swapped in, so a
//! renewal caught half-written (a new certificate, the old key) leaves the
//! serving set in place — said in the log and the metrics — and is taken
//! once the files agree. Open connections are never touched.

use crate::config::CertificateFiles;
use crate::edge::certs::{CertError, Loaded, load_all};
use crate::edge::sni::{CertSet, CertStore};
use crate::ops::metrics::Metrics;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What the files looked like: modification time and length of each.
type Fingerprint = Vec<Option<(SystemTime, u64)>>;

fn fingerprint(files: &[CertificateFiles]) -> Fingerprint {
    files
        .iter()
        .flat_map(|f| [&f.cert_file, &f.key_file])
        // `metadata` follows symlinks: a Kubernetes secret volume swaps a
        // link, and the target's times change.
        .map(|path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Keeps a [`CertStore`] in step with its files.
pub struct CertReloader {
    pub files: Vec<CertificateFiles>,
    pub store: Arc<CertStore>,
    pub provider: Arc<CryptoProvider>,
    pub metrics: Metrics,
}

impl CertReloader {
    /// Note each certificate's expiry, and warn of one near it.
    fn report(&self, loaded: &[Loaded]) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        for cert in loaded {
            let file = cert.files.cert_file.display().to_string();
            self.metrics
                .tls_certificate_expiry
                .with_label_values(&[&file])
                .set(cert.not_after);
            let days = (cert.not_after - now) / 86_400;
            if cert.not_after <= now {
                tracing::error!(certificate = %file, "certificate has expired; clients will refuse it");
            } else if days < 14 {
                tracing::warn!(certificate = %file, days, "certificate expires soon");
            }
        }
    }

    /// The first set, at start: a failure stops the start.
    pub fn first(
        files: &[CertificateFiles],
        provider: &CryptoProvider,
    ) -> Result<CertStore, CertError> {
        let loaded = load_all(files, provider)?;
        let set = CertSet::new(&loaded).ok_or(CertError::None)?;
        Ok(CertStore::new(set))
    }

    /// Read the files again and serve them if they all check out.
    pub fn reload(&self) -> Result<(), CertError> {
        let result = load_all(&self.files, &self.provider).and_then(|loaded| {
            let set = CertSet::new(&loaded).ok_or(CertError::None)?;
            self.store.replace(set);
            self.report(&loaded);
            Ok(())
        });
        let label = if result.is_ok() { "ok" } else { "refused" };
        self.metrics.tls_reloads.with_label_values(&[label]).inc();
        result
    }

    /// Reload on every change of the files (looked at every `poll`) and on
    /// SIGHUP, forever.
    pub async fn watch(self, poll: Duration) {
        if let Ok(loaded) = load_all(&self.files, &self.provider) {
            self.report(&loaded);
        }
        let mut watch = crate::ops::watch::Watch::new(poll, "the certificate files");
        let mut seen = fingerprint(&self.files);
        loop {
            let forced = watch.next().await;
            let now = fingerprint(&self.files);
            if !forced && now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(()) => tracing::info!(
                    certificates = self.files.len(),
                    on = if forced { "SIGHUP" } else { "file change" },
                    "TLS certificates reloaded"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "TLS certificates not reloaded; the serving ones stay until the files check out"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::certs::provider;
    use crate::edge::test_certs::Pair;

    #[test]
    fn a_good_change_is_served_and_a_bad_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let files = Pair::new(&["app.example.com"]).write(dir.path(), "app");
        let provider = provider();
        let store = Arc::new(CertReloader::first(std::slice::from_ref(&files), &provider).unwrap());
        let reloader = CertReloader {
            files: vec![files.clone()],
            store: store.clone(),
            provider,
            metrics: Metrics::new().unwrap(),
        };
        let before = store.choose(None);
        // Half a renewal: a new certificate beside the old key.
        let renewed = Pair::new(&["app.example.com"]);
        std::fs::write(&files.cert_file, &renewed.cert).unwrap();
        assert!(matches!(reloader.reload(), Err(CertError::Mismatch { .. })));
        assert!(Arc::ptr_eq(&store.choose(None), &before));
        // The key arrives: served.
        std::fs::write(&files.key_file, &renewed.key).unwrap();
        reloader.reload().unwrap();
        let after = store.choose(None);
        assert!(!Arc::ptr_eq(&after, &before));
        assert_eq!(after.cert[0].as_ref(), {
            let pem = renewed.cert.as_bytes();
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::from_pem_slice(pem)
                .unwrap()
                .as_ref()
                .to_vec()
        });
        let text = reloader.metrics.render();
        assert!(
            text.contains("wrnexus_gateway_tls_reloads_total{result=\"refused\"} 1")
                && text.contains("wrnexus_gateway_tls_reloads_total{result=\"ok\"} 1")
                && text.contains("wrnexus_gateway_tls_certificate_expiry_timestamp_seconds"),
            "{text}"
        );
    }
}
