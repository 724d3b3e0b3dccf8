//! Self-signed certificates for the edge's unit tests, written as PEM files.

use crate::config::CertificateFiles;
use std::path::Path;

/// A self-signed certificate for some names, and its key.
pub struct Pair {
    pub cert: String,
    pub key: String,
}

impl Pair {
    pub fn new(names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let certified = rcgen::generate_simple_self_signed(names).unwrap();
        Pair {
            cert: certified.cert.pem(),
            key: certified.signing_key.serialize_pem(),
        }
    }

    /// Write `{stem}.pem` and `{stem}.key` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> CertificateFiles {
        let files = CertificateFiles {
            cert_file: dir.join(format!("{stem}.pem")),
            key_file: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&files.cert_file, &self.cert).unwrap();
        std::fs::write(&files.key_file, &self.key).unwrap();
        files
    }
}
