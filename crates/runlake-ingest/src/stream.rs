//! A large CSV or TSV file read window by window, so an ingest holds a window of the text
//! at a time instead of the whole file (the lake types and writes each window as it
//! comes, see `runlake_lake::Lake::ingest_path`).
//!
//! Each window ends at the last line end outside quotes (an even number of quote
//! characters since the rows began), the rule the whole-file reader uses to cut its
//! pieces, and is read by that same reader ([`crate::generic::read_body`]) with the line
//! numbers carried on, so its rows, lines and errors are the ones a whole read gives.
//! The file is checked as text chunk by chunk as it is read (NUL bytes, line length),
//! and hashed on a thread of its own from a second handle, so an ingest can tell early
//! that the content is already in the lake. [`DelimitedStream::finish`] fails when the
//! file changed (size or modification time) while it was read.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::generic::{delimited_format, read_body, read_header};
use crate::source::{CHUNK, check_text, is_binary, is_compressed, read_at_most};
use crate::{Error, Format, InputLimits, Options, Parsed, Progress, Result, Source, TableData};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A delimited file being read window by window.
#[derive(Debug)]
pub struct DelimitedStream {
    name: String,
    file: File,
    /// The file's size and modification time when it was opened.
    len: u64,
    modified: Option<SystemTime>,
    /// Bytes of the file read so far.
    read: u64,
    /// Read and not yet parsed: the start of a record that the last window did not end.
    pending: Vec<u8>,
    /// The line `pending[0]` is on.
    line: u64,
    /// The text check's state after the bytes read so far: (line, bytes of that line).
    text_state: (u64, u64),
    window: usize,
    limits: InputLimits,
    delimiter: u8,
    table: String,
    names: Vec<String>,
    renamed: Vec<(String, String)>,
    progress: Option<Progress>,
    hashing: Option<JoinHandle<std::io::Result<String>>>,
    /// Set when the stream is dropped: the hashing thread stops at its next chunk (a
    /// file sent back to the whole read is hashed again there).
    stop_hashing: Arc<AtomicBool>,
    sha256: Option<String>,
    windows: usize,
}

/// One window's rows, ready to be typed like a whole source's.
#[derive(Debug)]
pub struct Window {
    pub parsed: Parsed,
}

impl DelimitedStream {
    /// Opens `path` to be read `window` bytes at a time, or `None` when it is not a
    /// file to read that way: not larger than one window, compressed, binary, not CSV or
    /// TSV, or with a header longer than a window. Fails as a whole read would on what
    /// the first window shows (a NUL byte, a line too long). `limits.max_bytes` does not
    /// apply: a window of the file is held at a time, whatever its size.
    pub fn open(
        path: &Path,
        limits: &InputLimits,
        options: &Options,
        window: usize,
    ) -> Result<Option<Self>> {
        let name = path.display().to_string();
        let failed = |e: std::io::Error| Error::Read {
            source_name: name.clone(),
            message: format!("cannot read the file: {e}"),
        };
        let file = File::open(path).map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        if window == 0 || !meta.is_file() || meta.len() <= window as u64 {
            return Ok(None);
        }
        let mut first = vec![0u8; window];
        let n = read_at_most(&file, &mut first, 0).map_err(failed)?;
        first.truncate(n);
        if is_compressed(&first) || is_binary(&first) {
            return Ok(None);
        }
        let text_state = check_text(&name, &first, 1, 0, limits)?;
        let probe = Source {
            name: name.clone(),
            bytes: first,
            sha256: String::new(),
        };
        let format = match options.format {
            Some(format) => format,
            None => match crate::detect(&probe) {
                Ok(format) => format,
                Err(_) => return Ok(None), // the whole read says what is wrong
            },
        };
        let delimiter = match format {
            Format::Csv => b',',
            Format::Tsv => b'\t',
            _ => return Ok(None),
        };
        let mut first = probe.bytes;
        let bom = if first.starts_with(BOM) { BOM.len() } else { 0 };
        let Ok(header) = read_header(&name, &first[bom..], delimiter) else {
            return Ok(None);
        };
        let body_start = bom + header.body_start;
        if body_start >= first.len() {
            return Ok(None); // the header does not end within the first window
        }
        first.drain(..body_start);
        let table = options
            .table
            .clone()
            .unwrap_or_else(|| crate::default_table_name(&name));
        let stop_hashing = Arc::new(AtomicBool::new(false));
        let hashing = {
            let (path, len, stop) = (path.to_path_buf(), meta.len(), stop_hashing.clone());
            std::thread::spawn(move || hash_file(&path, len, &stop))
        };
        Ok(Some(Self {
            name,
            file,
            len: meta.len(),
            modified: meta.modified().ok(),
            read: n as u64,
            pending: first,
            line: header.body_line,
            text_state,
            window,
            limits: *limits,
            delimiter,
            table,
            names: header.names,
            renamed: header.renamed,
            progress: options.progress.clone(),
            hashing: Some(hashing),
            stop_hashing,
            sha256: None,
            windows: 0,
        }))
    }

    /// The file as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table the rows go to.
    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn format(&self) -> Format {
        delimited_format(self.delimiter)
    }

