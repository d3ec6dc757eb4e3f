//! `SharedMemory`: named shared-memory segments (Python's `multiprocessing.shared_memory`).

use crate::error::{check_range, SegmentError};
use multiproc_internal::block::{self, Layout, SharedBlock, FLAG_PERSIST, HEADER_LEN};
use multiproc_internal::errno::invalid_input;
use multiproc_internal::identity;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64};

const MAGIC: u64 = u64::from_le_bytes(*b"MPSHMSEG");
const VERSION: u32 = 1;
const DATA: usize = HEADER_LEN;

fn layout(len: usize) -> Layout {
    Layout {
        magic: MAGIC,
        version: VERSION,
        elem_size: 1,
        elem_align: 1,
        len: len as u64,
    }
}

/// A named segment of shared memory that unrelated processes open by name: Python's
/// `multiprocessing.shared_memory.SharedMemory`.
///
/// The segment lives in `/dev/shm` (created with `O_EXCL` and mode 0600). Its creator unlinks
/// it when its handle is dropped, unless told to [`keep`](SharedMemory::keep) it; a handle from
/// [`open`](SharedMemory::open) never unlinks on drop, nor does a forked child's copy of the
/// creator's. A segment whose creator was killed before it could unlink is removed by
/// [`cleanup`](crate::cleanup).
///
/// Access is by copy ([`read`](SharedMemory::read), [`write`](SharedMemory::write)), by atomics
/// at aligned offsets, or through `unsafe` slices whose contract you uphold: another process
/// may write the bytes at any time, so safe code never gets a `&[u8]` over them.
///
/// # Examples
///
/// ```
/// use multiproc_shm::SharedMemory;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut seg = SharedMemory::create(4096)?;
/// seg.write(0, b"hello")?;
///
/// // Another process (here, this one) opens it by name.
/// let other = SharedMemory::open(seg.name())?;
/// let mut buf = [0u8; 5];
/// other.read(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// seg.unlink()?;
/// # Ok(()) }
/// ```
#[doc(alias = "shm_open")]
pub struct SharedMemory {
    block: Option<SharedBlock>,
    name: String,
    len: usize,
    dev_ino: (u64, u64),
    /// The pid that must unlink on drop, if any (the creator, unless kept or unlinked).
    unlink_by: Option<i32>,
}

impl SharedMemory {
    /// Creates a zero-filled segment of `size` bytes under a fresh name
    /// (`multiproc-shm-` and 64 random bits).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a size of 0 or one that cannot be represented; `OutOfMemory` for
    /// more than the machine's memory and swap; `StorageFull` when `/dev/shm` cannot hold it
    /// (checked now by reserving the space, so it never turns into SIGBUS later).
    pub fn create(size: usize) -> io::Result<Self> {
        Self::created(SharedBlock::create_named(None, &layout(size), size)?, size)
    }

    /// Creates a zero-filled segment of `size` bytes named `name` (`"/name"` is accepted too).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists — including a symlink planted under it; the existing
    /// object is never opened. `InvalidInput` for a name that is empty, longer than 200 bytes,
    /// or contains `/` or NUL, and the errors of [`SharedMemory::create`].
    pub fn create_named(name: &str, size: usize) -> io::Result<Self> {
        Self::created(
            SharedBlock::create_named(Some(name), &layout(size), size)?,
            size,
        )
    }

    fn created(mut block: SharedBlock, len: usize) -> io::Result<Self> {
        // The handle decides about unlinking (so that `close` does not unlink).
        block.set_unlink_on_drop(false);
        let name = block.name().unwrap_or_default().to_owned();
        let dev_ino = block.identity().unwrap_or_default();
        Ok(SharedMemory {
            block: Some(block),
            name,
            len,
            dev_ino,
            unlink_by: Some(identity::pid()),
        })
    }

