//! The shared block that primitives live in: a `MAP_SHARED` mapping of a memfd (anonymous,
//! sealed, inherited across fork, passable by fd) or of a named POSIX shared-memory object
//! (`shm_open` with `O_EXCL`, mode 0600).
//!
//! Every block starts with a [`Header`] (magic number, layout version, creator), checked on
//! open. Only the creating process performs shared side effects on drop: a forked child that
//! drops an inherited handle never unlinks the parent's name.

use crate::errno::{cvt, cvt_r, invalid_data, invalid_input};
use crate::identity;
use crate::robust::{self, RobustMutex};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// Prefix of every name this library generates (in `/dev/shm`, in memfd names).
pub const NAME_PREFIX: &str = "multiproc-";

/// Size of [`Header`]; payloads start at or after this offset.
pub const HEADER_LEN: usize = 64;

/// Header flag: the creator asked to keep the named object after it exits.
pub const FLAG_PERSIST: u32 = 1;

/// The header at offset 0 of every block. Fields are atomics: another process may be reading
/// or (if hostile) writing them.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    flags: AtomicU32,
    creator_pid: AtomicI32,
    elem_size: AtomicU32,
    creator_start: AtomicU64,
    elem_align: AtomicU32,
    _reserved0: AtomicU32,
    len: AtomicU64,
    /// Inode of the creator's pid namespace: its pid means nothing in another one.
    creator_pidns: AtomicU64,
    _reserved: AtomicU64,
}
const _: () = assert!(std::mem::size_of::<Header>() == HEADER_LEN);

/// What a primitive writes into (and expects from) a [`Header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Identifies the primitive (`u64::from_le_bytes(*b"MPVALUE\0")`, …).
    pub magic: u64,
    /// Bumped whenever the layout after the header changes.
    pub version: u32,
    /// Size of one element (1 for raw bytes).
    pub elem_size: u32,
    /// Alignment of one element.
    pub elem_align: u32,
    /// Payload length, in elements.
    pub len: u64,
}

/// Creator information read back from a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creator {
    /// Creator's pid.
    pub pid: i32,
    /// Creator's start time (clock ticks after boot), to tell a recycled pid apart.
    pub start_time: u64,
    /// Flags ([`FLAG_PERSIST`]).
    pub flags: u32,
    /// Inode of the creator's pid namespace (0: unknown).
    pub pidns: u64,
}

impl Header {
    fn init(&self, layout: &Layout) {
        let pid = identity::pid();
        self.version.store(layout.version, Ordering::Relaxed);
        self.flags.store(0, Ordering::Relaxed);
        self.creator_pid.store(pid, Ordering::Relaxed);
        self.creator_start
            .store(process_start_time(pid).unwrap_or(0), Ordering::Relaxed);
        self.elem_size.store(layout.elem_size, Ordering::Relaxed);
        self.elem_align.store(layout.elem_align, Ordering::Relaxed);
        self.len.store(layout.len, Ordering::Relaxed);
        self.creator_pidns
            .store(own_pid_namespace().unwrap_or(0), Ordering::Relaxed);
        // Magic last: an opener that sees it sees the rest.
        self.magic.store(layout.magic, Ordering::Release);
    }

    /// Checks magic, version and element shape; returns the payload length in elements.
    fn check(&self, magic: u64, version: u32, elem_size: u32, elem_align: u32) -> io::Result<u64> {
        let m = self.magic.load(Ordering::Acquire);
        if m != magic {
            return Err(invalid_data(format!(
                "not a multiproc object of this kind, or one still being created \
                 (magic {m:#018x}, expected {magic:#018x})"
            )));
        }
        let v = self.version.load(Ordering::Relaxed);
        if v != version {
            return Err(invalid_data(format!(
                "layout version {v} is not supported (expected {version})"
            )));
        }
        let (s, a) = (
            self.elem_size.load(Ordering::Relaxed),
            self.elem_align.load(Ordering::Relaxed),
        );
        if s != elem_size || a != elem_align {
            return Err(invalid_data(format!(
                "element type mismatch: object holds size {s} align {a}, \
                 expected size {elem_size} align {elem_align}"
            )));
        }
        Ok(self.len.load(Ordering::Relaxed))
    }

