//! The bench peers' system calls: a shared anonymous region, CPU pinning, a raw futex mutex
//! and a pthread process-shared mutex (plain and robust), raw shared-memory rings (one
//! producer and one consumer; many of each) and raw POSIX message queues, written here as
//! the baselines.

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

/// Asks the kernel to SIGKILL the calling (forked) process when the thread that forked it
/// ends, so a bench that aborts (a watchdog) leaves no peer behind; `parent` is the forking
/// process's pid, read before the fork: if it is already gone, the process exits at once.
pub fn die_with_parent(parent: u32) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } as u32 != parent {
        // SAFETY: ends this forked process without running anything copied from the parent.
        unsafe { libc::_exit(1) };
    }
}

/// The size of every message of the raw rings.
pub const RING_MESSAGE: usize = 64;

/// How the raw rings wait for room or data: a short spin, then `sched_yield` between looks,
/// so a waiter that shares its core with the process it waits for gives the core away instead
/// of holding it for a whole time slice (W4b runs four processes on two cores).
#[derive(Debug, Default)]
struct Relax(u32);

impl Relax {
    const SPINS: u32 = 64;

    fn relax(&mut self) {
        if self.0 < Self::SPINS {
            self.0 += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// A raw single-producer, single-consumer ring of 64-byte slots in an anonymous shared
/// mapping (inherited across fork): the consumer's position and the producer's position on
/// cache lines of their own, each side keeping the other's last-seen position in private
/// memory, and no system call unless a side waits longer than a short spin. The baseline of
/// the queue benches: as fast as a ring between two processes gets, with none of a queue's
/// duties (many producers, framing, any size, robustness, sleeping).
#[derive(Debug)]
pub struct SpscRing {
    region: SharedRegion,
    slots: u64,
}

/// Where the raw rings keep their positions and slots: each position on a line of its own
/// (two lines apart, out of reach of the adjacent-line prefetcher), then the slots.
const RING_FIRST: usize = 0;
const RING_SECOND: usize = 128;
const RING_SLOTS: usize = 256;

impl SpscRing {
    /// A ring of `slots` 64-byte slots (a power of two).
    ///
    /// # Panics
    ///
    /// If `slots` is not a power of two, or mmap fails.
    pub fn new(slots: usize) -> SpscRing {
        assert!(slots.is_power_of_two());
        SpscRing {
            region: SharedRegion::new(RING_SLOTS + slots * RING_MESSAGE),
            slots: slots as u64,
        }
    }

    /// The consumer's position (messages taken).
    fn head(&self) -> &AtomicU64 {
        self.region.atomic_u64(RING_FIRST)
    }

    /// The producer's position (messages published).
    fn tail(&self) -> &AtomicU64 {
        self.region.atomic_u64(RING_SECOND)
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        self.region
            .ptr(RING_SLOTS + (pos & (self.slots - 1)) as usize * RING_MESSAGE)
    }

    /// The producing end.
    ///
    /// # Safety
    ///
    /// At most one producing end of this ring may be in use at a time, across every process
    /// that shares it (a fork copies the handle: only one of the copies may send).
    pub unsafe fn sender(&self) -> SpscSender<'_> {
        SpscSender {
            ring: self,
            tail: self.tail().load(Ordering::Relaxed),
            head: self.head().load(Ordering::Acquire),
        }
    }

    /// The consuming end.
    ///
    /// # Safety
    ///
    /// At most one consuming end of this ring may be in use at a time, across every process
    /// that shares it.
    pub unsafe fn receiver(&self) -> SpscReceiver<'_> {
        SpscReceiver {
            ring: self,
            head: self.head().load(Ordering::Relaxed),
            tail: self.tail().load(Ordering::Acquire),
        }
    }
}

/// The producing end of an [`SpscRing`].
#[derive(Debug)]
pub struct SpscSender<'a> {
    ring: &'a SpscRing,
    /// Our position.
    tail: u64,
    /// The consumer's position as last seen.
    head: u64,
}

impl SpscSender<'_> {
    /// Copies a 64-byte message into the next slot, waiting (spinning) while the ring is full.
    ///
    /// # Panics
    ///
    /// If `msg` is not 64 bytes long.
    #[inline]
    pub fn send(&mut self, msg: &[u8]) {
        assert_eq!(msg.len(), RING_MESSAGE);
        if self.tail - self.head == self.ring.slots {
            let mut relax = Relax::default();
            loop {
                self.head = self.ring.head().load(Ordering::Acquire);
                if self.tail - self.head < self.ring.slots {
                    break;
                }
                relax.relax();
            }
        }
        // SAFETY: the slot at `tail` is in bounds and free: the consumer has taken every
        // message up to `head`, and `tail - head < slots`; until `tail` is published no other
        // process touches it (one producer, by `sender`'s contract). `msg` is 64 bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), self.ring.slot(self.tail), RING_MESSAGE)
        };
        self.tail += 1;
        self.ring.tail().store(self.tail, Ordering::Release);
    }
}

