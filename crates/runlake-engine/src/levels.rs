//! The list scan's own decoding of a list column chunk's pages: repetition levels,
//! definition levels and values, for the encodings writers use for numbers (levels in
//! the RLE / bit-packed hybrid; values `PLAIN` or dictionary-encoded, pages v1 or v2).
//!
//! parquet's column reader expands every level to an `i16` (zero-filling the buffer
//! first) and walks the repetition levels once more, branch by branch, to count records;
//! here the repetition levels are expanded to bytes, eight at a time from a table, and a
//! run of definition levels that all say "value present" is skipped without being
//! expanded. [`LevelStream::read`] returns the next records' levels and values, which
//! the list scan turns into offsets.

use std::ops::Range;

use bytes::Bytes;
use datafusion::common::{DataFusionError, Result};
use datafusion::parquet::basic::Encoding;
use datafusion::parquet::column::page::{Page, PageReader};

/// The encodings of a column chunk this decoder reads; any other goes to parquet's
/// column reader.
pub(crate) fn readable(encodings: impl IntoIterator<Item = Encoding>) -> bool {
    encodings.into_iter().all(|e| {
        matches!(
            e,
            Encoding::PLAIN | Encoding::RLE | Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY
        )
    })
}

/// A fixed-width value as Parquet's `PLAIN` encoding stores it.
pub(crate) trait Plain: Copy + Default + Send + 'static {
    const WIDTH: usize;
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Plain for $t {
            const WIDTH: usize = size_of::<$t>();
            #[inline(always)]
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
        }
    )*};
}
plain!(i32, i64, f32, f64);

/// Decodes the RLE / bit-packed hybrid encoding (levels and dictionary indices).
#[derive(Default)]
struct Hybrid {
    data: Bytes,
    pos: usize,
    bit_width: u32,
    /// Values left in the current RLE run, and its value.
    repeat: usize,
    value: u32,
    /// Values left in the current bit-packed run, and the bit its next value starts at.
    packed: usize,
    bit: usize,
}

impl Hybrid {
    fn new(data: Bytes, bit_width: u32) -> Result<Self> {
        if bit_width > 32 {
            return Err(corrupt(format!("a bit width of {bit_width}")));
        }
        Ok(Self {
            data,
            bit_width,
            ..Self::default()
        })
    }

