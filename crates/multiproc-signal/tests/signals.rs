//! Signals across real processes. Every test that changes signal state runs in a forked child,
//! so the test runner itself is never signalled.

use multiproc_internal::testing::{fork_child, wait_until, ChildExit, ForkChild};
use multiproc_signal::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A flag in shared memory (an anonymous MAP_SHARED page through the internal block).
struct Flag(multiproc_internal::block::SharedBlock);

impl Flag {
    fn new() -> Flag {
        let layout = multiproc_internal::block::Layout {
            magic: 1,
            version: 1,
            elem_size: 1,
            elem_align: 1,
            len: 64,
        };
        Flag(
            multiproc_internal::block::SharedBlock::create_anonymous("test-flag", &layout, 64)
                .unwrap(),
        )
    }
    fn word(&self) -> &AtomicU32 {
        self.0.atomic_u32(64).unwrap()
    }
    fn set(&self, v: u32) {
        self.word().store(v, Ordering::Release);
    }
    fn get(&self) -> u32 {
        self.word().load(Ordering::Acquire)
    }
}

fn pidfd(child: &ForkChild) -> PidFd {
    PidFd::open(Pid::from_raw(child.pid())).unwrap()
}

#[test]
fn names_numbers_and_parsing() {
    for &sig in Signal::STANDARD {
        assert_eq!(Signal::from_raw(sig.as_raw()).unwrap(), sig);
        assert_eq!(sig.name().parse::<Signal>().unwrap(), sig);
        assert_eq!(
            sig.name()[3..].to_lowercase().parse::<Signal>().unwrap(),
            sig
        );
        assert_eq!(sig.as_raw().to_string().parse::<Signal>().unwrap(), sig);
    }
    assert_eq!("SIGTERM".parse::<Signal>().unwrap(), Signal::Term);
    assert_eq!("TERM".parse::<Signal>().unwrap(), Signal::Term);
    assert_eq!(" 15 ".parse::<Signal>().unwrap(), Signal::Term);
    assert_eq!("SIGRTMIN+3".parse::<Signal>().unwrap(), Signal::Realtime(3));
    assert_eq!(Signal::Realtime(3).as_raw(), libc::SIGRTMIN() + 3);
    assert_eq!(Signal::Term.default_action(), DefaultAction::Terminate);
    assert_eq!(Signal::Segv.default_action(), DefaultAction::Core);
    assert_eq!(Signal::Tstp.default_action(), DefaultAction::Stop);
    assert_eq!(Signal::Cont.default_action(), DefaultAction::Continue);
    assert_eq!(Signal::Winch.default_action(), DefaultAction::Ignore);
    for bad in [0, -1, 65, 1000] {
        assert!(
            matches!(Signal::from_raw(bad), Err(SignalError::Invalid(_))),
            "{bad}"
        );
    }
    for bad in ["", "SIGFOO", "RTMIN+999", "99"] {
        assert!(bad.parse::<Signal>().is_err(), "{bad:?}");
    }
}

#[test]
fn uncatchable_and_fault_signals_are_refused() {
    // Refusals happen before anything is registered, so this may run in the test process.
    for sig in [Signal::Kill, Signal::Stop] {
        assert!(matches!(
            Signals::new([sig]),
            Err(SignalError::Uncatchable(_))
        ));
        assert!(matches!(
            SignalCounter::new(sig),
            Err(SignalError::Uncatchable(_))
        ));
        assert!(matches!(ignore(sig), Err(SignalError::Uncatchable(_))));
        assert!(matches!(set_default(sig), Err(SignalError::Uncatchable(_))));
        assert!(matches!(block([sig]), Err(SignalError::Uncatchable(_))));
        assert!(matches!(
            spawn_handler([sig], |_| {}),
            Err(SignalError::Uncatchable(_))
        ));
    }
    assert!(matches!(
        Signals::new([Signal::Segv]),
        Err(SignalError::Fault(_))
    ));
    for pid in [0, -1, -42] {
        assert!(matches!(
            kill(Pid::from_raw(pid), Signal::Term),
            Err(SignalError::InvalidPid(_))
        ));
        assert!(matches!(
            kill_group(Pid::from_raw(pid), Signal::Term),
            Err(SignalError::InvalidPid(_))
        ));
    }
    // Group 1 would be kill(-1): every process we may signal.
    assert!(matches!(
        kill_group(Pid::from_raw(1), Signal::Cont),
        Err(SignalError::InvalidPid(1))
    ));
    assert!(is_alive(Pid::this()).unwrap());
}

