//! Handles that travel inside typed messages.
//!
//! A shared object (a `Value`, a `Lock`, …) or a connection end is a file descriptor. When a
//! message holding one is sent over a multiproc connection, the fd travels beside the bytes
//! (`SCM_RIGHTS`) and the encoded message holds only its place: a tag naming the kind of
//! handle and an index into the fds that came with the message. The receiver rebuilds the
//! handle from the fd, after checking that the tag is the one asked for and that the fd really
//! is such an object.
//!
//! The connection sets up the bookkeeping around encoding ([`collect`]) and decoding
//! ([`provide`]); a [`Transfer`] type's `Serialize`/`Deserialize` ([`serialize`],
//! [`deserialize`], or the [`serde_via_transfer!`](crate::serde_via_transfer) macro) find it
//! there. Outside a connection's send or receive, encoding a handle is an error: its fd means
//! nothing as bytes.
//!
//! Everything about the received side is untrusted: an index out of range, an fd used twice, a
//! tag of another kind, an fd that is not what it claims — each is a decoding error, never a
//! panic, and fds nobody claimed are closed.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use serde;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A handle that can travel inside a typed message over a multiproc connection.
///
/// Implemented by the shared objects of the multiproc crates (shm, sync, semaphore) and by the
/// connection ends; implement it for a handle type of your own and give the type
/// `Serialize`/`Deserialize` through [`serialize`] and [`deserialize`] (or a field attribute
/// `#[serde(with = "multiproc_pipe::transfer")]`).
pub trait Transfer: Sized {
    /// Names the kind of handle on the wire: a receiver asking for another kind gets a
    /// decoding error, not a misread fd. Eight bytes, conventionally ASCII padded with NULs.
    const TAG: [u8; 8];

    /// Whether sending gives the handle away (a connection end: there must never be two
    /// readers of one stream). Such a handle can only be encoded by a send by value (the
    /// connection's `send_owned`), and it must provide a [`moved_flag`](Transfer::moved_flag):
    /// whatever the value held it by (a reference, an `Arc`), the flag is set once the message
    /// has gone, and the handle must refuse to work from then on.
    const MOVES: bool = false;

    /// For a handle that moves: the flag the connection sets once a message holding the
    /// handle has gone (or partly gone). `None` for shared handles.
    fn moved_flag(&self) -> Option<Arc<AtomicBool>> {
        None
    }

    /// The fd that travels.
    ///
    /// # Errors
    ///
    /// When the handle cannot travel now (a connection end holding received bytes that have
    /// not been read yet); the message is then not sent.
    fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>>;

    /// Rebuilds the handle from a received fd.
    ///
    /// # Errors
    ///
    /// If the fd is not what the handle needs (`InvalidData`), or an OS error checking it.
    fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self>;

    /// For a handle made of several fds: those that travel after the first (at most
    /// [`MAX_EXTRA_FDS`]). None by default.
    ///
    /// # Errors
    ///
    /// As [`transfer_fd`](Transfer::transfer_fd).
    fn transfer_extra_fds(&self) -> io::Result<Vec<BorrowedFd<'_>>> {
        Ok(Vec::new())
    }

    /// Rebuilds the handle from the first fd and the `extra` ones that came after it. By
    /// default a handle has no extra fds: any is an error, else
    /// [`from_transfer_fd`](Transfer::from_transfer_fd).
    ///
    /// # Errors
    ///
    /// As [`from_transfer_fd`](Transfer::from_transfer_fd).
    fn from_transfer_fds(fd: OwnedFd, extra: Vec<OwnedFd>) -> io::Result<Self> {
        if !extra.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} extra fds for a handle of one fd", extra.len()),
            ));
        }
        Self::from_transfer_fd(fd)
    }
}

/// The most fds a handle sends after its first ([`Transfer::transfer_extra_fds`]).
pub const MAX_EXTRA_FDS: usize = 8;

