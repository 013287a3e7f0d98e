//! The few pages the server shows in a browser (sign-in, invitations), as plain HTML that
//! works without JavaScript.

/// Text made safe inside HTML content and attribute values.
pub(crate) use estafette_service::escape_html as escape;

/// A whole page around `body` (already HTML), titled `title` (text).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}\
         label{{display:block;margin-top:1rem}}input{{font-size:1rem;width:100%;padding:.4rem}}\
         button{{font-size:1rem;margin-top:1rem;padding:.5rem 1rem}}\
         .error{{color:#a00;font-weight:bold}}</style></head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    )
}
