//! Certificates for the TLS suites, made on the spot: a CA, and a server
//! certificate it signs for `localhost` and 127.0.0.1, as PEM files a
//! server (Postgres, `redis-server`) and a client can read; and client
//! certificates for mutual TLS.

use crate::TestResult;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A CA and the server certificate and key it signed, in PEM.
#[derive(Debug, Clone)]
pub struct ServerCerts {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// Where [`ServerCerts::write`] put them.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn ca(name: &str) -> TestResult<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

impl ServerCerts {
    /// A new CA named `ca_name`, and a certificate it signed for a server
    /// at `localhost` and 127.0.0.1.
    pub fn new(ca_name: &str) -> TestResult<Self> {
        Self::for_names(ca_name, &["localhost", "127.0.0.1"])
    }

    /// A new CA named `ca_name`, and a certificate it signed for `names`
    /// (host names, wildcards or IP addresses).
    pub fn for_names(ca_name: &str, names: &[&str]) -> TestResult<Self> {
        let issuer = ca(ca_name)?;
        let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "wrnexus test server");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(ServerCerts {
            ca: issuer.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Write `ca.pem`, `server.pem` and `server.key` (mode 0600) into `dir`.
    pub fn write(&self, dir: &Path) -> TestResult<CertFiles> {
        use std::os::unix::fs::PermissionsExt;
        let files = CertFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, &self.ca)?;
        std::fs::write(&files.cert, &self.cert)?;
        std::fs::write(&files.key, &self.key)?;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
        Ok(files)
    }
}

/// A CA that signed nothing the suites' servers present: the wrong one.
pub fn unrelated_ca() -> TestResult<String> {
    Ok(ca("wrnexus unrelated test CA")?.pem())
}

/// A client certificate (for mutual TLS) and its key, signed by a CA of
/// its own, in PEM: the server trusts `ca` for its clients.
#[derive(Debug, Clone)]
pub struct ClientCerts {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl ClientCerts {
    /// A new client CA named `ca_name`, and a client certificate it signed
    /// for `client_name`.
    pub fn new(ca_name: &str, client_name: &str) -> TestResult<Self> {
        let issuer = ca(ca_name)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, client_name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        Ok(ClientCerts {
            ca: issuer.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Write `client-ca.pem`, `client.pem` and `client.key` (mode 0600)
    /// into `dir`.
    pub fn write(&self, dir: &Path) -> TestResult<CertFiles> {
        use std::os::unix::fs::PermissionsExt;
        let files = CertFiles {
            ca: dir.join("client-ca.pem"),
            cert: dir.join("client.pem"),
            key: dir.join("client.key"),
        };
        std::fs::write(&files.ca, &self.ca)?;
        std::fs::write(&files.cert, &self.cert)?;
        std::fs::write(&files.key, &self.key)?;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
        Ok(files)
    }
}