/// Why a handle could not be encoded or decoded. Kept aside because serde formats (postcard
/// among them) drop the message of a custom error.
#[derive(Debug)]
pub struct TransferError(String);

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Outgoing {
    fds: Vec<OwnedFd>,
    moved: Vec<Arc<AtomicBool>>,
    moving: bool,
    error: Option<TransferError>,
}

struct Incoming {
    fds: Vec<Option<OwnedFd>>,
    error: Option<TransferError>,
}

thread_local! {
    static OUTGOING: RefCell<Option<Outgoing>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Incoming>> = const { RefCell::new(None) };
}

/// What encoding a message gathered: the fds to send with it, in index order (duplicates,
/// owned here: a handle the encoding made and dropped on the way cannot turn its fd number
/// into another file's), the flags of the handles that move, and why a handle could not be
/// encoded.
#[derive(Debug)]
pub struct Collected {
    /// The fds, to attach to the message in this order.
    pub fds: Vec<OwnedFd>,
    /// The moved flags of the handles that move, to set once the message has (even partly)
    /// gone.
    pub moved: Vec<Arc<AtomicBool>>,
    /// Set when a handle refused to be encoded; the encoder's own error then says little.
    pub error: Option<TransferError>,
}

impl Collected {
    /// Marks every moving handle of the message as gone.
    pub fn mark_moved(&self) {
        for flag in &self.moved {
            flag.store(true, Ordering::Release);
        }
    }
}

/// Puts back the state a `collect` or `provide` replaced, also when the encoding or decoding
/// panics (a stale state would hand its fds to a later, unrelated decode).
struct Restore<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    saved: Option<Option<T>>,
}

impl<T> Restore<T> {
    fn install(key: &'static std::thread::LocalKey<RefCell<Option<T>>>, fresh: T) -> Self {
        let saved = key.with(|c| c.borrow_mut().replace(fresh));
        Restore {
            key,
            saved: Some(saved),
        }
    }

    /// Takes out this call's state and puts the saved one back.
    fn finish(mut self) -> Option<T> {
        let saved = self.saved.take().flatten();
        self.key
            .with(|c| std::mem::replace(&mut *c.borrow_mut(), saved))
    }
}

impl<T> Drop for Restore<T> {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            // Unwinding: this call's state (and its fds) is dropped.
            let _ = self.key.try_with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    *c = saved;
                }
            });
        }
    }
}

/// Runs `encode` with handle collection on: every [`Transfer`] value it serializes adds its fd.
/// `moving`: the value is sent by value, so handles that move ([`Transfer::MOVES`]) may be
/// encoded.
pub fn collect<R>(moving: bool, encode: impl FnOnce() -> R) -> (R, Collected) {
    let fresh = Outgoing {
        fds: Vec::new(),
        moved: Vec::new(),
        moving,
        error: None,
    };
    let guard = Restore::install(&OUTGOING, fresh);
    let r = encode();
    let out = guard.finish().expect("the collection set up above");
    (
        r,
        Collected {
            fds: out.fds,
            moved: out.moved,
            error: out.error,
        },
    )
}

/// Runs `decode` with `fds` (those that came with the message) available to the [`Transfer`]
/// values it deserializes. Returns why a handle could not be decoded, if one could not; fds
/// nobody claimed are closed.
pub fn provide<R>(fds: Vec<OwnedFd>, decode: impl FnOnce() -> R) -> (R, Option<TransferError>) {
    let fresh = Incoming {
        fds: fds.into_iter().map(Some).collect(),
        error: None,
    };
    let guard = Restore::install(&INCOMING, fresh);
    let r = decode();
    let inc = guard.finish();
    (r, inc.and_then(|i| i.error))
}

/// The wire form of a handle: its kind, the index of its first fd, and how many more follow
/// that one.
#[derive(Serialize, Deserialize)]
struct Placeholder {
    tag: [u8; 8],
    index: u32,
    extra: u8,
}