    /// Sets or clears header flags.
    pub fn set_flag(&self, flag: u32, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }
}

/// Reads a process's start time (field 22 of `/proc/<pid>/stat`).
pub fn process_start_time(pid: i32) -> Option<u64> {
    process_stat(pid).map(|(_, start)| start)
}

/// Reads a process's state letter (`R`, `S`, `Z`, …: field 3) and start time (field 22) from
/// `/proc/<pid>/stat`; `None` once it is gone.
pub fn process_stat(pid: i32) -> Option<(u8, u64)> {
    // Bytes, not a String: the command name may be any bytes, not UTF-8.
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // After the state (field 3), starttime is field 22: 18 fields further.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The inode of this process's pid namespace, if `/proc` tells.
pub fn own_pid_namespace() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Whether the process that created an object may still be there. A zombie still counts as
/// alive (its parent has not reaped it yet). A pid that now belongs to a process started at
/// another time is dead (recycled). When this process cannot judge — `/proc` is missing, or the
/// creator lived in another pid namespace, where its pid means something else — the creator
/// counts as alive: cleaning up must never remove a live object.
pub fn creator_alive(c: &Creator) -> bool {
    if process_start_time(identity::pid()).is_none() {
        return true; // no usable /proc
    }
    let ours = own_pid_namespace().unwrap_or(0);
    if c.pidns == 0 || ours == 0 || c.pidns != ours {
        return true;
    }
    match process_start_time(c.pid) {
        Some(t) => c.start_time == 0 || t == c.start_time,
        None => false,
    }
}

/// Random bits from the kernel.
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `len - filled` bytes into `buf[filled..]`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // getrandom cannot fail on Linux ≥ 3.17 except EINTR; mix in time and pid rather
            // than return predictable zeros.
            let t = crate::clock::monotonic_now().as_nanos() as u64;
            return t.rotate_left(17)
                ^ (identity::pid() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    u64::from_ne_bytes(buf)
}

/// A fresh name: the library prefix, a kind, and 64 random bits (`multiproc-shm-1f0c…`).
pub fn unique_name(kind: &str) -> String {
    format!("{NAME_PREFIX}{kind}-{:016x}", random_u64())
}

/// Checks a user-supplied POSIX shared-memory name: one path component, 1–200 bytes, no NUL.
/// A single leading `/` (the POSIX spelling) is accepted and removed.
///
/// # Errors
///
/// `InvalidInput` describing what is wrong.
pub fn validate_name(name: &str) -> io::Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return Err(invalid_input("shared memory name is empty"));
    }
    if bare.len() > 200 {
        return Err(invalid_input(format!(
            "shared memory name is {} bytes long (at most 200)",
            bare.len()
        )));
    }
    if bare.contains('/') || bare.contains('\0') || bare == "." || bare == ".." {
        return Err(invalid_input(format!(
            "shared memory name {name:?} must be a single path component without NUL"
        )));
    }
    Ok(bare)
}

/// How a block is backed.
#[derive(Debug)]
enum Backing {
    Memfd,
    Named { name: String, dev: u64, ino: u64 },
}

/// A `MAP_SHARED` mapping of a memfd or a named shared-memory object, with its [`Header`].
#[derive(Debug)]
pub struct SharedBlock {
    ptr: NonNull<u8>,
    /// Total mapped bytes, header included.
    size: usize,
    file: File,
    backing: Backing,
    creator_pid: i32,
    /// Made by `create_*` here, not opened or received.
    created: bool,
    unlink_on_drop: bool,
    /// The pid whose page tables map the whole block (set by creation and by a whole-block
    /// populate), so that populating again costs nothing. A forked child has another pid.
    populated_by: AtomicI32,
}

// SAFETY: the block is a mapping plus an fd; all access to the shared bytes goes through
// atomics or through callers that hold the synchronisation they document. Moving the handle
// between threads, or sharing it, moves or shares nothing thread-bound.
unsafe impl Send for SharedBlock {}
// SAFETY: see `Send`; `&SharedBlock` only hands out raw pointers and atomics.
unsafe impl Sync for SharedBlock {}

