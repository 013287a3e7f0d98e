//! What a webhook post becomes in the room (BRIDGES.md §4.1–§4.3): hookshot's generic format
//! (`text` as Markdown, `html` sanitised, `username`, anything else shown as JSON) or Slack's
//! (`text` in mrkdwn, `blocks`, `attachments`). The message is an `m.notice` unless the hook
//! says `m.text`; the decoded payload goes along under `im.estafette.webhook_data`, made
//! canonical (floats as strings) and capped, and is dropped first when the event would be too
//! large.

use serde_json::{Map, Value as JsonValue, json};

use super::escape_html;
use super::mrkdwn::{self, Rendered};

/// The payload as received.
#[derive(Debug, Clone)]
pub enum WebhookPayload {
    Json(JsonValue),
    Text(String),
}

/// Why a payload cannot be posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Slack's `no_text`: none of `text`, `blocks`, `attachments`.
    NoText,
    Invalid(String),
}

/// Room events are at most 64 KiB once signed; the message keeps well under.
const MAX_CONTENT_CHARS: usize = 65_536 - 4_096;
const MAX_DATA_DEPTH: usize = 10;
const MAX_DATA_BREADTH: usize = 50;

/// The message content for `payload` in the hook's `format` (with `m.mentions` when it
/// calls the whole room).
pub(crate) fn message(
    format: &str,
    msgtype: &str,
    payload: &WebhookPayload,
) -> Result<JsonValue, PayloadError> {
    let (rendered, data) = match (format, payload) {
        ("slack", WebhookPayload::Json(value)) => (slack(value)?, Some(value)),
        ("slack", WebhookPayload::Text(_)) => {
            return Err(PayloadError::Invalid("invalid_payload".into()));
        }
        (_, WebhookPayload::Json(value)) => (generic(value), Some(value)),
        (_, WebhookPayload::Text(text)) => {
            let plain = format!("Received webhook data: {text}");
            (
                Rendered {
                    html: escape_html(&plain),
                    plain,
                    mentions_room: false,
                },
                None,
            )
        }
    };
    let mut content = json!({
        "msgtype": msgtype,
        "body": rendered.plain,
        "format": "org.matrix.custom.html",
        "formatted_body": rendered.html,
    });
    if rendered.mentions_room {
        content["m.mentions"] = json!({"room": true});
    }
    if let Some(data) = data {
        content["im.estafette.webhook_data"] = canonical(data, 0);
    }
    shrink(&mut content);
    Ok(content)
}

/// Hookshot's generic mapping (the model is Mattermost's incoming webhooks).
fn generic(value: &JsonValue) -> Rendered {
    let Some(text) = value.get("text").and_then(JsonValue::as_str) else {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        return Rendered {
            plain: format!("Received webhook data:\n\n```json\n{pretty}\n```"),
            html: format!(
                "<p>Received webhook data:</p><pre><code class=\"language-json\">{}</code></pre>",
                escape_html(&pretty)
            ),
            mentions_room: false,
        };
    };
    let html = match value.get("html").and_then(JsonValue::as_str) {
        Some(html) => super::sanitize_html(html),
        None => markdown(text),
    };
    match value.get("username").and_then(JsonValue::as_str) {
        Some(username) => Rendered {
            plain: format!("**{username}**: {text}"),
            html: format!("<strong>{}</strong>: {html}", escape_html(username)),
            mentions_room: false,
        },
        None => Rendered {
            plain: text.to_owned(),
            html,
            mentions_room: false,
        },
    }
}

/// CommonMark to HTML, with any HTML in the source escaped rather than passed through.
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Parser};
    let events = Parser::new(text).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    let html = html.trim_end().to_owned();
    // A single paragraph reads better without its <p>.
    match html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => html,
    }
}

