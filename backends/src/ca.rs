//! CA files: the certificates a TLS connection to Postgres or Redis checks
//! the server against, read and checked before anything connects, so a
//! missing, unreadable or non-PEM file is a configuration error, not a
//! handshake that fails later.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

/// Why a CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("cannot read `{origin}`: {error}")]
    Unreadable {
        origin: String,
        error: std::io::Error,
    },
    #[error("`{origin}` is not a PEM file of CA certificates: {detail}")]
    NotPem { origin: String, detail: String },
    #[error("`{origin}` holds no certificate (a PEM block `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { origin: String },
    #[error("`{origin}`: certificate {index} cannot be a trust anchor: {detail}")]
    NotAnchor {
        origin: String,
        index: usize,
        detail: String,
    },
}

/// The certificates of a CA file, in PEM, each usable as a trust anchor.
#[derive(Clone)]
pub struct CaFile {
    origin: String,
    pem: Vec<u8>,
    certificates: usize,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaFile")
            .field("origin", &self.origin)
            .field("certificates", &self.certificates)
            .finish()
    }
}

impl CaFile {
    /// Read and check the file at `path`.
    pub fn read(path: &Path) -> Result<Self, CaFileError> {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|error| CaFileError::Unreadable {
            origin: origin.clone(),
            error,
        })?;
        Self::from_pem(origin, pem)
    }

    /// Check PEM text read from `origin` (a path, or a name for inline PEM).
    pub fn from_pem(origin: impl Into<String>, pem: Vec<u8>) -> Result<Self, CaFileError> {
        let origin = origin.into();
        let mut anchors = rustls::RootCertStore::empty();
        let mut certificates = 0;
        for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let cert = cert.map_err(|e| CaFileError::NotPem {
                origin: origin.clone(),
                detail: e.to_string(),
            })?;
            anchors.add(cert).map_err(|e| CaFileError::NotAnchor {
                origin: origin.clone(),
                index: i + 1,
                detail: e.to_string(),
            })?;
            certificates += 1;
        }
        if certificates == 0 {
            return Err(CaFileError::NoCertificate { origin });
        }
        Ok(CaFile {
            origin,
            pem,
            certificates,
        })
    }

    /// Where the certificates came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The PEM text as read.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// How many certificates the file holds.
    pub fn certificates(&self) -> usize {
        self.certificates
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed CA certificate (P-256), a fixture for the checks.
    pub(crate) const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBijCCATGgAwIBAgIUcrWUgBcEeGjiV0Mms2tvEuvhdp0wCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPd3JuZXh1cy10ZXN0LWNhMCAXDTI2MTIwNTA2NDMxMVoYDzIx
MjYxMTExMDY0MzExWjAaMRgwFgYDVQQDDA93cm5leHVzLXRlc3QtY2EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATo2fiXzqv+MpNPkrwSS4+Zp5Km9NfUnltrzGhC
aZ2rN/4+4/o3rC5E+YC6VdLeGOqti0r7m5PRm/SRi8/U0mXdo1MwUTAdBgNVHQ4E
FgQUDiPxklCEHtNfIfAKNdYSjED+c48wHwYDVR0jBBgwFoAUDiPxklCEHtNfIfAK
NdYSjED+c48wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAE2OFV
bTtiVSJfshvBUocAkgSDPEwL0ozmu0GO22dqxgIgChCIy/JM0NZaJHaaGx9pyG/v
ZFUfaa4Xun8zYPeceys=
-----END CERTIFICATE-----
";

    #[test]
    fn a_ca_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("{CA_PEM}{CA_PEM}")).unwrap();
        let ca = CaFile::read(&good).unwrap();
        assert_eq!(
            (ca.certificates(), ca.origin()),
            (2, good.display().to_string().as_str())
        );

        let missing = dir.path().join("missing.pem");
        let err = CaFile::read(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read `") && err.contains("missing.pem"),
            "{err}"
        );

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let err = CaFile::read(&not_pem).unwrap_err().to_string();
        assert!(err.contains("holds no certificate"), "{err}");

        let key_only =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        let err = CaFile::from_pem("k.pem", key_only.as_bytes().to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no certificate"), "{err}");

        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        let err = CaFile::from_pem("b.pem", broken.as_bytes().to_vec())
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a PEM file"), "{err}");

        let garbage = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        let err = CaFile::from_pem("g.pem", garbage.as_bytes().to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("certificate 1 cannot be a trust anchor"),
            "{err}"
        );
    }
}
