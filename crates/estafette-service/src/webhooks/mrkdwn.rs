//! Slack's mrkdwn (BRIDGES.md §4.2), which is not Markdown: `*bold*`, `_italic_`, `~strike~`,
//! `` `code` ``, ```` ``` ```` blocks, `>` quotes, `<url|label>` links, `<@U…>` and `<#C…>`
//! mentions, `<!here>`-style broadcasts, and `&amp;` `&lt;` `&gt;` escapes. Rendered to the
//! plain body and the HTML of a Matrix message; the HTML is built from escaped text only, so
//! nothing a sender writes becomes markup.

use crate::webhooks::escape_html;

/// A rendering: the plain body, its HTML, and whether it calls the whole room.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub plain: String,
    pub html: String,
    pub mentions_room: bool,
}

impl Rendered {
    pub(crate) fn push(&mut self, other: Rendered) {
        self.plain.push_str(&other.plain);
        self.html.push_str(&other.html);
        self.mentions_room |= other.mentions_room;
    }
}

/// `&amp;`, `&lt;` and `&gt;`, as Slack escapes them in text.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Renders mrkdwn text: code blocks first (nothing inside them is formatting), then quotes
/// line by line, then the inline marks.
pub(crate) fn render(text: &str) -> Rendered {
    let mut out = Rendered::default();
    let mut parts = text.split("```");
    let mut in_code = false;
    let mut first = true;
    while let Some(part) = parts.next() {
        if !first {
            in_code = !in_code;
        }
        first = false;
        if in_code {
            let code = unescape(part.trim_matches('\n'));
            out.plain.push_str(&format!("```\n{code}\n```"));
            out.html
                .push_str(&format!("<pre><code>{}</code></pre>", escape_html(&code)));
            continue;
        }
        let lines: Vec<&str> = part.split('\n').collect();
        for (index, line) in lines.iter().enumerate() {
            if let Some(quoted) = line.strip_prefix('>').or_else(|| line.strip_prefix("&gt;")) {
                let inner = inline(quoted.trim_start());
                out.plain.push_str("> ");
                out.plain.push_str(&inner.plain);
                out.html
                    .push_str(&format!("<blockquote>{}</blockquote>", inner.html));
                out.mentions_room |= inner.mentions_room;
            } else {
                out.push(inline(line));
                if index + 1 < lines.len() {
                    out.html.push_str("<br>");
                }
            }
            if index + 1 < lines.len() {
                out.plain.push('\n');
            }
        }
    }
    out
}

/// One line's inline marks.
fn inline(line: &str) -> Rendered {
    let mut out = Rendered::default();
    let mut rest = line;
    while !rest.is_empty() {
        // An angle-bracket token: a link, a mention or a broadcast.
        if let Some(after) = rest.strip_prefix('<')
            && let Some(end) = after.find('>')
        {
            out.push(angle(&after[..end]));
            rest = &after[end + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix('`')
            && let Some(end) = after.find('`')
        {
            let code = unescape(&after[..end]);
            out.plain.push_str(&format!("`{code}`"));
            out.html
                .push_str(&format!("<code>{}</code>", escape_html(&code)));
            rest = &after[end + 1..];
            continue;
        }
        if let Some((mark, tag)) = [('*', "strong"), ('_', "em"), ('~', "del")]
            .into_iter()
            .find(|(mark, _)| rest.starts_with(*mark))
            && let Some(end) = rest[1..].find(mark)
            && end > 0
        {
            let inner = inline(&rest[1..1 + end]);
            out.plain.push(mark);
            out.plain.push_str(&inner.plain);
            out.plain.push(mark);
            out.html.push_str(&format!("<{tag}>{}</{tag}>", inner.html));
            out.mentions_room |= inner.mentions_room;
            rest = &rest[2 + end..];
            continue;
        }
        // Plain text up to the next character that may start a mark.
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..]
            .find(['<', '`', '*', '_', '~'])
            .map_or(rest.len(), |i| i + first);
        let text = unescape(&rest[..next]);
        out.plain.push_str(&text);
        out.html.push_str(&escape_html(&text));
        rest = &rest[next..];
    }
    out
}

/// What sits between `<` and `>`.
fn angle(token: &str) -> Rendered {
    let text = |plain: String| Rendered {
        html: escape_html(&plain),
        plain,
        mentions_room: false,
    };
    if let Some(broadcast) = token.strip_prefix('!') {
        let name = broadcast.split('|').next().unwrap_or_default();
        return match name {
            "here" | "channel" | "everyone" => Rendered {
                plain: "@room".into(),
                html: "@room".into(),
                mentions_room: true,
            },
            _ => text(
                broadcast
                    .split('|')
                    .nth(1)
                    .map_or_else(|| format!("@{name}"), unescape),
            ),
        };
    }
    if token.starts_with('@') || token.starts_with('#') {
        // Slack IDs mean nothing here: the label if any, else the ID as text.
        let shown = token.split('|').nth(1).unwrap_or(token);
        return text(unescape(shown));
    }
    let (target, label) = match token.split_once('|') {
        Some((target, label)) => (unescape(target), Some(unescape(label))),
        None => (unescape(token), None),
    };
    let scheme_ok = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme));
    if !scheme_ok {
        return text(label.unwrap_or(target));
    }
    let shown = label.clone().unwrap_or_else(|| target.clone());
    Rendered {
        plain: match &label {
            Some(label) if *label != target => format!("{label} ({target})"),
            _ => target.clone(),
        },
        html: format!(
            "<a href=\"{}\">{}</a>",
            escape_html(&target),
            escape_html(&shown)
        ),
        mentions_room: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_links_and_escapes_become_safe_html() {
        let out = render("*build* <https://ci.example/42|#42> _failed_ on ~main~ &lt;b&gt;");
        assert_eq!(
            out.html,
            "<strong>build</strong> <a href=\"https://ci.example/42\">#42</a> \
             <em>failed</em> on <del>main</del> &lt;b&gt;"
        );
        assert_eq!(
            out.plain,
            "*build* #42 (https://ci.example/42) _failed_ on ~main~ <b>"
        );
        assert!(!out.mentions_room);
    }

    #[test]
    fn accents_and_unclosed_marks_stay_text() {
        let out = render("Déploiement *réussi* à 10 h <pas fermé 5 * 3");
        assert_eq!(out.plain, "Déploiement *réussi* à 10 h <pas fermé 5 * 3");
        assert_eq!(
            out.html,
            "Déploiement <strong>réussi</strong> à 10 h &lt;pas fermé 5 * 3"
        );
    }

    #[test]
    fn code_quotes_broadcasts_and_unsafe_links() {
        let out = render(
            "<!here> look:\n>quoted `x<y`\n```\nlet *a* = 1;\n```<javascript:alert(1)|click>",
        );
        assert!(out.mentions_room);
        assert!(
            out.html
                .starts_with("@room look:<br><blockquote>quoted <code>x&lt;y</code></blockquote>"),
            "{}",
            out.html
        );
        assert!(
            out.html.contains("<pre><code>let *a* = 1;</code></pre>"),
            "{}",
            out.html
        );
        assert!(out.html.ends_with("click"), "{}", out.html);
        assert!(!out.html.contains("javascript"), "{}", out.html);
    }
}