/// Slack's format: `text`, then `blocks`, then `attachments`.
fn slack(value: &JsonValue) -> Result<Rendered, PayloadError> {
    let text = value.get("text").and_then(JsonValue::as_str);
    let blocks = value.get("blocks").and_then(JsonValue::as_array);
    let attachments = value.get("attachments").and_then(JsonValue::as_array);
    if text.is_none() && blocks.is_none() && attachments.is_none() {
        return Err(PayloadError::NoText);
    }
    let mut out = Rendered::default();
    // With blocks, `text` is only the notification's fallback.
    match (blocks, text) {
        (Some(blocks), _) => {
            for block in blocks {
                let rendered = slack_block(block);
                if !rendered.plain.is_empty() || !rendered.html.is_empty() {
                    separate(&mut out);
                    out.push(rendered);
                }
            }
        }
        (None, Some(text)) => out.push(mrkdwn::render(text)),
        (None, None) => {}
    }
    for attachment in attachments.into_iter().flatten() {
        let rendered = slack_attachment(attachment);
        if !rendered.plain.is_empty() {
            separate(&mut out);
            out.push(rendered);
        }
    }
    if out.plain.is_empty()
        && let Some(text) = text
    {
        out.push(mrkdwn::render(text));
    }
    Ok(out)
}

fn separate(out: &mut Rendered) {
    if !out.plain.is_empty() {
        out.plain.push('\n');
    }
}

/// A text object: `{type: mrkdwn|plain_text, text}`.
fn text_object(value: &JsonValue) -> Rendered {
    let text = value["text"].as_str().unwrap_or_default();
    if value["type"] == "plain_text" {
        Rendered {
            plain: text.to_owned(),
            html: escape_html(text),
            mentions_room: false,
        }
    } else {
        mrkdwn::render(text)
    }
}

fn slack_block(block: &JsonValue) -> Rendered {
    let mut out = Rendered::default();
    match block["type"].as_str().unwrap_or_default() {
        "header" => {
            let text = text_object(&block["text"]);
            out.plain = text.plain.clone();
            out.html = format!("<h4>{}</h4>", text.html);
        }
        "divider" => {
            out.plain = "---".into();
            out.html = "<hr>".into();
        }
        "section" => {
            if block.get("text").is_some() {
                let text = text_object(&block["text"]);
                out.plain = text.plain;
                out.html = format!("<p>{}</p>", text.html);
                out.mentions_room = text.mentions_room;
            }
            if let Some(fields) = block["fields"].as_array() {
                out.push(fields_list(fields.iter().map(|f| (None, text_object(f)))));
            }
        }
        "context" => {
            let parts: Vec<Rendered> = block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|element| match element["type"].as_str() {
                    Some("image") => {
                        image(element["image_url"].as_str(), element["alt_text"].as_str())
                    }
                    _ => text_object(element),
                })
                .collect();
            out.plain = parts
                .iter()
                .map(|p| p.plain.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            out.html = format!(
                "<p><sub>{}</sub></p>",
                parts
                    .iter()
                    .map(|p| p.html.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        "image" => out = image(block["image_url"].as_str(), block["alt_text"].as_str()),
        "markdown" => {
            let text = block["text"].as_str().unwrap_or_default();
            out.plain = text.to_owned();
            out.html = markdown(text);
        }
        "rich_text" => {
            let text = rich_text_plain(&block["elements"]);
            out.html = escape_html(&text);
            out.plain = text;
        }
        // Buttons and other interactive blocks cannot work in Matrix.
        _ => {}
    }
    out
}

/// The text of a `rich_text` block's elements, formatting aside.
fn rich_text_plain(elements: &JsonValue) -> String {
    let mut text = String::new();
    for element in elements.as_array().into_iter().flatten() {
        if let Some(t) = element["text"].as_str() {
            text.push_str(t);
        } else if let Some(url) = element["url"].as_str() {
            text.push_str(url);
        }
        text.push_str(&rich_text_plain(&element["elements"]));
    }
    text
}

/// An image becomes a link (Matrix images need uploaded media).
fn image(url: Option<&str>, alt: Option<&str>) -> Rendered {
    let Some(url) = url.filter(|u| u.starts_with("https://") || u.starts_with("http://")) else {
        return Rendered::default();
    };
    let alt = alt.unwrap_or("image");
    Rendered {
        plain: format!("{alt} ({url})"),
        html: format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(alt)),
        mentions_room: false,
    }
}

/// Fields as a two-column list: `title: value`.
fn fields_list<'a>(fields: impl Iterator<Item = (Option<&'a str>, Rendered)>) -> Rendered {
    let mut out = Rendered::default();
    let mut items = String::new();
    for (title, value) in fields {
        if !out.plain.is_empty() {
            out.plain.push('\n');
        }
        match title {
            Some(title) => {
                out.plain.push_str(&format!("{title}: {}", value.plain));
                items.push_str(&format!(
                    "<li><strong>{}</strong>: {}</li>",
                    escape_html(title),
                    value.html
                ));
            }
            None => {
                out.plain.push_str(&value.plain);
                items.push_str(&format!("<li>{}</li>", value.html));
            }
        }
        out.mentions_room |= value.mentions_room;
    }
    if !items.is_empty() {
        out.html = format!("<ul>{items}</ul>");
    }
    out
}

