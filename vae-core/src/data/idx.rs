//! A validated reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic `00 00 TT DD` (TT the element type, `08` for unsigned bytes;
//! DD the number of dimensions), then DD big-endian `u32` sizes, then the elements in
//! row-major order. A file is accepted only if its length agrees exactly with its header;
//! every other case is an [`Error::Idx`] naming the file, the byte offset and what was
//! expected. Nothing is allocated from the header's word alone: a raw file is checked
//! against its length first, and a gzip stream only grows its buffer as data arrives.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use vae_core::data::idx::{parse_idx, IdxArray};
//! let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
//! let a: IdxArray = parse_idx(&bytes[..], "labels.idx", Some(bytes.len() as u64))?;
//! assert_eq!(a.dims, vec![3]);
//! assert_eq!(a.data, vec![7, 8, 9]);
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The largest array the reader will accept: 2^31 bytes, far above any image data set of this
/// course and far below what would exhaust memory.
pub const MAX_ELEMENTS: u64 = 1 << 31;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes of the array's dimensions, outermost first (`[N, 28, 28]` for images).
    pub dims: Vec<usize>,
    /// The bytes in row-major order: `dims.iter().product()` of them.
    pub data: Vec<u8>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn idx_err(path: &Path, offset: u64, msg: impl Into<String>) -> Error {
    Error::Idx { path: path.to_path_buf(), offset, msg: msg.into() }
}

/// Reads an IDX file; gzip compression is detected from the content, not the name.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    parse_detected(BufReader::new(file), path, len)
}

/// [`read_idx`] on bytes already in memory (raw or gzip); `path` is used in error messages only.
pub fn parse_idx_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<IdxArray> {
    parse_detected(bytes, path.as_ref(), bytes.len() as u64)
}

/// Sniffs the gzip magic, then parses raw (checked against `len`) or decompressed.
fn parse_detected(mut reader: impl Read, path: &Path, len: u64) -> Result<IdxArray> {
    let mut head = [0u8; 2];
    let n = read_full(&mut reader, &mut head).map_err(|e| Error::io(path, e))?;
    let chained = (&head[..n]).chain(reader);
    if n == 2 && head == GZIP_MAGIC {
        parse_idx(flate2::read::MultiGzDecoder::new(chained), path, None)
    } else {
        parse_idx(chained, path, Some(len))
    }
}

