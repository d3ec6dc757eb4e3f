//! A tour of what multiproc does today, with real processes and a timing line for each.
//!
//! ```sh
//! cargo run --release --example tour
//! ```
//!
//! When `python3` is present, a final table sets eight of the figures against the same
//! operations done with Python's `multiprocessing` (`fork` context) measured right after, in
//! the same run.
//!
//! The processes and queue sections start children with multiproc's own `Process` and
//! `spawn`. The others fork children whose closures borrow the objects they share, which
//! `Process` (whose target is `'static`) does not take: they use the workspace's
//! test-support fork helper (it ends each child with `_exit` and reports panics).

use multiproc::prelude::*;
use multiproc_internal::testing::fork_child;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The figures the final table sets against Python's, measured live by [`PYTHON`].
#[derive(Default)]
struct Figures {
    process_start_us: f64,
    pool_map_ms: f64,
    pool_round_trip_us: f64,
    value_mps: f64,
    semaphore_us: f64,
    condition_turn_us: f64,
    pipe_round_trip_us: f64,
    queue_mps: f64,
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.1} M/s", n as f64 / d.as_secs_f64() / 1e6)
}

fn value(fig: &mut Figures) -> Result {
    const EACH: u64 = 200_000;
    let counter = Value::new(0u64)?;
    let start = Instant::now();
    let kids: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                for _ in 0..EACH {
                    counter.with_lock(|n| *n += 1).expect("lock");
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    let took = start.elapsed();
    fig.value_mps = (2 * EACH) as f64 / took.as_secs_f64() / 1e6;
    println!(
        "Value<u64>        2 processes x {EACH} locked increments = {} in {took:.2?} ({}, with process start)",
        counter.get()?,
        rate(2 * EACH, took)
    );
    Ok(())
}

fn atomic() -> Result {
    const EACH: u64 = 1_000_000;
    let hits = Atomic::new(0u64)?;
    let start = Instant::now();
    let kids: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                for _ in 0..EACH {
                    hits.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for k in kids {
        k.assert_success();
    }
    let took = start.elapsed();
    println!(
        "Atomic<u64>       2 processes x {EACH} fetch_add = {} in {took:.2?} ({})",
        hits.load(Ordering::Acquire),
        rate(2 * EACH, took)
    );
    Ok(())
}

fn array() -> Result {
    const LEN: usize = 64 << 20;
    let data = Array::<u8>::zeroed(LEN)?;
    let start = Instant::now();
    fork_child(|| {
        data.prefault();
        data.with_lock(|all| all.fill(7)).expect("lock");
    })
    .assert_success();
    let filled = start.elapsed();
    let start = Instant::now();
    data.prefault();
    let sum: u64 = data.with_lock(|all| all.iter().map(|&b| u64::from(b)).sum())?;
    let read = start.elapsed();
    println!(
        "Array<u8>         64 MiB filled by a child in {filled:.2?}, summed by the parent in {read:.2?} ({:.1} GB/s), sum {sum}",
        LEN as f64 / read.as_secs_f64() / 1e9
    );
    Ok(())
}

fn shared_memory() -> Result {
    let seg = SharedMemory::create(4096)?;
    let name = seg.name().to_owned();
    let start = Instant::now();
    fork_child(|| {
        // Opened by name, as an unrelated process would.
        let other = SharedMemory::open(&name).expect("open by name");
        other.write(0, b"hello from the child").expect("write");
    })
    .assert_success();
    let mut buf = [0u8; 20];
    seg.read(0, &mut buf)?;
    println!(
        "SharedMemory      {:?} read back from {name} in {:.2?}",
        String::from_utf8_lossy(&buf),
        start.elapsed()
    );
    Ok(())
}

fn owner_died() -> Result {
    let v = Value::new(0u32)?;
    let ready = Atomic::new(0u8)?;
    let holder = fork_child(|| {
        let _guard = v.lock().expect("lock");
        ready.store(1, Ordering::Release);
        loop {
            std::thread::park();
        }
    });
    while ready.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    holder.kill()?;
    let killed = Instant::now();
    match v.lock() {
        Err(LockError::OwnerDied(mut guard)) => {
            let took = killed.elapsed();
            guard.make_consistent();
            println!(
                "robust lock       holder SIGKILLed; next lock() got OwnerDied after {took:.2?}"
            );
        }
        Ok(_) => println!("robust lock       unexpected: lock was clean"),
        Err(e) => println!("robust lock       unexpected: {e}"),
    }
    holder.wait();
    Ok(())
}

fn alarm() -> Result {
    let start = Instant::now();
    let child = fork_child(|| {
        multiproc::signal::alarm(1);
        loop {
            multiproc::signal::pause();
        }
    });
    let exit = child.wait();
    println!(
        "alarm(1)          child ended by {exit:?} (SIGALRM = {}) after {:.2?}",
        Signal::Alrm.as_raw(),
        start.elapsed()
    );
    Ok(())
}

fn handled_sigterm() -> Result {
    let ready = Atomic::new(0u8)?;
    let child = fork_child(|| {
        let mut signals = Signals::new([Signal::Term]).expect("handler");
        ready.store(1, Ordering::Release);
        let first = signals.forever().next();
        if let Some(sig) = first {
            println!("                  child: got {sig}, cleaning up and exiting normally");
        }
    });
    while ready.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let fd = PidFd::open(Pid::from_raw(child.pid()))?;
    let start = Instant::now();
    fd.send(Signal::Term)?;
    let exit = child.wait();
    println!(
        "SIGTERM handled   child exited {exit:?}, {:.2?} after the signal",
        start.elapsed()
    );
    Ok(())
}

fn semaphore(fig: &mut Figures) -> Result {
    const ROUNDS: u32 = 100_000;
    let (ping, pong) = (Semaphore::new(0)?, Semaphore::new(0)?);
    let child = fork_child(|| {
        for _ in 0..ROUNDS {
            ping.acquire();
            pong.release().expect("release");
        }
    });
    let start = Instant::now();
    for _ in 0..ROUNDS {
        ping.release()?;
        pong.acquire();
    }
    let took = start.elapsed();
    child.assert_success();
    fig.semaphore_us = micros(took / ROUNDS);
    println!(
        "Semaphore         {ROUNDS} ping-pong round trips with a child: {:.2?} each",
        took / ROUNDS
    );
    Ok(())
}

fn event_and_barrier() -> Result {
    let go = Event::new()?;
    let meet = Barrier::new(3)?;
    let start = Instant::now();
    let kids: Vec<_> = (0..2)
        .map(|_| {
            fork_child(|| {
                go.wait();
                meet.wait().expect("barrier");
            })
        })
        .collect();
    go.set();
    let index = meet.wait().map_err(|e| e.to_string())?;
    for k in kids {
        k.assert_success();
    }
    println!(
        "Event + Barrier   2 children released by one set(), met at a barrier of 3 (our index {index}) in {:.2?}",
        start.elapsed()
    );
    Ok(())
}

fn lock_and_condition(fig: &mut Figures) -> Result {
    const TURNS: u32 = 20_000;
    // Python's Condition pattern: two processes take turns on a shared word, each waiting
    // (under the lock) until the turn is its own.
    let lock = Lock::new()?;
    let cond = Condition::new()?;
    let turn = RawValue::new(0u32)?;
    let play = |me: u32| {
        let mut guard = lock.lock().expect("lock");
        for _ in 0..TURNS {
            guard = cond
                .wait_while(guard, |_| turn.get() % 2 != me)
                .expect("wait");
            turn.set(turn.get() + 1);
            cond.notify_one();
        }
    };
    let start = Instant::now();
    let child = fork_child(|| play(1));
    play(0);
    child.assert_success();
    let took = start.elapsed();
    fig.condition_turn_us = micros(took / (2 * TURNS));
    println!(
        "Lock + Condition  {TURNS} turns handed back and forth between 2 processes: {:.2?} per turn",
        took / (2 * TURNS)
    );
    Ok(())
}

fn pipe_ping_pong_and_large_transfer(fig: &mut Figures) -> Result {
    use multiproc::pipe::{PipeBuilder, Transport};
    const ROUNDS: u32 = 20_000;
    const LARGE: usize = 1 << 20;
    const MESSAGES: u32 = 256;
    for (name, transport) in [
        ("Pipe (shm)", Transport::SharedMemory),
        ("Pipe (socket)", Transport::Socket),
    ] {
        let (mut parent, mut child_end) = PipeBuilder::new().transport(transport).duplex()?;
        let child = fork_child(|| {
            for _ in 0..ROUNDS {
                let n: u64 = child_end.recv().expect("recv");
                child_end.send(&(n + 1)).expect("send");
            }
            let mut buf = vec![0u8; LARGE];
            for _ in 0..MESSAGES {
                child_end
                    .recv_bytes_into(&mut buf)
                    .expect("recv_bytes_into");
            }
            child_end.send(&"done").expect("send");
        });
        drop(child_end);
        let start = Instant::now();
        let mut n = 0u64;
        for _ in 0..ROUNDS {
            parent.send(&n)?;
            n = parent.recv()?;
        }
        let round_trip = start.elapsed() / ROUNDS;
        if transport == Transport::SharedMemory {
            fig.pipe_round_trip_us = micros(round_trip);
        }
        let message = vec![7u8; LARGE];
        let start = Instant::now();
        for _ in 0..MESSAGES {
            parent.send_bytes(&message)?;
        }
        let done: String = parent.recv()?;
        let took = start.elapsed();
        child.assert_success();
        println!(
            "{name:17} {ROUNDS} typed round trips with a child (n = {n}): {round_trip:.2?} \
             each; {MESSAGES} MiB in 1 MiB messages ({done}): {:.1} GiB/s",
            f64::from(MESSAGES) / 1024.0 / took.as_secs_f64()
        );
    }
    Ok(())
}

/// The seed's producer/consumer: 2 producers, 2 consumers, a sentinel per consumer. The
/// consumers are spawned closures that return their sums.
fn queue_producer_consumer(fig: &mut Figures) -> Result {
    use multiproc::Queue;
    const EACH: u64 = 200_000;
    let q: Queue<Option<u64>> = Queue::new(0)?;
    let start = Instant::now();
    let consumers = (0..2)
        .map(|_| {
            let q = q.clone();
            spawn(move || {
                let mut sum = 0;
                while let Some(v) = q.get().expect("get") {
                    sum += v;
                }
                sum
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut producers = (0..2)
        .map(|p| {
            let q = q.clone();
            Process::new(move || {
                for i in 0..EACH {
                    q.put(Some(p * EACH + i)).expect("put");
                }
            })
        })
        .collect::<Vec<_>>();
    for p in &mut producers {
        p.start()?;
    }
    for p in &mut producers {
        assert!(p.join()?.success());
    }
    for _ in 0..2 {
        q.put(None)?; // one sentinel per consumer
    }
    let mut total = 0;
    for c in consumers {
        total += c.join()?;
    }
    let took = start.elapsed();
    fig.queue_mps = (2 * EACH) as f64 / took.as_secs_f64() / 1e6;
    println!(
        "Queue             2 producers -> 2 consumers, {} items (sum {total}) in {took:.2?} ({}, with process start)",
        2 * EACH,
        rate(2 * EACH, took)
    );
    Ok(())
}

fn square(n: u64) -> u64 {
    n * n
}

/// Processes: both start methods, a value and a panic back from `spawn`, a terminated child.
fn processes(fig: &mut Figures) -> Result {
    const STARTS: u32 = 200;
    let start = Instant::now();
    for _ in 0..STARTS {
        let mut p = Process::new(|| {});
        p.start()?;
        assert_eq!(p.join()?.exitcode(), 0);
    }
    let per_start = start.elapsed() / STARTS;
    fig.process_start_us = micros(per_start);
    // The spawn start method: this program started afresh, running a fn item.
    const SPAWNS: u32 = 20;
    let start = Instant::now();
    for n in 0..SPAWNS {
        let h = multiproc::process::Builder::new()
            .start_method(StartMethod::Spawn)
            .spawn_fn(square, u64::from(n))?;
        assert_eq!(h.join()?, u64::from(n * n));
    }
    let per_spawn = start.elapsed() / SPAWNS;
    // The forkserver start method: forks of a single-threaded server started once.
    let start = Instant::now();
    for n in 0..SPAWNS {
        let h = multiproc::process::Builder::new()
            .start_method(StartMethod::Forkserver)
            .spawn_fn(square, u64::from(n))?;
        assert_eq!(h.join()?, u64::from(n * n));
    }
    let per_forkserver = start.elapsed() / SPAWNS;
    let h = spawn(|| (1..=20u64).product::<u64>())?;
    let factorial = h.join()?;
    let panicked = spawn(|| -> u64 { panic!("a child's panic comes back as an error") })?;
    let message = match panicked.join() {
        Err(JoinError::Panicked(m)) => m,
        other => format!("{other:?}"),
    };
    let (_keep, mut theirs) = std::os::unix::net::UnixStream::pair()?;
    let mut sleeper = Process::new(move || {
        use std::io::Read;
        let _ = theirs.read(&mut [0u8; 1]); // until terminated
    });
    sleeper.start()?;
    sleeper.terminate()?;
    let status = sleeper.join()?;
    println!(
        "Process           start + join: {per_start:.2?} (fork), {per_spawn:.2?} (spawn), {per_forkserver:.2?} (forkserver); \
         spawn returned 20! = {factorial}; a panic came back as \"{message}\"; terminate: {status} (exitcode {})",
        status.exitcode()
    );
    Ok(())
}

fn pool(fig: &mut Figures) -> Result {
    let pool = multiproc::process::Pool::new(2)?;
    let start = Instant::now();
    let squares = pool.map(square, 0..1_000_000u64)?;
    let map_time = start.elapsed();
    assert_eq!(squares[999], 999 * 999);
    let start = Instant::now();
    for n in 0..1000u64 {
        assert_eq!(pool.apply_async(square, n)?.get()?, n * n);
    }
    let round_trip = start.elapsed() / 1000;
    fig.pool_map_ms = map_time.as_secs_f64() * 1e3;
    fig.pool_round_trip_us = micros(round_trip);
    let lazy: u64 = pool.imap(square, 1..=100u64).map(|r| r.unwrap_or(0)).sum();
    println!(
        "Pool(2)           map(square) over 1,000,000 items: {map_time:.2?}; \
         apply_async().get() round trip: {round_trip:.2?}; imap sum of squares 1..=100: {lazy}"
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The same operations with Python's `multiprocessing` (`fork` context), fewer times each.
/// Prints one `name value` line per figure, in the units of [`Figures`].
const PYTHON: &str = r#"
import multiprocessing as mp, time
ctx = mp.get_context("fork")
def out(name, value): print(name, value, flush=True)
def square(n): return n * n
def noop(): pass
def inc(v, n):
    for _ in range(n):
        with v.get_lock(): v.value += 1
def sem_child(a, b, n):
    for _ in range(n): a.acquire(); b.release()
def play(cond, turn, me, n):
    with cond:
        for _ in range(n):
            cond.wait_for(lambda: turn.value % 2 == me)
            turn.value += 1
            cond.notify()
def echo(c, n):
    for _ in range(n): c.send(c.recv() + 1)
def produce(q, p, n):
    for i in range(n): q.put(p * n + i)
def consume(q, sums):
    s = 0
    while True:
        v = q.get()
        if v is None: break
        s += v
    sums.put(s)
def run(target, *args):
    p = ctx.Process(target=target, args=args); p.start(); return p

n = 50; t = time.perf_counter()
for _ in range(n): run(noop).join()
out("process_start_us", (time.perf_counter() - t) / n * 1e6)
with ctx.Pool(2) as pool:
    t = time.perf_counter(); r = pool.map(square, range(1_000_000))
    out("pool_map_ms", (time.perf_counter() - t) * 1e3)
    n = 300; t = time.perf_counter()
    for i in range(n): pool.apply_async(square, (i,)).get()
    out("pool_round_trip_us", (time.perf_counter() - t) / n * 1e6)
n = 50_000; v = ctx.Value("Q", 0); t = time.perf_counter()
for p in [run(inc, v, n) for _ in range(2)]: p.join()
assert v.value == 2 * n
out("value_mps", 2 * n / (time.perf_counter() - t) / 1e6)
n = 5000; a, b = ctx.Semaphore(0), ctx.Semaphore(0); p = run(sem_child, a, b, n)
t = time.perf_counter()
for _ in range(n): a.release(); b.acquire()
out("semaphore_us", (time.perf_counter() - t) / n * 1e6); p.join()
n = 2000; cond = ctx.Condition(ctx.Lock()); turn = ctx.RawValue("I", 0)
t = time.perf_counter(); p = run(play, cond, turn, 1, n); play(cond, turn, 0, n); p.join()
out("condition_turn_us", (time.perf_counter() - t) / (2 * n) * 1e6)
n = 5000; a, b = ctx.Pipe(); p = run(echo, b, n); x = 0; t = time.perf_counter()
for _ in range(n): a.send(x); x = a.recv()
out("pipe_round_trip_us", (time.perf_counter() - t) / n * 1e6); p.join()
n = 20_000; q = ctx.Queue(); sums = ctx.Queue(); t = time.perf_counter()
cs = [run(consume, q, sums) for _ in range(2)]
for p in [run(produce, q, i, n) for i in range(2)]: p.join()
for _ in cs: q.put(None)
total = sums.get() + sums.get()
for c in cs: c.join()
out("queue_mps", 2 * n / (time.perf_counter() - t) / 1e6)
"#;

/// Runs [`PYTHON`] with `python3`; `None` (with the reason printed) if it cannot.
fn python_figures() -> Option<Figures> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("python3")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("\npython3 not available ({e}): the comparison with Python is skipped");
            return None;
        }
    };
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(PYTHON.as_bytes()));
    let output = match (written, child.wait_with_output()) {
        (Some(Ok(())), Ok(out)) if out.status.success() => out,
        (_, Ok(out)) => {
            println!(
                "\npython3 failed ({}): the comparison with Python is skipped\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        (_, Err(e)) => {
            println!("\npython3 failed ({e}): the comparison with Python is skipped");
            return None;
        }
    };
    let mut fig = Figures::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let slot = match name {
            "process_start_us" => &mut fig.process_start_us,
            "pool_map_ms" => &mut fig.pool_map_ms,
            "pool_round_trip_us" => &mut fig.pool_round_trip_us,
            "value_mps" => &mut fig.value_mps,
            "semaphore_us" => &mut fig.semaphore_us,
            "condition_turn_us" => &mut fig.condition_turn_us,
            "pipe_round_trip_us" => &mut fig.pipe_round_trip_us,
            "queue_mps" => &mut fig.queue_mps,
            _ => continue,
        };
        *slot = value;
    }
    Some(fig)
}

/// The final table: each figure beside Python's, and how many times faster multiproc is.
fn compare(ours: &Figures, python: &Figures) {
    // (what, unit, ours, Python's, whether a larger figure is better)
    let rows = [
        (
            "Process start + join (fork)",
            "µs",
            ours.process_start_us,
            python.process_start_us,
            false,
        ),
        (
            "Pool(2).map over 1,000,000 items",
            "ms",
            ours.pool_map_ms,
            python.pool_map_ms,
            false,
        ),
        (
            "Pool apply_async().get()",
            "µs",
            ours.pool_round_trip_us,
            python.pool_round_trip_us,
            false,
        ),
        (
            "Value: locked increments, 2 processes",
            "M/s",
            ours.value_mps,
            python.value_mps,
            true,
        ),
        (
            "Semaphore ping-pong round trip",
            "µs",
            ours.semaphore_us,
            python.semaphore_us,
            false,
        ),
        (
            "Lock + Condition: one turn",
            "µs",
            ours.condition_turn_us,
            python.condition_turn_us,
            false,
        ),
        (
            "Pipe round trip (shared memory)",
            "µs",
            ours.pipe_round_trip_us,
            python.pipe_round_trip_us,
            false,
        ),
        (
            "Queue 2 -> 2, with process start",
            "M/s",
            ours.queue_mps,
            python.queue_mps,
            true,
        ),
    ];
    println!("\nAgainst Python's multiprocessing (fork), measured now on this machine:\n");
    println!(
        "{:40} {:>14} {:>14} {:>10}",
        "", "multiproc", "Python", "faster"
    );
    for (what, unit, ours, theirs, larger_better) in rows {
        let ratio = if larger_better {
            ours / theirs
        } else {
            theirs / ours
        };
        let ratio = if ratio.is_finite() && ratio >= 10.0 {
            format!("{ratio:.0}x")
        } else if ratio.is_finite() && ratio > 0.0 {
            format!("{ratio:.1}x")
        } else {
            "-".to_owned()
        };
        println!(
            "{what:40} {:>10.2} {unit:3} {:>10.2} {unit:3} {ratio:>10}",
            ours, theirs
        );
    }
}

fn main() -> Result {
    let began = Instant::now();
    println!("multiproc tour: real processes, timings on this machine\n");
    let mut fig = Figures::default();
    processes(&mut fig)?;
    pool(&mut fig)?;
    value(&mut fig)?;
    atomic()?;
    array()?;
    shared_memory()?;
    owner_died()?;
    semaphore(&mut fig)?;
    lock_and_condition(&mut fig)?;
    pipe_ping_pong_and_large_transfer(&mut fig)?;
    queue_producer_consumer(&mut fig)?;
    event_and_barrier()?;
    alarm()?;
    handled_sigterm()?;
    println!(
        "stale segments removed by cleanup: {:?}",
        multiproc::shm::cleanup()?
    );
    println!("\nthe tour took {:.1?}", began.elapsed());
    if let Some(python) = python_figures() {
        compare(&fig, &python);
    }
    Ok(())
}
