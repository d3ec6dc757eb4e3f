//! The bench peers' system calls: a shared anonymous region, CPU pinning, a raw futex mutex
//! and a pthread process-shared mutex (plain and robust), written here as the baselines.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// An anonymous `MAP_SHARED` region, inherited by forked workers.
#[derive(Debug)]
pub struct SharedRegion {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the region is plain shared memory accessed through atomics or by the peers below,
// which synchronise themselves.
unsafe impl Sync for SharedRegion {}
// SAFETY: as above; the pointer is a mapping owned by this value.
unsafe impl Send for SharedRegion {}

impl SharedRegion {
    /// Maps `len` zeroed bytes.
    ///
    /// # Panics
    ///
    /// If mmap fails.
    pub fn new(len: usize) -> SharedRegion {
        // SAFETY: a fresh anonymous mapping; affects no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        SharedRegion { ptr: p.cast(), len }
    }

    /// The `AtomicU32` at `offset`.
    pub fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(offset + 4 <= self.len && offset.is_multiple_of(4));
        // SAFETY: in bounds, aligned, alive as long as `self`; any bits are valid.
        unsafe { &*self.ptr.add(offset).cast() }
    }

    /// The `AtomicU64` at `offset`.
    pub fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        assert!(offset + 8 <= self.len && offset.is_multiple_of(8));
        // SAFETY: as above.
        unsafe { &*self.ptr.add(offset).cast() }
    }

    /// A raw pointer to `offset`.
    pub fn ptr(&self, offset: usize) -> *mut u8 {
        assert!(offset < self.len);
        // SAFETY: in bounds.
        unsafe { self.ptr.add(offset) }
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; no references outlive `self`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Pins the calling thread to one CPU (best effort).
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes inside it; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn futex(word: &AtomicU32, op: i32, val: u32) {
    // SAFETY: a futex op on a live, aligned word; shared (not private) on purpose.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

/// The baseline: Drepper's futex mutex ("Futexes are tricky", mutex 2) with a short spin,
/// over a counter, in a shared region. No robustness, no owner, no timeout.
#[derive(Debug)]
pub struct FutexCounter {
    region: SharedRegion,
}

impl FutexCounter {
    /// A fresh lock and counter.
    pub fn new() -> Self {
        FutexCounter {
            region: SharedRegion::new(4096),
        }
    }

    fn word(&self) -> &AtomicU32 {
        self.region.atomic_u32(0)
    }

    /// Locks, increments the counter with a plain read-modify-write, unlocks.
    #[inline]
    pub fn increment(&self) {
        let w = self.word();
        if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        // SAFETY: the lock is held; the counter is only touched under it.
        unsafe { *self.region.ptr(8).cast::<u64>() += 1 };
        if w.swap(0, Ordering::Release) == 2 {
            futex(w, libc::FUTEX_WAKE, 1);
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let w = self.word();
        for _ in 0..100 {
            std::hint::spin_loop();
            if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
        while w.swap(2, Ordering::Acquire) != 0 {
            futex(w, libc::FUTEX_WAIT, 2);
        }
    }

    /// The counter.
    pub fn get(&self) -> u64 {
        self.region.atomic_u64(8).load(Ordering::Acquire)
    }

    /// Locks and unlocks without touching the counter.
    #[inline]
    pub fn lock_unlock(&self) {
        let w = self.word();
        if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        if w.swap(0, Ordering::Release) == 2 {
            futex(w, libc::FUTEX_WAKE, 1);
        }
    }
}

impl Default for FutexCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// A `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` (optionally `PTHREAD_MUTEX_ROBUST`) over a
/// counter, in a shared region.
#[derive(Debug)]
pub struct PthreadCounter {
    region: SharedRegion,
}

const COUNTER_AT: usize = 128;

impl PthreadCounter {
    /// A fresh mutex and counter.
    ///
    /// # Panics
    ///
    /// If the mutex cannot be initialised.
    pub fn new(robust: bool) -> Self {
        let region = SharedRegion::new(4096);
        // SAFETY: attr is initialised before use and destroyed after; the mutex lives in the
        // shared region, which outlives every use; nothing else uses it yet.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            assert_eq!(libc::pthread_mutexattr_init(&mut attr), 0);
            assert_eq!(
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
                0
            );
            if robust {
                assert_eq!(
                    libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST),
                    0
                );
            }
            assert_eq!(libc::pthread_mutex_init(region.ptr(0).cast(), &attr), 0);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
        PthreadCounter { region }
    }

    /// Locks, increments the counter with a plain read-modify-write, unlocks.
    #[inline]
    pub fn increment(&self) {
        let m = self.region.ptr(0).cast::<libc::pthread_mutex_t>();
        // SAFETY: an initialised process-shared mutex; the counter is only touched under it.
        unsafe {
            libc::pthread_mutex_lock(m);
            *self.region.ptr(COUNTER_AT).cast::<u64>() += 1;
            libc::pthread_mutex_unlock(m);
        }
    }

    /// The counter.
    pub fn get(&self) -> u64 {
        self.region.atomic_u64(COUNTER_AT).load(Ordering::Acquire)
    }

    /// Locks and unlocks without touching the counter.
    #[inline]
    pub fn lock_unlock(&self) {
        let m = self.region.ptr(0).cast::<libc::pthread_mutex_t>();
        // SAFETY: an initialised process-shared mutex.
        unsafe {
            libc::pthread_mutex_lock(m);
            libc::pthread_mutex_unlock(m);
        }
    }
}

/// raw_sync's process-shared mutex over a counter (the peer to beat).
pub struct RawSyncCounter {
    region: SharedRegion,
    lock: Box<dyn raw_sync::locks::LockImpl>,
}

// SAFETY: the lock object only holds pointers into the shared region, which is Sync.
unsafe impl Sync for RawSyncCounter {}

impl std::fmt::Debug for RawSyncCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSyncCounter").finish_non_exhaustive()
    }
}

impl RawSyncCounter {
    /// A fresh raw_sync mutex and counter.
    ///
    /// # Panics
    ///
    /// If raw_sync fails to create the mutex.
    pub fn new() -> Self {
        let region = SharedRegion::new(4096);
        // SAFETY: both pointers are inside the shared region, which outlives the lock.
        use raw_sync::locks::LockInit;
        let (mem, data) = (region.ptr(0), region.ptr(COUNTER_AT));
        // SAFETY: both pointers are inside the shared region, which outlives the lock.
        let (lock, _) = unsafe { raw_sync::locks::Mutex::new(mem, data) }.expect("raw_sync mutex");
        RawSyncCounter { region, lock }
    }

    /// Locks and unlocks without touching the counter.
    #[inline]
    pub fn lock_unlock(&self) {
        drop(self.lock.lock().expect("raw_sync lock"));
    }

    /// Locks, increments, unlocks.
    #[inline]
    pub fn increment(&self) {
        let guard = self.lock.lock().expect("raw_sync lock");
        // SAFETY: raw_sync hands out the data pointer while the lock is held.
        unsafe { *(*guard).cast::<u64>() += 1 };
    }

    /// The counter.
    pub fn get(&self) -> u64 {
        self.region.atomic_u64(COUNTER_AT).load(Ordering::Acquire)
    }
}

impl Default for RawSyncCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// Sums a segment's bytes as 8-byte words (wrapping), reading it in place.
///
/// Only for segments no process writes any more: the W10 bench calls it after the writing
/// child has exited.
pub fn sum_quiescent_segment(seg: &multiproc_shm::SharedMemory) -> u64 {
    // SAFETY: the caller guarantees no process writes the segment while this runs (the
    // contract of `SharedMemory::as_slice`).
    let bytes = unsafe { seg.as_slice() };
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .fold(0u64, u64::wrapping_add)
}

/// Where the raw signal handler counts (set before installing it).
static RAW_TARGET: std::sync::atomic::AtomicPtr<AtomicU64> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
/// The self-pipe's write end for the raw self-pipe handler.
static PIPE_WRITE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn raw_counting_handler(_: libc::c_int) {
    let p = RAW_TARGET.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: set by `install_raw_counter` to a counter in a mapping that outlives the
        // process's use of it; an atomic increment is async-signal-safe.
        unsafe { (*p).fetch_add(1, Ordering::Release) };
    }
}