/// A tag as text, for errors: printable ASCII kept, the rest escaped (tags from a peer are
/// untrusted).
fn show(tag: &[u8; 8]) -> String {
    let end = tag.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    tag[..end].escape_ascii().to_string()
}

fn fail_out(reason: String) -> TransferError {
    let e = TransferError(reason.clone());
    OUTGOING.with(|o| {
        if let Some(out) = o.borrow_mut().as_mut() {
            out.error.get_or_insert(TransferError(reason));
        }
    });
    e
}

fn fail_in(reason: String) -> TransferError {
    let e = TransferError(reason.clone());
    INCOMING.with(|i| {
        if let Some(inc) = i.borrow_mut().as_mut() {
            inc.error.get_or_insert(TransferError(reason));
        }
    });
    e
}

/// `Serialize` for a [`Transfer`] type: records its fd with the message being encoded.
///
/// # Errors
///
/// Outside a multiproc connection's send; a moving handle sent by reference; the handle's
/// [`Transfer::transfer_fd`] error.
pub fn serialize<T: Transfer, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error;
    let fail = |reason: String| S::Error::custom(fail_out(reason));
    // Short borrows only: `transfer_fd` may itself send on another connection.
    let moving = OUTGOING.with(|o| o.borrow().as_ref().map(|out| out.moving));
    match moving {
        None => {
            return Err(fail(format!(
                "a {} handle can only be encoded by a multiproc connection's send",
                show(&T::TAG)
            )))
        }
        Some(false) if T::MOVES => {
            return Err(fail(format!(
                "a {} moves to its receiver: send it by value with send_owned",
                show(&T::TAG)
            )))
        }
        Some(_) => {}
    }
    let fds = value
        .transfer_fd()
        .and_then(|fd| {
            let extra = value.transfer_extra_fds()?;
            if extra.len() > MAX_EXTRA_FDS {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} extra fds, over {MAX_EXTRA_FDS}", extra.len()),
                ));
            }
            std::iter::once(fd)
                .chain(extra)
                .map(|fd| fd.try_clone_to_owned())
                .collect::<io::Result<Vec<OwnedFd>>>()
        })
        .map_err(|e| fail(e.to_string()))?;
    let extra = (fds.len() - 1) as u8;
    let flag = value.moved_flag();
    if T::MOVES && flag.is_none() {
        return Err(fail(format!(
            "a {} moves but has no moved flag",
            show(&T::TAG)
        )));
    }
    let index = OUTGOING.with(|o| {
        let mut o = o.borrow_mut();
        let out = o.as_mut()?;
        let index = u32::try_from(out.fds.len()).ok()?;
        out.fds.extend(fds);
        out.moved.extend(flag);
        Some(index)
    });
    match index {
        Some(index) => Placeholder {
            tag: T::TAG,
            index,
            extra,
        }
        .serialize(s),
        None => Err(fail(
            "the message's collection ended during encoding".to_owned(),
        )),
    }
}

