//! Hand-crafted hostile records, one per reader check: each asserts the specific outcome
//! (each was seen to fail with its check removed).
use multiproc_internal::block::HEADER_LEN;
use multiproc_internal::ring::{Pop, Ring, RingError, MIN_CAPACITY};
use std::sync::atomic::Ordering;

const WHOLE: u32 = 1;
const FIRST: u32 = 2;
const MORE: u32 = 3;
const LAST: u32 = 4;
const ABORT: u32 = 5;

struct Forge<'r> {
    ring: &'r Ring,
    at: u64,
}
impl Forge<'_> {
    fn rec(&mut self, len: u32, kind: u32, body: &[u8]) -> &mut Self {
        let mut h = [0u8; 8];
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..].copy_from_slice(&kind.to_le_bytes());
        let base = HEADER_LEN + 256;
        let cap = self.ring.capacity();
        for (i, b) in h.iter().chain(body).enumerate() {
            let p = (self.at as usize + i) & (cap - 1);
            self.ring.block().store(base + p, &[*b]);
        }
        self.at += 8 + (len as u64).next_multiple_of(8);
        self
    }
    fn first(&mut self, total: u64, chunk: usize) -> &mut Self {
        let mut b = total.to_le_bytes().to_vec();
        b.resize(8 + chunk, 0xaa);
        self.rec(b.len() as u32, FIRST, &b)
    }
    fn publish(&mut self) {
        self.ring
            .block()
            .atomic_u64(HEADER_LEN)
            .unwrap()
            .store(self.at, Ordering::Release);
    }
}

fn pop(ring: &Ring, max: u64) -> Result<(Pop, usize), RingError> {
    let mut r = ring.reader();
    let mut out = Vec::new();
    let mut last = Pop::Empty;
    for _ in 0..4 {
        last = r.try_pop(&mut out, max)?;
        if last == Pop::Message {
            break;
        }
    }
    Ok((last, out.len()))
}

fn corrupt(res: Result<(Pop, usize), RingError>, what: &str) {
    assert!(matches!(res, Err(RingError::Corrupt(_))), "{what}: {res:?}");
}

#[test]
fn each_reader_check() {
    let new = || Ring::new(MIN_CAPACITY).unwrap();
    // a first record longer than its message
    let r = new();
    Forge { ring: &r, at: 0 }.first(8, 16).publish();
    corrupt(pop(&r, 1 << 20), "chunk > total");
    // records longer than their message
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.first(20, 8).rec(16, MORE, &[0; 16]).publish();
    }
    corrupt(pop(&r, 1 << 20), "have + len > total");
    // a message shorter than announced
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.first(20, 8).rec(8, LAST, &[0; 8]).publish();
    }
    corrupt(pop(&r, 1 << 20), "LAST short");
    // a record longer than what is published
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.rec(100, WHOLE, &[]);
        f.at = 16;
        f.publish();
    }
    corrupt(pop(&r, 1 << 20), "size > avail");
    // continuation records outside a message; unknown kinds; FIRST inside a message
    for k in [MORE, LAST, 0, 6, u32::MAX] {
        let r = new();
        Forge { ring: &r, at: 0 }.rec(0, k, &[]).publish();
        corrupt(pop(&r, 1 << 20), &format!("kind {k} outside"));
    }
    // tags belong on the records that start a message only
    for k in [MORE, LAST] {
        let r = new();
        {
            let mut f = Forge { ring: &r, at: 0 };
            f.first(100, 8).rec(8, k | 1 << 16, &[0; 8]).publish();
        }
        corrupt(pop(&r, 1 << 20), &format!("tagged kind {k}"));
    }
    // continuation records carry bytes (an honest writer never sends an empty one)
    for k in [MORE, LAST] {
        let r = new();
        {
            let mut f = Forge { ring: &r, at: 0 };
            f.first(100, 8).rec(0, k, &[]).publish();
        }
        corrupt(pop(&r, 1 << 20), &format!("empty kind {k}"));
    }
    // a tag does not make an unknown kind known
    let r = new();
    Forge { ring: &r, at: 0 }.rec(0, 6 | 3 << 16, &[]).publish();
    corrupt(pop(&r, 1 << 20), "tagged unknown kind");
    // an abort record has no bytes and no tag
    let r = new();
    Forge { ring: &r, at: 0 }.rec(8, ABORT, &[0; 8]).publish();
    corrupt(pop(&r, 1 << 20), "abort with bytes");
    let r = new();
    Forge { ring: &r, at: 0 }
        .rec(0, ABORT | 1 << 16, &[])
        .publish();
    corrupt(pop(&r, 1 << 20), "tagged abort");
    // an abort drops the message under way; outside one it is skipped; what follows comes
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.rec(0, ABORT, &[])
            .first(100, 8)
            .rec(0, ABORT, &[])
            .rec(3, WHOLE, &[1, 2, 3])
            .publish();
    }
    assert!(matches!(pop(&r, 1 << 20), Ok((Pop::Message, 3))));
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.first(100, 8).first(100, 8).publish();
    }
    corrupt(pop(&r, 1 << 20), "FIRST inside");
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.first(100, 8).rec(0, WHOLE, &[]).publish();
    }
    corrupt(pop(&r, 1 << 20), "WHOLE inside");
    // a first record without its total
    let r = new();
    Forge { ring: &r, at: 0 }.rec(4, FIRST, &[0; 4]).publish();
    corrupt(pop(&r, 1 << 20), "FIRST < 8");
    // fewer bytes than a header published
    let r = new();
    r.block()
        .atomic_u64(HEADER_LEN)
        .unwrap()
        .store(4, Ordering::Release);
    corrupt(pop(&r, 1 << 20), "avail < 8");
    // a u32::MAX length
    let r = new();
    Forge { ring: &r, at: 0 }.rec(0, WHOLE, &[]).publish();
    r.block().store(HEADER_LEN + 256, &u32::MAX.to_le_bytes());
    corrupt(pop(&r, u64::MAX), "len u32::MAX");
    // max is inclusive, for both framings
    let r = new();
    Forge { ring: &r, at: 0 }
        .rec(100, WHOLE, &[1; 100])
        .publish();
    assert!(
        matches!(pop(&r, 100), Ok((Pop::Message, 100))),
        "WHOLE len == max"
    );
    let r = new();
    {
        let mut f = Forge { ring: &r, at: 0 };
        f.first(100, 40).rec(60, LAST, &[2; 60]).publish();
    }
    assert!(
        matches!(pop(&r, 100), Ok((Pop::Message, 100))),
        "streamed len == max"
    );
    let r = new();
    Forge { ring: &r, at: 0 }.first(101, 40).publish();
    assert!(matches!(
        pop(&r, 100),
        Err(RingError::TooLarge { len: 101, max: 100 })
    ));
}

