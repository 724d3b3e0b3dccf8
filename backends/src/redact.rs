//! URLs without credentials, for messages and logs: the user and password
//! of the authority, and a `password` query parameter (libpq's spelling).

/// `url` with its user and password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let without_user = match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***@{}", &url[at + 1..]),
        _ => url.to_string(),
    };
    let Some((base, rest)) = without_user.split_once('?') else {
        return without_user;
    };
    let (query, fragment) = match rest.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (rest, None),
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_string(),
        })
        .collect();
    let mut out = format!("{base}?{}", query.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/x?sslmode=verify-full"),
            "postgres://***@db:5432/x?sslmode=verify-full"
        );
        assert_eq!(
            redact_url("rediss://:secret@cache:6380/0"),
            "rediss://***@cache:6380/0"
        );
        assert_eq!(
            redact_url("postgres://db/x?user=u&password=secret&sslmode=require"),
            "postgres://db/x?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("rediss://h:1?PASSWORD=secret#insecure"),
            "rediss://h:1?PASSWORD=***#insecure"
        );
        assert_eq!(
            redact_url("sqlite://data/x.sqlite?mode=rwc"),
            "sqlite://data/x.sqlite?mode=rwc"
        );
    }
}
