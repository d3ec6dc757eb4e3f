//! Copies in and out of memory that another process may be writing at the same time.
//!
//! A plain `memcpy` racing with a writer is a data race, which Rust's memory model makes
//! undefined behaviour even when any torn result would be acceptable. These copies use relaxed
//! atomic loads and stores, word by word where the addresses allow: the result may be torn (as
//! Python's `RawArray` reads are), but never undefined. On x86-64 relaxed atomic loads and
//! stores are plain moves; the cost over `memcpy` is the lost vectorisation. Long spans on
//! x86-64 are copied by one `rep movsb` instruction in an `asm!` block instead: its memory
//! accesses are the machine's own (a racing writer yields some bytes, never undefined
//! behaviour), and on CPUs with fast string moves (ERMS/FSRM) it runs at `memcpy` speed.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const WORD: usize = std::mem::size_of::<usize>();
/// Words per unrolled step.
const UNROLL: usize = 8;

/// Spans at least this long go through [`bulk`] (on x86-64).
const BULK: usize = 512;

/// Copies `n` bytes from `src` to `dst` with `rep movsb`.
///
/// # Safety
///
/// `src..src + n` must be readable and `dst..dst + n` writable for the whole call, and the two
/// ranges must not overlap; other processes may write either concurrently.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn bulk(dst: *mut u8, src: *const u8, n: usize) {
    // `rep movsb` copies `rcx` bytes from `[rsi]` to `[rdi]`, forwards (the ABI keeps the
    // direction flag clear on entry to asm), and changes only those three registers, declared
    // as clobbered; it touches no flags and no stack. Memory is neither `nomem` nor
    // `readonly`: the compiler assumes the block reads and writes it. Accesses made by an asm
    // block are outside the Rust memory model's data races: another process writing the bytes
    // at the same time makes the copy torn, as with the atomic copies, never undefined.
    // SAFETY: the caller's promise covers both ranges; the block is sound as argued above.
    unsafe {
        std::arch::asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Stores at least this long go through [`stream`] where AVX is available: non-temporal
/// stores, which do not first pull each line into this core's cache (from the reader's, in a
/// ring), at the price of the reader fetching them from memory.
const STREAM: usize = 16 << 10;

/// Whether the CPU has AVX (read once).
#[cfg(target_arch = "x86_64")]
fn has_avx() -> bool {
    static AVX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX.get_or_init(|| std::arch::is_x86_feature_detected!("avx"))
}

/// Copies `n` bytes from `src` to `dst` (32-byte aligned, `n` a multiple of 128) with
/// non-temporal stores, then fences them (`sfence`): they are ordered before any later store,
/// such as the publication of a ring position.
///
/// # Safety
///
/// As [`bulk`]; the CPU has AVX; `dst` is 32-byte aligned and `n` a multiple of 128.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn stream(dst: *mut u8, src: *const u8, n: usize) {
    debug_assert!((dst as usize).is_multiple_of(32) && n.is_multiple_of(128));
    if n == 0 {
        return;
    }
    // The registers written are declared; the flags are clobbered (no `preserves_flags`). As
    // with `bulk`, accesses made by an asm block race with another process only at the
    // machine's level. The closing `sfence` orders the weakly-ordered non-temporal stores
    // before later stores.
    // SAFETY: the caller's promise covers both ranges, the alignment of `dst` (required by
    // `vmovntdq`) and a length that the 128-byte steps end on exactly.
    unsafe {
        std::arch::asm!(
            "2:",
            "vmovdqu ymm0, [{src}]",
            "vmovdqu ymm1, [{src} + 32]",
            "vmovdqu ymm2, [{src} + 64]",
            "vmovdqu ymm3, [{src} + 96]",
            "vmovntdq [{dst}], ymm0",
            "vmovntdq [{dst} + 32], ymm1",
            "vmovntdq [{dst} + 64], ymm2",
            "vmovntdq [{dst} + 96], ymm3",
            "add {src}, 128",
            "add {dst}, 128",
            "sub {n}, 128",
            "jnz 2b",
            "sfence",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            n = inout(reg) n => _,
            out("ymm0") _,
            out("ymm1") _,
            out("ymm2") _,
            out("ymm3") _,
            options(nostack),
        );
    }
}

/// Bytes before `addr` reaches word alignment, capped at `n`.
fn head(addr: usize, n: usize) -> usize {
    (addr.next_multiple_of(WORD) - addr).min(n)
}

