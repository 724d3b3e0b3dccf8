//! A certificate chain and its private key read from PEM files, checked to
//! belong together, with the host names it serves and when it expires.

use crate::config::CertificateFiles;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read `{file}`: {source}")]
    Unreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("`{file}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { file: PathBuf },
    #[error("`{file}`: the certificate cannot be read: {why}")]
    BadCertificate { file: PathBuf, why: String },
    #[error("`{file}` holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { file: PathBuf },
    #[error("`{file}`: the private key cannot be used: {why}")]
    BadKey { file: PathBuf, why: String },
    #[error("`{key}` is not the private key of the certificate in `{cert}`")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("no certificate is configured")]
    None,
}

/// A certificate ready to serve.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub files: CertificateFiles,
    pub key: Arc<CertifiedKey>,
    /// The DNS names of the leaf's subjectAltName, lowercase (wildcards
    /// as `*.example.com`).
    pub names: Vec<String>,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: i64,
}

fn read(file: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(file).map_err(|source| CertError::Unreadable {
        file: file.to_path_buf(),
        source,
    })
}

/// The leaf's DNS names and expiry.
fn leaf_facts(file: &Path, leaf: &CertificateDer<'_>) -> Result<(Vec<String>, i64), CertError> {
    let bad = |why: String| CertError::BadCertificate {
        file: file.to_path_buf(),
        why,
    };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::new();
    if let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| bad(e.to_string()))?
    {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    Ok((names, cert.validity().not_after.timestamp()))
}

/// Read and check one chain and key with `provider`.
pub fn load(files: &CertificateFiles, provider: &CryptoProvider) -> Result<Loaded, CertError> {
    let cert_pem = read(&files.cert_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::BadCertificate {
            file: files.cert_file.clone(),
            why: e.to_string(),
        })?;
    let leaf = chain.first().ok_or_else(|| CertError::NoCertificate {
        file: files.cert_file.clone(),
    })?;
    let (names, not_after) = leaf_facts(&files.cert_file, leaf)?;
    let key_pem = read(&files.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => CertError::NoKey {
            file: files.key_file.clone(),
        },
        other => CertError::BadKey {
            file: files.key_file.clone(),
            why: other.to_string(),
        },
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertError::BadKey {
            file: files.key_file.clone(),
            why: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    if certified.keys_match().is_err() {
        return Err(CertError::Mismatch {
            cert: files.cert_file.clone(),
            key: files.key_file.clone(),
        });
    }
    Ok(Loaded {
        files: files.clone(),
        key: Arc::new(certified),
        names,
        not_after,
    })
}

/// Read every configured certificate; the first failure is the answer.
pub fn load_all(
    files: &[CertificateFiles],
    provider: &CryptoProvider,
) -> Result<Vec<Loaded>, CertError> {
    if files.is_empty() {
        return Err(CertError::None);
    }
    files.iter().map(|f| load(f, provider)).collect()
}

/// The crypto provider the listener is built with (aws-lc-rs, the build's one).
pub fn provider() -> Arc<CryptoProvider> {
    wrnexus_backends::install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::test_certs::Pair;

    #[test]
    fn a_pair_loads_with_its_names_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let pair = Pair::new(&["app.example.com", "*.apps.example.com"]);
        let files = pair.write(dir.path(), "a");
        let loaded = load(&files, &provider()).unwrap();
        assert_eq!(loaded.names, ["app.example.com", "*.apps.example.com"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(loaded.not_after > now, "{}", loaded.not_after);
    }

    #[test]
    fn what_cannot_be_served_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = Pair::new(&["a.example.com"]).write(dir.path(), "a");
        let b = Pair::new(&["b.example.com"]).write(dir.path(), "b");
        let p = provider();
        let crossed = CertificateFiles {
            cert_file: a.cert_file.clone(),
            key_file: b.key_file.clone(),
        };
        let e = load(&crossed, &p).unwrap_err().to_string();
        assert!(
            e.contains("is not the private key") && e.contains("b.key"),
            "{e}"
        );
        let missing = CertificateFiles {
            cert_file: dir.path().join("nope.pem"),
            key_file: a.key_file.clone(),
        };
        let e = load(&missing, &p).unwrap_err().to_string();
        assert!(e.contains("cannot read") && e.contains("nope.pem"), "{e}");
        let swapped = CertificateFiles {
            cert_file: a.key_file.clone(),
            key_file: a.cert_file.clone(),
        };
        let e = load(&swapped, &p).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let no_key = CertificateFiles {
            cert_file: a.cert_file.clone(),
            key_file: a.cert_file.clone(),
        };
        let e = load(&no_key, &p).unwrap_err().to_string();
        assert!(e.contains("no PEM private key"), "{e}");
        assert!(matches!(load_all(&[], &p), Err(CertError::None)));
    }
}
