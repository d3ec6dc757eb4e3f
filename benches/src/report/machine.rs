//! The machine a run is made on (from `/proc`), the date in UTC, and how much CPU time other
//! processes took during the run.

use std::time::{SystemTime, UNIX_EPOCH};

/// What the report says about the machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `model name` of `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs in `/proc/cpuinfo`.
    pub cpus: usize,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// `MemTotal` of `/proc/meminfo`, GiB.
    pub memory_gib: f64,
}

impl Machine {
    /// Reads `/proc`; what it cannot read stays empty.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |line: &str, name: &str| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        };
        let cpu = cpuinfo
            .lines()
            .find_map(|l| field(l, "model name"))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cpus = cpuinfo
            .lines()
            .filter(|l| field(l, "processor").is_some())
            .count();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines().find_map(|l| {
                    let kib = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                    kib.trim().parse::<f64>().ok()
                })
            })
            .map_or(0.0, |kib| kib / (1 << 20) as f64);
        Machine {
            cpu,
            cpus,
            kernel,
            memory_gib,
        }
    }
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks (`USER_HZ`, 100 on Linux) of CPU time: the whole machine's busy time, and this
/// process's with its waited-for descendants'.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    /// user + nice + system + irq + softirq over all CPUs (`/proc/stat`).
    pub machine_busy: u64,
    /// utime + stime + cutime + cstime of this process (`/proc/self/stat`).
    pub ours: u64,
}

/// `USER_HZ`: the unit of `/proc/stat` and `/proc/<pid>/stat` times on Linux.
pub const TICKS_PER_SECOND: f64 = 100.0;

impl CpuTicks {
    /// Reads both now (zeros where `/proc` cannot be read).
    pub fn now() -> CpuTicks {
        let machine_busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("cpu "))?;
                let f: Vec<u64> = line
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq ...
                Some(f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)?)
            })
            .unwrap_or(0);
        let ours = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                // Fields after the command (which may hold spaces) end with ')'.
                let rest = &s[s.rfind(')')? + 1..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                // utime is field 14 of the line, the 12th after the command.
                (11..15).map(|i| f.get(i)?.parse::<u64>().ok()).sum()
            })
            .unwrap_or(0);
        CpuTicks { machine_busy, ours }
    }

    /// CPU seconds that processes other than this run's took between `start` and `self`:
    /// the machine's busy time less ours (an estimate: a descendant we never waited for counts
    /// as someone else's).
    pub fn others_since(&self, start: &CpuTicks) -> f64 {
        let busy = self.machine_busy.saturating_sub(start.machine_busy);
        let ours = self.ours.saturating_sub(start.ours);
        busy.saturating_sub(ours) as f64 / TICKS_PER_SECOND
    }
}

/// Seconds since the epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYY-MM-DD HH:MM` in UTC for seconds since the epoch (Howard Hinnant's civil-from-days).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A duration in seconds as `1m05s` (or `42s`).
pub fn elapsed(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The first line a command prints (`rustc --version`), if it runs.
pub fn version_of(program: &str, arg: &str) -> Option<String> {
    let out = std::process::Command::new(program).arg(arg).output().ok()?;
    if !out.status.success() {
        return None;
    }
    // Python 2 printed its version on stderr; 3 prints it on stdout.
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(elapsed(65.4), "1m05s");
        assert_eq!(elapsed(42.0), "42s");
    }

    #[test]
    fn proc_is_read() {
        let m = Machine::read();
        assert!(
            m.cpus >= 1 && !m.kernel.is_empty() && m.memory_gib > 0.0,
            "{m:?}"
        );
        let t = CpuTicks::now();
        assert!(t.machine_busy > 0);
    }
}
