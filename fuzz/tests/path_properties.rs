//! Properties of the one canonical path, over generated paths: the
//! canonical form is a fixed point, it is what the forwarded request
//! carries, and spellings a framework reads as the same route never get a
//! different route, action or workspace.

use proptest::prelude::*;
use wrnexus_fuzz::path::{WORKSPACE_PREFIX, meaning, table};
use wrnexus_gateway::request::path::canonical;

/// Segments that matter to the table, and plain ones.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("app".to_string()),
        Just("admin".to_string()),
        Just("billing".to_string()),
        Just("api".to_string()),
        Just("v2".to_string()),
        Just("keys".to_string()),
        Just("w".to_string()),
        "[a-z0-9][a-z0-9._~-]{0,8}[a-z0-9]",
        "[a-f0-9]{8}-[a-f0-9]{4}",
    ]
}

/// A plain path: canonical by construction.
fn plain_path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 0..6), any::<bool>()).prop_map(|(segments, slash)| {
        let mut p = format!("/{}", segments.join("/"));
        if slash && !segments.is_empty() {
            p.push('/');
        }
        p
    })
}

/// One way of writing a byte that a framework reads as that byte.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    Plain,
    Escaped,
    EscapedLower,
    Flipped,
}

fn respell(plain: &str, spellings: &[Spelling]) -> String {
    let mut out = String::new();
    // The segment after the workspace prefix is an id: its case is its
    // meaning (a differently cased id names no workspace), so it keeps it.
    let id_from = plain
        .strip_prefix(WORKSPACE_PREFIX)
        .map(|_| WORKSPACE_PREFIX.len());
    let id_to = id_from.map(|from| {
        plain[from..]
            .find('/')
            .map_or(plain.len(), |end| from + end)
    });
    for (i, c) in plain.chars().enumerate() {
        let in_id = id_from.is_some_and(|f| i >= f) && id_to.is_some_and(|t| i < t);
        match spellings.get(i).copied().unwrap_or(Spelling::Plain) {
            Spelling::Escaped if c != '/' => out.push_str(&format!("%{:02X}", c as u32)),
            Spelling::EscapedLower if c != '/' => out.push_str(&format!("%{:02x}", c as u32)),
            Spelling::Flipped if !in_id && c.is_ascii_alphabetic() => {
                out.push(if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                });
            }
            _ => out.push(c),
        }
    }
    out
}

fn spellings() -> impl Strategy<Value = Vec<Spelling>> {
    prop::collection::vec(
        prop_oneof![
            6 => Just(Spelling::Plain),
            2 => Just(Spelling::Escaped),
            1 => Just(Spelling::EscapedLower),
            2 => Just(Spelling::Flipped),
        ],
        0..64,
    )
}

/// Bytes that make paths ambiguous, and ordinary ones.
fn noisy_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just(";".to_string()),
            Just("%".to_string()),
            Just("\\".to_string()),
            Just(" ".to_string()),
            "%[0-9a-fA-F]{2}",
            "[a-zA-Z0-9_~-]{1,4}",
        ],
        0..12,
    )
    .prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn canonicalising_is_idempotent(path in noisy_path()) {
        if let Ok(once) = canonical(&path) {
            let twice = canonical(&once);
            prop_assert_eq!(twice.as_deref(), Ok(once.as_ref()));
        }
    }

    #[test]
    fn the_path_decided_on_is_the_path_forwarded(path in noisy_path(), query in "[a-z=&]{0,6}") {
        // The gateway forwards a target made of the canonical path: it must
        // survive as a URI byte for byte, and mean the same to the app.
        if let Ok(c) = canonical(&path) {
            let target = if query.is_empty() { c.to_string() } else { format!("{c}?{query}") };
            let uri = http::Uri::try_from(target.as_str());
            prop_assert!(uri.is_ok(), "{target:?} is not a URI");
            if let Ok(uri) = uri {
                prop_assert_eq!(uri.path(), c.as_ref());
                prop_assert_eq!(uri.path_and_query().map(|pq| pq.as_str()), Some(target.as_str()));
            }
        }
    }

    #[test]
    fn a_plain_path_is_its_own_canonical_form(path in plain_path()) {
        let c = canonical(&path);
        // Plain paths may still be refused (a segment ending in `.`), but
        // an accepted one is unchanged.
        if let Ok(c) = c {
            prop_assert_eq!(c.as_ref(), path.as_str());
        }
    }

    #[test]
    fn spellings_of_one_route_decide_as_one(path in plain_path(), how in spellings()) {
        let Some(t) = table() else { return Err(TestCaseError::fail("no table")); };
        let Ok(plain) = canonical(&path) else { return Ok(()); };
        let spelled = respell(&path, &how);
        // Either refused outright, or decided exactly as the plain path.
        if let Ok(c) = canonical(&spelled) {
            let want = meaning(&t, &plain);
            let got = meaning(&t, &c);
            prop_assert_eq!(&got.0, &want.0, "route of {} ({})", spelled, c);
            prop_assert_eq!(&got.1, &want.1, "action of {} ({})", spelled, c);
            prop_assert_eq!(&got.2, &want.2, "workspace of {} ({})", spelled, c);
            // And the app is told the one canonical spelling, which reads
            // as the plain path when case is ignored.
            prop_assert!(c.eq_ignore_ascii_case(&plain), "{} forwarded as {}", spelled, c);
        }
    }
}

#[test]
fn the_table_decides_the_interesting_routes() -> Result<(), String> {
    // The properties above are only as good as the table they read.
    let t = table().ok_or("no table")?;
    for (path, route, action) in [
        ("/app/admin/x", "app", "admin"),
        ("/APP/%61dmin/x", "app", "admin"),
        ("/app/Admin/Billing", "app", "billing"),
        ("/api/v2/KEYS", "api", "admin"),
    ] {
        let c = canonical(path).map(|c| c.into_owned()).unwrap_or_default();
        let (r, a, _) = meaning(&t, &c);
        assert_eq!(
            (r.as_deref(), a.as_deref()),
            (Some(route), Some(action)),
            "{path}"
        );
    }
    Ok(())
}