/// Copies `dst.len()` bytes from shared memory at `src` into `dst`.
///
/// # Safety
///
/// `src..src + dst.len()` must be inside a live mapping for the whole call. Other processes
/// may write it concurrently (that is the point); this process must not hold a `&mut` to it.
#[inline]
pub unsafe fn load(src: *const u8, dst: &mut [u8]) {
    let n = dst.len();
    let d = dst.as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    if n >= BULK {
        // SAFETY: `src..src + n` is readable (the caller's promise) and `dst` is a private,
        // exclusively borrowed buffer of `n` bytes, so the two do not overlap.
        unsafe { bulk(d, src, n) };
        return;
    }
    let h = head(src as usize, n);
    let words_end = h + (n - h) / WORD * WORD;
    let unrolled_end = h + (n - h) / (WORD * UNROLL) * (WORD * UNROLL);
    // Every offset used below is < n, so inside both `src..src + n` (the caller's promise) and
    // `dst`. Shared bytes are read only through atomics: bytes through AtomicU8 (no alignment
    // needed), words through AtomicUsize at `src + i`, word-aligned since `i - h` is a multiple
    // of WORD. `dst` is private and may be unaligned, hence the unaligned writes.
    // SAFETY: as argued just above.
    unsafe {
        for i in 0..h {
            *d.add(i) = (*src.add(i).cast::<AtomicU8>()).load(Ordering::Relaxed);
        }
        let mut i = h;
        while i < unrolled_end {
            let mut w = [0usize; UNROLL];
            for (k, slot) in w.iter_mut().enumerate() {
                *slot = (*src.add(i + k * WORD).cast::<AtomicUsize>()).load(Ordering::Relaxed);
            }
            d.add(i).cast::<[usize; UNROLL]>().write_unaligned(w);
            i += WORD * UNROLL;
        }
        while i < words_end {
            let w = (*src.add(i).cast::<AtomicUsize>()).load(Ordering::Relaxed);
            d.add(i).cast::<usize>().write_unaligned(w);
            i += WORD;
        }
        for j in words_end..n {
            *d.add(j) = (*src.add(j).cast::<AtomicU8>()).load(Ordering::Relaxed);
        }
    }
}

/// Appends `n` bytes from shared memory at `src` to `out` (long spans without initialising
/// the destination first).
///
/// # Safety
///
/// As for [`load`], for `src..src + n`.
#[inline]
pub unsafe fn load_append(src: *const u8, n: usize, out: &mut Vec<u8>) {
    let len = out.len();
    out.reserve(n);
    #[cfg(target_arch = "x86_64")]
    if n >= BULK {
        // SAFETY: `reserve` made room for `n` bytes after `len`, private to `out`; `bulk`
        // writes all `n` of them (from the readable `src..src + n`, the caller's promise),
        // so they are initialised when the length covers them.
        unsafe {
            bulk(out.as_mut_ptr().add(len), src, n);
            out.set_len(len + n);
        }
        return;
    }
    out.resize(len + n, 0);
    // SAFETY: the caller's promise for `src`; `out[len..]` is `n` private bytes.
    unsafe { load(src, &mut out[len..]) };
}