#[test]
fn realtime_signals_out_of_range_are_refused_everywhere() {
    let max = libc::SIGRTMAX() - libc::SIGRTMIN();
    assert_eq!(
        Signal::from_raw(libc::SIGRTMAX()).unwrap(),
        Signal::Realtime(max as u8)
    );
    assert_eq!(
        "SIGRTMAX".parse::<Signal>().unwrap(),
        Signal::Realtime(max as u8)
    );
    assert_eq!(
        "RTMAX-1".parse::<Signal>().unwrap(),
        Signal::Realtime(max as u8 - 1)
    );
    let bad = Signal::Realtime(max as u8 + 1);
    let invalid = |r: Result<(), SignalError>| matches!(r, Err(SignalError::Invalid(_)));
    assert!(invalid(bad.checked_raw().map(drop)));
    assert!(invalid(kill(Pid::this(), bad)));
    assert!(invalid(raise(bad)));
    assert!(invalid(block([bad]).map(drop)));
    assert!(invalid(unblock([bad]).map(drop)));
    assert!(invalid(suspend([bad])));
    assert!(invalid(wait_timeout([bad], Duration::ZERO).map(drop)));
    assert!(invalid(ignore(bad)));
    assert!(invalid(SignalCounter::new(bad).map(drop)));
    let child = fork_child(|| {
        // A bad signal next to a good one must leave the good one untouched: SIGTERM keeps its
        // default action, and the dispositions stay settable.
        assert!(matches!(
            Signals::new([Signal::Term, bad]),
            Err(SignalError::Invalid(_))
        ));
        assert!(matches!(
            Signals::new([Signal::Usr1, Signal::Kill]),
            Err(SignalError::Uncatchable(_))
        ));
        set_default(Signal::Usr1).unwrap();
        set_default(Signal::Term).unwrap();
        raise(Signal::Term).unwrap();
        unreachable!("SIGTERM should have terminated the child");
    });
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGTERM));
}

#[test]
fn pidfds_and_liveness_after_the_process_is_gone() {
    let child = fork_child(|| {});
    let pid = Pid::from_raw(child.pid());
    let fd = PidFd::open(pid).unwrap();
    assert_eq!(fd.pid(), pid);
    assert_eq!(child.wait(), ChildExit::Exited(0)); // reaped
    match fd.send(Signal::Term) {
        Err(SignalError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::ESRCH)),
        other => panic!("expected ESRCH, got {other:?}"),
    }
    assert!(matches!(PidFd::open(pid), Err(SignalError::Io(_))));
}

#[test]
fn alarm_fires_after_n_seconds_and_a_second_alarm_resets_the_first() {
    let start = Instant::now();
    let child = fork_child(|| {
        assert_eq!(alarm(5), 0);
        let left = alarm(1); // replaces the 5 s alarm
        assert!((4..=5).contains(&left), "{left}");
        loop {
            pause();
        }
    });
    assert_eq!(child.wait(), ChildExit::Signaled(libc::SIGALRM));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1600),
        "{took:?}"
    );
}

#[test]
fn suspend_returns_after_a_handled_signal_from_another_process() {
    let ready = Flag::new();
    let child = fork_child(|| {
        let usr1 = SignalCounter::new(Signal::Usr1).unwrap();
        let _blocked = block([Signal::Usr1]).unwrap();
        ready.set(1);
        while usr1.count() == 0 {
            suspend([Signal::Usr1]).unwrap();
        }
    });
    wait_until("the child to wait", || ready.get() == 1);
    pidfd(&child).send(Signal::Usr1).unwrap();
    child.assert_success();
}