extern "C" fn raw_pipe_handler(_: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    let byte = 1u8;
    // SAFETY: write(2) is async-signal-safe; `byte` lives for the call. A full pipe just drops
    // the byte (the reader already has one to wake on).
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction is valid; the handler is an extern "C" fn that only does
    // async-signal-safe work; SA_RESTART keeps the main loop's reads going.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

/// Baseline: a raw `sigaction` handler that increments `counter` inside signal context.
/// `counter` must stay mapped for the rest of the process (the bench child never returns).
pub fn install_raw_counter(sig: libc::c_int, counter: &AtomicU64) {
    RAW_TARGET.store(
        counter as *const AtomicU64 as *mut AtomicU64,
        Ordering::Release,
    );
    install(sig, raw_counting_handler);
}

/// Baseline: a raw `sigaction` handler writing to a self-pipe; returns the read end, which a
/// loop outside signal context reads (the classic self-pipe trick).
pub fn install_self_pipe(sig: libc::c_int) -> std::fs::File {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    PIPE_WRITE.store(fds[1], Ordering::Relaxed);
    install(sig, raw_pipe_handler);
    // SAFETY: a fresh fd from pipe2 that nothing else owns.
    unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) }
}

/// A raw_sync event (`Event`: pthread mutex + condvar; `BusyEvent`: spinning) in a shared
/// region, auto-reset.
pub struct RawSyncEvent {
    _region: SharedRegion,
    event: Box<dyn raw_sync::events::EventImpl>,
}

// SAFETY: the event object only holds pointers into its own shared region.
unsafe impl Sync for RawSyncEvent {}

impl std::fmt::Debug for RawSyncEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSyncEvent").finish_non_exhaustive()
    }
}

impl RawSyncEvent {
    /// A fresh auto-reset event; `busy` picks raw_sync's spinning `BusyEvent`.
    ///
    /// # Panics
    ///
    /// If raw_sync fails to create it.
    pub fn new(busy: bool) -> Self {
        use raw_sync::events::{BusyEvent, Event, EventInit};
        let region = SharedRegion::new(4096);
        let mem = region.ptr(0);
        // SAFETY: `mem` points at 4 KiB of zeroed shared memory owned by `region`, which lives
        // as long as the event.
        let (event, _) = unsafe {
            if busy {
                BusyEvent::new(mem, true)
            } else {
                Event::new(mem, true)
            }
        }
        .expect("raw_sync event");
        RawSyncEvent {
            _region: region,
            event,
        }
    }

    /// Signals the event.
    pub fn set(&self) {
        self.event
            .set(raw_sync::events::EventState::Signaled)
            .expect("raw_sync set");
    }

    /// Waits for the event (and resets it).
    pub fn wait(&self) {
        self.event
            .wait(raw_sync::Timeout::Infinite)
            .expect("raw_sync wait");
    }
}

/// An eventfd (semaphore mode), inherited across fork.
pub fn eventfd() -> std::fs::File {
    // SAFETY: eventfd returns a new fd or -1; no memory is involved.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_SEMAPHORE) };
    assert!(fd >= 0, "eventfd");
    // SAFETY: a fresh fd that nothing else owns.
    unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) }
}
