//! The one explicit table from criterion ids (and Python's figure ids) to the report's
//! workloads and columns. An id found in a run that is not here is reported as unmapped; an
//! entry here that produced no figure is reported as missing.

/// A column of the report: who implements the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Col {
    /// multiproc itself.
    Multiproc,
    /// Raw system calls or libc written in the benches: the floor (or a single-process limit).
    Raw,
    /// ipc-channel.
    IpcChannel,
    /// interprocess.
    Interprocess,
    /// iceoryx2.
    Iceoryx2,
    /// procspawn.
    Procspawn,
    /// raw_sync.
    RawSync,
    /// crossbeam-channel between two threads of one process: the in-process ceiling.
    Crossbeam,
    /// Python's multiprocessing (a script in `benches/python/`).
    Python,
}

impl Col {
    /// Every column, in the table's order.
    pub const ALL: [Col; 9] = [
        Col::Multiproc,
        Col::Raw,
        Col::IpcChannel,
        Col::Interprocess,
        Col::Iceoryx2,
        Col::Procspawn,
        Col::RawSync,
        Col::Crossbeam,
        Col::Python,
    ];

    /// The column's heading.
    pub fn title(self) -> &'static str {
        match self {
            Col::Multiproc => "multiproc",
            Col::Raw => "raw floor",
            Col::IpcChannel => "ipc-channel",
            Col::Interprocess => "interprocess",
            Col::Iceoryx2 => "iceoryx2",
            Col::Procspawn => "procspawn",
            Col::RawSync => "raw_sync",
            Col::Crossbeam => "crossbeam (threads)",
            Col::Python => "Python",
        }
    }

    /// Whether the column is a peer library across processes: the candidates for "best peer".
    /// Not the raw floor, not crossbeam between threads (the in-process ceiling), not Python
    /// (its own ratio column), not multiproc.
    pub fn is_peer(self) -> bool {
        matches!(
            self,
            Col::IpcChannel | Col::Interprocess | Col::Iceoryx2 | Col::Procspawn | Col::RawSync
        )
    }

    /// The colour of its bars and points.
    pub fn colour(self) -> &'static str {
        match self {
            Col::Multiproc => "#c0392b",
            Col::Raw => "#7f8c8d",
            Col::IpcChannel => "#2874a6",
            Col::Interprocess => "#7d3c98",
            Col::Iceoryx2 => "#148f77",
            Col::Procspawn => "#ca6f1e",
            Col::RawSync => "#34495e",
            Col::Crossbeam => "#229954",
            Col::Python => "#b7950b",
        }
    }
}

/// The unit a workload is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds per operation (lower is better).
    Micros(&'static str),
    /// Nanoseconds per operation (lower is better).
    Nanos(&'static str),
    /// Millions of items per second (higher is better); the item's name.
    Mega(&'static str),
    /// GiB per second (higher is better).
    GibPerSec,
}

impl Unit {
    /// Whether a larger figure is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::Mega(_) | Unit::GibPerSec)
    }

    /// The unit's short name, for cells.
    pub fn short(self) -> &'static str {
        match self {
            Unit::Micros(_) => "µs",
            Unit::Nanos(_) => "ns",
            Unit::Mega(_) => "M/s",
            Unit::GibPerSec => "GiB/s",
        }
    }

    /// The unit in words.
    pub fn long(self) -> String {
        match self {
            Unit::Micros(per) => format!("µs per {per}"),
            Unit::Nanos(per) => format!("ns per {per}"),
            Unit::Mega(what) => format!("M {what}/s"),
            Unit::GibPerSec => "GiB/s".to_owned(),
        }
    }

    /// Converts a time per iteration (ns) and what one iteration moves (items or bytes, from
    /// criterion's throughput; `None` when it set none) into this unit.
    pub fn from_iteration(self, ns: f64, per_iteration: Option<f64>) -> Option<f64> {
        match self {
            Unit::Micros(_) => Some(ns / 1e3),
            Unit::Nanos(_) => Some(ns),
            Unit::Mega(_) => per_iteration.map(|n| n / ns * 1e3),
            Unit::GibPerSec => per_iteration.map(|b| b / ns * 1e9 / (1u64 << 30) as f64),
        }
    }

    /// Converts a time per operation (ns) into this unit, for time units only.
    pub fn from_nanos(self, ns: f64) -> Option<f64> {
        match self {
            Unit::Micros(_) => Some(ns / 1e3),
            Unit::Nanos(_) => Some(ns),
            _ => None,
        }
    }

    /// Converts items (or bytes) per second into this unit, for rate units only.
    pub fn from_per_second(self, rate: f64) -> Option<f64> {
        match self {
            Unit::Mega(_) => Some(rate / 1e6),
            Unit::GibPerSec => Some(rate / (1u64 << 30) as f64),
            _ => None,
        }
    }
}

