//! A source: the decompressed bytes of one file (or standard input), its name as given,
//! and the SHA-256 of those bytes (what makes re-ingesting the same content a no-op).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// One input, read whole and decompressed.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given (`-` for standard input).
    pub name: String,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of the decompressed bytes.
    pub sha256: String,
}

impl Source {
    /// Reads `path`; gzip and zstd content is decompressed whatever the file is called.
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| Error::Read {
            source_name: name.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_bytes(name, raw)
    }

    /// Reads standard input to its end.
    pub fn from_stdin() -> Result<Self> {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| Error::Read {
                source_name: "-".into(),
                message: format!("cannot read standard input: {e}"),
            })?;
        Self::from_bytes("-".into(), raw)
    }

    /// A source from bytes in memory (decompressed if they are gzip or zstd).
    pub fn from_bytes(name: String, raw: Vec<u8>) -> Result<Self> {
        let bytes = decompress(&name, raw)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Self {
            name,
            bytes,
            sha256,
        })
    }

    /// The content as UTF-8 text (a leading byte-order mark dropped).
    pub fn text(&self) -> Result<&str> {
        let bytes = self
            .bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.bytes);
        std::str::from_utf8(bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            Error::Format {
                source_name: self.name.clone(),
                message: format!("line {line}: not valid UTF-8 text"),
            }
        })
    }
}

fn decompress(name: &str, raw: Vec<u8>) -> Result<Vec<u8>> {
    let failed = |kind: &str, e: std::io::Error| Error::Read {
        source_name: name.to_string(),
        message: format!("cannot decompress the {kind} content: {e}"),
    };
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| failed("gzip", e))?;
        Ok(out)
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::decode_all(&raw[..]).map_err(|e| failed("zstd", e))
    } else {
        Ok(raw)
    }
}
