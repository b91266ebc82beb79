//! A source: the decompressed bytes of one file (or standard input), its name as given,
//! and the SHA-256 of those bytes (what makes re-ingesting the same content a no-op).

use std::io::{Read, Seek};
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
        let failed = |e: std::io::Error| Error::Read {
            source_name: name.clone(),
            message: format!("cannot read the file: {e}"),
        };
        let file = std::fs::File::open(path).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        let mut magic = [0u8; 4];
        let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        let plain = meta.is_file()
            && len >= OVERLAP_MIN
            && read_at_most(&file, &mut magic, 0).map_err(failed)? == magic.len()
            && !is_compressed(&magic);
        if !plain {
            let raw = std::fs::read(path).map_err(failed)?;
            return Self::from_bytes(name, raw);
        }
        let (bytes, sha256) = read_hashing(&file, len).map_err(failed)?;
        Ok(Self {
            name,
            bytes,
            sha256,
        })
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
        self.utf8(self.content(), 1)
    }

    /// The content's bytes, a leading byte-order mark dropped.
    pub fn content(&self) -> &[u8] {
        self.bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&self.bytes)
    }

    /// `bytes` (part of the content, starting on line `first_line`) as UTF-8 text, or an
    /// error naming the line where it stops being UTF-8.
    pub fn utf8<'a>(&self, bytes: &'a [u8], first_line: u64) -> Result<&'a str> {
        std::str::from_utf8(bytes).map_err(|e| {
            let breaks = memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count();
            Error::Format {
                source_name: self.name.clone(),
                message: format!("line {}: not valid UTF-8 text", first_line + breaks as u64),
            }
        })
    }
}

/// Plain files at least this large are hashed while they are read.
const OVERLAP_MIN: usize = 16 << 20;

/// The chunks a large file is read in, each hashed while the next one is read.
const CHUNK: usize = 8 << 20;

fn is_compressed(magic: &[u8]) -> bool {
    magic.starts_with(&[0x1f, 0x8b]) || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Fills as much of `buf` as the file holds from `offset` on; the count read.
fn read_at_most(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The whole file (`len` bytes when it was opened, and whatever was appended since) and
/// the hex SHA-256 of its bytes: one thread reads chunk after chunk while another hashes
/// the chunks already read, so hashing costs no extra time.
fn read_hashing(file: &std::fs::File, len: usize) -> std::io::Result<(Vec<u8>, String)> {
    let mut bytes = vec![0u8; len];
    let (filled, mut hasher) = std::thread::scope(|s| -> std::io::Result<(usize, Sha256)> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<&[u8]>(4);
        let hashing = s.spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in rx {
                hasher.update(chunk);
            }
            hasher
        });
        let mut filled = 0;
        for chunk in bytes.chunks_mut(CHUNK) {
            let n = read_at_most(file, chunk, filled as u64)?;
            filled += n;
            let chunk: &[u8] = chunk;
            // The hashing thread only ends when the channel closes.
            let _ = tx.send(&chunk[..n]);
            if n < chunk.len() {
                break; // the file shrank while it was read
            }
        }
        drop(tx);
        Ok((filled, hashing.join().expect("hashing does not panic")))
    })?;
    bytes.truncate(filled);
    if filled == len {
        // Anything appended since the file was opened, as a plain read would see it.
        let mut rest = Vec::new();
        let mut tail = file;
        tail.seek(std::io::SeekFrom::Start(len as u64))?;
        tail.read_to_end(&mut rest)?;
        hasher.update(&rest);
        bytes.extend_from_slice(&rest);
    }
    Ok((bytes, hex::encode(hasher.finalize())))
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
