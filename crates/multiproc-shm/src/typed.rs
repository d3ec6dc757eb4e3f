//! A block holding `len` elements of `T` at a fixed offset, optionally behind a robust lock.
//! The common layout of `Value`, `RawValue`, `Array`, `RawArray` and `Atomic`:
//!
//! ```text
//! 0    header (magic, version, element size/align, len, creator)
//! 64   robust lock (locked kinds only), 16 bytes
//! D    data: len × T, D = round_up(data_min, align_of::<T>())
//! ```

use multiproc_internal::block::{Layout, SharedBlock, HEADER_LEN};
use multiproc_internal::errno::invalid_input;
use multiproc_internal::robust::RobustMutex;
use std::io;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;

/// Offset of the robust lock in locked kinds.
const MUTEX: usize = HEADER_LEN;

/// Bumped when the layout above changes.
const VERSION: u32 = 1;

/// Bulk copies at least this large pre-fault their range first.
pub(crate) const PREFAULT_MIN: usize = 1 << 20;

/// One kind of typed block.
#[derive(Debug)]
pub(crate) struct Kind {
    pub(crate) magic: [u8; 8],
    pub(crate) name: &'static str,
    pub(crate) locked: bool,
    /// Smallest data offset (the data's own cache line for arrays).
    pub(crate) data_min: usize,
}

#[derive(Debug)]
pub(crate) struct Typed<T> {
    block: SharedBlock,
    data: usize,
    len: usize,
    _t: PhantomData<T>,
}

fn data_offset<T>(kind: &Kind) -> io::Result<usize> {
    let align = std::mem::align_of::<T>();
    if align > 4096 {
        return Err(invalid_input(format!(
            "alignment {align} is more than a page; shared objects support up to 4096"
        )));
    }
    Ok(kind.data_min.next_multiple_of(align))
}

fn shape<T>() -> io::Result<(u32, u32)> {
    let size = u32::try_from(std::mem::size_of::<T>())
        .map_err(|_| invalid_input("element type is larger than 4 GiB"))?;
    Ok((size, std::mem::align_of::<T>() as u32))
}

impl<T> Typed<T> {
    /// Creates a block holding a copy of `items`.
    pub(crate) fn create_with(kind: &Kind, items: &[T]) -> io::Result<Self>
    where
        T: bytemuck::NoUninit,
    {
        let t = Self::create(kind, items.len())?;
        let stored = t.block.store(t.data, bytemuck::cast_slice(items));
        debug_assert!(stored, "a fresh block holds its items");
        Ok(t)
    }

    /// Creates a zero-filled block for `len` elements.
    pub(crate) fn create(kind: &Kind, len: usize) -> io::Result<Self> {
        let data = data_offset::<T>(kind)?;
        let (elem_size, elem_align) = shape::<T>()?;
        let bytes = len
            .checked_mul(elem_size as usize)
            .and_then(|b| b.checked_add(data))
            .ok_or_else(|| invalid_input(format!("{len} elements do not fit in memory")))?;
        let layout = Layout {
            magic: u64::from_le_bytes(kind.magic),
            version: VERSION,
            elem_size,
            elem_align,
            len: len as u64,
        };
        let block = SharedBlock::create_anonymous(kind.name, &layout, bytes - HEADER_LEN)?;
        if kind.locked {
            block.init_robust_mutex(MUTEX)?;
        }
        Ok(Typed {
            block,
            data,
            len,
            _t: PhantomData,
        })
    }

    /// Maps a block received as an fd, checking magic, version, element type and size, and,
    /// for single-value kinds, that it holds exactly `exact_len` elements.
    pub(crate) fn from_fd(kind: &Kind, fd: OwnedFd, exact_len: Option<usize>) -> io::Result<Self> {
        let data = data_offset::<T>(kind)?;
        let elem = shape::<T>()?;
        let (block, len) = SharedBlock::from_fd(fd, u64::from_le_bytes(kind.magic), VERSION, elem)?;
        let len = usize::try_from(len).map_err(|_| invalid_input("length does not fit usize"))?;
        if exact_len.is_some_and(|n| n != len) {
            return Err(multiproc_internal::errno::invalid_data(format!(
                "object holds {len} elements; a single value must hold exactly 1"
            )));
        }
        // The data must fit the mapping exactly where this kind puts it.
        len.checked_mul(elem.0 as usize)
            .and_then(|b| b.checked_add(data))
            .filter(|&end| end <= block.size())
            .ok_or_else(|| {
                multiproc_internal::errno::invalid_data(format!(
                    "object too small for {len} elements at offset {data}"
                ))
            })?;
        Ok(Typed {
            block,
            data,
            len,
            _t: PhantomData,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn block(&self) -> &SharedBlock {
        &self.block
    }

    /// Pointer to the first element: aligned for `T`, with `len` elements behind it inside the
    /// mapping (checked at create and open).
    pub(crate) fn data_ptr(&self) -> *mut T {
        self.block.as_ptr().wrapping_add(self.data).cast::<T>()
    }

    /// Byte offset of element `index` in the block.
    pub(crate) fn offset_of(&self, index: usize) -> usize {
        self.data + index * std::mem::size_of::<T>()
    }

    /// The robust lock (locked kinds).
    pub(crate) fn mutex(&self) -> &RobustMutex {
        self.block
            .robust_mutex(MUTEX)
            .expect("the lock offset is inside every block")
    }

    /// Pre-faults elements `[start, start + n)` for writing.
    pub(crate) fn prefault(&self, start: usize, n: usize) {
        let size = std::mem::size_of::<T>();
        self.block
            .populate_write(self.data + start * size, n * size);
    }
}

impl<T: bytemuck::CheckedBitPattern> multiproc_internal::guard::Validate for Typed<T> {
    fn is_valid(&self) -> bool {
        crate::sys::valid(self)
    }
}
