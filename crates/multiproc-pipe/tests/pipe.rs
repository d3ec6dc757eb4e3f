//! The pipe suites (`suite/`) over shared memory (what `pipe()` gives).

mod transport {
    pub use multiproc_pipe::{pipe, pipe_simplex};

    /// The transport the suites' pipes use.
    pub const TRANSPORT: multiproc_pipe::Transport = multiproc_pipe::Transport::SharedMemory;
}

#[path = "suite/pipe.rs"]
mod pipe;
#[path = "suite/transfer.rs"]
mod transfer;
