//! What every fuzz input must satisfy, shared by the libFuzzer targets in `fuzz/` (which
//! include this file by path) and by the corpus replay in `tests/fuzz_corpus.rs`:
//!
//! - no panic (a panic aborts the fuzzer and fails the replay);
//! - heap use bounded by the input: at most [`IDX_FACTOR`] (IDX) or [`CHECKPOINT_FACTOR`]
//!   (checkpoint) times the bytes the file holds, plus a fixed allowance for the decoder's
//!   and parser's own state. For gzip the bytes the file holds are its decompressed bytes,
//!   measured independently here: a 4 KiB gzip file may legitimately hold 4 MiB of images;
//! - an accepted input is consistent (element count = product of the dimensions; finite
//!   weights, no more of them than the file could store); a refused one gets an error that
//!   names the file.
//!
//! The heap is measured by a counting global allocator that counts only the calling thread
//! while a check runs, so tests running in parallel do not disturb each other.
#![allow(dead_code)]
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

pub const IDX_FACTOR: usize = 3;
/// flate2's inflate state (32 KiB window and tables) plus the reader's first 64 KiB chunk.
pub const IDX_ALLOWANCE: usize = 256 << 10;
pub const CHECKPOINT_FACTOR: usize = 16;
/// The JSON parsers' and the model's fixed-size state (names, maps, tensor headers).
pub const CHECKPOINT_ALLOWANCE: usize = 256 << 10;

pub const IDX_NAME: &str = "fuzz-idx1-ubyte";
pub const CHECKPOINT_NAME: &str = "fuzz.safetensors";

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    // `try_with`: thread-locals may already be gone while a thread exits.
    let _ = ON.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as i64);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        add(l.size() as i64);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as i64));
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as i64 - l.size() as i64);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Turns counting off again even if `f` panics.
struct Off;
impl Drop for Off {
    fn drop(&mut self) {
        ON.with(|on| on.set(false));
    }
}

/// Runs `f` and returns its result with the peak of extra heap bytes it held at any moment.
pub fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ON.with(|on| on.set(true));
    let off = Off;
    let r = f();
    drop(off);
    (r, PEAK.with(|p| p.get()).max(0) as usize)
}

/// Bytes a gzip stream yields before it ends or fails (0 for data that is not gzip): what the
/// reader may legitimately hold in memory.
pub fn inflated_len(data: &[u8]) -> usize {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return 0;
    }
    let mut d = flate2::read::MultiGzDecoder::new(data);
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    // Deflate expands at most ~1032x, so this ends; the cap only guards a broken decoder.
    while n < 1 << 30 {
        match d.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// The IDX reader on `data`, as a whole file (`parse_idx_bytes`, raw or gzip) and as a stream
/// of unknown length (`parse_idx` with no length).
pub fn check_idx(data: &[u8]) {
    use vae_core::data::idx::{parse_idx, parse_idx_bytes, IdxArray};
    let inflated = inflated_len(data);
    let bound = IDX_ALLOWANCE + IDX_FACTOR * data.len().max(inflated);
    let consistent = |r: &vae_core::Result<IdxArray>, what: &str| match r {
        Ok(a) => {
            assert!((1..=4).contains(&a.dims.len()), "{what}: {} dimensions accepted", a.dims.len());
            assert_eq!(
                a.data.len(),
                a.dims.iter().product::<usize>(),
                "{what}: data length disagrees with dims {:?}",
                a.dims
            );
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(IDX_NAME), "{what}: error does not name the file: {m}");
        }
    };

    let (whole, peak) = peak_heap(|| parse_idx_bytes(data, IDX_NAME));
    assert!(
        peak <= bound,
        "parse_idx_bytes held {peak} bytes for a {}-byte input ({inflated} inflated), bound {bound}",
        data.len()
    );
    consistent(&whole, "parse_idx_bytes");

    let (stream, peak) = peak_heap(|| parse_idx(data, IDX_NAME, None));
    assert!(peak <= bound, "parse_idx (stream) held {peak} bytes for a {}-byte input, bound {bound}", data.len());
    consistent(&stream, "parse_idx (stream)");
    if inflated == 0 {
        // Raw bytes: knowing the length up front may only make errors earlier, never change
        // what is accepted.
        assert_eq!(whole.as_ref().ok(), stream.as_ref().ok(), "raw input: whole-file and stream readings disagree");
    }
}

/// `checkpoint::load_bytes` on `data`, on the CPU.
pub fn check_checkpoint(data: &[u8]) {
    let bound = CHECKPOINT_ALLOWANCE + CHECKPOINT_FACTOR * data.len();
    let (r, peak) = peak_heap(|| vae_core::checkpoint::load_bytes(data, CHECKPOINT_NAME, &candle_core::Device::Cpu));
    assert!(peak <= bound, "load_bytes held {peak} bytes for a {}-byte input, bound {bound}", data.len());
    match r {
        Ok(model) => {
            let mut stored = 0;
            for (name, var) in model.params().named_vars() {
                let w = var
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .expect("an accepted model's weights are readable");
                assert!(w.iter().all(|x| x.is_finite()), "accepted a non-finite weight in {name}");
                stored += 4 * w.len();
            }
            assert!(stored <= data.len(), "accepted {stored} bytes of weights from a {}-byte file", data.len());
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(CHECKPOINT_NAME), "error does not name the file: {m}");
        }
    }
}
