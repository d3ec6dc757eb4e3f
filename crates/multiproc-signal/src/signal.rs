//! `Signal`: the Linux signals by name and number, with their default actions.

use crate::error::SignalError;
use std::fmt;
use std::str::FromStr;

/// What the kernel does with a signal whose disposition is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefaultAction {
    /// The process terminates.
    Terminate,
    /// The process terminates and dumps core (where core dumps are enabled).
    Core,
    /// The process stops (until SIGCONT).
    Stop,
    /// A stopped process continues.
    Continue,
    /// Nothing happens.
    Ignore,
}

macro_rules! signals {
    ($($variant:ident = $raw:ident, $name:literal, $action:ident, $doc:literal;)*) => {
        /// A Unix signal (Linux numbering). Real-time signals are [`Signal::Realtime`]`(n)`,
        /// meaning `SIGRTMIN + n`.
        ///
        /// Parses from `"SIGTERM"`, `"TERM"` (any case) or `"15"`; displays as `SIGTERM`.
        ///
        /// ```
        /// use multiproc_signal::{DefaultAction, Signal};
        ///
        /// let sig: Signal = "term".parse()?;
        /// assert_eq!(sig, Signal::Term);
        /// assert_eq!(sig.as_raw(), 15);
        /// assert_eq!(sig.to_string(), "SIGTERM");
        /// assert_eq!("15".parse::<Signal>()?, Signal::Term);
        /// assert_eq!(Signal::Chld.default_action(), DefaultAction::Ignore);
        /// # Ok::<(), multiproc_signal::SignalError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Signal {
            $(
                #[doc = $doc]
                $variant,
            )*
            /// `SIGRTMIN + n`: a real-time signal. Unlike the standard signals, the kernel
            /// queues every real-time signal sent (up to `RLIMIT_SIGPENDING`) instead of
            /// merging repeats.
            Realtime(u8),
        }

        impl Signal {
            /// Every standard (non-real-time) signal.
            pub const STANDARD: &'static [Signal] = &[$(Signal::$variant),*];

            /// The signal's number.
            pub fn as_raw(self) -> i32 {
                match self {
                    $(Signal::$variant => libc::$raw,)*
                    Signal::Realtime(n) => rt_min() + i32::from(n),
                }
            }

            /// The signal with this number.
            ///
            /// # Errors
            ///
            /// [`SignalError::Invalid`] for numbers that are no signal (0, negatives, above
            /// `SIGRTMAX`).
            pub fn from_raw(raw: i32) -> Result<Signal, SignalError> {
                $(if raw == libc::$raw { return Ok(Signal::$variant); })*
                if (rt_min()..=rt_max()).contains(&raw) {
                    return Ok(Signal::Realtime((raw - rt_min()) as u8));
                }
                Err(SignalError::Invalid(raw.to_string()))
            }

            /// The C name (`"SIGTERM"`); real-time signals are `"SIGRTMIN+n"`.
            pub fn name(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(Signal::$variant => std::borrow::Cow::Borrowed($name),)*
                    Signal::Realtime(n) => std::borrow::Cow::Owned(format!("SIGRTMIN+{n}")),
                }
            }

            /// What the kernel does with it by default.
            pub fn default_action(self) -> DefaultAction {
                match self {
                    $(Signal::$variant => DefaultAction::$action,)*
                    Signal::Realtime(_) => DefaultAction::Terminate,
                }
            }
        }
    };
}

