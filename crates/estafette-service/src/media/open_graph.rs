//! What a web page says about itself: its OpenGraph `og:` tags, or else its `<title>` and meta
//! description. A small scanner rather than a full HTML parser: only `<meta>` and `<title>`
//! matter, comments and scripts are skipped, and anything malformed simply yields less.

use std::collections::BTreeMap;

/// No value is longer than this many characters; descriptions are cut shorter.
const MAX_VALUE_CHARS: usize = 1000;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The page's `og:` properties (the first of each), with `og:title` and `og:description`
/// taken from `<title>` and `<meta name="description">` when it has none.
pub(crate) fn open_graph(html: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let (mut title, mut description) = (None, None);
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some((name, attributes, after)) = tag(rest) else {
            rest = &rest[1..];
            continue;
        };
        rest = after;
        match name.as_str() {
            "script" | "style" | "noscript" | "template" => rest = skip_to_end(rest, &name),
            "title" if title.is_none() => {
                let end = find_ascii_case_insensitive(rest, "</title").unwrap_or(rest.len());
                title = Some(text(&rest[..end]));
                rest = &rest[end..];
            }
            "meta" => {
                let get = |key: &str| attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                let (Some(property), Some(content)) =
                    (get("property").or_else(|| get("name")), get("content"))
                else {
                    continue;
                };
                let property = property.to_ascii_lowercase();
                if property.starts_with("og:") {
                    tags.entry(property)
                        .or_insert_with(|| limited(content, MAX_VALUE_CHARS));
                } else if property == "description" && description.is_none() {
                    description = Some(content.clone());
                }
            }
            _ => {}
        }
    }
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        tags.entry("og:title".to_owned())
            .or_insert_with(|| limited(&title, MAX_VALUE_CHARS));
    }
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        tags.entry("og:description".to_owned())
            .or_insert_with(|| limited(&description, MAX_DESCRIPTION_CHARS));
    }
    if let Some(description) = tags.get_mut("og:description") {
        *description = limited(description, MAX_DESCRIPTION_CHARS);
    }
    tags
}

/// The charset a page declares in its `<meta>` tags, read before the page is decoded.
pub(crate) fn declared_charset(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    let at = head.find("charset=")? + "charset=".len();
    let value: String = head[at..]
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// A page's text: UTF-8 unless it says Latin-1 (or its Windows superset, read as Latin-1).
pub(crate) fn decode(bytes: &[u8], charset: Option<&str>) -> String {
    match charset.map(str::to_ascii_lowercase).as_deref() {
        Some("iso-8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252" | "us-ascii") => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

type Attributes = Vec<(String, String)>;

/// An opening tag at the start of `html`: its lowercase name, its attributes (names
/// lowercase, values unescaped), and what follows it.
fn tag(html: &str) -> Option<(String, Attributes, &str)> {
    let body = html.strip_prefix('<')?;
    let name_end = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    if name_end == 0 {
        return None;
    }
    let name = body[..name_end].to_ascii_lowercase();
    let mut rest = &body[name_end..];
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if let Some(after) = rest.strip_prefix('>') {
            return Some((name, attributes, after));
        }
        if rest.is_empty() {
            return None;
        }
        let key_end = rest
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(rest.len())
            .max(1);
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let end = inner.find(quote)?;
                    (&inner[..end], &inner[end + 1..])
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(after.len());
                    after.split_at(end)
                }
            };
            value = unescape(raw);
            rest = remaining;
        }
        attributes.push((key, value));
    }
}

fn skip_to_end<'a>(html: &'a str, name: &str) -> &'a str {
    let closing = format!("</{name}");
    find_ascii_case_insensitive(html, &closing).map_or("", |end| &html[end..])
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Text content: unescaped, whitespace collapsed.
fn text(raw: &str) -> String {
    unescape(raw)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Character references: the common named ones and every numeric one.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|&end| end <= 12);
        let decoded = end.and_then(|end| reference(&rest[1..end]));
        match (end, decoded) {
            (Some(end), Some(c)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "ccedil" => 'ç',
        "ecirc" => 'ê',
        "rsquo" => '\u{2019}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        _ => return None,
    })
}

fn limited(value: &str, max_chars: usize) -> String {
    match value.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", value[..cut].trim_end()),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_graph_tags_come_first_and_are_unescaped() {
        let page = r#"<!DOCTYPE html><html><head>
            <title>Ignored &amp; fallback</title>
            <!-- <meta property="og:title" content="in a comment"> -->
            <META PROPERTY="og:title" CONTENT="Journal officiel &#8211; d&eacute;cret n&#xB0; 12">
            <meta property='og:image' content='/img/cover.png'/>
            <meta property="og:title" content="second, ignored">
            <meta name=description content=unquoted>
            <script>var s = '<meta property="og:url" content="from a script">';</script>
            </head><body>x</body></html>"#;
        let tags = open_graph(page);
        assert_eq!(tags["og:title"], "Journal officiel – décret n° 12");
        assert_eq!(tags["og:image"], "/img/cover.png");
        assert_eq!(tags["og:description"], "unquoted");
        assert!(!tags.contains_key("og:url"), "{tags:?}");
    }

    #[test]
    fn pages_without_open_graph_give_their_title_and_description() {
        let long = "mot ".repeat(400);
        let page = format!(
            "<html><head><title>\n  Le   titre\n</title>\
             <meta name=\"description\" content=\"{long}\"></head></html>"
        );
        let tags = open_graph(&page);
        assert_eq!(tags["og:title"], "Le titre");
        assert!(tags["og:description"].chars().count() <= MAX_DESCRIPTION_CHARS + 1);
        assert!(tags["og:description"].ends_with('…'));
    }

    #[test]
    fn malformed_pages_yield_what_can_be_read() {
        for page in [
            "",
            "<",
            "<meta property=\"og:title",
            "<title>never closed",
            "<!-- never closed <meta property=og:title content=x>",
            "&#xFFFFFFFF; &#; &",
            "<<<>>><meta<meta =>",
        ] {
            let _ = open_graph(page);
        }
        assert_eq!(
            open_graph("<title>never closed")["og:title"],
            "never closed"
        );
    }

    #[test]
    fn charsets_are_read_from_the_page() {
        let page = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">";
        let charset = declared_charset(page);
        assert_eq!(charset.as_deref(), Some("iso-8859-1"));
        assert_eq!(decode(b"caf\xe9", charset.as_deref()), "café");
        assert_eq!(decode("café".as_bytes(), None), "café");
        assert_eq!(
            declared_charset(b"<meta charset='utf-8'>").as_deref(),
            Some("utf-8")
        );
    }
}