/// Total memory and swap: a larger request cannot be backed, whatever the tmpfs says.
fn system_capacity() -> u64 {
    // SAFETY: `info` is a valid out-pointer; sysinfo fills it.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return u64::MAX;
    }
    let unit = u64::from(info.mem_unit.max(1));
    (info.totalram as u64)
        .saturating_add(info.totalswap as u64)
        .saturating_mul(unit)
}

fn checked_size(payload: usize) -> io::Result<usize> {
    let size = payload
        .checked_add(HEADER_LEN)
        .filter(|&s| s <= isize::MAX as usize)
        .ok_or_else(|| invalid_input(format!("size {payload} is too large")))?;
    if size as u64 > system_capacity() {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("size {payload} is more than this system's memory and swap"),
        ));
    }
    Ok(size)
}

/// Commits the whole block now: every page is allocated, zeroed and mapped in this process
/// (`MADV_POPULATE_WRITE`). A full tmpfs or memory limit is an error here, never SIGBUS later
/// (populating reports what would have been SIGBUS as `EFAULT`). The creator's page tables
/// survive `fork`, so the creator later reads and writes at memory speed, and the pages are
/// ready for the cheap read-populate (fault-around) in other processes. Large blocks also ask
/// for transparent huge pages, which the kernel grants where shmem THP is enabled.
fn commit(file: &File, ptr: NonNull<u8>, size: usize) -> io::Result<()> {
    if size >= HUGE_MIN {
        // SAFETY: advice on our own fresh mapping; MADV_HUGEPAGE changes no contents.
        unsafe { libc::madvise(ptr.as_ptr().cast(), size, libc::MADV_HUGEPAGE) };
    }
    // SAFETY: our own fresh mapping of `size` bytes; populating only faults pages in.
    let rc = unsafe { libc::madvise(ptr.as_ptr().cast(), size, libc::MADV_POPULATE_WRITE) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Kernels before 5.14: reserve with fallocate instead.
        Some(libc::EINVAL) => fallocate(file, size),
        Some(libc::EFAULT | libc::ENOSPC) => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "cannot back {size} bytes of shared memory: the tmpfs or memory limit is reached"
            ),
        )),
        Some(libc::ENOMEM) => Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("cannot back {size} bytes of shared memory: out of memory"),
        )),
        _ => Err(e),
    }
}

/// The system's page size.
pub fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
    })
}

/// Blocks at least this large ask for transparent huge pages.
const HUGE_MIN: usize = 4 << 20;

fn fallocate(file: &File, size: usize) -> io::Result<()> {
    // SAFETY: plain fallocate on an fd we own.
    match cvt_r(|| unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) }) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("cannot reserve {size} bytes of shared memory: no space left"),
        )),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        Err(e) => Err(e),
    }
}