/// A row of the report.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// A short key, used in file names (`bars_<key>.svg`).
    pub key: &'static str,
    /// The workload's name in the brief (W1, W4b, ...) or the micro-bench's.
    pub name: &'static str,
    /// What it measures.
    pub title: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// The bench (`benches/benches/<bench>.rs`) whose run produces its criterion rows.
    pub bench: &'static str,
    /// The latency chart its per-sample distribution goes into, if any.
    pub distribution: Option<&'static str>,
}

/// The report's rows, in order.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        key: "w1",
        name: "W1",
        title: "pipe round trip, 64 B",
        unit: Unit::Micros("round trip"),
        bench: "w1_w3_pipe",
        distribution: Some("w1"),
    },
    Workload {
        key: "w2",
        name: "W2",
        title: "pipe one way, 64 B messages",
        unit: Unit::Mega("msgs"),
        bench: "w1_w3_pipe",
        distribution: None,
    },
    Workload {
        key: "w3",
        name: "W3",
        title: "pipe one way, 1 MiB messages",
        unit: Unit::GibPerSec,
        bench: "w1_w3_pipe",
        distribution: None,
    },
    Workload {
        key: "w4",
        name: "W4",
        title: "queue 1 → 1, 64 B",
        unit: Unit::Mega("msgs"),
        bench: "w4_w5_queue",
        distribution: None,
    },
    Workload {
        key: "w4b",
        name: "W4b",
        title: "queue 2 → 2, 64 B",
        unit: Unit::Mega("msgs"),
        bench: "w4_w5_queue",
        distribution: None,
    },
    Workload {
        key: "w5",
        name: "W5",
        title: "queue request/response round trip, 64 B",
        unit: Unit::Micros("round trip"),
        bench: "w4_w5_queue",
        distribution: Some("w5"),
    },
    Workload {
        key: "w6",
        name: "W6",
        title: "2 processes × 1,000,000 locked increments",
        unit: Unit::Mega("increments"),
        bench: "w6_locked_counter",
        distribution: None,
    },
    Workload {
        key: "w7",
        name: "W7",
        title: "ping-pong round trip (semaphore, event)",
        unit: Unit::Micros("round trip"),
        bench: "w7_ping_pong",
        distribution: Some("w7"),
    },
    Workload {
        key: "w8_fork",
        name: "W8 fork",
        title: "start + join of an empty process, fork",
        unit: Unit::Micros("start + join"),
        bench: "w8_process",
        distribution: Some("w8"),
    },
    Workload {
        key: "w8_forkserver",
        name: "W8 forkserver",
        title: "start + join of an empty process, forkserver",
        unit: Unit::Micros("start + join"),
        bench: "w8_process",
        distribution: Some("w8"),
    },
    Workload {
        key: "w8_spawn",
        name: "W8 spawn",
        title: "start + join of an empty process, spawn (exec)",
        unit: Unit::Micros("start + join"),
        bench: "w8_process",
        distribution: Some("w8"),
    },
    Workload {
        key: "w9_default",
        name: "W9",
        title: "pool of 2, map identity, default chunks",
        unit: Unit::Mega("items"),
        bench: "w9_pool",
        distribution: None,
    },
    Workload {
        key: "w9_1000",
        name: "W9 chunks of 1000",
        title: "pool of 2, map identity, chunksize 1000",
        unit: Unit::Mega("items"),
        bench: "w9_pool",
        distribution: None,
    },
    Workload {
        key: "w9_1",
        name: "W9 chunksize 1",
        title: "pool of 2, map identity, a task per item",
        unit: Unit::Mega("items"),
        bench: "w9_pool",
        distribution: None,
    },
    Workload {
        key: "w9b",
        name: "W9b",
        title: "pool of 2, apply_async().get() round trip",
        unit: Unit::Micros("round trip"),
        bench: "w9_pool",
        distribution: Some("w9b"),
    },
    Workload {
        key: "w10_write",
        name: "W10 write",
        title: "256 MiB shared array written by a child",
        unit: Unit::GibPerSec,
        bench: "w10_shared_array",
        distribution: None,
    },
    Workload {
        key: "w10_read",
        name: "W10 read",
        title: "256 MiB shared array read by the parent",
        unit: Unit::GibPerSec,
        bench: "w10_shared_array",
        distribution: None,
    },
    Workload {
        key: "lock",
        name: "lock",
        title: "uncontended lock + unlock, one process",
        unit: Unit::Nanos("lock + unlock"),
        bench: "lock_uncontended",
        distribution: None,
    },
    Workload {
        key: "signal",
        name: "signal",
        title: "signal round trip: kill → handler in the child → parent sees it",
        unit: Unit::Micros("round trip"),
        bench: "signal_latency",
        distribution: None,
    },
];

