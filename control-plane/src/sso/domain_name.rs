//! Domain names a workspace claims: checked and written in one form (ASCII,
//! lowercase, IDNA-mapped, no trailing dot), and the DNS record that proves
//! a claim.

/// The label the proof record sits under: `_wrnexus-challenge.<domain>`.
pub const CHALLENGE_LABEL: &str = "_wrnexus-challenge";
/// What the proof record's value starts with, before the token.
pub const VALUE_PREFIX: &str = "wrnexus-domain-verification=";
/// Longest domain name, in bytes of its ASCII form.
const MAX_LEN: usize = 253;
/// Longest label, in bytes.
const MAX_LABEL: usize = 63;

/// Why a domain name cannot be claimed; each says so in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("`domain` is required")]
    Empty,
    #[error("`domain` must be a domain name like example.com, without a wildcard")]
    Wildcard,
    #[error("`domain` must be a domain name like example.com, not an address, URL or email")]
    NotAHostName,
    #[error(
        "`domain` must have at least two labels (example.com): a bare suffix like `com` cannot be claimed"
    )]
    BareSuffix,
    #[error("`domain` must be at most {MAX_LEN} characters, each label at most {MAX_LABEL}")]
    TooLong,
}

/// `raw` as a claimable domain name: trimmed, one trailing dot dropped,
/// mapped to its ASCII (Punycode) lowercase form; wildcards, addresses,
/// URLs and single labels refused.
pub fn normalise_domain(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(DomainError::Empty);
    }
    if trimmed.contains('*') {
        return Err(DomainError::Wildcard);
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | ':' | '[' | ']'))
    {
        return Err(DomainError::NotAHostName);
    }
    // Lengths first for names already in ASCII (the IDNA mapping refuses
    // them too, but without saying why).
    if trimmed.is_ascii()
        && (trimmed.len() > MAX_LEN || trimmed.split('.').any(|l| l.len() > MAX_LABEL))
    {
        return Err(DomainError::TooLong);
    }
    let ascii = idna::domain_to_ascii_strict(trimmed).map_err(|_| DomainError::NotAHostName)?;
    if ascii.len() > MAX_LEN {
        return Err(DomainError::TooLong);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(DomainError::NotAHostName);
        }
        if label.len() > MAX_LABEL {
            return Err(DomainError::TooLong);
        }
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::NotAHostName);
        }
    }
    if labels.len() < 2 {
        return Err(DomainError::BareSuffix);
    }
    // An all-numeric last label is an IPv4 address, not a name.
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainError::NotAHostName);
    }
    Ok(ascii)
}

/// The domain of an email address in the same form, when it has one that
/// could be claimed.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    normalise_domain(domain).ok()
}

/// The name the proof record is published at.
pub fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// The value the proof record must hold, exactly.
pub fn challenge_value(token: &str) -> String {
    format!("{VALUE_PREFIX}{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_trimmed() {
        assert_eq!(
            normalise_domain("  Example.COM. ").as_deref(),
            Ok("example.com")
        );
        assert_eq!(
            normalise_domain("mail.Example.co.uk").as_deref(),
            Ok("mail.example.co.uk")
        );
    }

    #[test]
    fn international_names_take_their_ascii_form() {
        assert_eq!(
            normalise_domain("Bücher.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
        assert_eq!(
            normalise_domain("xn--bcher-kva.example").as_deref(),
            Ok("xn--bcher-kva.example")
        );
    }

    #[test]
    fn wildcards_suffixes_and_non_names_are_refused() {
        assert_eq!(normalise_domain(""), Err(DomainError::Empty));
        assert_eq!(normalise_domain(" . "), Err(DomainError::Empty));
        assert_eq!(
            normalise_domain("*.example.com"),
            Err(DomainError::Wildcard)
        );
        assert_eq!(normalise_domain("com"), Err(DomainError::BareSuffix));
        assert_eq!(normalise_domain("COM."), Err(DomainError::BareSuffix));
        for bad in [
            "example..com",
            ".example.com",
            "-a.example.com",
            "a-.example.com",
            "exa_mple.com",
            "name@example.com",
            "https://example.com",
            "example.com/path",
            "example.com:443",
            "192.168.0.1",
            "[::1]",
            "exa mple.com",
        ] {
            assert!(normalise_domain(bad).is_err(), "{bad} was accepted");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(normalise_domain(&long_label), Err(DomainError::TooLong));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(normalise_domain(&long_name), Err(DomainError::TooLong));
    }

    #[test]
    fn email_domains_take_the_same_form() {
        assert_eq!(
            email_domain("Ada@Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(email_domain("ada@localhost"), None);
        assert_eq!(email_domain("no-at-sign"), None);
    }

    #[test]
    fn the_record_to_publish() {
        assert_eq!(
            challenge_name("example.com"),
            "_wrnexus-challenge.example.com"
        );
        assert_eq!(challenge_value("abc"), "wrnexus-domain-verification=abc");
    }
}