/// A writer that refills the ring with empty continuation records as fast as the reader
/// takes them: one try_pop must still return.
#[test]
fn one_pop_is_bounded_against_an_endless_stream() {
    let ring: &'static Ring = Box::leak(Box::new(Ring::new(MIN_CAPACITY).unwrap()));
    // A FIRST, then the whole ring of empty MOREs; HEAD is then kept a full ring ahead of
    // TAIL, so the reader always has records (one store per lap: no copying needed).
    let mut f = Forge { ring, at: 0 };
    f.first(1 << 40, 0);
    while f.at < MIN_CAPACITY as u64 {
        f.rec(0, MORE, &[]);
    }
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    std::thread::spawn(move || {
        let head = ring.block().atomic_u64(HEADER_LEN).unwrap();
        let tail = ring.block().atomic_u64(HEADER_LEN + 64).unwrap();
        head.store(16, Ordering::Release);
        while tail.load(Ordering::Acquire) < 16 {}
        Forge { ring, at: 0 }.rec(0, MORE, &[]).rec(0, MORE, &[]);
        while !DONE.load(Ordering::Relaxed) {
            head.store(
                tail.load(Ordering::Acquire) + MIN_CAPACITY as u64,
                Ordering::Release,
            );
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = ring.reader();
        let mut v = Vec::new();
        while ring
            .block()
            .atomic_u64(HEADER_LEN + 64)
            .unwrap()
            .load(Ordering::Relaxed)
            < 16
        {
            let _ = r.try_pop(&mut v, u64::MAX);
        }
        while ring
            .block()
            .atomic_u64(HEADER_LEN)
            .unwrap()
            .load(Ordering::Acquire)
            <= 16
        {}
        let t = std::time::Instant::now();
        let res = r.try_pop(&mut v, u64::MAX);
        let consumed = ring
            .block()
            .atomic_u64(HEADER_LEN + 64)
            .unwrap()
            .load(Ordering::Relaxed)
            - 16;
        eprintln!("one try_pop: {:?}, consumed {consumed} bytes", t.elapsed());
        let _ = tx.send((format!("{res:?}"), consumed));
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(5));
    DONE.store(true, Ordering::Relaxed);
    eprintln!("bounded pop: {got:?}");
    let (_, consumed) = got.expect("try_pop did not return within 5 s");
    assert!(
        consumed <= MIN_CAPACITY as u64,
        "one try_pop consumed {consumed} bytes"
    );
}
