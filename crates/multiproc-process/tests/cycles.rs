//! 1,000 start/join cycles with `fork`, 200 with `spawn` and 200 with `forkserver` leave no
//! zombie and no fd behind. (Alone in its test binary, so that no other test opens or closes
//! fds meanwhile.)

use multiproc_internal::testing::watchdog;
use multiproc_process::{spawn, Builder, Process, StartMethod};
use std::time::Duration;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Pids of this process's children that still exist (zombies included), from every thread.
fn children() -> Vec<String> {
    let mut all = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path().join("children");
        if let Ok(list) = std::fs::read_to_string(path) {
            all.extend(list.split_whitespace().map(str::to_owned));
        }
    }
    all
}

fn check_below(i: u32) {
    assert!(i < 1000);
}

fn double(i: u32) -> u32 {
    i * 2
}

#[test]
fn thousand_starts_leave_nothing_behind() {
    let _w = watchdog(Duration::from_secs(120));
    // The first start opens this process's own pidfd, kept for good: count after it.
    let mut warm = Process::new(|| {});
    warm.start().unwrap();
    assert!(warm.join().unwrap().success());
    drop(warm);
    let fds = open_fds();

    for i in 0..1000u32 {
        if i % 2 == 0 {
            let mut p = Process::new(move || assert!(i < 1000));
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        } else {
            assert_eq!(spawn(move || i * 2).unwrap().join().unwrap(), i * 2);
        }
    }
    // 200 with each of the spawn and forkserver start methods.
    for i in 0..400u32 {
        let method = if i < 200 {
            StartMethod::Spawn
        } else {
            StartMethod::Forkserver
        };
        let b = Builder::new().start_method(method);
        if i % 2 == 0 {
            let mut p = b.process_fn(check_below, i);
            p.start().unwrap();
            assert!(p.join().unwrap().success());
        } else {
            assert_eq!(b.spawn_fn(double, i).unwrap().join().unwrap(), i * 2);
        }
    }
    // Dropped without joining: reaped by the reaper thread as they end.
    for _ in 0..10 {
        Process::new(|| {}).start().unwrap();
    }
    multiproc_internal::testing::wait_until("the dropped children to be reaped", || {
        multiproc_process::active_children().is_empty()
    });

    // The forkserver is the one child left (alive).
    let left = children();
    assert!(left.len() <= 1, "stray children: {left:?}");
    for pid in &left {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert_ne!(state, "Z", "a zombie: {pid}");
    }
    // The fds kept for good: the forkserver's socket and pidfd, and the eventfd of the reaper
    // thread that the drops above started. The reaper thread may still hold the pidfd of the
    // last child `active_children` reaped until its poll wakes: give it that moment.
    let expected = fds + 2 * left.len() + 1;
    let since = std::time::Instant::now();
    while open_fds() != expected && since.elapsed() < Duration::from_secs(2) {
        std::thread::yield_now();
    }
    assert_eq!(open_fds(), expected, "fds leaked");
}
