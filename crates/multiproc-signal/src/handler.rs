//! Handlers: signals received as ordinary Rust values (an iterator, a thread running a
//! closure, a counter), and the `unsafe` raw handler.

use crate::disposition::{check_for_handler, mark_registered};
use crate::{sys, Signal, SignalError};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Signals delivered to this process, received as values in ordinary code, outside signal
/// context (built on signal-hook's self-pipe iterator).
///
/// While a `Signals` (or any other handler of this crate) exists for a signal, the signal no
/// longer has its default action: SIGTERM does not terminate, it is reported here.
///
/// **Coalescing.** The kernel keeps at most one pending instance of each standard signal, and
/// the iterator reports each signal at most once per wake-up: a burst of N sends is seen at
/// least once, not N times. Real-time signals ([`Signal::Realtime`]) are queued by the kernel;
/// count them exactly with [`SignalCounter`].
///
/// # Examples
///
/// ```
/// use multiproc_signal::{raise, Signal, Signals};
///
/// let mut signals = Signals::new([Signal::Usr1, Signal::Term])?;
/// raise(Signal::Usr1)?;
/// assert_eq!(signals.pending().collect::<Vec<_>>(), vec![Signal::Usr1]);
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
pub struct Signals {
    inner: signal_hook::iterator::Signals,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals").finish_non_exhaustive()
    }
}

/// Checks every signal before anything is registered: a bad one must not leave the good ones
/// half-installed.
fn checked(sigs: impl IntoIterator<Item = Signal>) -> Result<Vec<i32>, SignalError> {
    sigs.into_iter().map(check_for_handler).collect()
}

/// Marks `raws` as registered whatever the outcome of `register`: even a failed registration
/// may have installed signal-hook's handler for some of them.
fn registering<T>(
    raws: &[i32],
    register: impl FnOnce() -> Result<T, SignalError>,
) -> Result<T, SignalError> {
    let r = register();
    mark_registered(raws);
    r
}

fn to_signals(raw: impl Iterator<Item = i32>) -> impl Iterator<Item = Signal> {
    raw.filter_map(|n| Signal::from_raw(n).ok())
}

impl Signals {
    /// Starts receiving `sigs`.
    ///
    /// # Errors
    ///
    /// [`SignalError::Uncatchable`] for SIGKILL/SIGSTOP, [`SignalError::Fault`] for
    /// SIGSEGV/SIGBUS/SIGILL/SIGFPE, [`SignalError::Io`].
    pub fn new(sigs: impl IntoIterator<Item = Signal>) -> Result<Signals, SignalError> {
        let raw = checked(sigs)?;
        let inner = registering(&raw, || Ok(signal_hook::iterator::Signals::new(&raw)?))?;
        Ok(Signals { inner })
    }

    /// Starts receiving `sig` too.
    ///
    /// # Errors
    ///
    /// As [`Signals::new`].
    pub fn add(&self, sig: Signal) -> Result<(), SignalError> {
        let raw = check_for_handler(sig)?;
        registering(&[raw], || Ok(self.inner.add_signal(raw)?))
    }

    /// The signals that arrived since the last call, without blocking.
    pub fn pending(&mut self) -> impl Iterator<Item = Signal> + '_ {
        to_signals(self.inner.pending())
    }

    /// Blocks until something arrived (or the handle was closed), then returns the signals
    /// that did — possibly none, on a spurious wake-up.
    pub fn wait(&mut self) -> impl Iterator<Item = Signal> + '_ {
        to_signals(self.inner.wait())
    }

    /// Every signal as it arrives, blocking in between; ends when the handle is closed.
    pub fn forever(&mut self) -> impl Iterator<Item = Signal> + '_ {
        to_signals(self.inner.forever())
    }

    /// A handle that closes the iterator from another thread.
    pub fn handle(&self) -> SignalsHandle {
        SignalsHandle(self.inner.handle())
    }
}

/// Closes a [`Signals`] from anywhere: its `wait` and `forever` end. The signals stay caught
/// (and recorded) until the `Signals` itself is dropped.
#[derive(Debug, Clone)]
pub struct SignalsHandle(signal_hook::iterator::Handle);

impl SignalsHandle {
    /// Closes the iterator: `wait` and `forever` return.
    pub fn close(&self) {
        self.0.close();
    }

