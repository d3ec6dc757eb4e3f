//! Pipes between processes: duplex (both ends send and receive) and simplex (one end
//! receives, the other sends) (管道通信 Pipe).
//!
//! ```sh
//! cargo run --example pipes
//! ```
//!
//! The Python lesson (`myPipe.py`):
//!
//! ```python
//! from multiprocessing import Process, Pipe
//!
//! def talk(conn):
//!     conn.send('hello from the child')
//!     print('child got:', conn.recv())             # recv blocks while the pipe is empty
//!
//! parent_conn, child_conn = Pipe()                 # duplex=True: both ends read and write
//! p = Process(target=talk, args=(child_conn,)); p.start()
//! print('parent got:', parent_conn.recv())
//! parent_conn.send(['any', 'python', 'data', 3])
//! p.join()
//!
//! def write(w):
//!     for i in range(5):
//!         w.send(i * i)
//!     w.close()
//!
//! r, w = Pipe(duplex=False)                        # r only receives, w only sends
//! p = Process(target=write, args=(w,)); p.start()
//! w.close()                                        # our copy: else recv never sees the end
//! while True:
//!     try:
//!         print('got', r.recv())
//!     except EOFError:
//!         print('EOFError: the writer closed its end')
//!         break
//! p.join()
//! ```
//!
//! Messages are any serde type (here strings, tuples, integers), encoded with postcard; the
//! receiver names the type it expects. An end belongs to one process at a time: an end moved
//! into a child's closure is closed in the parent when the child starts.

use multiproc::pipe::{pipe, pipe_simplex, RecvError};
use multiproc::Process;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    // Duplex.
    let (mut parent_conn, mut child_conn) = pipe()?;
    let mut p = Process::new(move || {
        child_conn
            .send("hello from the child")
            .expect("send to the parent");
        let (words, n): (Vec<String>, u32) = child_conn.recv().expect("recv from the parent");
        println!("child got: {words:?} {n}");
    });
    p.start()?;
    let greeting: String = parent_conn.recv()?;
    println!("parent got: {greeting}");
    parent_conn.send(&(vec!["any", "rust", "data"], 3u32))?;
    let status = p.join()?;
    if !status.success() {
        return Err(format!("the duplex child {status}").into());
    }

    // Simplex: `pipe_simplex` returns (receiver, sender), as Python's `Pipe(duplex=False)`.
    let (mut r, mut w) = pipe_simplex()?;
    let mut p = Process::new(move || {
        for i in 0..5u64 {
            w.send(&(i * i)).expect("send");
        }
        // `w` is dropped (closed) when the child ends.
    });
    p.start()?; // the parent's `w` went into the closure: it is closed here now
    loop {
        match r.recv::<u64>() {
            Ok(n) => println!("got {n}"),
            Err(RecvError::Disconnected) => {
                println!("Disconnected (Python's EOFError): the writer closed its end");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let status = p.join()?;
    if !status.success() {
        return Err(format!("the writer {status}").into());
    }
    Ok(())
}
