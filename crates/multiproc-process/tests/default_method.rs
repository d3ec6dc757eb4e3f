//! `set_start_method` changes the default of every process made afterwards. (Alone in its test
//! binary: the default is process-wide.)

use multiproc_internal::testing::watchdog;
use multiproc_process::{
    get_start_method, set_start_method, spawn_fn, Builder, Process, ProcessError, StartMethod,
};
use std::time::Duration;

fn threads_in_child((): ()) -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn nothing((): ()) {}

#[test]
fn the_default_start_method_applies_to_new_processes() {
    let _w = watchdog(Duration::from_secs(60));
    assert_eq!(get_start_method(), StartMethod::Fork);
    // Made before the change: keeps fork.
    let mut before = Process::new(|| {});
    set_start_method(StartMethod::Spawn);
    assert_eq!(get_start_method(), StartMethod::Spawn);
    assert_eq!(StartMethod::Spawn.to_string(), "spawn");

    before.start().unwrap();
    assert!(before.join().unwrap().success());
    let mut closure = Process::new(|| {});
    assert_eq!(closure.start_method(), StartMethod::Spawn);
    assert!(matches!(
        closure.start(),
        Err(ProcessError::ClosureNeedsFork(StartMethod::Spawn))
    ));
    let mut p = Process::from_fn(nothing, ());
    p.start().unwrap();
    assert!(p.join().unwrap().success());
    // Spawned afresh: a single thread, although this test process has several.
    assert_eq!(spawn_fn(threads_in_child, ()).unwrap().join().unwrap(), 1);
    // A builder still chooses per process.
    let h = Builder::new()
        .start_method(StartMethod::Fork)
        .spawn(|| 5u8)
        .unwrap();
    assert_eq!(h.join().unwrap(), 5);
    set_start_method(StartMethod::Fork);
}