/// The latency charts: key, title, and the workloads they show.
pub const DISTRIBUTIONS: &[(&str, &str)] = &[
    ("w1", "W1 pipe round trip, 64 B"),
    ("w5", "W5 queue request/response round trip, 64 B"),
    ("w7", "W7 ping-pong round trip"),
    ("w8", "W8 start + join of an empty process"),
    ("w9b", "W9b pool apply_async().get() round trip"),
];

/// The benches, in the order the report runs them.
pub const BENCHES: &[&str] = &[
    "w1_w3_pipe",
    "w4_w5_queue",
    "w6_locked_counter",
    "w7_ping_pong",
    "w8_process",
    "w9_pool",
    "w10_shared_array",
    "lock_uncontended",
    "signal_latency",
];

/// Benches whose rows each run in a process of their own (`--exact <row>`), then once more
/// for the Python script they run themselves (its id given here). A W8 row forks thousands
/// of children, and what a fork costs depends on the state of the process that forks: after
/// criterion has analysed one row (its heap grown, more pages to copy and to write-protect),
/// every later fork costs more, raw `fork` + `waitpid` as much as ours (measured: the first
/// row of a process about 170 µs, the same row after one or two others 260–470 µs). Rows sharing a process
/// would be compared in different conditions.
pub const ROW_PER_PROCESS: &[(&str, &str)] =
    &[("w8_process", "w8_start_join/python_multiprocessing")];

/// The criterion rows of `bench`, as the map knows them.
pub fn criterion_rows(bench: &str) -> Vec<&'static str> {
    ENTRIES
        .iter()
        .filter(|e| e.source() == Source::Criterion && workload(e.workload).bench == bench)
        .map(|e| e.id)
        .collect()
}

/// Python scripts that no bench runs, which the report runs itself after the bench named
/// first: (bench, script, arguments). The other scripts are run by their benches.
pub const REPORT_SCRIPTS: &[(&str, &str, &[&str])] = &[
    ("w6_locked_counter", "w6_value_lock.py", &[]),
    ("w7_ping_pong", "w7_ping_pong.py", &[]),
    ("w10_shared_array", "w10_raw_array.py", &[]),
];

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A criterion row (its JSON files).
    Criterion,
    /// A Python script's recorded figure.
    Python,
}

/// One known id: the workload it measures, its column, whether it is the column's cell in the
/// summary table (one per workload and column), and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// criterion's full id (`group/function`) or the Python figure's id.
    pub id: &'static str,
    /// Its workload's key.
    pub workload: &'static str,
    /// Its column.
    pub col: Col,
    /// Whether it is the column's cell in the summary table.
    pub primary: bool,
    /// What it is, in a few words.
    pub label: &'static str,
}

impl Entry {
    /// Where its figure comes from: Python's figures are the [`Col::Python`] entries.
    pub fn source(&self) -> Source {
        if self.col == Col::Python {
            Source::Python
        } else {
            Source::Criterion
        }
    }
}

const fn e(
    id: &'static str,
    workload: &'static str,
    col: Col,
    primary: bool,
    label: &'static str,
) -> Entry {
    Entry {
        id,
        workload,
        col,
        primary,
        label,
    }
}

use Col::*;

