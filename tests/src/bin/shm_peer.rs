//! Helper binary for the cross-crate tests: an unrelated program that opens a multiproc
//! segment by name.
//!
//! `shm_peer <segment-name> <command>`; commands:
//! - `echo`: checks the pattern the test wrote, writes its reversal back, bumps the counter at
//!   the end of the segment;
//! - `squat`: checks that creating the same name fails with `AlreadyExists`;
//! - `hold`: creates `<segment-name>` itself, prints `ready`, and waits to be killed.

use multiproc::SharedMemory;
use std::io::{ErrorKind, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, command] = &args[..] else {
        eprintln!("usage: shm_peer <segment-name> echo|squat|hold");
        return ExitCode::from(2);
    };
    match run(name, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, command: &str) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        "echo" => {
            let seg = SharedMemory::open(name)?;
            let n = seg.len() - 8;
            let mut data = vec![0u8; n];
            seg.read(0, &mut data)?;
            if !data.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8) {
                return Err("pattern mismatch".into());
            }
            data.reverse();
            seg.write(0, &data)?;
            seg.atomic_u64(n)?.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }
        "squat" => match SharedMemory::create_named(name, 64) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(format!("expected AlreadyExists, got {e}").into()),
            Ok(_) => Err("created a segment over an existing name".into()),
        },
        "hold" => {
            let _seg = SharedMemory::create_named(name, 4096)?;
            println!("ready");
            std::io::stdout().flush()?;
            loop {
                std::thread::park();
            }
        }
        other => Err(format!("unknown command {other}").into()),
    }
}
