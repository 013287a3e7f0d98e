//! The Matrix identity an email address gives its owner (TCHAP.md §2): a localpart and a
//! display name derived from the address, so that `jean.martin@finances.gouv.fr` becomes
//! `@jean.martin-finances.gouv.fr` shown as "Jean Martin [Finances]".

use super::EmailAddress;

/// The localpart: the address lowercased, `@` → `-`, anything outside `[a-z0-9_\-./=]`
/// dropped. A clash is settled by the caller, appending an integer.
pub fn localpart_for(address: &EmailAddress) -> String {
    address
        .as_str()
        .replace('@', "-")
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-./=".contains(*c))
        .collect()
}

/// The display name: the local part's words capitalised, and the organisation in brackets
/// (the label before `gouv.fr` for `*.gouv.fr`, else the domain's second-level label).
pub fn display_name_for(address: &EmailAddress) -> String {
    let words: Vec<String> = address
        .local()
        .split(['.', '-', '_'])
        .filter(|word| !word.is_empty())
        .map(capitalised)
        .collect();
    let labels: Vec<&str> = address.domain().split('.').collect();
    let organisation = match labels.as_slice() {
        [.., organisation, "gouv", "fr"] => organisation,
        [.., organisation, _tld] => organisation,
        _ => address.domain(),
    };
    format!("{} [{}]", words.join(" "), capitalised(organisation))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(address: &str) -> (String, String) {
        let address = EmailAddress::parse(address).unwrap();
        (localpart_for(&address), display_name_for(&address))
    }

    #[test]
    fn addresses_give_the_names_tchap_gives() {
        for (address, localpart, name) in [
            (
                "jean.martin@finances.gouv.fr",
                "jean.martin-finances.gouv.fr",
                "Jean Martin [Finances]",
            ),
            (
                "user@gendarmerie.interieur.gouv.fr",
                "user-gendarmerie.interieur.gouv.fr",
                "User [Interieur]",
            ),
            (
                "contact@example.com",
                "contact-example.com",
                "Contact [Example]",
            ),
            (
                "Marie-Claire.Dupont@Culture.gouv.fr",
                "marie-claire.dupont-culture.gouv.fr",
                "Marie Claire Dupont [Culture]",
            ),
            (
                "o'neil+tchap@agency.example.org",
                "oneiltchap-agency.example.org",
                "O'neil+tchap [Example]",
            ),
        ] {
            assert_eq!(
                both(address),
                (localpart.to_owned(), name.to_owned()),
                "{address}"
            );
        }
    }
}