/// The consuming end of an [`SpscRing`].
#[derive(Debug)]
pub struct SpscReceiver<'a> {
    ring: &'a SpscRing,
    /// Our position.
    head: u64,
    /// The producer's position as last seen.
    tail: u64,
}

impl SpscReceiver<'_> {
    /// Copies the next message out into `out`, waiting (spinning) while the ring is empty.
    #[inline]
    pub fn recv(&mut self, out: &mut [u8; RING_MESSAGE]) {
        if self.head == self.tail {
            let mut relax = Relax::default();
            loop {
                self.tail = self.ring.tail().load(Ordering::Acquire);
                if self.head != self.tail {
                    break;
                }
                relax.relax();
            }
        }
        // SAFETY: the slot at `head` is in bounds and holds a published message (`head <
        // tail`, acquired above); the producer does not touch it until `head` moves past it,
        // and no other consumer exists (`receiver`'s contract).
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring.slot(self.head), out.as_mut_ptr(), RING_MESSAGE)
        };
        self.head += 1;
        self.ring.head().store(self.head, Ordering::Release);
    }
}

/// A raw bounded ring for many producers and many consumers in an anonymous shared mapping:
/// Dmitry Vyukov's bounded MPMC queue. Each cell has a sequence word (on its own line) and a
/// 64-byte slot (the next line); a producer claims a position with a compare-exchange on the
/// shared enqueue position, copies its message in and publishes the cell's sequence; a
/// consumer does the same on the dequeue position. Waiting is a short spin, then
/// `sched_yield`. No robustness: a process killed between claiming and publishing stalls the
/// ring for good.
#[derive(Debug)]
pub struct MpmcRing {
    region: SharedRegion,
    slots: u64,
}

/// Bytes per cell of an [`MpmcRing`]: the sequence word's line, then the slot's.
const CELL: usize = 128;

impl MpmcRing {
    /// A ring of `slots` cells (a power of two).
    ///
    /// # Panics
    ///
    /// If `slots` is not a power of two, or mmap fails.
    pub fn new(slots: usize) -> MpmcRing {
        assert!(slots.is_power_of_two());
        let ring = MpmcRing {
            region: SharedRegion::new(RING_SLOTS + slots * CELL),
            slots: slots as u64,
        };
        for i in 0..ring.slots {
            ring.sequence(i).store(i, Ordering::Relaxed);
        }
        ring
    }

    fn enqueue_pos(&self) -> &AtomicU64 {
        self.region.atomic_u64(RING_FIRST)
    }

    fn dequeue_pos(&self) -> &AtomicU64 {
        self.region.atomic_u64(RING_SECOND)
    }

    fn cell(&self, pos: u64) -> usize {
        RING_SLOTS + (pos & (self.slots - 1)) as usize * CELL
    }

    fn sequence(&self, pos: u64) -> &AtomicU64 {
        self.region.atomic_u64(self.cell(pos))
    }

    fn slot(&self, pos: u64) -> *mut u8 {
        self.region.ptr(self.cell(pos) + 64)
    }

