//! Fixtures shared by the gateway's integration tests.

use wrnexus_policies::SessionClaims;

/// The verified claims of user `u1`'s session `s1` in workspace `w1`,
/// valid until `exp` (Unix seconds).
pub fn claims(exp: i64) -> SessionClaims {
    SessionClaims {
        iss: "wrnexus".into(),
        aud: "wrnexus-gateway".into(),
        sub: "u1".into(),
        wid: "w1".into(),
        sid: "s1".into(),
        iat: 0,
        exp,
        amr: Vec::new(),
        auth_time: 0,
        sso_wid: None,
    }
}