fn slack_attachment(attachment: &JsonValue) -> Rendered {
    let mut out = Rendered::default();
    let mut html = String::new();
    let mut line = |out: &mut Rendered, plain: String, part: String| {
        if !out.plain.is_empty() {
            out.plain.push('\n');
        }
        out.plain.push_str(&plain);
        html.push_str(&part);
    };
    if let Some(pretext) = attachment["pretext"].as_str() {
        let r = mrkdwn::render(pretext);
        out.mentions_room |= r.mentions_room;
        line(&mut out, r.plain, format!("<p>{}</p>", r.html));
    }
    if let Some(author) = attachment["author_name"].as_str() {
        line(
            &mut out,
            author.to_owned(),
            format!("<p><em>{}</em></p>", escape_html(author)),
        );
    }
    if let Some(title) = attachment["title"].as_str() {
        let link = attachment["title_link"]
            .as_str()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        let (plain, part) = match link {
            Some(url) => (
                format!("{title} ({url})"),
                format!(
                    "<p><strong><a href=\"{}\">{}</a></strong></p>",
                    escape_html(url),
                    escape_html(title)
                ),
            ),
            None => (
                title.to_owned(),
                format!("<p><strong>{}</strong></p>", escape_html(title)),
            ),
        };
        line(&mut out, plain, part);
    }
    if let Some(text) = attachment["text"].as_str() {
        let r = mrkdwn::render(text);
        out.mentions_room |= r.mentions_room;
        line(&mut out, r.plain, format!("<p>{}</p>", r.html));
    }
    if let Some(fields) = attachment["fields"].as_array() {
        let r = fields_list(fields.iter().map(|f| {
            (
                f["title"].as_str(),
                mrkdwn::render(f["value"].as_str().unwrap_or_default()),
            )
        }));
        if !r.plain.is_empty() {
            line(&mut out, r.plain, r.html);
        }
    }
    if let Some(url) = attachment["image_url"].as_str() {
        let r = image(Some(url), Some("image"));
        if !r.plain.is_empty() {
            line(&mut out, r.plain, format!("<p>{}</p>", r.html));
        }
    }
    if let Some(footer) = attachment["footer"].as_str() {
        line(
            &mut out,
            footer.to_owned(),
            format!("<p><sub>{}</sub></p>", escape_html(footer)),
        );
    }
    if out.plain.is_empty()
        && let Some(fallback) = attachment["fallback"].as_str()
    {
        line(
            &mut out,
            fallback.to_owned(),
            format!("<p>{}</p>", escape_html(fallback)),
        );
    }
    // The attachment's colour as a bar beside it, in the spec's colour attribute.
    out.html = match attachment["color"].as_str().and_then(color) {
        Some(color) => {
            format!("<blockquote><font data-mx-color=\"{color}\">┃</font>{html}</blockquote>")
        }
        None => format!("<blockquote>{html}</blockquote>"),
    };
    out
}