    /// Whether it was closed.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Runs `handler` in a dedicated thread for every signal of `sigs` that arrives: a handler in
/// ordinary Rust (it may lock, allocate, print). Coalescing as for [`Signals`].
///
/// The thread makes this process multi-threaded: forking it afterwards is subject to the
/// usual hazard (only the forking thread exists in the child, where the handler thread is
/// gone; dropping the inherited `HandlerThread` there does not wait for it). A call of
/// `handler` that panics is reported (by the panic hook) and the thread goes on with the next
/// signal.
///
/// # Errors
///
/// As [`Signals::new`]; [`SignalError::Io`] if the thread cannot be spawned.
///
/// # Examples
///
/// ```
/// use multiproc_signal::{raise, spawn_handler, Signal};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let handler = spawn_handler([Signal::Usr2], move |sig| tx.send(sig).unwrap())?;
/// raise(Signal::Usr2)?;
/// assert_eq!(rx.recv().unwrap(), Signal::Usr2);
/// handler.stop();
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
pub fn spawn_handler(
    sigs: impl IntoIterator<Item = Signal>,
    mut handler: impl FnMut(Signal) + Send + 'static,
) -> Result<HandlerThread, SignalError> {
    let mut signals = Signals::new(sigs)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("multiproc-signal".into())
        .spawn(move || {
            for sig in signals.forever() {
                // A panicking handler must not stop signals being handled.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(sig)));
            }
        })?;
    Ok(HandlerThread {
        handle,
        thread: Some(thread),
        pid: std::process::id(),
    })
}

/// The thread of [`spawn_handler`]. Dropping it (or [`stop`](HandlerThread::stop)) stops
/// receiving and joins the thread.
#[derive(Debug)]
pub struct HandlerThread {
    handle: SignalsHandle,
    thread: Option<JoinHandle<()>>,
    /// The process the thread runs in: a forked child has no such thread to join.
    pid: u32,
}

impl HandlerThread {
    /// Stops receiving and waits for the thread (and a handler call in progress) to end.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            if self.pid == std::process::id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for HandlerThread {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Counts the deliveries of one signal, from inside the signal handler (an atomic increment):
/// the exact number for real-time signals, which the kernel queues; for standard signals,
/// the number of deliveries after the kernel merged repeats that were pending together.
///
/// # Examples
///
/// ```
/// use multiproc_signal::{raise, Signal, SignalCounter};
///
/// let rt = SignalCounter::new(Signal::Realtime(1))?;
/// for _ in 0..3 {
///     raise(Signal::Realtime(1))?;
/// }
/// assert_eq!(rt.count(), 3);
/// # Ok::<(), multiproc_signal::SignalError>(())
/// ```
#[derive(Debug)]
pub struct SignalCounter {
    count: Arc<AtomicU64>,
    id: signal_hook::SigId,
}

impl SignalCounter {
    /// Starts counting `sig`.
    ///
    /// # Errors
    ///
    /// As [`Signals::new`].
    pub fn new(sig: Signal) -> Result<SignalCounter, SignalError> {
        let raw = check_for_handler(sig)?;
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        let id = registering(&[raw], || {
            // SAFETY: the action is one atomic increment: async-signal-safe, cannot panic.
            unsafe {
                sys::register(raw, move || {
                    c.fetch_add(1, Ordering::SeqCst);
                })
            }
        })?;
        Ok(SignalCounter { count, id })
    }

    /// Deliveries so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for SignalCounter {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

/// A raw handler from [`register_raw`]; dropping it unregisters the action.
#[derive(Debug)]
pub struct RawHandler {
    id: signal_hook::SigId,
}

impl Drop for RawHandler {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

/// Registers `action` to run **inside the signal handler** for `sig`, in whatever thread the
/// kernel interrupts, at any instruction.
///
/// # Safety
///
/// `action` must be async-signal-safe:
/// - call only async-signal-safe functions (`signal-safety(7)`): `write`, `_exit`, `kill`, …
///   — not `println!`, not allocation, not `Mutex::lock`, nothing that may take a lock the
///   interrupted code holds;
/// - touch shared state only through atomics (lock-free ones);
/// - never panic (unwinding out of a signal handler is undefined behaviour).
///
/// (signal-hook saves and restores `errno` around it.)
///
/// Prefer [`Signals`], [`spawn_handler`] or [`SignalCounter`], which have none of these rules.
///
/// # Errors
///
/// As [`Signals::new`].
#[doc(alias = "sigaction")]
pub unsafe fn register_raw(
    sig: Signal,
    action: impl Fn() + Send + Sync + 'static,
) -> Result<RawHandler, SignalError> {
    let raw = check_for_handler(sig)?;
    // SAFETY: forwarded to the caller's contract above.
    let id = registering(&[raw], || unsafe { sys::register(raw, action) })?;
    Ok(RawHandler { id })
}
