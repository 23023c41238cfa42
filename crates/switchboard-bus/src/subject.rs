//! Account ids as subject tokens.

/// `account` as one NATS subject token: ASCII letters, digits, `_` and `-` as they are, every other
/// byte as `%XX`, so that `acme.eu` cannot split into two tokens and no id can inject a wildcard.
/// Distinct ids give distinct tokens (`%` itself is escaped).
pub fn token(account: &str) -> String {
    let mut out = String::with_capacity(account.len());
    for b in account.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn tokens_are_single_safe_words() {
        assert_eq!(token("acme"), "acme");
        assert_eq!(token("acme-EU_2"), "acme-EU_2");
        assert_eq!(token("acme.eu"), "acme%2Eeu");
        assert_eq!(token("a b>*"), "a%20b%3E%2A");
        assert_eq!(token("50%"), "50%25");
        assert_eq!(token("café"), "caf%C3%A9");
        assert_ne!(token("a.b"), token("a%2Eb"));
    }
}