/// Slack's colour names, or a `#rrggbb` colour.
fn color(value: &str) -> Option<String> {
    match value {
        "good" => Some("#2eb886".into()),
        "warning" => Some("#daa038".into()),
        "danger" => Some("#a30200".into()),
        hex if hex.len() == 7
            && hex.starts_with('#')
            && hex[1..].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Some(hex.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The payload as canonical JSON allows it (floats as strings), at most 10 deep and 50 wide.
fn canonical(value: &JsonValue, depth: usize) -> JsonValue {
    match value {
        JsonValue::Number(n) if n.is_f64() => JsonValue::String(n.to_string()),
        JsonValue::Array(items) if depth < MAX_DATA_DEPTH => JsonValue::Array(
            items
                .iter()
                .take(MAX_DATA_BREADTH)
                .map(|item| canonical(item, depth + 1))
                .collect(),
        ),
        JsonValue::Object(map) if depth < MAX_DATA_DEPTH => JsonValue::Object(
            map.iter()
                .take(MAX_DATA_BREADTH)
                .map(|(k, v)| (k.clone(), canonical(v, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
        JsonValue::Array(_) | JsonValue::Object(_) => JsonValue::Null,
        other => other.clone(),
    }
}

/// Keeps the message under the event size: the payload goes first, then the HTML, then the
/// text is cut.
fn shrink(content: &mut JsonValue) {
    let size = |c: &JsonValue| c.to_string().len();
    if size(content) <= MAX_CONTENT_CHARS {
        return;
    }
    if let Some(object) = content.as_object_mut() {
        object.remove("im.estafette.webhook_data");
    }
    if size(content) <= MAX_CONTENT_CHARS {
        return;
    }
    if let Some(object) = content.as_object_mut() {
        object.remove("format");
        object.remove("formatted_body");
    }
    let body = content["body"].as_str().unwrap_or_default().to_owned();
    if body.len() > MAX_CONTENT_CHARS / 2 {
        let mut cut = MAX_CONTENT_CHARS / 2;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        content["body"] = JsonValue::String(format!("{}…", &body[..cut]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_text_html_and_unknown_json() {
        let content = message(
            "generic",
            "m.notice",
            &WebhookPayload::Json(json!({"text": "**Deploy** <b>done</b>", "username": "CI"})),
        )
        .unwrap();
        assert_eq!(content["body"], "**CI**: **Deploy** <b>done</b>");
        assert_eq!(
            content["formatted_body"],
            "<strong>CI</strong>: <strong>Deploy</strong> &lt;b&gt;done&lt;/b&gt;"
        );
        let content = message(
            "generic",
            "m.text",
            &WebhookPayload::Json(json!({"alert": "disk", "value": 0.93})),
        )
        .unwrap();
        assert!(
            content["body"]
                .as_str()
                .unwrap()
                .starts_with("Received webhook data:")
        );
        assert_eq!(content["im.estafette.webhook_data"]["value"], "0.93");
        assert_eq!(content["msgtype"], "m.text");
    }

    #[test]
    fn slack_blocks_and_attachments() {
        let payload = json!({
            "text": "fallback only",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Build <42>"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*failed* on `main`"},
                 "fields": [{"type": "mrkdwn", "text": "_stage_: test"}]},
                {"type": "divider"},
                {"type": "actions", "elements": [{"type": "button"}]}
            ],
            "attachments": [{"color": "danger", "title": "Logs", "title_link": "https://ci/42",
                             "fields": [{"title": "Duration", "value": "3 min", "short": true}]}]
        });
        let content = message("slack", "m.notice", &WebhookPayload::Json(payload)).unwrap();
        let html = content["formatted_body"].as_str().unwrap();
        assert!(
            html.starts_with(
                "<h4>Build &lt;42&gt;</h4><p><strong>failed</strong> on <code>main</code></p>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<hr>") && html.contains("data-mx-color=\"#a30200\""),
            "{html}"
        );
        assert!(html.contains("<strong>Duration</strong>: 3 min"), "{html}");
        assert!(!content["body"].as_str().unwrap().contains("fallback only"));
        assert_eq!(
            message(
                "slack",
                "m.notice",
                &WebhookPayload::Json(json!({"username": "x"}))
            )
            .unwrap_err(),
            PayloadError::NoText
        );
    }
}