/// `Deserialize` for a [`Transfer`] type: takes its fd from those that came with the message.
///
/// # Errors
///
/// Outside a multiproc connection's receive; a tag of another kind; an index with no fd (out
/// of range, or already taken); the handle's [`Transfer::from_transfer_fd`] error.
pub fn deserialize<'de, T: Transfer, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    use serde::de::Error;
    let p = Placeholder::deserialize(d)?;
    let fds = INCOMING.with(|i| {
        let mut i = i.borrow_mut();
        let Some(inc) = i.as_mut() else {
            return Err(format!(
                "a {} handle can only be decoded by a multiproc connection's receive",
                show(&T::TAG)
            ));
        };
        if p.tag != T::TAG {
            return Err(format!(
                "the message holds a {} handle where a {} was expected",
                show(&p.tag),
                show(&T::TAG)
            ));
        }
        let arrived = inc.fds.len();
        let first = p.index as usize;
        let slots = first
            .checked_add(usize::from(p.extra) + 1)
            .and_then(|end| inc.fds.get_mut(first..end))
            .ok_or_else(|| {
                format!(
                    "the message refers to fds {first}..={} but {arrived} came with it",
                    u64::from(p.index) + u64::from(p.extra)
                )
            })?;
        if let Some(i) = slots.iter().position(Option::is_none) {
            return Err(format!("the message uses fd {} twice", first + i));
        }
        Ok(slots
            .iter_mut()
            .filter_map(Option::take)
            .collect::<Vec<_>>())
    });
    let mut fds = fds
        .map_err(|reason| D::Error::custom(fail_in(reason)))?
        .into_iter();
    let Some(fd) = fds.next() else {
        return Err(D::Error::custom(fail_in("no fd taken".to_owned())));
    };
    T::from_transfer_fds(fd, fds.collect())
        .map_err(|e| D::Error::custom(fail_in(format!("the fd sent as a {}: {e}", show(&T::TAG)))))
}