fn map(file: &File, size: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: mapping a fresh region (addr NULL) of an fd we own; no existing memory is
    // affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

fn shm_path(name: &str) -> io::Result<CString> {
    CString::new(format!("/{name}")).map_err(|_| invalid_input("name contains NUL"))
}

impl SharedBlock {
    /// Creates an anonymous block of `payload` bytes after the header: a memfd, sized,
    /// reserved, sealed against shrinking and growing, mapped shared, header written.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero or overflowing size; `OutOfMemory`/`StorageFull` when the
    /// system cannot back it; other OS errors from memfd_create/mmap.
    pub fn create_anonymous(debug_name: &str, layout: &Layout, payload: usize) -> io::Result<Self> {
        Self::create_anonymous_with(debug_name, layout, payload, |_| {})
    }

    /// Like [`SharedBlock::create_anonymous`], running `init` on the block before the header's
    /// magic is written, so that no opener ever sees the payload half-initialised.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::create_anonymous`].
    pub fn create_anonymous_with(
        debug_name: &str,
        layout: &Layout,
        payload: usize,
        init: impl FnOnce(&SharedBlock),
    ) -> io::Result<Self> {
        Self::create_memfd(debug_name, layout, payload, true, init)
    }

    /// Like [`SharedBlock::create_anonymous_with`], but the memory is not committed up front:
    /// pages are allocated as they are first touched (for large blocks mostly left unused,
    /// such as a queue's ring). A memfd has no size limit of its own, so a page that cannot be
    /// allocated later is the memory cgroup's or the OOM killer's business, never a `SIGBUS`.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::create_anonymous`].
    pub fn create_anonymous_lazy_with(
        debug_name: &str,
        layout: &Layout,
        payload: usize,
        init: impl FnOnce(&SharedBlock),
    ) -> io::Result<Self> {
        Self::create_memfd(debug_name, layout, payload, false, init)
    }

    fn create_memfd(
        debug_name: &str,
        layout: &Layout,
        payload: usize,
        populate: bool,
        init: impl FnOnce(&SharedBlock),
    ) -> io::Result<Self> {
        if payload == 0 {
            return Err(invalid_input("size must be greater than zero"));
        }
        let size = checked_size(payload)?;
        let cname = CString::new(format!("{NAME_PREFIX}{debug_name}"))
            .map_err(|_| invalid_input("name contains NUL"))?;
        // SAFETY: `cname` is a valid C string; flags are valid.
        let fd = cvt(unsafe {
            libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        })?;
        // SAFETY: memfd_create returned a fresh fd that nothing else owns.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // memfds start as 0777 minus the umask; whoever reaches it through /proc/<pid>/fd
        // should find it as private as a named object.
        // SAFETY: fchmod on an fd we own.
        cvt(unsafe { libc::fchmod(file.as_raw_fd(), 0o600) })?;
        file.set_len(size as u64)?;
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on an fd we own.
        cvt(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) })?;
        let mut block = Self::mapped(file, size, Backing::Memfd, false)?;
        block.created = true;
        if populate {
            commit(&block.file, block.ptr, size)?;
            block.populated_by.store(identity::pid(), Ordering::Relaxed);
        }
        init(&block);
        block.header().init(layout);
        Ok(block)
    }

    /// Maps a block received as an fd (from fd transfer or inheritance) and checks its header.
    /// Requires the seals that make SIGBUS impossible (`F_SEAL_SHRINK`).
    ///
    /// # Errors
    ///
    /// `InvalidData` for an fd that is not a sealed multiproc block of this layout.
    pub fn from_fd(
        fd: OwnedFd,
        magic: u64,
        version: u32,
        elem: (u32, u32),
    ) -> io::Result<(Self, u64)> {
        let file = File::from(fd);
        // SAFETY: fcntl on an fd we own.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        if seals == -1 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(invalid_data(
                "fd is not a sealed memfd: its size could change under the mapping",
            ));
        }
        let size = file.metadata()?.len();
        Self::open_mapped(file, size, Backing::Memfd, magic, version, elem)
    }

    /// Creates a named block (`shm_open` with `O_CREAT | O_EXCL`, mode 0600). `name` of `None`
    /// generates one with [`unique_name`].
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if the name exists (a symlink planted under it included; the existing
    /// object is never opened); `InvalidInput` for bad names or sizes; `OutOfMemory` or
    /// `StorageFull` when the system cannot back the size.
    pub fn create_named(name: Option<&str>, layout: &Layout, payload: usize) -> io::Result<Self> {
        Self::create_named_with(name, layout, payload, |_| {})
    }

    /// Like [`SharedBlock::create_named`], running `init` on the block before the header's
    /// magic is written: an opener sees either no object of this kind yet, or a complete one.
    ///
    /// # Errors
    ///
    /// As [`SharedBlock::create_named`].
    pub fn create_named_with(
        name: Option<&str>,
        layout: &Layout,
        payload: usize,
        init: impl FnOnce(&SharedBlock),
    ) -> io::Result<Self> {
        if payload == 0 {
            return Err(invalid_input("size must be greater than zero"));
        }
        let size = checked_size(payload)?;
        let requested = name;
        let mut attempts = 0;
        loop {
            let name = match requested {
                Some(n) => validate_name(n)?.to_owned(),
                None => unique_name("shm"),
            };
            let path = shm_path(&name)?;
            // SAFETY: `path` is a valid C string.
            let fd = unsafe {
                libc::shm_open(
                    path.as_ptr(),
                    libc::O_RDWR
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd == -1 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::AlreadyExists {
                    attempts += 1;
                    // A generated name collides only by chance (or by a squatter guessing
                    // 64 random bits): draw another. A caller's name is theirs to choose.
                    if requested.is_none() && attempts < 8 {
                        continue;
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("shared memory name {name:?} already exists"),
                    ));
                }
                return Err(e);
            }
            // SAFETY: shm_open returned a fresh fd.
            let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            let meta = file.metadata()?;
            let backing = Backing::Named {
                name: name.clone(),
                dev: meta.dev(),
                ino: meta.ino(),
            };
            let set_up = (|| {
                file.set_len(size as u64)?;
                let mut block = Self::mapped(file, size, backing, true)?;
                block.created = true;
                commit(&block.file, block.ptr, size)?;
                block.populated_by.store(identity::pid(), Ordering::Relaxed);
                Ok(block)
            })();
            return match set_up {
                Ok(block) => {
                    init(&block);
                    block.header().init(layout);
                    Ok(block)
                }
                Err(e) => {
                    // SAFETY: `path` is a valid C string; we created this name just now.
                    unsafe { libc::shm_unlink(path.as_ptr()) };
                    Err(e)
                }
            };
        }
    }

    /// Opens an existing named block and checks its header.
    ///
    /// # Errors
    ///
    /// `NotFound` if the name does not exist; `InvalidData` if it is not a multiproc object
    /// of this layout or is smaller than its header says; `InvalidInput` for bad names.
    pub fn open_named(
        name: &str,
        magic: u64,
        version: u32,
        elem: (u32, u32),
    ) -> io::Result<(Self, u64)> {
        let name = validate_name(name)?;
        let path = shm_path(name)?;
        // SAFETY: `path` is a valid C string.
        let fd = unsafe {
            libc::shm_open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0,
            )
        };
        if fd == -1 {
            let e = io::Error::last_os_error();
            return Err(match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no shared memory named {name:?}"),
                ),
                _ => e,
            });
        }
        // SAFETY: shm_open returned a fresh fd.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(invalid_data(format!(
                "{name:?} is not a shared memory object"
            )));
        }
        let backing = Backing::Named {
            name: name.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        Self::open_mapped(file, meta.len(), backing, magic, version, elem)
    }

    fn open_mapped(
        file: File,
        size: u64,
        backing: Backing,
        magic: u64,
        version: u32,
        (elem_size, elem_align): (u32, u32),
    ) -> io::Result<(Self, u64)> {
        if size < HEADER_LEN as u64 {
            return Err(invalid_data(format!(
                "object of {size} bytes cannot hold a multiproc header"
            )));
        }
        // Whatever a peer claims, nothing larger than this machine can back is mapped (and so
        // no length derived from it can drive an allocation past it).
        if size > isize::MAX as u64 || size > system_capacity() {
            return Err(invalid_data(format!(
                "object of {size} bytes is larger than this machine's memory and swap"
            )));
        }
        let block = Self::mapped(file, size as usize, backing, false)?;
        let len = block
            .header()
            .check(magic, version, elem_size, elem_align)?;
        let need = len
            .checked_mul(u64::from(elem_size))
            .and_then(|b| b.checked_add(HEADER_LEN as u64));
        match need {
            Some(n) if n <= size => Ok((block, len)),
            _ => Err(invalid_data(format!(
                "header claims {len} elements of {elem_size} bytes, but the object has only {size} bytes"
            ))),
        }
    }

    fn mapped(file: File, size: usize, backing: Backing, creator: bool) -> io::Result<Self> {
        let ptr = map(&file, size)?;
        Ok(SharedBlock {
            ptr,
            size,
            file,
            backing,
            creator_pid: identity::pid(),
            created: false,
            unlink_on_drop: creator,
            populated_by: AtomicI32::new(0),
        })
    }

    /// The header at offset 0.
    #[inline]
    pub fn header(&self) -> &Header {
        // SAFETY: every block is at least HEADER_LEN bytes and page-aligned; Header is all
        // atomics, valid for any bit pattern, and shared access is what atomics are for.
        unsafe { &*self.ptr.as_ptr().cast::<Header>() }
    }

    /// Start of the mapping (the header). Pointers into the block stay valid while `self`
    /// lives.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Total mapped size, header included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A pointer to `offset`, checked to leave room for `len` bytes aligned to `align`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the range or alignment does not fit.
    #[inline]
    pub fn ptr_at(&self, offset: usize, len: usize, align: usize) -> io::Result<*mut u8> {
        let end = offset.checked_add(len);
        if offset < HEADER_LEN
            || end.is_none_or(|e| e > self.size)
            || !offset.is_multiple_of(align.max(1))
        {
            return Err(invalid_input(format!(
                "range {offset}+{len} (align {align}) does not fit a block of {} bytes",
                self.size
            )));
        }
        // SAFETY: `offset + len <= size`, so the result is inside the mapping or one past it.
        Ok(unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// Copies `out.len()` bytes at `offset` out of the block (relaxed atomics: may be torn by
    /// a concurrent writer, never undefined). Returns `false`, copying nothing, when the range
    /// does not fit.
    #[inline]
    pub fn load(&self, offset: usize, out: &mut [u8]) -> bool {
        match self.ptr_at(offset, out.len(), 1) {
            Ok(p) => {
                // SAFETY: the range is inside the mapping, which lives as long as `&self`; the
                // block never hands out references to these bytes outside a lock.
                unsafe { crate::copy::load(p, out) };
                true
            }
            Err(_) => false,
        }
    }

    /// Appends `n` bytes at `offset` of the block to `out` (as [`load`](SharedBlock::load)).
    /// Returns `false`, copying nothing, when the range does not fit.
    #[inline]
    pub fn load_append(&self, offset: usize, n: usize, out: &mut Vec<u8>) -> bool {
        match self.ptr_at(offset, n, 1) {
            Ok(p) => {
                // SAFETY: as for `load`: the range is inside the mapping, which lives as long
                // as `&self`.
                unsafe { crate::copy::load_append(p, n, out) };
                true
            }
            Err(_) => false,
        }
    }

    /// Copies `data` into the block at `offset` (relaxed atomics). Returns `false`, copying
    /// nothing, when the range does not fit.
    #[inline]
    pub fn store(&self, offset: usize, data: &[u8]) -> bool {
        match self.ptr_at(offset, data.len(), 1) {
            Ok(p) => {
                // SAFETY: as for `load`; the mapping is writable.
                unsafe { crate::copy::store(p, data) };
                true
            }
            Err(_) => false,
        }
    }

    /// Sets `len` bytes at `offset` to `byte` (relaxed atomics). Returns `false`, writing
    /// nothing, when the range does not fit.
    #[inline]
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> bool {
        match self.ptr_at(offset, len, 1) {
            Ok(p) => {
                // SAFETY: as for `store`.
                unsafe { crate::copy::fill(p, len, byte) };
                true
            }
            Err(_) => false,
        }
    }

    /// Initialises a robust mutex at `offset` (creator only, before sharing).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if it does not fit or is misaligned.
    pub fn init_robust_mutex(&self, offset: usize) -> io::Result<&RobustMutex> {
        let p = self.ptr_at(offset, 16, 8)?;
        // SAFETY: in bounds and aligned (checked); the mapping lives as long as `&self`, and
        // Drop checks `held_in_range` before unmapping. Called by the creator before the block
        // is shared, so nobody else uses the bytes.
        Ok(unsafe { RobustMutex::init_at(p) })
    }

    /// The robust mutex at `offset`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if it does not fit or is misaligned.
    #[inline]
    pub fn robust_mutex(&self, offset: usize) -> io::Result<&RobustMutex> {
        let p = self.ptr_at(offset, 16, 8)?;
        // SAFETY: in bounds and aligned; RobustMutex is atomics only, valid for any bits; the
        // mapping outlives `&self` and is not unmapped while a lock in it is held.
        Ok(unsafe { &*p.cast::<RobustMutex>() })
    }

    /// The atomic u32 at `offset`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if it does not fit or is misaligned.
    #[inline]
    pub fn atomic_u32(&self, offset: usize) -> io::Result<&AtomicU32> {
        let p = self.ptr_at(offset, 4, 4)?;
        // SAFETY: in bounds and aligned; any bits are a valid AtomicU32; concurrent access
        // from other processes is what atomics allow.
        Ok(unsafe { &*p.cast::<AtomicU32>() })
    }

    /// The atomic u64 at `offset`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if it does not fit or is misaligned.
    #[inline]
    pub fn atomic_u64(&self, offset: usize) -> io::Result<&AtomicU64> {
        let p = self.ptr_at(offset, 8, 8)?;
        // SAFETY: as for `atomic_u32`.
        Ok(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// Maps `[offset, offset + len)` into this process's page tables, writable, so bulk access
    /// runs at memory speed instead of taking one page fault per 4 KiB (a process that
    /// inherited or opened the block has no page-table entries for it).
    ///
    /// Reads first (`MADV_POPULATE_READ`: the kernel maps 16 already-allocated pages per fault,
    /// writable for shared memory), then writes (`MADV_POPULATE_WRITE`: fixes whatever is left,
    /// cheaply). About twice as fast as write-populating alone. Best effort: kernels before 5.14
    /// lack both, and access then faults as usual.
    pub fn populate_write(&self, offset: usize, len: usize) {
        let pid = identity::pid();
        if self.populated_by.load(Ordering::Relaxed) == pid {
            return;
        }
        let read = self.advise(offset, len, libc::MADV_POPULATE_READ);
        let write = self.advise(offset, len, libc::MADV_POPULATE_WRITE);
        if read && write && offset <= HEADER_LEN && offset.saturating_add(len) >= self.size {
            self.populated_by.store(pid, Ordering::Relaxed);
        }
    }

    /// Applies `advice` to the pages covering `[offset, offset + len)`; whether it worked.
    fn advise(&self, offset: usize, len: usize, advice: libc::c_int) -> bool {
        let page = page_size();
        let start = offset / page * page;
        let Some(end) = offset.checked_add(len).map(|e| e.min(self.size)) else {
            return false;
        };
        if end <= start {
            return true;
        }
        // SAFETY: the range lies inside our mapping; these advices only fault pages in.
        unsafe { libc::madvise(self.ptr.as_ptr().add(start).cast(), end - start, advice) == 0 }
    }

    /// The fd, to hand to another process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The name, for named blocks.
    pub fn name(&self) -> Option<&str> {
        match &self.backing {
            Backing::Named { name, .. } => Some(name),
            Backing::Memfd => None,
        }
    }

    /// Whether this process created the block (an opener, a receiver of its fd, or a forked
    /// child of the creator did not).
    pub fn is_creator(&self) -> bool {
        self.created && self.creator_pid == identity::pid()
    }

    /// Chooses whether dropping the creator's handle unlinks the name (the default for the
    /// creator). See [`FLAG_PERSIST`] to also keep [`sweep_stale`] away.
    pub fn set_unlink_on_drop(&mut self, unlink: bool) {
        self.unlink_on_drop = unlink;
    }

    /// Device and inode of a named block: what [`unlink_if_same`] compares.
    pub fn identity(&self) -> Option<(u64, u64)> {
        match &self.backing {
            Backing::Named { dev, ino, .. } => Some((*dev, *ino)),
            Backing::Memfd => None,
        }
    }

    /// Removes the name (named blocks), if it still names this very object. Existing
    /// mappings stay valid.
    ///
    /// # Errors
    ///
    /// `NotFound` if the name is gone (already unlinked, or now names another object);
    /// `InvalidInput` for anonymous blocks.
    pub fn unlink(&mut self) -> io::Result<()> {
        let Backing::Named { name, dev, ino } = &self.backing else {
            return Err(invalid_input("an anonymous block has no name to unlink"));
        };
        self.unlink_on_drop = false;
        unlink_if_same(name, *dev, *ino)
    }
}

/// Unlinks `/dev/shm/<name>` only if it is still the object `(dev, ino)`.
///
/// # Errors
///
/// `NotFound` if the name is gone or names another object.
pub fn unlink_if_same(name: &str, dev: u64, ino: u64) -> io::Result<()> {
    let path = shm_path(name)?;
    // SAFETY: valid C string; O_RDONLY open only to compare identity.
    let fd = unsafe {
        libc::shm_open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0,
        )
    };
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("shared memory {name:?} is already unlinked"),
        )
    };
    if fd == -1 {
        return Err(not_found());
    }
    // SAFETY: fresh fd from shm_open.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let m = f.metadata()?;
    if m.dev() != dev || m.ino() != ino {
        return Err(not_found());
    }
    // SAFETY: valid C string.
    cvt(unsafe { libc::shm_unlink(path.as_ptr()) })
        .map(drop)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                not_found()
            } else {
                e
            }
        })
}