signals! {
    Hup = SIGHUP, "SIGHUP", Terminate, "Hangup of the controlling terminal, or death of its process.";
    Int = SIGINT, "SIGINT", Terminate, "Interrupt from the keyboard (Ctrl-C).";
    Quit = SIGQUIT, "SIGQUIT", Core, "Quit from the keyboard (Ctrl-\\).";
    Ill = SIGILL, "SIGILL", Core, "Illegal instruction.";
    Trap = SIGTRAP, "SIGTRAP", Core, "Trace or breakpoint trap.";
    Abrt = SIGABRT, "SIGABRT", Core, "Abort (`abort()`).";
    Bus = SIGBUS, "SIGBUS", Core, "Bus error: access to memory that is not backed.";
    Fpe = SIGFPE, "SIGFPE", Core, "Arithmetic exception.";
    Kill = SIGKILL, "SIGKILL", Terminate, "Kill: cannot be caught, blocked or ignored.";
    Usr1 = SIGUSR1, "SIGUSR1", Terminate, "User-defined signal 1.";
    Segv = SIGSEGV, "SIGSEGV", Core, "Invalid memory reference.";
    Usr2 = SIGUSR2, "SIGUSR2", Terminate, "User-defined signal 2.";
    Pipe = SIGPIPE, "SIGPIPE", Terminate, "Write to a pipe or socket with no reader.";
    Alrm = SIGALRM, "SIGALRM", Terminate, "Timer signal from `alarm` or the real interval timer.";
    Term = SIGTERM, "SIGTERM", Terminate, "Termination request.";
    StkFlt = SIGSTKFLT, "SIGSTKFLT", Terminate, "Stack fault on a coprocessor (unused).";
    Chld = SIGCHLD, "SIGCHLD", Ignore, "A child stopped, continued or terminated.";
    Cont = SIGCONT, "SIGCONT", Continue, "Continue if stopped.";
    Stop = SIGSTOP, "SIGSTOP", Stop, "Stop: cannot be caught, blocked or ignored.";
    Tstp = SIGTSTP, "SIGTSTP", Stop, "Stop typed at the terminal (Ctrl-Z).";
    Ttin = SIGTTIN, "SIGTTIN", Stop, "Terminal input for a background process.";
    Ttou = SIGTTOU, "SIGTTOU", Stop, "Terminal output for a background process.";
    Urg = SIGURG, "SIGURG", Ignore, "Urgent condition on a socket.";
    Xcpu = SIGXCPU, "SIGXCPU", Core, "CPU time limit exceeded.";
    Xfsz = SIGXFSZ, "SIGXFSZ", Core, "File size limit exceeded.";
    Vtalrm = SIGVTALRM, "SIGVTALRM", Terminate, "Virtual (user CPU time) interval timer.";
    Prof = SIGPROF, "SIGPROF", Terminate, "Profiling interval timer.";
    Winch = SIGWINCH, "SIGWINCH", Ignore, "Terminal window size changed.";
    Io = SIGIO, "SIGIO", Terminate, "I/O now possible.";
    Pwr = SIGPWR, "SIGPWR", Terminate, "Power failure.";
    Sys = SIGSYS, "SIGSYS", Core, "Bad system call.";
}

fn rt_min() -> i32 {
    libc::SIGRTMIN()
}

fn rt_max() -> i32 {
    libc::SIGRTMAX()
}

impl Signal {
    /// The signal's number, if this system has the signal: a [`Signal::Realtime`] beyond
    /// `SIGRTMAX` does not exist. Every operation of this crate checks it first.
    ///
    /// # Errors
    ///
    /// [`SignalError::Invalid`] for a real-time signal out of range.
    pub fn checked_raw(self) -> Result<i32, SignalError> {
        let raw = self.as_raw();
        if (1..=rt_max()).contains(&raw) {
            Ok(raw)
        } else {
            Err(SignalError::Invalid(self.to_string()))
        }
    }

    /// Whether a handler can be installed for it (not SIGKILL or SIGSTOP).
    pub fn is_catchable(self) -> bool {
        !matches!(self, Signal::Kill | Signal::Stop)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Signal {
    type Err = SignalError;

    /// Parses `"SIGTERM"`, `"TERM"` (any case), `"15"`, `"SIGRTMIN+3"`, `"RTMIN+3"`,
    /// `"SIGRTMAX"` or `"SIGRTMAX-2"`.
    fn from_str(s: &str) -> Result<Signal, SignalError> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i32>() {
            return Signal::from_raw(n);
        }
        let upper = t.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(n) = bare.strip_prefix("RTMIN+") {
            let n: u8 = n.parse().map_err(|_| SignalError::Invalid(s.to_owned()))?;
            return Signal::from_raw(rt_min() + i32::from(n));
        }
        if bare == "RTMIN" {
            return Ok(Signal::Realtime(0));
        }
        if let Some(rest) = bare.strip_prefix("RTMAX") {
            let back: i32 = match rest.strip_prefix('-') {
                Some(n) => n.parse().map_err(|_| SignalError::Invalid(s.to_owned()))?,
                None if rest.is_empty() => 0,
                None => return Err(SignalError::Invalid(s.to_owned())),
            };
            return Signal::from_raw(rt_max() - back);
        }
        let aliases = [
            ("IOT", Signal::Abrt),
            ("POLL", Signal::Io),
            ("CLD", Signal::Chld),
        ];
        if let Some(&(_, sig)) = aliases.iter().find(|(a, _)| *a == bare) {
            return Ok(sig);
        }
        Signal::STANDARD
            .iter()
            .copied()
            .find(|sig| sig.name()[3..] == *bare)
            .ok_or_else(|| SignalError::Invalid(s.to_owned()))
    }
}

impl TryFrom<i32> for Signal {
    type Error = SignalError;
    fn try_from(raw: i32) -> Result<Signal, SignalError> {
        Signal::from_raw(raw)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.as_raw()
    }
}