/// Implements `Serialize` and `Deserialize` through [`Transfer`] for a type:
/// `serde_via_transfer!([T: Bound] Type<T>)`, or `serde_via_transfer!([] Type)`.
#[macro_export]
macro_rules! serde_via_transfer {
    ([$($g:tt)*] $ty:ty) => {
        impl<$($g)*> $crate::transfer::serde::Serialize for $ty {
            fn serialize<S: $crate::transfer::serde::Serializer>(
                &self,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                $crate::transfer::serialize(self, s)
            }
        }

        impl<'de, $($g)*> $crate::transfer::serde::Deserialize<'de> for $ty {
            fn deserialize<D: $crate::transfer::serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Self, D::Error> {
                $crate::transfer::deserialize(d)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd, RawFd};

    struct Probe(OwnedFd);

    impl Transfer for Probe {
        const TAG: [u8; 8] = *b"PROBE\0\0\0";
        fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
            Ok(self.0.as_fd())
        }
        fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
            Ok(Probe(fd))
        }
    }
    crate::serde_via_transfer!([] Probe);

    struct Mover(OwnedFd, Arc<AtomicBool>);

    impl Transfer for Mover {
        const TAG: [u8; 8] = *b"MOVER\0\0\0";
        const MOVES: bool = true;
        fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
            Ok(self.0.as_fd())
        }
        fn moved_flag(&self) -> Option<Arc<AtomicBool>> {
            Some(self.1.clone())
        }
        fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
            Ok(Mover(fd, Arc::default()))
        }
    }
    crate::serde_via_transfer!([] Mover);

    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
        use std::os::unix::fs::MetadataExt;
        let meta = |fd: &OwnedFd| {
            std::fs::File::from(fd.try_clone().unwrap())
                .metadata()
                .unwrap()
        };
        let (m, n) = (meta(a), meta(b));
        (m.dev(), m.ino()) == (n.dev(), n.ino())
    }

    #[test]
    fn handles_are_encoded_as_indices_and_decoded_from_the_fds() {
        let (a, b) = (Probe(devnull()), Probe(devnull()));
        let (bytes, got) = collect(false, || postcard::to_allocvec(&(7u8, &a, &b)));
        let bytes = bytes.unwrap();
        assert!(got.error.is_none());
        // Duplicates of the handles' fds, owned by the collection.
        assert_eq!(got.fds.len(), 2);
        assert!(same_file(&got.fds[0], &a.0) && same_file(&got.fds[1], &b.0));
        assert!(got.fds[0].as_raw_fd() != a.0.as_raw_fd());
        // The receiver gets fresh fds (here: duplicates), in the same order.
        let fds = vec![devnull(), devnull()];
        let raws: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let (r, err) = provide(fds, || postcard::from_bytes::<(u8, Probe, Probe)>(&bytes));
        assert!(err.is_none());
        let (n, x, y) = r.unwrap();
        assert_eq!((n, x.0.as_raw_fd(), y.0.as_raw_fd()), (7, raws[0], raws[1]));
    }

    #[test]
    fn encoding_outside_a_connection_is_an_error() {
        assert!(postcard::to_allocvec(&Probe(devnull())).is_err());
    }

    #[test]
    fn a_moving_handle_needs_a_send_by_value_and_is_marked_gone() {
        let m = Mover(devnull(), Arc::default());
        let (r, got) = collect(false, || postcard::to_allocvec(&m));
        assert!(r.is_err());
        assert!(got.error.unwrap().to_string().contains("send_owned"));
        // By value, even through a reference: the flag is what marks it gone.
        let (r, got) = collect(true, || postcard::to_allocvec(&&m));
        assert!(r.is_ok() && got.error.is_none() && got.fds.len() == 1);
        assert!(!m.1.load(Ordering::Acquire));
        got.mark_moved();
        assert!(m.1.load(Ordering::Acquire));
    }

    #[test]
    fn a_panicking_decode_leaves_no_state_behind() {
        struct Boom;
        impl<'de> Deserialize<'de> for Boom {
            fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Boom, D::Error> {
                panic!("boom");
            }
        }
        let r = std::panic::catch_unwind(|| {
            provide(vec![devnull()], || postcard::from_bytes::<Boom>(&[0]))
        });
        assert!(r.is_err());
        // Outside any receive, a placeholder finds no fds to take.
        let bytes = [&b"PROBE\0\0\0"[..], &[0, 0]].concat();
        assert!(postcard::from_bytes::<Probe>(&bytes).is_err());
        let r =
            std::panic::catch_unwind(|| collect(false, || -> Result<(), ()> { panic!("boom") }));
        assert!(r.is_err());
        assert!(postcard::to_allocvec(&Probe(devnull())).is_err());
    }

    #[test]
    fn a_handle_may_send_while_it_is_encoded() {
        // A transfer_fd that itself encodes a message (an audit log, say).
        struct Chatty(OwnedFd);
        impl Transfer for Chatty {
            const TAG: [u8; 8] = *b"CHATTY\0\0";
            fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
                let (r, got) = collect(false, || postcard::to_allocvec(&Probe(devnull())));
                assert!(r.is_ok() && got.fds.len() == 1);
                Ok(self.0.as_fd())
            }
            fn from_transfer_fd(fd: OwnedFd) -> io::Result<Self> {
                Ok(Chatty(fd))
            }
        }
        crate::serde_via_transfer!([] Chatty);
        let (r, got) = collect(false, || postcard::to_allocvec(&(Chatty(devnull()), 1u8)));
        assert!(r.is_ok() && got.error.is_none() && got.fds.len() == 1);
    }

    #[test]
    fn hostile_placeholders_are_decoding_errors() {
        let (bytes, _) = collect(false, || postcard::to_allocvec(&Probe(devnull())));
        let bytes = bytes.unwrap();
        // No fd came with the message.
        let (r, err) = provide(Vec::new(), || postcard::from_bytes::<Probe>(&bytes));
        assert!(r.is_err());
        assert!(err.unwrap().to_string().contains("fds 0..=0 but 0 came"));
        // The same fd claimed twice.
        let two = [&bytes[..], &bytes[..]].concat();
        let (r, err) = provide(vec![devnull()], || {
            postcard::from_bytes::<(Probe, Probe)>(&two)
        });
        assert!(r.is_err());
        assert!(err.unwrap().to_string().contains("twice"));
        // Another kind of handle.
        let (r, err) = provide(vec![devnull()], || postcard::from_bytes::<Mover>(&bytes));
        assert!(r.is_err());
        let e = err.unwrap().to_string();
        assert!(e.contains("PROBE") && e.contains("MOVER"), "{e}");
    }

    /// A handle of three fds.
    struct Trio(Vec<OwnedFd>);

    impl Transfer for Trio {
        const TAG: [u8; 8] = *b"TRIO\0\0\0\0";
        fn transfer_fd(&self) -> io::Result<BorrowedFd<'_>> {
            Ok(self.0[0].as_fd())
        }
        fn transfer_extra_fds(&self) -> io::Result<Vec<BorrowedFd<'_>>> {
            Ok(self.0[1..].iter().map(AsFd::as_fd).collect())
        }
        fn from_transfer_fd(_: OwnedFd) -> io::Result<Self> {
            Err(io::Error::from(io::ErrorKind::InvalidData))
        }
        fn from_transfer_fds(fd: OwnedFd, mut extra: Vec<OwnedFd>) -> io::Result<Self> {
            if extra.len() != 2 {
                return Err(io::Error::from(io::ErrorKind::InvalidData));
            }
            extra.insert(0, fd);
            Ok(Trio(extra))
        }
    }
    crate::serde_via_transfer!([] Trio);

    #[test]
    fn a_handle_of_several_fds_takes_them_in_order() {
        let trio = Trio(vec![devnull(), devnull(), devnull()]);
        let (bytes, got) = collect(false, || postcard::to_allocvec(&(Probe(devnull()), &trio)));
        let bytes = bytes.unwrap();
        assert_eq!(got.fds.len(), 4);
        let fds: Vec<OwnedFd> = (0..4).map(|_| devnull()).collect();
        let raws: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let (r, err) = provide(fds, || postcard::from_bytes::<(Probe, Trio)>(&bytes));
        assert!(err.is_none());
        let (p, t) = r.unwrap();
        assert_eq!(p.0.as_raw_fd(), raws[0]);
        let got: Vec<RawFd> = t.0.iter().map(AsRawFd::as_raw_fd).collect();
        assert_eq!(got, raws[1..]);
        // Fewer fds than the handle claims; extra fds for a handle of one.
        let (r, err) = provide(vec![devnull(), devnull()], || {
            postcard::from_bytes::<(Probe, Trio)>(&bytes)
        });
        assert!(r.is_err());
        assert!(err.unwrap().to_string().contains("fds 1..=3 but 2 came"));
        let (trio_bytes, _) = collect(false, || postcard::to_allocvec(&trio));
        let (r, err) = provide((0..3).map(|_| devnull()).collect(), || {
            postcard::from_bytes::<Probe>(&trio_bytes.unwrap())
        });
        assert!(r.is_err() && err.is_some());
        // An index near u32::MAX with many extras cannot overflow.
        let mut hostile = b"TRIO\0\0\0\0".to_vec();
        hostile.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0xff]);
        let (r, err) = provide(vec![devnull()], || postcard::from_bytes::<Trio>(&hostile));
        assert!(r.is_err() && err.is_some());
    }

    #[test]
    fn unclaimed_fds_are_closed() {
        // A file of its own, so that another test reusing the fd number cannot look alike.
        let path = std::env::temp_dir().join(format!("transfer-probe-{}", std::process::id()));
        let fd: OwnedFd = std::fs::File::create(&path).unwrap().into();
        std::fs::remove_file(&path).unwrap();
        let raw = fd.as_raw_fd();
        let ((), err) = provide(vec![fd], || ());
        assert!(err.is_none());
        let link = std::fs::read_link(format!("/proc/self/fd/{raw}"));
        assert!(!link.is_ok_and(|l| l.to_string_lossy().contains("transfer-probe-")));
    }

    #[test]
    fn tags_print_safely() {
        assert_eq!(show(b"MPVALUE\0"), "MPVALUE");
        assert_eq!(show(b"\xff\n\0\0\0\0\0\0"), "\\xff\\n");
        assert_eq!(show(&[0; 8]), "");
    }
}