/// Copies `src` into shared memory at `dst`.
///
/// # Safety
///
/// `dst..dst + src.len()` must be inside a live, writable mapping for the whole call. Other
/// processes may access it concurrently; this process must not hold a `&` or `&mut` to it.
#[inline]
pub unsafe fn store(dst: *mut u8, src: &[u8]) {
    let n = src.len();
    let s = src.as_ptr();
    #[cfg(target_arch = "x86_64")]
    if n >= STREAM && has_avx() {
        let lead = (dst as usize).next_multiple_of(32) - dst as usize;
        let middle = (n - lead) / 128 * 128;
        // SAFETY: `dst..dst + n` is writable (the caller's promise) and `src` a private slice
        // of `n` bytes, not overlapping it; the three parts split both ranges exactly
        // (`lead < 32 <= n`); `dst + lead` is 32-byte aligned and `middle` a multiple of 128;
        // AVX was detected.
        unsafe {
            bulk(dst, s, lead);
            stream(dst.add(lead), s.add(lead), middle);
            bulk(
                dst.add(lead + middle),
                s.add(lead + middle),
                n - lead - middle,
            );
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if n >= BULK {
        // SAFETY: `dst..dst + n` is writable (the caller's promise); `src` is a private slice,
        // which this process holds no `&` to shared memory for, so the two do not overlap.
        unsafe { bulk(dst, s, n) };
        return;
    }
    let h = head(dst as usize, n);
    let words_end = h + (n - h) / WORD * WORD;
    let unrolled_end = h + (n - h) / (WORD * UNROLL) * (WORD * UNROLL);
    // SAFETY: as in `load` with the roles swapped: offsets < n lie inside `dst..dst + n`
    // and `src`; shared bytes are written only through atomics, words at aligned `dst + i`.
    unsafe {
        for i in 0..h {
            (*dst.add(i).cast::<AtomicU8>()).store(*s.add(i), Ordering::Relaxed);
        }
        let mut i = h;
        while i < unrolled_end {
            let w = s.add(i).cast::<[usize; UNROLL]>().read_unaligned();
            for (k, word) in w.iter().enumerate() {
                (*dst.add(i + k * WORD).cast::<AtomicUsize>()).store(*word, Ordering::Relaxed);
            }
            i += WORD * UNROLL;
        }
        while i < words_end {
            let w = s.add(i).cast::<usize>().read_unaligned();
            (*dst.add(i).cast::<AtomicUsize>()).store(w, Ordering::Relaxed);
            i += WORD;
        }
        for j in words_end..n {
            (*dst.add(j).cast::<AtomicU8>()).store(*s.add(j), Ordering::Relaxed);
        }
    }
}

/// Fills `len` bytes of shared memory at `dst` with `byte`.
///
/// # Safety
///
/// As for [`store`].
#[inline]
pub unsafe fn fill(dst: *mut u8, len: usize, byte: u8) {
    let h = head(dst as usize, len);
    let words_end = h + (len - h) / WORD * WORD;
    let w = usize::from_ne_bytes([byte; WORD]);
    // SAFETY: every offset is < len, inside the caller's range; bytes go through AtomicU8,
    // words through AtomicUsize at word-aligned addresses (`i - h` a multiple of WORD).
    unsafe {
        for i in 0..h {
            (*dst.add(i).cast::<AtomicU8>()).store(byte, Ordering::Relaxed);
        }
        for i in (h..words_end).step_by(WORD) {
            (*dst.add(i).cast::<AtomicUsize>()).store(w, Ordering::Relaxed);
        }
        for j in words_end..len {
            (*dst.add(j).cast::<AtomicU8>()).store(byte, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stores_and_loads_of_every_alignment_are_exact() {
        let len = STREAM + 300;
        let src: Vec<u8> = (0..len as u32 + 64).map(|i| (i * 13 % 251) as u8).collect();
        for off in [0, 1, 7, 8, 31, 32, 33, 63] {
            for n in [
                STREAM - 1,
                STREAM,
                STREAM + 1,
                STREAM + 127,
                STREAM + 129,
                len,
            ] {
                let mut dst = vec![0u8; len + 64];
                // SAFETY: `dst[off..off + n]` is in bounds; no references to it are live.
                unsafe { store(dst.as_mut_ptr().add(off), &src[..n]) };
                assert!(dst[off..off + n] == src[..n], "store off {off} len {n}");
                assert!(dst[..off].iter().chain(&dst[off + n..]).all(|&b| b == 0));
                let mut back = vec![1u8; 3];
                // SAFETY: `dst[off..off + n]` is in bounds; nothing else writes it.
                unsafe { load_append(dst.as_ptr().add(off), n, &mut back) };
                assert!(back[..3] == [1, 1, 1] && back[3..] == src[..n]);
            }
        }
    }

    #[test]
    fn copies_every_alignment_and_length() {
        let src: Vec<u8> = (0..3100u32).map(|i| (i * 7 % 251) as u8).collect();
        for off in 0..9 {
            for len in [
                0,
                1,
                7,
                8,
                9,
                63,
                64,
                65,
                200,
                BULK - 1,
                BULK,
                BULK + 9,
                3000,
            ] {
                let mut out = vec![0u8; len];
                // SAFETY: `src[off..off + len]` is in bounds; nothing else writes it.
                unsafe { load(src.as_ptr().add(off), &mut out) };
                assert_eq!(&out[..], &src[off..off + len], "load off {off} len {len}");
                let mut dst = vec![0u8; 3100];
                // SAFETY: `dst[off..off + len]` is in bounds; no references to it are live.
                unsafe { store(dst.as_mut_ptr().add(off), &src[..len]) };
                assert_eq!(
                    &dst[off..off + len],
                    &src[..len],
                    "store off {off} len {len}"
                );
                assert!(dst[..off].iter().chain(&dst[off + len..]).all(|&b| b == 0));
                let mut f = vec![0u8; 3100];
                // SAFETY: as above.
                unsafe { fill(f.as_mut_ptr().add(off), len, 0xab) };
                assert!(f[off..off + len].iter().all(|&b| b == 0xab));
                assert!(f[..off].iter().chain(&f[off + len..]).all(|&b| b == 0));
            }
        }
    }
}
