//! The pipe suites (`suite/`) over a socket pair (`Transport::Socket`).

mod transport {
    use multiproc_pipe::{Connection, PipeBuilder, Receiver, Sender};

    pub fn pipe() -> std::io::Result<(Connection, Connection)> {
        PipeBuilder::new().transport(TRANSPORT).duplex()
    }

    pub fn pipe_simplex() -> std::io::Result<(Receiver, Sender)> {
        PipeBuilder::new().transport(TRANSPORT).simplex()
    }

    /// The transport the suites' pipes use.
    pub const TRANSPORT: multiproc_pipe::Transport = multiproc_pipe::Transport::Socket;
}

#[path = "suite/pipe.rs"]
mod pipe;
#[path = "suite/transfer.rs"]
mod transfer;