    /// Starts the next run; false at the end of the data.
    fn next_run(&mut self) -> Result<bool> {
        if self.pos >= self.data.len() {
            return Ok(false);
        }
        let mut header = 0u64;
        let mut shift = 0;
        loop {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| corrupt("a run header past the end of the page".into()))?;
            self.pos += 1;
            header |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 56 {
                return Err(corrupt("an overlong run header".into()));
            }
        }
        let count =
            usize::try_from(header >> 1).map_err(|_| corrupt("a run longer than memory".into()))?;
        if header & 1 == 1 {
            // `count` groups of 8 values, `bit_width` bytes per group.
            let bytes = count
                .checked_mul(self.bit_width as usize)
                .ok_or_else(|| corrupt("a bit-packed run longer than memory".into()))?;
            let available = self.data.len() - self.pos;
            self.bit = self.pos * 8;
            // A last run may be cut short by the end of the page (its padding unwritten).
            let bytes = bytes.min(available);
            self.packed = if self.bit_width == 0 {
                count * 8
            } else {
                bytes * 8 / self.bit_width as usize
            };
            self.pos += bytes;
        } else {
            let width = self.bit_width.div_ceil(8) as usize;
            let bytes = self
                .data
                .get(self.pos..self.pos + width)
                .ok_or_else(|| corrupt("an RLE value past the end of the page".into()))?;
            let mut value = 0u32;
            for (i, b) in bytes.iter().enumerate() {
                value |= u32::from(*b) << (8 * i);
            }
            self.pos += width;
            self.repeat = count;
            self.value = value;
        }
        Ok(true)
    }

    /// The bit-packed value starting at bit `bit`.
    #[inline(always)]
    fn unpack(&self, bit: usize) -> u32 {
        let byte = bit / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            None => {
                let mut b = [0u8; 8];
                let tail = &self.data[byte.min(self.data.len())..];
                b[..tail.len()].copy_from_slice(tail);
                u64::from_le_bytes(b)
            }
        };
        ((word >> (bit % 8)) & ((1u64 << self.bit_width) - 1)) as u32
    }

    /// Decodes up to `out.len()` values into `out`; returns how many (fewer only at the
    /// end of the data).
    fn read<T: From<u8> + TryFrom<u32> + Copy>(&mut self, out: &mut [T]) -> Result<usize> {
        let mut done = 0;
        while done < out.len() {
            if self.repeat > 0 {
                let n = self.repeat.min(out.len() - done);
                let v = T::try_from(self.value)
                    .map_err(|_| corrupt(format!("a level of {}", self.value)))?;
                out[done..done + n].fill(v);
                self.repeat -= n;
                done += n;
            } else if self.packed > 0 {
                let n = self.packed.min(out.len() - done);
                let w = self.bit_width as usize;
                let target = &mut out[done..done + n];
                if w == 1 && self.bit.is_multiple_of(8) {
                    // One bit per level: eight levels per byte, from a table.
                    let first = self.bit / 8;
                    let whole = n / 8;
                    for (chunk, &byte) in target
                        .chunks_exact_mut(8)
                        .zip(&self.data[first..first + whole])
                    {
                        let bits = SPREAD[byte as usize].to_le_bytes();
                        for (o, b) in chunk.iter_mut().zip(bits) {
                            *o = T::from(b);
                        }
                    }
                    for (i, o) in target.iter_mut().enumerate().skip(whole * 8) {
                        *o = T::from(self.unpack(self.bit + i) as u8);
                    }
                } else {
                    for (i, o) in target.iter_mut().enumerate() {
                        let v = self.unpack(self.bit + i * w);
                        *o = T::try_from(v).map_err(|_| corrupt(format!("a level of {v}")))?;
                    }
                }
                self.bit += n * w;
                self.packed -= n;
                done += n;
            } else if !self.next_run()? {
                break;
            }
        }
        Ok(done)
    }

    /// Skips `n` values if they are all `value` in the current RLE run (no expansion).
    fn skip_run_of(&mut self, n: usize, value: u32) -> Result<bool> {
        if self.repeat == 0 && self.packed == 0 && !self.next_run()? {
            return Ok(false);
        }
        if self.repeat >= n && self.value == value {
            self.repeat -= n;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Byte `b` spread to eight bytes, bit `i` of `b` in byte `i`.
static SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            table[b] |= (((b >> i) & 1) as u64) << (8 * i);
            i += 1;
        }
        b += 1;
    }
    table
};

fn corrupt(what: String) -> DataFusionError {
    DataFusionError::Execution(format!("corrupt Parquet page: {what}"))
}

/// The values of a data page.
enum Values {
    Plain { data: Bytes, pos: usize },
    Dictionary(Hybrid),
}

/// The page being read.
struct DataPage {
    rep: Hybrid,
    def: Hybrid,
    values: Values,
    /// Levels of the page not yet read.
    left: usize,
}

/// The levels and values of one column chunk, read record by record across its pages.
pub(crate) struct LevelStream<T: Plain> {
    pages: Box<dyn PageReader>,
    max_def: u8,
    rep_width: u32,
    def_width: u32,
    dictionary: Vec<T>,
    page: Option<DataPage>,
    /// Decoded repetition levels not yet returned (the start of a record that belongs to
    /// the next batch), `rep_buf[rep_pos..rep_len]`.
    rep_buf: Vec<u8>,
    rep_pos: usize,
    rep_len: usize,
    indices: Vec<u32>,
    /// Whether the chunk's first level has been read (every later level 0 starts a new
    /// record of this batch or the next).
    started: bool,
}

