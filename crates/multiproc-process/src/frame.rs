//! The framed files that carry a job to a child and a value back: a 16-byte header (magic,
//! a 32-bit word, the payload's length) then the payload. The header is written last, so a
//! writer killed half-way leaves no valid frame; the reader checks the magic and that the
//! length is exactly what the file holds (the file's size bounds the allocation).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const HEADER: usize = 16;

/// Writes `payload`, then the header, at the start of `file`.
pub(crate) fn write(file: &File, magic: u32, word: u32, payload: &[u8]) -> io::Result<()> {
    file.write_all_at(payload, HEADER as u64)?;
    let mut header = [0u8; HEADER];
    header[0..4].copy_from_slice(&magic.to_le_bytes());
    header[4..8].copy_from_slice(&word.to_le_bytes());
    header[8..16].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    file.write_all_at(&header, 0)
}

/// Reads a frame with this magic: its word and payload, or `None` if the file holds no
/// complete frame of that kind.
pub(crate) fn read(file: &File, magic: u32) -> io::Result<Option<(u32, Vec<u8>)>> {
    let size = file.metadata()?.len();
    if size < HEADER as u64 {
        return Ok(None);
    }
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, 0)?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[8..16]);
    let len = u64::from_le_bytes(len);
    if word(0) != magic || Some(size) != len.checked_add(HEADER as u64) {
        return Ok(None);
    }
    let Ok(len) = usize::try_from(len) else {
        return Ok(None);
    };
    let mut payload = vec![0u8; len];
    file.read_exact_at(&mut payload, HEADER as u64)?;
    Ok(Some((word(4), payload)))
}