    /// Opens an existing segment by name.
    ///
    /// # Errors
    ///
    /// `NotFound` if there is no such name; `InvalidData` if it is not a multiproc segment, or
    /// is smaller than its header claims; `InvalidInput` for bad names.
    pub fn open(name: &str) -> io::Result<Self> {
        let (mut block, len) = SharedBlock::open_named(name, MAGIC, VERSION, (1, 1))?;
        block.set_unlink_on_drop(false);
        let len = usize::try_from(len).map_err(|_| invalid_input("segment too large"))?;
        Ok(SharedMemory {
            name: block.name().unwrap_or_default().to_owned(),
            dev_ino: block.identity().unwrap_or_default(),
            block: Some(block),
            len,
            unlink_by: None,
        })
    }

    /// Opens an existing segment by name and checks that it has at least `len` bytes.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the segment is smaller than `len`; otherwise as
    /// [`SharedMemory::open`].
    pub fn open_with_len(name: &str, len: usize) -> io::Result<Self> {
        let seg = Self::open(name)?;
        if seg.len < len {
            return Err(invalid_input(format!(
                "shared memory {:?} has {} bytes, fewer than the {len} asked for",
                seg.name, seg.len
            )));
        }
        Ok(seg)
    }

    /// The segment's name, without a leading `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size in bytes, as created (Python's `size`).
    #[doc(alias = "size")]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segment has no bytes (never: creating one of size 0 is an error).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether [`close`](SharedMemory::close) was called.
    pub fn is_closed(&self) -> bool {
        self.block.is_none()
    }

    /// Unmaps the segment and closes its fd, in this handle only. The segment itself lives on
    /// (until unlinked and unmapped everywhere). Idempotent. The creator's handle still
    /// unlinks on drop, or on an explicit [`unlink`](SharedMemory::unlink) after closing.
    pub fn close(&mut self) {
        self.block = None;
    }

    /// Removes the name: nobody can open it any more; existing mappings stay valid. Call it
    /// once, from any process (the creator's drop does it unless the segment is kept). Only
    /// removes the name if it still refers to this segment.
    ///
    /// # Errors
    ///
    /// `NotFound` if it was already unlinked (by anyone).
    #[doc(alias = "shm_unlink")]
    pub fn unlink(&mut self) -> io::Result<()> {
        self.unlink_by = None;
        block::unlink_if_same(&self.name, self.dev_ino.0, self.dev_ino.1)
    }

    /// Keeps the segment after the creator's handle is dropped (and after the creator exits):
    /// no unlink on drop, and [`cleanup`](crate::cleanup) leaves it alone (the mark is in the
    /// segment, so any handle may set it). Someone must [`unlink`](SharedMemory::unlink) it
    /// eventually.
    ///
    /// # Errors
    ///
    /// [`SegmentError::Closed`]: the mark cannot be written through a closed handle.
    pub fn keep(&mut self) -> Result<(), SegmentError> {
        self.mapped()?.header().set_flag(FLAG_PERSIST, true);
        self.unlink_by = None;
        Ok(())
    }

    fn mapped(&self) -> Result<&SharedBlock, SegmentError> {
        self.block.as_ref().ok_or(SegmentError::Closed)
    }

    /// Checks `offset..offset + len` against the segment; returns the block and the range's
    /// offset in it.
    fn range(&self, offset: usize, len: usize) -> Result<(&SharedBlock, usize), SegmentError> {
        let b = self.mapped()?;
        check_range(offset, len, self.len)?;
        Ok((b, DATA + offset))
    }