/// One batch of records: their repetition levels, their definition levels (`None` when
/// every level holds a value) and the values.
pub(crate) struct Levels<T> {
    pub(crate) rep: Vec<u8>,
    pub(crate) def: Option<Vec<u8>>,
    pub(crate) values: Vec<T>,
    pub(crate) records: usize,
}

const LOOKAHEAD: usize = 4096;

fn bit_width(max: u8) -> u32 {
    8 - max.leading_zeros()
}

impl<T: Plain> LevelStream<T> {
    pub(crate) fn new(pages: Box<dyn PageReader>, max_def: i16) -> Result<Self> {
        let max_def = u8::try_from(max_def)
            .map_err(|_| DataFusionError::Internal(format!("max definition level {max_def}")))?;
        Ok(Self {
            pages,
            max_def,
            rep_width: bit_width(1),
            def_width: bit_width(max_def),
            dictionary: Vec::new(),
            page: None,
            rep_buf: vec![0; LOOKAHEAD],
            rep_pos: 0,
            rep_len: 0,
            indices: Vec::new(),
            started: false,
        })
    }

    /// Moves to the next data page (reading a dictionary page on the way); false at the
    /// end of the chunk.
    fn next_page(&mut self) -> Result<bool> {
        loop {
            let Some(page) = self.pages.get_next_page()? else {
                return Ok(false);
            };
            // Where the repetition levels, the definition levels and the values lie.
            let (buf, levels, encoding, rep, def) = match page {
                Page::DictionaryPage { buf, encoding, .. } => {
                    if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                        return Err(corrupt(format!("a dictionary page in {encoding}")));
                    }
                    self.dictionary = buf.chunks_exact(T::WIDTH).map(T::from_le).collect();
                    continue;
                }
                Page::DataPage {
                    buf,
                    num_values,
                    encoding,
                    def_level_encoding,
                    rep_level_encoding,
                    ..
                } => {
                    if rep_level_encoding != Encoding::RLE || def_level_encoding != Encoding::RLE {
                        return Err(corrupt(format!(
                            "levels in {rep_level_encoding} and {def_level_encoding}"
                        )));
                    }
                    // v1: each level stream is prefixed by its length in 4 bytes.
                    let prefixed = |at: usize| -> Result<Range<usize>> {
                        let len = buf
                            .get(at..at + 4)
                            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                            .ok_or_else(|| corrupt("a level length past the page".into()))?;
                        Ok(at + 4..at + 4 + len)
                    };
                    let rep = prefixed(0)?;
                    let def = prefixed(rep.end)?;
                    (buf, num_values, encoding, rep, def)
                }
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    ..
                } => {
                    let rep = 0..rep_levels_byte_len as usize;
                    let def = rep.end..rep.end + def_levels_byte_len as usize;
                    (buf, num_values, encoding, rep, def)
                }
            };
            if def.end > buf.len() {
                return Err(corrupt("levels longer than the page".into()));
            }
            let values_start = def.end;
            let rep = Hybrid::new(buf.slice(rep), self.rep_width)?;
            let def = Hybrid::new(buf.slice(def), self.def_width)?;
            let data = buf.slice(values_start..);
            let values = match encoding {
                Encoding::PLAIN => Values::Plain { data, pos: 0 },
                Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
                    let width = *data
                        .first()
                        .ok_or_else(|| corrupt("no dictionary index width".into()))?;
                    Values::Dictionary(Hybrid::new(data.slice(1..), u32::from(width))?)
                }
                other => return Err(corrupt(format!("values in {other}"))),
            };
            self.page = Some(DataPage {
                rep,
                def,
                values,
                left: levels as usize,
            });
            return Ok(true);
        }
    }

    /// Fills the lookahead with the next repetition levels; false at the end of the chunk.
    fn fill(&mut self) -> Result<bool> {
        loop {
            if let Some(page) = self.page.as_mut()
                && page.left > 0
            {
                let n = page.left.min(LOOKAHEAD);
                let got = page.rep.read(&mut self.rep_buf[..n])?;
                if got != n {
                    return Err(corrupt(format!(
                        "{} repetition levels where the page has {}",
                        got, page.left
                    )));
                }
                self.rep_pos = 0;
                self.rep_len = n;
                return Ok(true);
            }
            if self.page.as_ref().is_some_and(|p| p.left == 0) {
                // Every level read: the definition levels and values of the levels
                // already taken were read with them.
                self.page = None;
            }
            if !self.next_page()? {
                return Ok(false);
            }
        }
    }

    /// The next `rows` records (fewer at the end of the chunk).
    pub(crate) fn read(&mut self, rows: usize) -> Result<Levels<T>> {
        let mut out = Levels {
            rep: Vec::with_capacity(rows * 4),
            def: None,
            values: Vec::with_capacity(rows * 4),
            records: 0,
        };
        loop {
            if self.rep_pos == self.rep_len && !self.fill()? {
                break;
            }
            let ahead = &self.rep_buf[self.rep_pos..self.rep_len];
            if !self.started && ahead[0] != 0 {
                return Err(corrupt("a column chunk that starts inside a list".into()));
            }
            self.started = true;
            // Level 0 starts a record; the record after the `rows`-th is the next batch's.
            let (mut starts, highest) = ahead
                .iter()
                .fold((0, 0), |(n, m), &r| (n + usize::from(r == 0), m.max(r)));
            if highest > 1 {
                return Err(corrupt(format!("a repetition level of {highest}")));
            }
            let mut take = ahead.len();
            let wanted = rows - out.records;
            if starts > wanted {
                let mut seen = 0;
                for (i, &r) in ahead.iter().enumerate() {
                    if r == 0 {
                        if seen == wanted {
                            take = i;
                            break;
                        }
                        seen += 1;
                    }
                }
                starts = wanted;
            }
            let full = take == ahead.len();
            if take > 0 {
                out.rep.extend_from_slice(&ahead[..take]);
                out.records += starts;
                self.rep_pos += take;
                self.take(take, &mut out)?;
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Reads the definition levels and values of the `take` levels just taken.
    fn take(&mut self, take: usize, out: &mut Levels<T>) -> Result<()> {
        let page = self
            .page
            .as_mut()
            .expect("a page while levels are buffered");
        page.left -= take;
        let before = out.rep.len() - take;
        let values = if out.def.is_none() && page.def.skip_run_of(take, self.max_def.into())? {
            take
        } else {
            let def = out.def.get_or_insert_with(|| vec![self.max_def; before]);
            def.resize(before + take, 0);
            let got = page.def.read(&mut def[before..])?;
            if got != take {
                return Err(corrupt(format!(
                    "{got} definition levels where {take} were due"
                )));
            }
            let (present, highest) = def[before..].iter().fold((0, 0), |(n, m), &d| {
                (n + usize::from(d == self.max_def), m.max(d))
            });
            if highest > self.max_def {
                return Err(corrupt(format!("a definition level of {highest}")));
            }
            present
        };
        match &mut page.values {
            Values::Plain { data, pos } => {
                let end = *pos + values * T::WIDTH;
                let bytes = data
                    .get(*pos..end)
                    .ok_or_else(|| corrupt("fewer values than levels".into()))?;
                out.values
                    .extend(bytes.chunks_exact(T::WIDTH).map(T::from_le));
                *pos = end;
            }
            Values::Dictionary(indices) => {
                self.indices.resize(values, 0);
                let got = indices.read(&mut self.indices[..values])?;
                if got != values {
                    return Err(corrupt("fewer dictionary indices than values".into()));
                }
                let dictionary = &self.dictionary;
                let size = dictionary.len();
                let mut bad = false;
                out.values.extend(self.indices.iter().map(|&i| {
                    let v = dictionary.get(i as usize).copied();
                    bad |= v.is_none();
                    v.unwrap_or_default()
                }));
                if bad {
                    return Err(corrupt(format!(
                        "a dictionary index past its {size} values"
                    )));
                }
            }
        }
        Ok(())
    }
}
