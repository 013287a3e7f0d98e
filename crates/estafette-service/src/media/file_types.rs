//! Which file types the content scanner may call clean (`[antivirus] allowed_mime_types` and
//! `blocked_mime_types`), by the type detected from the bytes themselves, never the type the
//! uploader declared.

use estafette_core::AntivirusConfig;

use crate::{ServiceError, ServiceResult};

/// What the bytes are: their signature's type, else UTF-8 text, else unrecognised bytes.
pub(crate) fn detect(bytes: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type();
    }
    if !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FileTypePolicy {
    allowed: Vec<String>,
    blocked: Vec<String>,
}

impl FileTypePolicy {
    pub(crate) fn new(config: &AntivirusConfig) -> Self {
        let lower = |types: &[String]| {
            types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect()
        };
        Self {
            allowed: lower(&config.allowed_mime_types),
            blocked: lower(&config.blocked_mime_types),
        }
    }

    /// Refuses a detected type the operator did not allow, or blocked.
    pub(crate) fn check(&self, detected: &str) -> ServiceResult<()> {
        let listed = |types: &[String]| types.iter().any(|listed| matches(listed, detected));
        if (!self.allowed.is_empty() && !listed(&self.allowed)) || listed(&self.blocked) {
            return Err(ServiceError::MimeTypeForbidden(format!(
                "File type: {detected} not allowed"
            )));
        }
        Ok(())
    }
}

/// `image/png` matches itself and `image/*`.
fn matches(listed: &str, detected: &str) -> bool {
    match listed.strip_suffix("/*") {
        Some(family) => detected
            .split_once('/')
            .is_some_and(|(detected_family, _)| detected_family == family),
        None => listed == detected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], blocked: &[&str]) -> FileTypePolicy {
        let owned = |types: &[&str]| types.iter().map(|t| (*t).to_owned()).collect();
        FileTypePolicy::new(&AntivirusConfig {
            allowed_mime_types: owned(allowed),
            blocked_mime_types: owned(blocked),
            ..AntivirusConfig::default()
        })
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(detect(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(
            detect(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"),
            "application/vnd.microsoft.portable-executable"
        );
        assert_eq!(detect("compte rendu de réunion".as_bytes()), "text/plain");
        assert_eq!(detect(&[0xff, 0x00, 0x13]), "application/octet-stream");
    }

    #[test]
    fn allow_and_block_lists_with_families() {
        let open = policy(&[], &[]);
        assert!(open.check("application/x-executable").is_ok());
        let images_only = policy(&["Image/*"], &["image/svg+xml"]);
        assert!(images_only.check("image/png").is_ok());
        assert!(images_only.check("image/svg+xml").is_err());
        assert!(images_only.check("text/plain").is_err());
        assert!(images_only.check("imagex/png").is_err());
        let no_executables = policy(&[], &["application/vnd.microsoft.portable-executable"]);
        assert!(no_executables.check("application/pdf").is_ok());
        let refused = no_executables
            .check("application/vnd.microsoft.portable-executable")
            .unwrap_err();
        assert!(refused.to_string().contains("not allowed"), "{refused}");
    }
}