/// Every id a run is expected to produce. The module docs of `benches/benches/*.rs` say
/// exactly what each row does.
#[rustfmt::skip]
pub const ENTRIES: &[Entry] = &[
    // W1-W3: benches/benches/w1_w3_pipe.rs, benches/python/w1_w3_pipe.py.
    e("w1_round_trip_64B/multiproc_pipe", "w1", Multiproc, true, "pipe(), shared memory"),
    e("w1_round_trip_64B/multiproc_pipe_socket", "w1", Multiproc, false, "pipe(), socket transport"),
    e("w1_round_trip_64B/raw_socketpair", "w1", Raw, true, "Unix socket pair"),
    e("w1_round_trip_64B/ipc_channel", "w1", IpcChannel, true, "bytes_channel"),
    e("w1_round_trip_64B/interprocess_unnamed_pipe", "w1", Interprocess, true, "unnamed pipes, framed"),
    e("w1_round_trip_64B/iceoryx2", "w1", Iceoryx2, true, "publish/subscribe, copy in and out"),
    e("w1_round_trip_64B/crossbeam_channel_threads", "w1", Crossbeam, true, "bounded channels, two threads"),
    e("w1_round_trip_64B/python_multiprocessing", "w1", Python, true, "multiprocessing.Pipe()"),
    e("w2_one_way_64B/multiproc_pipe", "w2", Multiproc, true, "pipe(), shared memory"),
    e("w2_one_way_64B/multiproc_pipe_socket", "w2", Multiproc, false, "pipe(), socket transport"),
    e("w2_one_way_64B/raw_socketpair", "w2", Raw, true, "Unix socket pair"),
    e("w2_one_way_64B/ipc_channel", "w2", IpcChannel, true, "bytes_channel"),
    e("w2_one_way_64B/interprocess_unnamed_pipe", "w2", Interprocess, true, "unnamed pipes, framed"),
    e("w2_one_way_64B/iceoryx2", "w2", Iceoryx2, true, "publish/subscribe, copy in and out"),
    e("w2_one_way_64B/crossbeam_channel_threads", "w2", Crossbeam, true, "bounded channels, two threads"),
    e("w2_one_way_64B/python_multiprocessing", "w2", Python, true, "multiprocessing.Pipe()"),
    e("w3_one_way_1MiB/multiproc_pipe", "w3", Multiproc, true, "pipe(), shared memory, recv_bytes"),
    e("w3_one_way_1MiB/multiproc_pipe_recv_into", "w3", Multiproc, false, "pipe(), recv_bytes_into a reused buffer"),
    e("w3_one_way_1MiB/multiproc_pipe_socket", "w3", Multiproc, false, "pipe(), socket transport"),
    e("w3_one_way_1MiB/raw_socketpair", "w3", Raw, true, "Unix socket pair"),
    e("w3_one_way_1MiB/ipc_channel", "w3", IpcChannel, true, "bytes_channel"),
    e("w3_one_way_1MiB/interprocess_unnamed_pipe", "w3", Interprocess, true, "unnamed pipes, framed"),
    e("w3_one_way_1MiB/iceoryx2", "w3", Iceoryx2, true, "publish/subscribe, copy in and out"),
    e("w3_one_way_1MiB/crossbeam_channel_threads", "w3", Crossbeam, true, "bounded channels, two threads"),
    e("w3_one_way_1MiB/python_multiprocessing", "w3", Python, true, "multiprocessing.Pipe()"),
    // W4, W4b, W5: benches/benches/w4_w5_queue.rs, benches/python/w4_w5_queue.py.
    e("w4_queue_1to1_64B/multiproc_queue", "w4", Multiproc, true, "Queue<Vec<u8>>"),
    e("w4_queue_1to1_64B/multiproc_queue_bytes", "w4", Multiproc, false, "Queue, put_bytes/get_bytes_into"),
    e("w4_queue_1to1_64B/multiproc_posix_mq", "w4", Multiproc, false, "PosixMq"),
    e("w4_queue_1to1_64B/raw_shm_spin_ring", "w4", Raw, true, "shared-memory spin ring"),
    e("w4_queue_1to1_64B/raw_posix_mq", "w4", Raw, false, "POSIX mq (libc)"),
    e("w4_queue_1to1_64B/ipc_channel", "w4", IpcChannel, true, "IpcSender<Vec<u8>>"),
    e("w4_queue_1to1_64B/crossbeam_channel_threads", "w4", Crossbeam, true, "bounded channel, threads"),
    e("w4_queue_1to1_64B/python_multiprocessing", "w4", Python, true, "multiprocessing.Queue"),
    e("w4b_queue_2to2_64B/multiproc_queue", "w4b", Multiproc, true, "Queue<Vec<u8>>"),
    e("w4b_queue_2to2_64B/multiproc_queue_bytes", "w4b", Multiproc, false, "Queue, put_bytes/get_bytes_into"),
    e("w4b_queue_2to2_64B/multiproc_posix_mq", "w4b", Multiproc, false, "PosixMq"),
    e("w4b_queue_2to2_64B/raw_shm_spin_ring", "w4b", Raw, true, "shared-memory spin ring (MPMC)"),
    e("w4b_queue_2to2_64B/raw_posix_mq", "w4b", Raw, false, "POSIX mq (libc)"),
    e("w4b_queue_2to2_64B/ipc_channel", "w4b", IpcChannel, true, "IpcSender<Vec<u8>>, shared receiver"),
    e("w4b_queue_2to2_64B/crossbeam_channel_threads", "w4b", Crossbeam, true, "bounded channel, threads"),
    e("w4b_queue_2to2_64B/python_multiprocessing", "w4b", Python, true, "multiprocessing.Queue"),
    e("w5_queue_round_trip_64B/multiproc_queue", "w5", Multiproc, true, "Queue<Vec<u8>>"),
    e("w5_queue_round_trip_64B/multiproc_queue_bytes", "w5", Multiproc, false, "Queue, put_bytes/get_bytes_into"),
    e("w5_queue_round_trip_64B/multiproc_posix_mq", "w5", Multiproc, false, "PosixMq"),
    e("w5_queue_round_trip_64B/raw_shm_spin_ring", "w5", Raw, true, "shared-memory spin ring"),
    e("w5_queue_round_trip_64B/raw_posix_mq", "w5", Raw, false, "POSIX mq (libc)"),
    e("w5_queue_round_trip_64B/ipc_channel", "w5", IpcChannel, true, "IpcSender<Vec<u8>>"),
    e("w5_queue_round_trip_64B/crossbeam_channel_threads", "w5", Crossbeam, true, "bounded channels, threads"),
    e("w5_queue_round_trip_64B/python_multiprocessing", "w5", Python, true, "multiprocessing.Queue"),
    // W6: benches/benches/w6_locked_counter.rs, benches/python/w6_value_lock.py.
    e("w6_locked_counter/multiproc_value", "w6", Multiproc, true, "Value, *v.lock()? += 1"),
    e("w6_locked_counter/multiproc_lock", "w6", Multiproc, false, "sync Lock + counter"),
    e("w6_locked_counter/multiproc_rlock", "w6", Multiproc, false, "sync RLock + counter"),
    e("w6_locked_counter/raw_futex_mutex", "w6", Raw, true, "futex mutex (not robust)"),
    e("w6_locked_counter/pthread_process_shared", "w6", Raw, false, "pthread mutex, process-shared"),
    e("w6_locked_counter/pthread_process_shared_robust", "w6", Raw, false, "pthread mutex, process-shared, robust"),
    e("w6_locked_counter/raw_sync_mutex", "w6", RawSync, true, "raw_sync Mutex"),
    e("w6_locked_counter/python_value_get_lock", "w6", Python, true, "Value.get_lock() (an RLock)"),
    e("w6_locked_counter/python_lock_raw_value", "w6", Python, false, "Lock + RawValue"),
    // W7: benches/benches/w7_ping_pong.rs, benches/python/w7_ping_pong.py.
    e("w7_ping_pong/multiproc_semaphore", "w7", Multiproc, true, "Semaphore"),
    e("w7_ping_pong/multiproc_event", "w7", Multiproc, false, "Event"),
    e("w7_ping_pong/multiproc_lock_condition", "w7", Multiproc, false, "Lock + Condition"),
    e("w7_ping_pong/raw_futex_sleep_only", "w7", Raw, true, "futex pair, sleep only"),
    e("w7_ping_pong/eventfd_sleep_only", "w7", Raw, false, "eventfd pair, sleep only"),
    e("w7_ping_pong/raw_sync_event", "w7", RawSync, true, "Event (mutex + condvar)"),
    e("w7_ping_pong/raw_sync_busy_event", "w7", RawSync, false, "BusyEvent (spins forever)"),
    e("w7_ping_pong/python_semaphore", "w7", Python, true, "Semaphore"),
    e("w7_ping_pong/python_event", "w7", Python, false, "Event"),
    e("w7_ping_pong/python_lock_condition", "w7", Python, false, "Lock + Condition"),
    // W8: benches/benches/w8_process.rs, benches/python/w8_process.py.
    e("w8_start_join/multiproc_process_fork", "w8_fork", Multiproc, true, "Process, fork"),
    e("w8_start_join/multiproc_spawn_unit", "w8_fork", Multiproc, false, "spawn(|| ()) + join"),
    e("w8_start_join/raw_fork_waitpid", "w8_fork", Raw, true, "fork + waitpid"),
    e("w8_start_join/python_fork", "w8_fork", Python, true, "Process, fork"),
    e("w8_start_join/multiproc_process_forkserver", "w8_forkserver", Multiproc, true, "Process, forkserver"),
    e("w8_start_join/python_forkserver", "w8_forkserver", Python, true, "Process, forkserver"),
    e("w8_start_join/multiproc_process_spawn_method", "w8_spawn", Multiproc, true, "Process, spawn"),
    e("w8_start_join/command_bin_true", "w8_spawn", Raw, true, "Command /bin/true (fork + exec)"),
    e("w8_start_join/procspawn", "w8_spawn", Procspawn, true, "procspawn::spawn"),
    e("w8_start_join/python_spawn", "w8_spawn", Python, true, "Process, spawn"),
    // W9, W9b: benches/benches/w9_pool.rs, benches/python/w9_pool.py.
    e("w9_pool_map_default_chunks/multiproc_fork", "w9_default", Multiproc, true, "Pool::map"),
    e("w9_pool_map_default_chunks/procspawn_pool", "w9_default", Procspawn, true, "Pool, a job per chunk"),
    e("w9_pool_map_default_chunks/python_multiprocessing", "w9_default", Python, true, "Pool.map"),
    e("w9_pool_map_chunksize_1000/multiproc_fork", "w9_1000", Multiproc, true, "Pool::map_chunked"),
    e("w9_pool_map_chunksize_1000/procspawn_pool", "w9_1000", Procspawn, true, "Pool, a job per chunk"),
    e("w9_pool_map_chunksize_1000/python_multiprocessing", "w9_1000", Python, true, "Pool.map"),
    e("w9_pool_map_chunksize_1/multiproc_fork", "w9_1", Multiproc, true, "Pool::map_chunked"),
    e("w9_pool_map_chunksize_1/procspawn_pool", "w9_1", Procspawn, true, "Pool, a job per item"),
    e("w9_pool_map_chunksize_1/python_multiprocessing", "w9_1", Python, true, "Pool.map"),
    e("w9b_pool_apply_async_round_trip/multiproc_fork", "w9b", Multiproc, true, "Pool, fork workers"),
    e("w9b_pool_apply_async_round_trip/multiproc_forkserver", "w9b", Multiproc, false, "Pool, forkserver workers"),
    e("w9b_pool_apply_async_round_trip/procspawn_pool", "w9b", Procspawn, true, "Pool::spawn + join"),
    e("w9b_pool_apply_async_round_trip/python_multiprocessing", "w9b", Python, true, "Pool.apply_async"),
    // W10: benches/benches/w10_shared_array.rs, benches/python/w10_raw_array.py.
    e("w10_shared_array_256MiB/write/array_in_child", "w10_write", Multiproc, true, "Array: prefault + fill"),
    e("w10_shared_array_256MiB/write/shared_memory_fill_in_child", "w10_write", Multiproc, false, "SharedMemory::fill"),
    e("w10_shared_array_256MiB/write/local_memset", "w10_write", Raw, true, "memset, one process"),
    e("w10_shared_array_256MiB/write/python_raw_array_in_child", "w10_write", Python, true, "RawArray, ctypes.memset"),
    e("w10_shared_array_256MiB/read/array_in_parent", "w10_read", Multiproc, true, "Array: read-sum through the guard"),
    e("w10_shared_array_256MiB/read/shared_memory_slice_in_parent", "w10_read", Multiproc, false, "SharedMemory: read-sum in place"),
    e("w10_shared_array_256MiB/read/shared_memory_copy_in_parent", "w10_read", Multiproc, false, "SharedMemory::read, a copy"),
    e("w10_shared_array_256MiB/read/local_sum", "w10_read", Raw, true, "read-sum, one process"),
    e("w10_shared_array_256MiB/read/local_memcpy", "w10_read", Raw, false, "memcpy, one process"),
    e("w10_shared_array_256MiB/read/python_raw_array_in_parent", "w10_read", Python, true, "RawArray, sum of 8-byte words"),
    // benches/benches/lock_uncontended.rs.
    e("lock_uncontended/multiproc_sync_lock", "lock", Multiproc, true, "sync Lock (robust)"),
    e("lock_uncontended/multiproc_value", "lock", Multiproc, false, "Value::lock (robust)"),
    e("lock_uncontended/multiproc_sync_rlock", "lock", Multiproc, false, "sync RLock (robust)"),
    e("lock_uncontended/floor_cas_swap", "lock", Raw, true, "compare-exchange + swap"),
    e("lock_uncontended/raw_futex_mutex", "lock", Raw, false, "futex mutex (not robust)"),
    e("lock_uncontended/pthread_process_shared", "lock", Raw, false, "pthread mutex, process-shared"),
    e("lock_uncontended/pthread_process_shared_robust", "lock", Raw, false, "pthread mutex, process-shared, robust"),
    e("lock_uncontended/raw_sync_mutex", "lock", RawSync, true, "raw_sync Mutex"),
    // benches/benches/signal_latency.rs.
    e("signal_latency/multiproc_signals_iterator", "signal", Multiproc, true, "Signals iterator"),
    e("signal_latency/multiproc_spawn_handler", "signal", Multiproc, false, "spawn_handler"),
    e("signal_latency/raw_sigaction_self_pipe", "signal", Raw, true, "sigaction + self-pipe"),
    e("signal_latency/raw_sigaction_in_handler", "signal", Raw, false, "sigaction, counter in the handler"),
];