#[test]
fn sigterm_handled_ignored_or_default() {
    // Handled: reported through Signals, the child exits normally.
    let ready = Flag::new();
    let handled = fork_child(|| {
        let mut signals = Signals::new([Signal::Term]).unwrap();
        ready.set(1);
        assert_eq!(signals.wait().collect::<Vec<_>>(), [Signal::Term]);
    });
    wait_until("handler", || ready.get() == 1);
    pidfd(&handled).send(Signal::Term).unwrap();
    handled.assert_success();

    // Ignored: discarded when sent. When `send` returns, the signal is either discarded or
    // pending; the child then makes one more syscall, on whose return a pending SIGTERM would
    // be delivered — so a normal exit proves it was ignored.
    let state = Flag::new();
    let ignoring = fork_child(|| {
        ignore(Signal::Term).unwrap();
        assert!(is_ignored(Signal::Term).unwrap());
        state.set(1);
        while state.get() != 2 {
            std::thread::yield_now();
        }
        // One more syscall: a pending, unignored SIGTERM would be delivered on its return.
        thread_mask().unwrap();
    });
    wait_until("ignore", || state.get() == 1);
    pidfd(&ignoring).send(Signal::Term).unwrap();
    state.set(2);
    ignoring.assert_success();

    // Default: the exit status names the signal.
    let default = fork_child(|| loop {
        pause();
    });
    pidfd(&default).send(Signal::Term).unwrap();
    assert_eq!(default.wait(), ChildExit::Signaled(libc::SIGTERM));
}

#[test]
fn periodic_timer_ticks_are_counted() {
    fork_child(|| {
        let alrm = SignalCounter::new(Signal::Alrm).unwrap();
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let old = set_timer(Timer::Real, period, period).unwrap();
        assert_eq!(old, TimerValue::default());
        let armed = get_timer(Timer::Real).unwrap();
        assert_eq!(armed.interval, period);
        while alrm.count() < 10 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "ticks: {}",
                alrm.count()
            );
            std::thread::yield_now();
        }
        assert!(start.elapsed() >= Duration::from_millis(95));
        set_timer(Timer::Real, Duration::ZERO, Duration::ZERO).unwrap();
        assert_eq!(get_timer(Timer::Real).unwrap(), TimerValue::default());
        // Values round up to the timer's microsecond resolution.
        set_timer(
            Timer::Virtual,
            Duration::from_secs(100),
            Duration::from_nanos(1500),
        )
        .unwrap();
        let v = set_timer(Timer::Virtual, Duration::ZERO, Duration::ZERO).unwrap();
        assert_eq!(v.interval, Duration::from_micros(2));
        // A value below the resolution arms the timer; it does not disarm it.
        let before = alrm.count();
        set_timer(Timer::Real, Duration::from_nanos(1), Duration::ZERO).unwrap();
        wait_until("the 1 ns timer", || alrm.count() > before);
    })
    .assert_success();
}

#[test]
fn a_burst_of_1000_is_seen_and_realtime_signals_are_counted_exactly() {
    let ready = Flag::new();
    let child = fork_child(|| {
        let rt = SignalCounter::new(Signal::Realtime(2)).unwrap();
        let mut signals = Signals::new([Signal::Usr1, Signal::Usr2]).unwrap();
        ready.set(1);
        let mut usr1 = 0u32;
        'outer: loop {
            for sig in signals.wait() {
                match sig {
                    Signal::Usr1 => usr1 += 1,
                    Signal::Usr2 => break 'outer,
                    other => panic!("unexpected {other}"),
                }
            }
        }
        // Standard signals coalesce: at least one per burst, never more than were sent.
        assert!((1..=1000).contains(&usr1), "{usr1}");
        let start = Instant::now();
        while rt.count() < 1000 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "rt: {}",
                rt.count()
            );
            std::thread::yield_now();
        }
        assert_eq!(rt.count(), 1000);
    });
    wait_until("the child's handlers", || ready.get() == 1);
    let fd = pidfd(&child);
    for _ in 0..1000 {
        fd.send(Signal::Usr1).unwrap();
    }
    for _ in 0..1000 {
        // Queued real-time signals count against RLIMIT_SIGPENDING: on EAGAIN, let the child
        // catch up and send again.
        while let Err(e) = fd.send(Signal::Realtime(2)) {
            assert!(
                matches!(&e, SignalError::Io(io) if io.raw_os_error() == Some(libc::EAGAIN)),
                "{e}"
            );
            std::thread::yield_now();
        }
    }
    fd.send(Signal::Usr2).unwrap();
    child.assert_success();
}