/// Reads as many bytes as are available up to `buf.len()`; returns how many were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Parses an IDX stream. `total_len` is the stream's length when known (a raw file), so that a
/// header which disagrees with it is rejected before anything is allocated. `path` is used in
/// error messages only.
pub fn parse_idx(mut r: impl Read, path: impl AsRef<Path>, total_len: Option<u64>) -> Result<IdxArray> {
    let path: PathBuf = path.as_ref().to_path_buf();
    let stream_err =
        |offset: u64, e: std::io::Error| idx_err(&path, offset, format!("corrupt or unreadable stream: {e}"));

    let mut magic = [0u8; 4];
    let got = read_full(&mut r, &mut magic).map_err(|e| stream_err(0, e))?;
    if got < 4 {
        return Err(idx_err(&path, got as u64, format!("file ends after {got} bytes, expected a 4-byte magic number")));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(idx_err(
            &path,
            0,
            format!(
                "wrong magic number {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 <ndim> (is this an IDX file?)",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(idx_err(
            &path,
            2,
            format!("element type 0x{:02x} is not supported, expected 0x08 (unsigned byte)", magic[2]),
        ));
    }
    let ndim = magic[3] as usize;
    if !(1..=4).contains(&ndim) {
        return Err(idx_err(&path, 3, format!("{ndim} dimensions, expected 1 to 4")));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut nonzero: u64 = 1;
    for i in 0..ndim {
        let mut b = [0u8; 4];
        let offset = 4 + 4 * i as u64;
        let got = read_full(&mut r, &mut b).map_err(|e| stream_err(offset, e))?;
        if got < 4 {
            return Err(idx_err(
                &path,
                offset + got as u64,
                format!("file ends inside the header, expected {ndim} dimension sizes"),
            ));
        }
        let d = u32::from_be_bytes(b) as u64;
        // A zero dimension must not hide huge others: callers multiply `dims` in any order.
        nonzero = nonzero.saturating_mul(d.max(1));
        dims.push(d as usize);
    }
    let count = if dims.contains(&0) { 0 } else { nonzero };
    let header_len = 4 + 4 * ndim as u64;
    if nonzero > MAX_ELEMENTS {
        return Err(idx_err(
            &path,
            4,
            if count == 0 {
                format!("header claims dimensions {dims:?}: no elements, but its other sizes multiply to {nonzero}, more than the {MAX_ELEMENTS} this reader accepts")
            } else {
                format!("header claims dimensions {dims:?} = {count} elements, more than the {MAX_ELEMENTS} this reader accepts")
            },
        ));
    }
    if let Some(total) = total_len {
        let body = total.saturating_sub(header_len);
        if body < count {
            return Err(idx_err(
                &path,
                total,
                format!("file is truncated: header {dims:?} promises {count} data bytes, the file holds {body}"),
            ));
        }
        if body > count {
            return Err(idx_err(
                &path,
                header_len + count,
                format!(
                    "file has {} unexpected bytes after the {count} data bytes its header {dims:?} declares",
                    body - count
                ),
            ));
        }
    }
    // A raw file's length was checked against the header above, so its buffer is allocated
    // once. A compressed stream's buffer grows only as data arrives: a lying header cannot
    // make us allocate more than about twice what the stream really holds.
    let initial = if total_len.is_some() { count } else { count.min(1 << 16) };
    let mut data = Vec::with_capacity(initial as usize);
    let read =
        (&mut r).take(count + 1).read_to_end(&mut data).map_err(|e| stream_err(header_len + data.len() as u64, e))?
            as u64;
    if read < count {
        return Err(idx_err(
            &path,
            header_len + read,
            format!("data is truncated: header {dims:?} promises {count} bytes, the stream ends after {read}"),
        ));
    }
    if read > count {
        return Err(idx_err(
            &path,
            header_len + count,
            format!("unexpected bytes after the {count} data bytes its header {dims:?} declares"),
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Encodes an array as IDX bytes (used by tests and to write subsets of a data set).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(bytes: &[u8]) -> Result<IdxArray> {
        parse_idx(bytes, "t.idx", Some(bytes.len() as u64))
    }

    fn msg(r: Result<IdxArray>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn round_trip() {
        let bytes = encode_idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let a = parse(&bytes).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data.len(), 12);
    }

    #[test]
    fn wrong_magic() {
        let m = msg(parse(b"PK\x03\x04 not idx"));
        assert!(m.contains("t.idx") && m.contains("byte 0") && m.contains("wrong magic"), "{m}");
    }

    #[test]
    fn wrong_type_and_dimensionality() {
        let mut b = encode_idx(&[1], &[0]);
        b[2] = 0x0d;
        assert!(msg(parse(&b)).contains("element type 0x0d"));
        let mut b = encode_idx(&[1], &[0]);
        b[3] = 0;
        assert!(msg(parse(&b)).contains("0 dimensions"));
        let mut b = encode_idx(&[1], &[0]);
        b[3] = 9;
        assert!(msg(parse(&b)).contains("9 dimensions"));
    }

    #[test]
    fn truncated_and_padded() {
        let b = encode_idx(&[4, 2], &[0; 8]);
        let m = msg(parse(&b[..b.len() - 3]));
        assert!(m.contains("truncated") && m.contains("promises 8") && m.contains("holds 5"), "{m}");
        let mut p = b.clone();
        p.extend_from_slice(&[1, 2]);
        let m = msg(parse(&p));
        assert!(m.contains("2 unexpected bytes") && m.contains("byte 20"), "{m}");
        let m = msg(parse(&b[..6]));
        assert!(m.contains("inside the header"), "{m}");
        assert!(msg(parse(&[0, 0])).contains("ends after 2 bytes"));
    }

    #[test]
    fn huge_header_is_rejected_without_allocating() {
        // 4e9 images of 28x28: refused from the header alone, raw or streamed.
        let b = encode_idx(&[4_000_000_000, 28, 28], &[]);
        let m = msg(parse(&b));
        assert!(m.contains("more than"), "{m}");
        let m = msg(parse_idx(&b[..], "s.idx", None));
        assert!(m.contains("more than"), "{m}");
        // An empty array whose other sizes overflow any product (found by the fuzzer).
        let m = msg(parse(&encode_idx(&[0x1700_0001, 0x3_0000, 0x4f00_0000, 0], &[])));
        assert!(m.contains("more than"), "{m}");
        assert_eq!(parse(&encode_idx(&[7, 0, 28], &[])).unwrap().dims, vec![7, 0, 28]);
        // Just under the cap but the stream is tiny: must fail as truncated, quickly.
        let b = encode_idx(&[1 << 30], &[1, 2, 3]);
        let m = msg(parse_idx(&b[..], "s.idx", None));
        assert!(m.contains("stream ends after 3"), "{m}");
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_files_are_read_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let raw = encode_idx(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let p = dir.path().join("a-idx2-ubyte.gz");
        std::fs::write(&p, gz(&raw)).unwrap();
        assert_eq!(read_idx(&p).unwrap().data, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(parse_idx_bytes(&gz(&raw), "m").unwrap(), parse_idx_bytes(&raw, "m").unwrap());
        assert!(parse_idx_bytes(&gz(&raw)[..20], "m.gz").unwrap_err().to_string().contains("m.gz"));

        // padded inside the gzip stream
        let mut padded = raw.clone();
        padded.push(0);
        std::fs::write(&p, gz(&padded)).unwrap();
        assert!(read_idx(&p).unwrap_err().to_string().contains("unexpected bytes"));

        // corrupt gzip body
        let mut bad = gz(&encode_idx(&[1000], &[7; 1000]));
        let mid = bad.len() / 2;
        for b in &mut bad[mid..mid + 4] {
            *b ^= 0xff;
        }
        std::fs::write(&p, &bad).unwrap();
        let m = read_idx(&p).unwrap_err().to_string();
        assert!(m.contains("a-idx2-ubyte.gz") && (m.contains("corrupt") || m.contains("truncated")), "{m}");

        // gzip stream cut short
        let good = gz(&encode_idx(&[1000], &[7; 1000]));
        std::fs::write(&p, &good[..good.len() / 2]).unwrap();
        let m = read_idx(&p).unwrap_err().to_string();
        assert!(m.contains("corrupt") || m.contains("truncated"), "{m}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let m = read_idx("/nonexistent/x-idx1-ubyte").unwrap_err().to_string();
        assert!(m.contains("/nonexistent/x-idx1-ubyte"), "{m}");
    }
}