/// The workload with this key.
///
/// # Panics
///
/// If there is none (the tables above disagree).
pub fn workload(key: &str) -> &'static Workload {
    WORKLOADS
        .iter()
        .find(|w| w.key == key)
        .unwrap_or_else(|| panic!("no workload {key}"))
}

/// The entry with this id, if the map knows it.
pub fn entry(id: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.id == id)
}

/// The entries of one workload, in the table's order.
pub fn entries_of(key: &str) -> impl Iterator<Item = &'static Entry> + '_ {
    ENTRIES.iter().filter(move |e| e.workload == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_tables_agree() {
        let mut ids = HashSet::new();
        for e in ENTRIES {
            assert!(ids.insert(e.id), "{} twice", e.id);
            let w = workload(e.workload);
            assert!(BENCHES.contains(&w.bench), "{}: bench {}", w.key, w.bench);
            if e.col == Col::Python {
                assert!(
                    e.id.contains("/python"),
                    "{}: a Python id names python",
                    e.id
                );
            }
        }
        for w in WORKLOADS {
            // One cell per column at most, and multiproc's always.
            for col in Col::ALL {
                let primaries = entries_of(w.key)
                    .filter(|e| e.col == col && e.primary)
                    .count();
                let any = entries_of(w.key).any(|e| e.col == col);
                assert_eq!(primaries, usize::from(any), "{} / {col:?}", w.key);
            }
            assert!(entries_of(w.key).any(|e| e.col == Col::Multiproc && e.primary));
            if let Some(d) = w.distribution {
                assert!(DISTRIBUTIONS.iter().any(|(k, _)| *k == d), "{}", w.key);
            }
        }
        let keys: HashSet<_> = WORKLOADS.iter().map(|w| w.key).collect();
        assert_eq!(keys.len(), WORKLOADS.len());
    }

    #[test]
    fn units_convert() {
        // 1 µs per iteration of 1 item: 1 M items/s; of 1 GiB: 1e6 GiB/s.
        assert_eq!(Unit::Mega("x").from_iteration(1000.0, Some(1.0)), Some(1.0));
        assert_eq!(
            Unit::GibPerSec.from_iteration(1000.0, Some((1u64 << 30) as f64)),
            Some(1e6)
        );
        assert_eq!(Unit::Micros("x").from_iteration(2500.0, None), Some(2.5));
        assert_eq!(Unit::Mega("x").from_iteration(1000.0, None), None);
        assert_eq!(Unit::Mega("x").from_per_second(2e6), Some(2.0));
        assert_eq!(Unit::Nanos("x").from_per_second(2e6), None);
        assert_eq!(Unit::Micros("x").from_nanos(1500.0), Some(1.5));
    }
}
