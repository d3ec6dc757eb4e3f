//! What an end is made of: a socket ([`Channel`]) or shared memory ([`ShmChannel`]), behind
//! one set of methods.

use crate::channel::{Channel, Wait};
use crate::error::{RecvError, SendError};
use crate::shm::ShmChannel;
use crate::Transport;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug)]
pub(crate) enum Link {
    Socket(Channel),
    Shm(ShmChannel),
}

/// `$body` with `$c` bound to whichever channel the link holds.
macro_rules! either {
    ($link:expr, $c:ident => $body:expr) => {
        match $link {
            Link::Socket($c) => $body,
            Link::Shm($c) => $body,
        }
    };
}

impl Link {
    pub(crate) fn transport(&self) -> Transport {
        match self {
            Link::Socket(_) => Transport::Socket,
            Link::Shm(_) => Transport::SharedMemory,
        }
    }

    pub(crate) fn max(&self) -> u64 {
        either!(self, c => c.max())
    }

    pub(crate) fn set_max(&mut self, max: u64) {
        either!(self, c => c.set_max(max))
    }

    pub(crate) fn moved_flag(&self) -> Arc<AtomicBool> {
        either!(self, c => c.moved_flag())
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        either!(self, c => c.fd())
    }

    /// The fds that travel when the end is sent: the first, and the others after it.
    pub(crate) fn transfer_fds(&self) -> io::Result<(BorrowedFd<'_>, Vec<BorrowedFd<'_>>)> {
        match self {
            Link::Socket(c) => {
                c.check_transfer()?;
                Ok((c.fd(), Vec::new()))
            }
            Link::Shm(c) => c.transfer_fds(),
        }
    }

    pub(crate) fn send_frame(&mut self, payload: &[u8]) -> Result<(), SendError> {
        either!(self, c => c.send_frame(payload))
    }

    pub(crate) fn send_frame_fds(
        &mut self,
        payload: &[u8],
        fds: &[RawFd],
    ) -> Result<(), SendError> {
        either!(self, c => c.send_frame_fds(payload, fds))
    }

    pub(crate) fn send_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        moving: bool,
    ) -> Result<(), SendError> {
        either!(self, c => c.send_value(value, moving))
    }

    pub(crate) fn recv_frame(&mut self, wait: Wait) -> Result<Vec<u8>, RecvError> {
        either!(self, c => c.recv_frame(wait))
    }

    pub(crate) fn recv_frame_fds(
        &mut self,
        wait: Wait,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>), RecvError> {
        either!(self, c => c.recv_frame_fds(wait))
    }

    pub(crate) fn recv_value<T: DeserializeOwned>(&mut self, wait: Wait) -> Result<T, RecvError> {
        either!(self, c => c.recv_value(wait))
    }

    pub(crate) fn recv_into(&mut self, buf: &mut [u8], wait: Wait) -> Result<usize, RecvError> {
        either!(self, c => c.recv_into(buf, wait))
    }

    pub(crate) fn poll(&self, deadline: Option<Instant>) -> io::Result<bool> {
        either!(self, c => c.poll(deadline))
    }

    /// Before sleeping in `wait`: whether something can be received without reading the fd
    /// (a shared-memory end also says here that it sleeps).
    pub(crate) fn has_buffered(&self) -> bool {
        either!(self, c => c.has_buffered())
    }

    /// After the fd polled readable in `wait`: whether that means something to receive.
    pub(crate) fn settle(&self) -> bool {
        match self {
            Link::Socket(_) => true,
            Link::Shm(c) => c.settle(),
        }
    }
}
