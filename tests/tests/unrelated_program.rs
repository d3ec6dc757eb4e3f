//! Segments shared with an unrelated program (a separate binary, not a fork or a re-exec).

use multiproc::SharedMemory;
use multiproc_internal::testing::{shm_names, test_name, wait_child};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

const PEER: &str = env!("CARGO_BIN_EXE_shm_peer");

#[test]
fn unrelated_program_reads_and_writes_a_named_segment() {
    let n = 100_000;
    let seg = SharedMemory::create(n + 8).unwrap();
    let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    seg.write(0, &data).unwrap();
    for round in 1..=3 {
        let mut child = Command::new(PEER)
            .args([seg.name(), "echo"])
            .spawn()
            .unwrap();
        let status = wait_child(&mut child, Duration::from_secs(60));
        assert!(status.success(), "round {round}: {status:?}");
        assert_eq!(seg.atomic_u64(n).unwrap().load(Ordering::Acquire), round);
        // The peer reversed the data; put the pattern back for the next round.
        let mut back = vec![0u8; n];
        seg.read(0, &mut back).unwrap();
        back.reverse();
        assert_eq!(back, data);
        seg.write(0, &data).unwrap();
    }
    let mut squat = Command::new(PEER)
        .args([seg.name(), "squat"])
        .spawn()
        .unwrap();
    assert!(wait_child(&mut squat, Duration::from_secs(60)).success());
}

#[test]
fn killed_unrelated_creator_is_cleaned_up() {
    let name = test_name("peer-hold");
    let mut child = Command::new(PEER)
        .args([name.as_str(), "hold"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    assert_eq!(shm_names(&name), vec![name.clone()]);
    child.kill().unwrap();
    let status = wait_child(&mut child, Duration::from_secs(60));
    assert!(!status.success());
    assert_eq!(
        multiproc::shm::cleanup_with_prefix(&name).unwrap(),
        vec![name.clone()]
    );
    assert!(shm_names(&name).is_empty());
}