/// Removes named objects of this library whose creator is dead: their name starts with
/// `prefix`, their header magic is one of `magics`, [`FLAG_PERSIST`] is not set, and the
/// creating process (pid and start time) no longer exists. Objects of other programs, and ones
/// this user may not open, are left alone. Returns the names removed.
///
/// # Errors
///
/// Only if `/dev/shm` cannot be listed; objects that cannot be inspected are skipped.
pub fn sweep_stale(magics: &[u64], prefix: &str) -> io::Result<Vec<String>> {
    use std::os::unix::fs::FileExt;
    fn field<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
        buf[at..at + N].try_into().expect("field inside the header")
    }
    let mut removed = Vec::new();
    for entry in std::fs::read_dir("/dev/shm")? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with(prefix) || validate_name(&name).is_err() {
            continue;
        }
        let Ok(path) = shm_path(&name) else { continue };
        // SAFETY: valid C string; a read-only, non-following, non-blocking open.
        let fd = unsafe {
            libc::shm_open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
                0,
            )
        };
        if fd == -1 {
            continue;
        }
        // SAFETY: fresh fd from shm_open.
        let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let Ok(meta) = f.metadata() else { continue };
        if !meta.file_type().is_file() || meta.len() < HEADER_LEN as u64 {
            continue;
        }
        let mut buf = [0u8; HEADER_LEN];
        if f.read_exact_at(&mut buf, 0).is_err() {
            continue;
        }
        let magic = u64::from_ne_bytes(field(&buf, std::mem::offset_of!(Header, magic)));
        if !magics.contains(&magic) {
            continue;
        }
        let creator = Creator {
            pid: i32::from_ne_bytes(field(&buf, std::mem::offset_of!(Header, creator_pid))),
            start_time: u64::from_ne_bytes(field(
                &buf,
                std::mem::offset_of!(Header, creator_start),
            )),
            flags: u32::from_ne_bytes(field(&buf, std::mem::offset_of!(Header, flags))),
            pidns: u64::from_ne_bytes(field(&buf, std::mem::offset_of!(Header, creator_pidns))),
        };
        if creator.flags & FLAG_PERSIST != 0 || creator.pid <= 0 || creator_alive(&creator) {
            continue;
        }
        if unlink_if_same(&name, meta.dev(), meta.ino()).is_ok() {
            removed.push(name);
        }
    }
    Ok(removed)
}

impl Drop for SharedBlock {
    fn drop(&mut self) {
        if self.unlink_on_drop && self.is_creator() {
            let _ = self.unlink();
        }
        if robust::held_in_range(self.ptr.as_ptr() as usize, self.size) {
            // A guard of a lock in here was leaked (mem::forget): the kernel's robust list and
            // this thread's shadow still point into the mapping. Keep it mapped forever rather
            // than let them point at whatever gets mapped here next.
            return;
        }
        // SAFETY: `ptr`/`size` are exactly what mmap returned; no lock inside is held, and no
        // reference into the mapping outlives `self` (they all borrow it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.size) };
    }
}
