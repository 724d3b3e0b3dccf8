//! The `Stripe-Signature` check (`wrnexus_control_plane::billing::event`):
//! a header passes only with a `v1` HMAC of this payload, made with this
//! secret at a timestamp within 300 s, and only for this payload.

use wrnexus_control_plane::billing::event::verify;
use wrnexus_testkit::stripe::{now, v1};

const SECRET: &str = "whsec_fuzz0123456789";
const PAYLOAD: &str = r#"{"id":"evt_fuzz","type":"invoice.paid","created":1,"data":{"object":{}}}"#;

/// Whether `header` holds a genuine signature of `payload` (the oracle:
/// every `t=` against every `v1=`).
fn genuine(payload: &str, header: &str) -> bool {
    let now = now();
    let fields = || header.split(',').filter_map(|f| f.trim().split_once('='));
    fields()
        .filter(|(k, _)| *k == "t")
        .filter_map(|(_, t)| t.parse::<i64>().ok())
        .filter(|t| (now - t).abs() <= 300)
        .any(|t| {
            let want = v1(payload, SECRET, t);
            fields().any(|(k, v)| k == "v1" && v == want)
        })
}

pub fn check(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if verify(PAYLOAD, header, SECRET).is_ok() {
        assert!(genuine(PAYLOAD, header), "{header:?} passed");
    }
    // A genuine signature passes; the same signature over a payload with
    // the input appended does not.
    let t = now();
    let signed = format!("t={t},v1={}", v1(PAYLOAD, SECRET, t));
    assert!(verify(PAYLOAD, &signed, SECRET).is_ok());
    if !header.is_empty() {
        let tampered = format!("{PAYLOAD}{header}");
        assert!(verify(&tampered, &signed, SECRET).is_err(), "{header:?}");
    }
}