    /// Copies `buf.len()` bytes at `offset` out of the segment. A copy that races with another
    /// process's write may be torn, never undefined.
    ///
    /// # Errors
    ///
    /// [`SegmentError::OutOfBounds`], [`SegmentError::Closed`].
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), SegmentError> {
        let (b, at) = self.range(offset, buf.len())?;
        if buf.len() >= crate::typed::PREFAULT_MIN {
            b.populate_write(at, buf.len());
        }
        let loaded = b.load(at, buf);
        debug_assert!(loaded, "checked against the length above");
        Ok(())
    }

    /// Copies `data` into the segment at `offset`.
    ///
    /// # Errors
    ///
    /// [`SegmentError::OutOfBounds`], [`SegmentError::Closed`].
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), SegmentError> {
        let (b, at) = self.range(offset, data.len())?;
        if data.len() >= crate::typed::PREFAULT_MIN {
            b.populate_write(at, data.len());
        }
        let stored = b.store(at, data);
        debug_assert!(stored, "checked against the length above");
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `byte`.
    ///
    /// # Errors
    ///
    /// [`SegmentError::OutOfBounds`], [`SegmentError::Closed`].
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), SegmentError> {
        let (b, at) = self.range(offset, len)?;
        if len >= crate::typed::PREFAULT_MIN {
            b.populate_write(at, len);
        }
        let filled = b.fill(at, len, byte);
        debug_assert!(filled, "checked against the length above");
        Ok(())
    }

    fn aligned(&self, offset: usize, size: usize) -> Result<(&SharedBlock, usize), SegmentError> {
        let (b, at) = self.range(offset, size)?;
        // DATA is 64-byte aligned, so the offset's alignment is the address's.
        if !offset.is_multiple_of(size) {
            return Err(SegmentError::Misaligned {
                offset,
                align: size,
            });
        }
        Ok((b, at))
    }

    /// The `AtomicU32` at byte `offset` (which must be a multiple of 4).
    ///
    /// # Errors
    ///
    /// [`SegmentError::Misaligned`], [`SegmentError::OutOfBounds`], [`SegmentError::Closed`].
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32, SegmentError> {
        let (b, at) = self.aligned(offset, 4)?;
        b.atomic_u32(at)
            .map_err(|_| SegmentError::Misaligned { offset, align: 4 })
    }

    /// The `AtomicU64` at byte `offset` (which must be a multiple of 8).
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::atomic_u32`].
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, SegmentError> {
        let (b, at) = self.aligned(offset, 8)?;
        b.atomic_u64(at)
            .map_err(|_| SegmentError::Misaligned { offset, align: 8 })
    }

    /// Maps every page into this process now (`MADV_POPULATE_WRITE`); see
    /// [`Array::prefault`](crate::Array::prefault). The bulk copies do it for 1 MiB and more.
    pub fn prefault(&self) {
        if let Some(b) = &self.block {
            b.populate_write(DATA, self.len);
        }
    }

    /// A pointer to the first byte (64-byte aligned), or null once closed. Valid until the
    /// handle is closed or dropped.
    pub fn as_ptr(&self) -> *mut u8 {
        match &self.block {
            Some(b) => b.as_ptr().wrapping_add(DATA),
            None => std::ptr::null_mut(),
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // Only the creating process: a forked child's copy of the handle never unlinks.
        if self.unlink_by == Some(identity::pid()) {
            let _ = block::unlink_if_same(&self.name, self.dev_ino.0, self.dev_ino.1);
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Removes the shared-memory segments of this library whose creator died without unlinking
/// them (SIGKILL, crash) and that were not [kept](SharedMemory::keep). A creator counts as
/// alive while its pid exists with the same start time — a zombie included. Segments of
/// other programs are never touched. Returns the names removed.
///
/// # Errors
///
/// Only if `/dev/shm` cannot be listed.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// for name in multiproc_shm::cleanup()? {
///     eprintln!("removed stale segment {name}");
/// }
/// # Ok(()) }
/// ```
pub fn cleanup() -> io::Result<Vec<String>> {
    block::sweep_stale(&[MAGIC], "")
}

/// Like [`cleanup`], limited to segments whose names start with `prefix`: for an application
/// that names its segments and wants to sweep only its own.
///
/// # Errors
///
/// Only if `/dev/shm` cannot be listed.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let removed = multiproc_shm::cleanup_with_prefix("myapp-")?;
/// assert!(removed.iter().all(|n| n.starts_with("myapp-")));
/// # Ok(()) }
/// ```
pub fn cleanup_with_prefix(prefix: &str) -> io::Result<Vec<String>> {
    block::sweep_stale(&[MAGIC], prefix)
}
