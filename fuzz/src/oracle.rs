//! Readings of the input made independently of the code under test, as a
//! framework or a browser would make them.

/// Decode every `%XX` escape (a framework's reading of a path); `None`
/// when an escape is malformed.
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let pair = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(pair, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A header name's letters and digits, lowercased: what a framework that
/// folds case and punctuation reads.
pub fn folded(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Headers the gateway sets or never forwards, folded.
pub const IDENTITY: &[&str] = &[
    "xworkspaceid",
    "xuserid",
    "xapikeyid",
    "xworkspacerole",
    "xrequestid",
    "xforwardedfor",
    "xforwardedproto",
    "xforwardedhost",
    "xrealip",
    "forwarded",
    "xforwardedport",
    "xforwardedprefix",
    "xforwardedssl",
    "xforwardedscheme",
    "xforwardedserver",
    "xoriginalforwardedfor",
    "xclientip",
    "xclusterclientip",
    "trueclientip",
    "xhttpmethodoverride",
    "xhttpmethod",
    "xmethodoverride",
    "xoriginalurl",
    "xrewriteurl",
];

/// Whether a folded name is the gateway's to set.
pub fn is_identity(name: &str) -> bool {
    let f = folded(name);
    IDENTITY.contains(&f.as_str()) || f.starts_with("xwrnexus")
}

/// Whether any word of a header value is a WRNexus key.
pub fn carries_key(value: &[u8]) -> bool {
    value
        .split(|b| b.is_ascii_whitespace() || *b == b',')
        .any(|w| w.len() >= 4 && w[..4].eq_ignore_ascii_case(b"wrn_"))
}
