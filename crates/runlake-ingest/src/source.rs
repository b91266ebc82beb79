//! A source: the decompressed bytes of one file (or standard input), its name as given,
//! and the SHA-256 of those bytes (what makes re-ingesting the same content a no-op).
//!
//! Reading is bounded by [`InputLimits`]: compressed content is decompressed in chunks and
//! refused as soon as it grows past `max_bytes` (a decompression bomb ends after at most
//! that much memory), and text is refused at the first NUL byte or at the first line
//! longer than `max_line_bytes`, naming the line. Binary formats (Parquet, Arrow IPC)
//! are recognised by their magic bytes and exempt from the text checks.

use std::io::{Read, Seek};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The bounds of reading one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// The most bytes an input may hold, after decompression.
    pub max_bytes: u64,
    /// The longest line of a text input, in bytes (a JSON document written on one line
    /// is one line).
    pub max_line_bytes: u64,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 30,
            max_line_bytes: 256 << 20,
        }
    }
}

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
    pub fn from_path(path: &Path, limits: &InputLimits) -> Result<Self> {
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
            if meta.is_file() && meta.len() > limits.max_bytes {
                return Err(too_large(&name, limits));
            }
            let raw = std::fs::read(path).map_err(failed)?;
            return Self::from_bytes(name, raw, limits);
        }
        if meta.len() > limits.max_bytes {
            return Err(too_large(&name, limits));
        }
        let (bytes, sha256) = read_hashing(&file, len).map_err(failed)?;
        if bytes.len() as u64 > limits.max_bytes {
            return Err(too_large(&name, limits));
        }
        if !is_binary(&bytes) {
            check_text(&name, &bytes, 1, 0, limits)?;
        }
        Ok(Self {
            name,
            bytes,
            sha256,
        })
    }

    /// Reads standard input to its end (at most `max_bytes` of it).
    pub fn from_stdin(limits: &InputLimits) -> Result<Self> {
        let mut raw = Vec::new();
        std::io::stdin()
            .take(limits.max_bytes.saturating_add(1))
            .read_to_end(&mut raw)
            .map_err(|e| Error::Read {
                source_name: "-".into(),
                message: format!("cannot read standard input: {e}"),
            })?;
        Self::from_bytes("-".into(), raw, limits)
    }

    /// A source from bytes in memory (decompressed if they are gzip or zstd).
    pub fn from_bytes(name: String, raw: Vec<u8>, limits: &InputLimits) -> Result<Self> {
        if raw.len() as u64 > limits.max_bytes {
            return Err(too_large(&name, limits));
        }
        let bytes = decompress(&name, raw, limits)?;
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
        utf8_text(&self.name, bytes, first_line)
    }
}

/// `bytes` (of source `name`, starting on line `first_line`) as UTF-8 text, or an error
/// naming the line where it stops being UTF-8.
pub(crate) fn utf8_text<'a>(name: &str, bytes: &'a [u8], first_line: u64) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let breaks = memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count();
        Error::Format {
            source_name: name.to_string(),
            message: format!("line {}: not valid UTF-8 text", first_line + breaks as u64),
        }
    })
}

/// Plain files at least this large are hashed while they are read.
const OVERLAP_MIN: usize = 16 << 20;

/// The chunks a large file is read in, each hashed while the next one is read.
pub(crate) const CHUNK: usize = 8 << 20;

pub(crate) fn is_compressed(magic: &[u8]) -> bool {
    magic.starts_with(&[0x1f, 0x8b]) || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Fills as much of `buf` as the file holds from `offset` on; the count read.
pub(crate) fn read_at_most(
    file: &std::fs::File,
    buf: &mut [u8],
    offset: u64,
) -> std::io::Result<usize> {
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

pub(crate) fn too_large(name: &str, limits: &InputLimits) -> Error {
    Error::Read {
        source_name: name.to_string(),
        message: format!(
            "the input holds more than {} bytes (after decompression; raise the limit with \
             --max-input-size)",
            limits.max_bytes
        ),
    }
}

/// Whether content starting with `head` is a binary format (Parquet, Arrow IPC), which
/// the text checks leave alone.
pub(crate) fn is_binary(head: &[u8]) -> bool {
    head.starts_with(b"PAR1") || head.starts_with(b"ARROW1")
}

/// Checks `chunk` of a text input (unless the input is binary): no NUL byte, no line
/// longer than the limit. `line` is the line number the chunk starts on and `run` the
/// length of that line before the chunk; returns them for the next chunk.
pub(crate) fn check_text(
    name: &str,
    chunk: &[u8],
    line: u64,
    run: u64,
    limits: &InputLimits,
) -> Result<(u64, u64)> {
    let (mut line, mut run) = (line, run);
    let refuse = |line: u64, what: String| Error::Format {
        source_name: name.to_string(),
        message: format!("line {line}: {what}"),
    };
    if let Some(at) = memchr::memchr(0, chunk) {
        let before = &chunk[..at];
        let breaks = memchr::memchr_iter(b'\n', before).count() as u64;
        let column = match memchr::memrchr(b'\n', before) {
            Some(nl) => (at - nl) as u64,
            None => run + at as u64 + 1,
        };
        return Err(refuse(
            line + breaks,
            format!("column {column}: a NUL byte: this is not a text file"),
        ));
    }
    let mut start = 0usize;
    for nl in memchr::memchr_iter(b'\n', chunk) {
        if run + (nl - start) as u64 > limits.max_line_bytes {
            return Err(refuse(line, line_too_long(limits)));
        }
        line += 1;
        run = 0;
        start = nl + 1;
    }
    run += (chunk.len() - start) as u64;
    if run > limits.max_line_bytes {
        return Err(refuse(line, line_too_long(limits)));
    }
    Ok((line, run))
}

fn line_too_long(limits: &InputLimits) -> String {
    format!(
        "the line is longer than {} bytes (raise the limit with --max-line-size)",
        limits.max_line_bytes
    )
}

/// Decompresses gzip or zstd content chunk by chunk, checking each chunk as text (see
/// [`check_text`]) and stopping past `max_bytes`; other content is checked as it is.
fn decompress(name: &str, raw: Vec<u8>, limits: &InputLimits) -> Result<Vec<u8>> {
    let failed = |kind: &str, e: std::io::Error| Error::Read {
        source_name: name.to_string(),
        message: format!("cannot decompress the {kind} content: {e}"),
    };
    let (kind, mut reader): (&str, Box<dyn Read + '_>) = if raw.starts_with(&[0x1f, 0x8b]) {
        (
            "gzip",
            Box::new(flate2::read::MultiGzDecoder::new(&raw[..])),
        )
    } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::new(&raw[..]).map_err(|e| failed("zstd", e))?;
        ("zstd", Box::new(decoder))
    } else {
        if !is_binary(&raw) {
            check_text(name, &raw, 1, 0, limits)?;
        }
        return Ok(raw);
    };
    let mut out: Vec<u8> = Vec::with_capacity(raw.len().saturating_mul(4).min(64 << 20));
    let mut chunk = vec![0u8; 1 << 20];
    let (mut line, mut run, mut binary) = (1u64, 0u64, None);
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failed(kind, e)),
        };
        if out.len() as u64 + n as u64 > limits.max_bytes {
            return Err(too_large(name, limits));
        }
        let start = out.len();
        out.extend_from_slice(&chunk[..n]);
        let binary = *binary.get_or_insert_with(|| is_binary(&out));
        if !binary {
            (line, run) = check_text(name, &out[start..], line, run, limits)?;
        }
    }
    Ok(out)
}
