//! `SharedObject`: a block that is either anonymous (shared by fork or fd) or named (opened by
//! name), with the creator-only unlink that every named primitive needs.

use crate::block::{Layout, SharedBlock, FLAG_PERSIST, HEADER_LEN};
use std::io;
use std::os::fd::OwnedFd;

/// What kind of object a block holds: the header's magic and layout version, the payload
/// size after the header, and a name for debugging (it shows in `/proc/<pid>/fd`).
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// Eight bytes that identify the primitive, e.g. `*b"MPEVENT\0"`.
    pub magic: [u8; 8],
    /// Bumped whenever the payload's layout changes.
    pub version: u32,
    /// Payload bytes after the header.
    pub payload: usize,
    /// Debug name of anonymous objects.
    pub name: &'static str,
}

impl Kind {
    fn layout(&self) -> Layout {
        Layout {
            magic: u64::from_le_bytes(self.magic),
            version: self.version,
            elem_size: 1,
            elem_align: 1,
            len: self.payload as u64,
        }
    }

    /// The header's length must cover the whole payload (the mapping was already checked to
    /// hold what the header claims): a short object from a peer is refused, not indexed.
    fn check_len(&self, len: u64) -> io::Result<()> {
        if len < self.payload as u64 {
            return Err(crate::errno::invalid_data(format!(
                "object holds {len} payload bytes; a {} needs {}",
                self.name, self.payload
            )));
        }
        Ok(())
    }

    /// Offset of payload byte `i` in the block.
    pub const fn at(&self, i: usize) -> usize {
        HEADER_LEN + i
    }
}

/// A primitive's block, anonymous or named. A named object's creating handle unlinks the name
/// when dropped, unless [`keep`](SharedObject::keep) was called; openers, fd receivers and
/// forked children never do.
#[derive(Debug)]
pub struct SharedObject {
    block: SharedBlock,
    unlink_on_drop: bool,
}

impl SharedObject {
    /// Creates an anonymous object (`name` `None`) or a named one, running `init` on it before
    /// it is published (its header's magic written): openers never see it half-initialised.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::create_anonymous`] and [`SharedBlock::create_named`].
    pub fn create(
        kind: &Kind,
        name: Option<&str>,
        init: impl FnOnce(&SharedBlock),
    ) -> io::Result<SharedObject> {
        let layout = kind.layout();
        let (mut block, named) = match name {
            Some(n) => (
                SharedBlock::create_named_with(Some(n), &layout, kind.payload, init)?,
                true,
            ),
            None => (
                SharedBlock::create_anonymous_with(kind.name, &layout, kind.payload, init)?,
                false,
            ),
        };
        // The object decides about unlinking (see `Drop`), not the block.
        block.set_unlink_on_drop(false);
        Ok(SharedObject {
            block,
            unlink_on_drop: named,
        })
    }

    /// Opens a named object, checking its header.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::open_named`].
    pub fn open(kind: &Kind, name: &str) -> io::Result<SharedObject> {
        let (block, len) =
            SharedBlock::open_named(name, u64::from_le_bytes(kind.magic), kind.version, (1, 1))?;
        kind.check_len(len)?;
        Ok(SharedObject {
            block,
            unlink_on_drop: false,
        })
    }

    /// Maps an object received as an fd, checking its header and seals.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::from_fd`].
    pub fn from_fd(kind: &Kind, fd: OwnedFd) -> io::Result<SharedObject> {
        let (block, len) =
            SharedBlock::from_fd(fd, u64::from_le_bytes(kind.magic), kind.version, (1, 1))?;
        kind.check_len(len)?;
        Ok(SharedObject {
            block,
            unlink_on_drop: false,
        })
    }

    /// The block.
    pub fn block(&self) -> &SharedBlock {
        &self.block
    }

    /// Keeps a named object after its creator's handle is dropped, and marks it so that
    /// cleanup leaves it alone.
    pub fn keep(&mut self) {
        self.unlink_on_drop = false;
        self.block.header().set_flag(FLAG_PERSIST, true);
    }

    /// Removes the name of a named object; existing handles keep working.
    ///
    /// # Errors
    ///
    /// `NotFound` if already unlinked; `InvalidInput` for an anonymous object.
    pub fn unlink(&mut self) -> io::Result<()> {
        self.unlink_on_drop = false;
        self.block.unlink()
    }
}

impl Drop for SharedObject {
    fn drop(&mut self) {
        // Only the creating process: a forked child's copy never unlinks.
        if self.unlink_on_drop && self.block.is_creator() {
            let _ = self.block.unlink();
        }
    }
}