    /// The file's size in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Columns renamed to snake_case: (as written, as stored).
    pub fn renamed(&self) -> &[(String, String)] {
        &self.renamed
    }

    /// Windows read so far.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// The next window's rows, or `None` after the last. A window holds at least one
    /// whole record: one longer than the window makes the window grow to hold it.
    pub fn next_window(&mut self) -> Result<Option<Window>> {
        loop {
            self.fill(self.window)?;
            if self.pending.is_empty() {
                return Ok(None);
            }
            let at_end = self.read == self.len;
            let cut = if at_end {
                self.pending.len()
            } else {
                last_record_end(&self.pending)
            };
            if cut == 0 {
                self.window = self.window.saturating_mul(2);
                continue;
            }
            let body = &self.pending[..cut];
            let part = crate::progress::reporting(self.progress.as_ref(), || {
                read_body(
                    &self.name,
                    body,
                    self.line,
                    &self.table,
                    &self.names,
                    self.delimiter,
                )
            })?;
            self.line += count_byte(body, b'\n') as u64;
            self.pending.drain(..cut);
            self.windows += 1;
            let mut parsed = Parsed {
                format: self.format(),
                tables: vec![TableData::Text(part.rows)],
                rejects: part.rejects,
                renamed: self.renamed.clone(),
                records: part.records,
            };
            parsed.declare_canonical();
            return Ok(Some(Window { parsed }));
        }
    }

    /// Reads until `pending` holds `want` bytes or the file (as long as it was when
    /// opened) is read, checking the new bytes as text.
    fn fill(&mut self, want: usize) -> Result<()> {
        let more = (want.saturating_sub(self.pending.len()) as u64).min(self.len - self.read);
        if more == 0 {
            return Ok(());
        }
        let old = self.pending.len();
        self.pending.resize(old + more as usize, 0);
        let n = read_at_most(&self.file, &mut self.pending[old..], self.read).map_err(|e| {
            Error::Read {
                source_name: self.name.clone(),
                message: format!("cannot read the file: {e}"),
            }
        })?;
        self.pending.truncate(old + n);
        if (n as u64) < more {
            return Err(self.changed());
        }
        let (line, run) = self.text_state;
        self.text_state = check_text(&self.name, &self.pending[old..], line, run, &self.limits)?;
        self.read += n as u64;
        Ok(())
    }

    /// The SHA-256 of the file once its hashing thread is done, without waiting for it.
    pub fn sha256_if_ready(&mut self) -> Result<Option<String>> {
        if self.hashing.as_ref().is_some_and(JoinHandle::is_finished) {
            self.join_hash()?;
        }
        Ok(self.sha256.clone())
    }

    /// Waits for the file's SHA-256, then checks that the file did not change while it
    /// was read.
    pub fn finish(&mut self) -> Result<String> {
        self.join_hash()?;
        let meta = self.file.metadata().map_err(|e| Error::Read {
            source_name: self.name.clone(),
            message: format!("cannot read the file: {e}"),
        })?;
        if meta.len() != self.len || meta.modified().ok() != self.modified {
            return Err(self.changed());
        }
        Ok(self.sha256.clone().expect("joined"))
    }

    fn join_hash(&mut self) -> Result<()> {
        if let Some(hashing) = self.hashing.take() {
            let hashed = hashing.join().map_err(|_| Error::Read {
                source_name: self.name.clone(),
                message: "hashing the file failed".into(),
            })?;
            let sha = hashed.map_err(|e| Error::Read {
                source_name: self.name.clone(),
                message: format!("cannot read the file: {e}"),
            })?;
            self.sha256 = Some(sha);
        }
        Ok(())
    }

    fn changed(&self) -> Error {
        Error::Read {
            source_name: self.name.clone(),
            message: "the file changed while it was read; nothing of it was committed".into(),
        }
    }
}

impl Drop for DelimitedStream {
    fn drop(&mut self) {
        self.stop_hashing.store(true, Ordering::Relaxed);
    }
}

/// The hex SHA-256 of the first `len` bytes of the file at `path`; an error if it
/// holds fewer, or once `stop` is set.
fn hash_file(path: &Path, len: u64, stop: &AtomicBool) -> std::io::Result<String> {
    let file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < len {
        if stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the ingest stopped reading the file",
            ));
        }
        let want = (len - done).min(CHUNK as u64) as usize;
        let n = read_at_most(&file, &mut chunk[..want], done)?;
        if n < want {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        hasher.update(&chunk[..n]);
        done += n as u64;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The end of the last whole record in `buf` (which starts at a record's start): just
/// past its last line end with an even number of quote characters before it; 0 when
/// there is none.
fn last_record_end(buf: &[u8]) -> usize {
    let mut quotes = count_byte(buf, b'"');
    let mut end = buf.len();
    while let Some(nl) = memchr::memrchr(b'\n', &buf[..end]) {
        quotes -= count_byte(&buf[nl..end], b'"');
        if quotes.is_multiple_of(2) {
            return nl + 1;
        }
        end = nl;
    }
    0
}

fn count_byte(bytes: &[u8], byte: u8) -> usize {
    bytes.iter().filter(|&&b| b == byte).count()
}