    /// Claims the next cell for a producer (`lag` 0, from `enqueue_pos`) or a consumer (`lag`
    /// 1, from `dequeue_pos`): waits while the cell's sequence is behind (full for a producer:
    /// it still holds the previous lap's message; empty for a consumer: not published yet),
    /// then takes the position with a compare-exchange.
    fn claim(&self, next: &AtomicU64, lag: i64) -> u64 {
        let mut relax = Relax::default();
        let mut pos = next.load(Ordering::Relaxed);
        loop {
            let seq = self.sequence(pos).load(Ordering::Acquire);
            match (seq as i64).wrapping_sub(pos as i64 + lag) {
                0 => match next.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return pos,
                    Err(now) => pos = now,
                },
                d if d < 0 => {
                    relax.relax();
                    pos = next.load(Ordering::Relaxed);
                }
                _ => pos = next.load(Ordering::Relaxed),
            }
        }
    }

    /// Copies a 64-byte message in, waiting while the ring is full.
    ///
    /// # Panics
    ///
    /// If `msg` is not 64 bytes long.
    pub fn send(&self, msg: &[u8]) {
        assert_eq!(msg.len(), RING_MESSAGE);
        let pos = self.claim(self.enqueue_pos(), 0);
        // SAFETY: the compare-exchange gave this producer the cell at `pos` alone, and its
        // sequence (acquired) says the consumer of the previous lap is done with it; nobody
        // reads it before the sequence below is published. In bounds; `msg` is 64 bytes.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot(pos), RING_MESSAGE) };
        self.sequence(pos).store(pos + 1, Ordering::Release);
    }

    /// Copies the next message out into `out`, waiting while the ring is empty.
    pub fn recv(&self, out: &mut [u8; RING_MESSAGE]) {
        let pos = self.claim(self.dequeue_pos(), 1);
        // SAFETY: the compare-exchange gave this consumer the cell at `pos` alone, and its
        // sequence (acquired) says its message is published; no producer writes it before the
        // sequence below frees it for the next lap. In bounds; `out` is 64 bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.slot(pos), out.as_mut_ptr(), RING_MESSAGE) };
        self.sequence(pos)
            .store(pos + self.slots, Ordering::Release);
    }
}

/// A kernel POSIX message queue used raw (`mq_open`, blocking `mq_send` and `mq_receive`):
/// the baseline of the POSIX rows. Its name is removed as soon as it is created, so nothing
/// is left behind; forked processes share the open descriptor.
#[derive(Debug)]
pub struct RawMq {
    mqd: libc::mqd_t,
}

// SAFETY: a message queue descriptor is a plain fd; mq_send and mq_receive may be called on it
// from any thread.
unsafe impl Sync for RawMq {}
// SAFETY: as above.
unsafe impl Send for RawMq {}

impl RawMq {
    /// Creates an anonymous-in-effect queue of `capacity` messages of up to `message_size`
    /// bytes: created with `O_CREAT | O_EXCL` and mode 0600 under a unique name
    /// (`/multiproc-bench-<pid>-<n>`), which is unlinked at once.
    ///
    /// # Errors
    ///
    /// The OS error of `mq_open` (for instance `EINVAL` above `/proc/sys/fs/mqueue/msg_max`)
    /// or `mq_unlink`.
    pub fn new(capacity: usize, message_size: usize) -> std::io::Result<RawMq> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "/multiproc-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let name = std::ffi::CString::new(name).expect("no NUL");
        // SAFETY: a zeroed mq_attr is valid; the fields used are set below.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = capacity as libc::c_long;
        attr.mq_msgsize = message_size as libc::c_long;
        // SAFETY: `name` is a NUL-terminated string and `attr` a valid mq_attr, both alive for
        // the call; with O_CREAT, mq_open reads a mode_t and an attribute pointer.
        let mqd = unsafe {
            libc::mq_open(
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
                &attr as *const libc::mq_attr,
            )
        };
        if mqd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mq = RawMq { mqd };
        // SAFETY: `name` is a NUL-terminated string alive for the call.
        if unsafe { libc::mq_unlink(name.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(mq)
    }

    /// Sends `msg` with priority 0, blocking while the queue is full.
    ///
    /// # Panics
    ///
    /// If `mq_send` fails (other than being interrupted).
    pub fn send(&self, msg: &[u8]) {
        loop {
            // SAFETY: `msg` is valid for reads of its length for the call.
            let rc = unsafe { libc::mq_send(self.mqd, msg.as_ptr().cast(), msg.len(), 0) };
            if rc == 0 {
                return;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "mq_send: {e}");
        }
    }

    /// Receives the next message into `buf` (at least the queue's message size), blocking
    /// while the queue is empty; returns its length.
    ///
    /// # Panics
    ///
    /// If `mq_receive` fails (other than being interrupted).
    pub fn receive(&self, buf: &mut [u8]) -> usize {
        loop {
            // SAFETY: `buf` is valid for writes of its length for the call; a null priority
            // pointer is allowed.
            let n = unsafe {
                libc::mq_receive(
                    self.mqd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                return n as usize;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "mq_receive: {e}");
        }
    }
}

impl Drop for RawMq {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// W8's floor: `fork`, the child `_exit(0)`s at once, the parent `waitpid`s for it.
///
/// # Panics
///
/// If `fork` fails or the child does not exit with 0.
pub fn fork_waitpid_empty() {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child by pid; `status` is a valid out-pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}