#[test]
fn ignore_children_leaves_no_zombies() {
    fork_child(|| {
        ignore_children().unwrap();
        let pids: Vec<u32> = (0..5)
            .map(|_| std::process::Command::new("true").spawn().unwrap().id())
            .collect();
        // Nobody waits for them; the kernel reaps them, so no zombie remains.
        let start = Instant::now();
        for pid in pids {
            while std::path::Path::new(&format!("/proc/{pid}")).exists() {
                assert!(start.elapsed() < Duration::from_secs(10), "zombie {pid}");
                std::thread::yield_now();
            }
        }
        // And the statuses are gone, as documented.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        assert_eq!(child.wait().unwrap_err().raw_os_error(), Some(libc::ECHILD));
        set_default(Signal::Chld).unwrap();
    })
    .assert_success();
}

#[test]
fn masks_hold_signals_until_unblocked() {
    fork_child(|| {
        let usr1 = SignalCounter::new(Signal::Usr1).unwrap();
        let guard = block([Signal::Usr1]).unwrap();
        assert!(thread_mask().unwrap().contains(Signal::Usr1));
        raise(Signal::Usr1).unwrap();
        assert_eq!(usr1.count(), 0);
        assert!(pending().unwrap().contains(Signal::Usr1));
        drop(guard); // delivered on unblock
        assert_eq!(usr1.count(), 1);
        assert!(!thread_mask().unwrap().contains(Signal::Usr1));
        // A kept mask stays.
        block([Signal::Usr2]).unwrap().keep();
        assert!(thread_mask().unwrap().contains(Signal::Usr2));
        // Guards undo their own change, whatever the order they are dropped in.
        let a = block([Signal::Hup]).unwrap();
        let b = block([Signal::Winch, Signal::Usr2]).unwrap();
        drop(a);
        let mask = thread_mask().unwrap();
        assert!(!mask.contains(Signal::Hup) && mask.contains(Signal::Winch));
        drop(b);
        let mask = thread_mask().unwrap();
        assert!(!mask.contains(Signal::Winch));
        assert!(
            mask.contains(Signal::Usr2),
            "b must not unblock what it did not block"
        );
        let u = unblock([Signal::Usr2]).unwrap();
        assert!(!thread_mask().unwrap().contains(Signal::Usr2));
        drop(u);
        assert!(thread_mask().unwrap().contains(Signal::Usr2));
    })
    .assert_success();
}

#[test]
fn wait_timeout_times_out_then_receives() {
    let ready = Flag::new();
    let child = fork_child(|| {
        block([Signal::Usr1]).unwrap().keep();
        let start = Instant::now();
        assert_eq!(
            wait_timeout([Signal::Usr1], Duration::from_millis(200)).unwrap(),
            None
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_millis(700),
            "{took:?}"
        );
        ready.set(1);
        let got = wait_timeout([Signal::Usr1], Duration::from_secs(20)).unwrap();
        assert_eq!(got, Some(Signal::Usr1));
    });
    wait_until("the child to wait", || ready.get() == 1);
    pidfd(&child).send(Signal::Usr1).unwrap();
    child.assert_success();
}

#[test]
fn dispositions_are_fixed_once_a_handler_was_registered() {
    fork_child(|| {
        drop(SignalCounter::new(Signal::Hup).unwrap());
        assert!(matches!(
            set_default(Signal::Hup),
            Err(SignalError::HandlerRegistered(_))
        ));
        assert!(matches!(
            ignore(Signal::Hup),
            Err(SignalError::HandlerRegistered(_))
        ));
        // And signals without a handler can still be changed.
        ignore(Signal::Winch).unwrap();
        set_default(Signal::Winch).unwrap();
    })
    .assert_success();
}

#[test]
fn spawned_handler_runs_ordinary_code_per_signal() {
    let ready = Flag::new();
    let child = fork_child(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let handler = spawn_handler([Signal::Usr2], move |sig| {
            // Ordinary code: allocation and channels are fine here.
            tx.send(format!("got {sig}")).unwrap();
        })
        .unwrap();
        ready.set(1);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)).unwrap(),
            "got SIGUSR2"
        );
        handler.stop();
        // A handler that panics does not end the thread; the next signal is still handled.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut first = true;
        let handler = spawn_handler([Signal::Hup], move |_| {
            if std::mem::take(&mut first) {
                panic!("deliberate panic in a signal handler: this test expects it");
            }
            tx.send(()).unwrap();
        })
        .unwrap();
        raise(Signal::Hup).unwrap();
        let start = Instant::now();
        while rx.try_recv().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the handler thread died"
            );
            raise(Signal::Hup).unwrap();
            std::thread::yield_now();
        }
        // A forked child has no handler thread: dropping the inherited handle must not wait
        // for it (or panic).
        fork_child(move || drop(handler)).assert_success();
    });
    wait_until("the handler thread", || ready.get() == 1);
    pidfd(&child).send(Signal::Usr2).unwrap();
    child.assert_success();
}

