//! Strict email addresses: exactly one plain `local@domain`, in ASCII, lowercased. A lenient
//! parser once let an outsider register on a government server by an address that two parsers
//! read differently; everything an RFC 5322 parser would also accept beyond the plain form
//! (quotes, comments, display names, lists, internationalised or look-alike characters) is
//! refused here, with a message that says why.

use std::fmt;

use crate::{ServiceError, ServiceResult};

/// The longest address (RFC 5321's path limit) and parts.
const MAX_ADDRESS: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

/// A plain address, lowercased: `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    address: String,
    at: usize,
}

impl EmailAddress {
    /// Parses exactly one plain address, or says what is wrong with it.
    pub fn parse(input: &str) -> ServiceResult<Self> {
        let invalid = |why: &str| {
            ServiceError::InvalidParam(format!("{:?} is not a plain email address: {why}", input))
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if input.len() > MAX_ADDRESS {
            return Err(invalid("it is too long"));
        }
        if let Some(c) = input.chars().find(|c| !c.is_ascii()) {
            return Err(invalid(&format!(
                "{c:?} is not ASCII (internationalised addresses are not accepted)"
            )));
        }
        if let Some(c) = input.chars().find(|c| c.is_ascii_control() || *c == ' ') {
            return Err(invalid(&format!("it contains {c:?}")));
        }
        if let Some(c) = input.chars().find(|c| {
            matches!(
                c,
                '"' | '(' | ')' | '<' | '>' | ',' | ';' | ':' | '\\' | '[' | ']'
            )
        }) {
            return Err(invalid(&format!(
                "{c:?} belongs to quoted forms, comments, names or lists, not to a plain address"
            )));
        }
        let mut parts = input.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("it must hold exactly one @"));
        };
        check_local(local).map_err(|why| invalid(&why))?;
        check_domain(domain).map_err(|why| invalid(&why))?;
        Ok(Self {
            address: input.to_ascii_lowercase(),
            at: local.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn local(&self) -> &str {
        &self.address[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("nothing before the @".to_owned());
    }
    if local.len() > MAX_LOCAL {
        return Err("the part before the @ is too long".to_owned());
    }
    let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c);
    if let Some(c) = local.chars().find(|&c| !atom(c)) {
        return Err(format!("{c:?} may not appear before the @"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("dots may not begin, end or repeat in the part before the @".to_owned());
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("the domain needs at least two labels".to_owned());
    }
    for label in &labels {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(format!(
                "the domain {domain:?} has an empty or too long label"
            ));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!("{label:?} is not a domain label"));
        }
        if label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--") {
            return Err(format!(
                "{label:?} is an internationalised label (look-alikes are not accepted)"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the domain is an address, not a name".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_accepted_and_lowercased() {
        for (input, local, domain) in [
            (
                "jean.martin@finances.gouv.fr",
                "jean.martin",
                "finances.gouv.fr",
            ),
            (
                "Jean.Martin@Finances.Gouv.FR",
                "jean.martin",
                "finances.gouv.fr",
            ),
            (
                "a+tag@sub-domain.example.org",
                "a+tag",
                "sub-domain.example.org",
            ),
            ("o'neil_x-y=z@example.com", "o'neil_x-y=z", "example.com"),
        ] {
            let address = EmailAddress::parse(input).unwrap();
            assert_eq!((address.local(), address.domain()), (local, domain));
            assert_eq!(address.as_str(), format!("{local}@{domain}"));
        }
    }

    #[test]
    fn everything_but_one_plain_address_is_refused() {
        for refused in [
            "",
            "jean",
            "@finances.gouv.fr",
            "jean@",
            "jean@localhost",
            "jean@@finances.gouv.fr",
            "jean@evil.example@finances.gouv.fr",
            "a@finances.gouv.fr,b@evil.example",
            "a@finances.gouv.fr;b@evil.example",
            "\"jean@evil.example\"@finances.gouv.fr",
            "jean(comment)@finances.gouv.fr",
            "jean@finances.gouv.fr(evil.example)",
            "Jean <jean@finances.gouv.fr>",
            "jean@[127.0.0.1]",
            "jean@127.0.0.1",
            "jean @finances.gouv.fr",
            " jean@finances.gouv.fr",
            "jean@finances.gouv.fr\r\nBcc: x@evil.example",
            "jean@finances.gouv.fr\n",
            "jean\0@finances.gouv.fr",
            ".jean@finances.gouv.fr",
            "jean.@finances.gouv.fr",
            "je..an@finances.gouv.fr",
            "jean@finances..gouv.fr",
            "jean@-finances.gouv.fr",
            "jean@finances.gouv.fr.",
            "jéan@finances.gouv.fr",
            "jean@finаnces.gouv.fr",
            "jean@xn--finnces-8of.gouv.fr",
            "jean@ｆｉｎａｎｃｅｓ.gouv.fr",
            "jean\\@finances.gouv.fr",
            "jean:x@finances.gouv.fr",
        ] {
            let error = EmailAddress::parse(refused).expect_err(refused);
            assert!(
                error.to_string().contains("not a plain email address"),
                "{refused}: {error}"
            );
        }
        let long = format!("{}@example.org", "a".repeat(65));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
