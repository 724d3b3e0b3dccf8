//! A route's TLS files, read and checked: good ones load, and every bad
//! one names its key and file.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::path::PathBuf;

struct Files {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_key: PathBuf,
    junk: PathBuf,
    missing: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["gateway.internal".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    let f = Files {
        ca: path("ca.pem"),
        cert: path("client.pem"),
        key: path("client.key"),
        other_key: path("other.key"),
        junk: path("junk.pem"),
        missing: path("missing.pem"),
        _dir: dir,
    };
    std::fs::write(&f.ca, issuer.pem()).unwrap();
    std::fs::write(&f.cert, cert.pem()).unwrap();
    std::fs::write(&f.key, key.serialize_pem()).unwrap();
    std::fs::write(&f.other_key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    std::fs::write(&f.junk, "not pem\n").unwrap();
    f
}

fn settings(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> UpstreamTls {
    UpstreamTls {
        ca_file: ca.map(Path::to_path_buf),
        client_cert_file: cert.map(Path::to_path_buf),
        client_key_file: key.map(Path::to_path_buf),
        server_name: None,
    }
}

fn refused(settings: &UpstreamTls, https: bool) -> (String, &'static str) {
    let e = PeerTls::load(settings, https).unwrap_err();
    (e.to_string(), e.key())
}

#[test]
fn good_files_load() {
    let f = files();
    let tls = PeerTls::load(&settings(Some(&f.ca), Some(&f.cert), Some(&f.key)), true).unwrap();
    assert_eq!(tls.ca.as_ref().map(|ca| ca.len()), Some(1));
    assert!(tls.client.is_some());
    let shown = format!("{tls:?}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
    // Nothing set: the system's trust store, no client certificate.
    let plain = PeerTls::load(&UpstreamTls::default(), true).unwrap();
    assert!(plain.ca.is_none() && plain.client.is_none());
    let named = UpstreamTls {
        server_name: Some("10.0.0.7".into()),
        ..UpstreamTls::default()
    };
    assert_eq!(
        PeerTls::load(&named, true).unwrap().server_name.as_deref(),
        Some("10.0.0.7")
    );
}

#[test]
fn bad_files_name_their_key_and_file() {
    let f = files();
    let missing = f.missing.display().to_string();
    let junk = f.junk.display().to_string();

    let (e, key) = refused(&settings(Some(&f.missing), None, None), true);
    assert_eq!(key, "ca_file");
    assert!(e.contains(&format!("cannot read `{missing}`")), "{e}");
    let (e, key) = refused(&settings(Some(&f.junk), None, None), true);
    assert_eq!(key, "ca_file");
    assert!(e.contains(&junk) && e.contains("no certificate"), "{e}");

    let (e, key) = refused(&settings(None, Some(&f.missing), Some(&f.key)), true);
    assert_eq!(key, "client_cert_file");
    assert!(e.contains(&format!("cannot read `{missing}`")), "{e}");
    let (e, key) = refused(&settings(None, Some(&f.junk), Some(&f.key)), true);
    assert_eq!(key, "client_cert_file");
    assert!(
        e.contains(&junk) && e.contains("holds no certificate"),
        "{e}"
    );
    let (e, key) = refused(&settings(None, Some(&f.cert), Some(&f.junk)), true);
    assert_eq!(key, "client_key_file");
    assert!(
        e.contains(&junk) && e.contains("holds no private key"),
        "{e}"
    );
    let (e, key) = refused(&settings(None, Some(&f.cert), Some(&f.other_key)), true);
    assert_eq!(key, "client_key_file");
    assert!(e.contains("does not go with the certificate"), "{e}");
    // A key file given as the certificate: no certificate in it.
    let (_, key) = refused(&settings(None, Some(&f.key), Some(&f.key)), true);
    assert_eq!(key, "client_cert_file");

    let (e, key) = refused(&settings(None, Some(&f.cert), None), true);
    assert_eq!(key, "client_cert_file");
    assert!(e.contains("without `client_key_file`"), "{e}");
    let (_, key) = refused(&settings(None, None, Some(&f.key)), true);
    assert_eq!(key, "client_key_file");

    let bad_name = UpstreamTls {
        server_name: Some("not a name".into()),
        ..UpstreamTls::default()
    };
    assert_eq!(refused(&bad_name, true).1, "tls_server_name");
}

#[test]
fn tls_settings_on_plain_upstreams_are_refused() {
    let f = files();
    let (e, key) = refused(&settings(Some(&f.ca), None, None), false);
    assert_eq!(key, "ca_file");
    assert!(e.contains("http://, not https://"), "{e}");
    let named = UpstreamTls {
        server_name: Some("app.internal".into()),
        ..UpstreamTls::default()
    };
    assert_eq!(refused(&named, false).1, "tls_server_name");
    assert!(PeerTls::load(&UpstreamTls::default(), false).is_ok());
}