#[test]
fn blocking_waits_keep_their_deadlines_in_a_10khz_signal_storm() {
    use multiproc_internal::clock::Deadline;
    use multiproc_internal::futex;
    use multiproc_internal::robust::LockFail;
    let ready = Flag::new();
    let word = Flag::new();
    let lock_block = Flag::new();
    let lock = lock_block.0.init_robust_mutex(96).unwrap();
    assert!(lock.lock(None).is_ok()); // held by the parent throughout
    let within =
        |took: Duration| took >= Duration::from_millis(300) && took < Duration::from_millis(800);
    let child = fork_child(|| {
        let usr1 = SignalCounter::new(Signal::Usr1).unwrap();
        ready.set(1);
        wait_until("the storm", || usr1.count() > 10);
        let before = usr1.count();
        // A futex wait that nothing wakes.
        let start = Instant::now();
        let deadline = Deadline::after(Duration::from_millis(300));
        while futex::wait(word.word(), 0, deadline) == futex::Wait::Woken {}
        assert!(within(start.elapsed()), "futex wait: {:?}", start.elapsed());
        // A robust lock held by another process.
        let start = Instant::now();
        assert_eq!(
            lock.lock(Deadline::after(Duration::from_millis(300))),
            Err(LockFail::TimedOut)
        );
        assert!(within(start.elapsed()), "lock: {:?}", start.elapsed());
        // A signal wait for something else.
        let start = Instant::now();
        assert_eq!(
            wait_timeout([Signal::Usr2], Duration::from_millis(300)).unwrap(),
            None
        );
        assert!(
            within(start.elapsed()),
            "sigtimedwait: {:?}",
            start.elapsed()
        );
        // The waits were really interrupted, many times.
        assert!(
            usr1.count() - before > 100,
            "only {} signals",
            usr1.count() - before
        );
        ready.set(2);
    });
    wait_until("the child's handler", || ready.get() == 1);
    let fd = pidfd(&child);
    let start = Instant::now();
    let mut sent = 0u64;
    while ready.get() != 2 && start.elapsed() < Duration::from_secs(30) {
        // 10 kHz: one signal per 100 µs.
        if start.elapsed() >= Duration::from_micros(100) * sent as u32 {
            if fd.send(Signal::Usr1).is_err() {
                break; // the child is gone; its status tells why
            }
            sent += 1;
        }
        std::hint::spin_loop();
    }
    child.assert_success();
    assert!(lock.unlock());
}

#[test]
fn pause_returns_after_a_handled_signal() {
    let ready = Flag::new();
    let child = fork_child(|| {
        let usr1 = SignalCounter::new(Signal::Usr1).unwrap();
        ready.set(1);
        pause();
        assert!(usr1.count() >= 1);
    });
    wait_until("the child's handler", || ready.get() == 1);
    // `pause` races with delivery by design (see `suspend`): keep signalling until the child
    // has returned from it and exited.
    let fd = pidfd(&child);
    let mut child = child;
    let start = Instant::now();
    let exit = loop {
        let _ = fd.send(Signal::Usr1);
        if let Some(exit) = child.wait_timeout(Duration::from_millis(20)) {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pause never returned"
        );
    };
    assert_eq!(exit, ChildExit::Exited(0));
}

#[test]
fn cpu_time_timers_tick_while_the_process_computes() {
    fork_child(|| {
        let prof = SignalCounter::new(Signal::Prof).unwrap();
        let vt = SignalCounter::new(Signal::Vtalrm).unwrap();
        let period = Duration::from_millis(5);
        set_timer(Timer::Prof, period, period).unwrap();
        set_timer(Timer::Virtual, period, period).unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        // Burn user CPU time: both timers count it.
        while prof.count() < 3 || vt.count() < 3 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "prof {} vt {}",
                prof.count(),
                vt.count()
            );
        }
        std::hint::black_box(x);
        for t in [Timer::Prof, Timer::Virtual] {
            assert_eq!(
                set_timer(t, Duration::ZERO, Duration::ZERO)
                    .unwrap()
                    .interval,
                period
            );
        }
    })
    .assert_success();
}
