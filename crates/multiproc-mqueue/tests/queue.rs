//! `Queue<T>` across real processes: the seed's producer/consumer, limits and timeouts,
//! items larger than the ring, closing, and processes killed mid-call.

use multiproc_internal::testing::{fork_child, until_asleep, watchdog, ForkChild};
use multiproc_mqueue::{GetError, JoinableQueue, Limit, PutError, Queue, SimpleQueue};
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(120);

/// Bytes that tell where they came from: item `seq` of producer `who`, `len` long.
fn pattern(who: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut x = (u64::from(who) << 32 | u64::from(seq)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn assert_timely(start: Instant, asked: Duration) {
    let took = start.elapsed();
    assert!(
        took >= asked,
        "returned after {took:?}, before the {asked:?} asked"
    );
    assert!(
        took < asked + Duration::from_millis(500),
        "returned after {took:?}, {asked:?} asked"
    );
}

/// The seed's pattern: 2 producers × 100,000 items, 2 consumers stopped by a sentinel each.
/// Every item arrives exactly once, and each producer's items in order at each consumer.
#[test]
fn two_producers_two_consumers_every_item_exactly_once_in_producer_order() {
    let _w = watchdog(WATCHDOG);
    const PER_PRODUCER: u32 = 100_000;
    let q: Queue<Option<(u8, u32)>> = Queue::new(0).unwrap();
    // What each consumer took, sent back in batches.
    let results: Queue<Vec<(u8, u32)>> = Queue::new(0).unwrap();
    let consumers: Vec<ForkChild> = (0..2)
        .map(|_| {
            let (q, results) = (q.clone(), results.clone());
            fork_child(move || {
                let mut last = [None::<u32>; 2];
                let mut batch = Vec::new();
                while let Some((who, seq)) = q.get().unwrap() {
                    let w = usize::from(who);
                    assert!(
                        last[w].is_none_or(|l| l < seq),
                        "producer {who} out of order"
                    );
                    last[w] = Some(seq);
                    batch.push((who, seq));
                    if batch.len() == 10_000 {
                        results.put(std::mem::take(&mut batch)).unwrap();
                    }
                }
                if !batch.is_empty() {
                    results.put(batch).unwrap();
                }
                results.put(Vec::new()).unwrap(); // This consumer is done.
            })
        })
        .collect();
    let producers: Vec<ForkChild> = (0..2u8)
        .map(|who| {
            let q = q.clone();
            fork_child(move || {
                for seq in 0..PER_PRODUCER {
                    q.put(Some((who, seq))).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.assert_success();
    }
    for _ in 0..2 {
        q.put(None).unwrap();
    }
    let mut seen = vec![vec![false; PER_PRODUCER as usize]; 2];
    let (mut done, mut total) = (0, 0);
    while done < 2 {
        let batch = results.get().unwrap();
        if batch.is_empty() {
            done += 1;
        }
        for (who, seq) in batch {
            let slot = &mut seen[usize::from(who)][seq as usize];
            assert!(!*slot, "item {seq} of producer {who} arrived twice");
            *slot = true;
            total += 1;
        }
    }
    for c in consumers {
        c.assert_success();
    }
    assert_eq!(total, 2 * PER_PRODUCER);
    assert!(q.is_empty() && results.is_empty());
}

#[test]
fn a_bounded_queue_refuses_then_releases_blocked_producers() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<u32> = Queue::new(3).unwrap();
    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    assert!(q.is_full() && q.len() == 3);
    match q.try_put(3) {
        Err(PutError::Full { item, limit }) => {
            assert_eq!((item, limit), (3, Limit::Count(3)));
        }
        other => panic!("{other:?}"),
    }
    let asked = Duration::from_millis(200);
    let start = Instant::now();
    let e = q.put_timeout(4, asked).unwrap_err();
    assert_timely(start, asked);
    assert!(e.is_full());
    assert_eq!(e.into_inner(), 4);
    // A producer blocked on the full queue goes on when a consumer makes room.
    let producer = fork_child({
        let q = q.clone();
        move || {
            q.put(10).unwrap();
            q.put(11).unwrap();
        }
    });
    until_asleep(producer.pid());
    assert_eq!(q.get().unwrap(), 0);
    assert_eq!(q.get().unwrap(), 1);
    producer.assert_success();
    let rest: Vec<u32> = std::iter::from_fn(|| q.try_get().ok()).collect();
    assert_eq!(rest, [2, 10, 11]);
}

#[test]
fn an_empty_queue_times_out_then_releases_blocked_consumers() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<String> = Queue::new(0).unwrap();
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
    let asked = Duration::from_millis(200);
    let start = Instant::now();
    assert!(matches!(q.get_timeout(asked), Err(GetError::Empty)));
    assert_timely(start, asked);
    let consumer = fork_child({
        let q = q.clone();
        move || {
            assert_eq!(q.get().unwrap(), "wake");
            assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), "and again");
        }
    });
    until_asleep(consumer.pid());
    q.put("wake".to_string()).unwrap();
    q.put("and again".to_string()).unwrap();
    consumer.assert_success();
}

#[test]
fn a_queue_full_of_bytes_says_so() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(4096).build().unwrap();
    let mut n = 0;
    let limit = loop {
        match q.try_put(vec![7; 500]) {
            Ok(()) => n += 1,
            Err(PutError::Full { limit, .. }) => break limit,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(limit, Limit::Bytes(4096));
    assert!(n >= 7 && q.is_full(), "{n} items of 500 bytes in 4096");
    // An item larger than the ring never goes with try_put, but does with put.
    assert!(q.try_get().is_ok());
    let big = pattern(1, 0, 10_000);
    assert!(q.try_put(big.clone()).unwrap_err().is_full());
    let consumer = fork_child({
        let q = q.clone();
        let big = big.clone();
        move || {
            for _ in 1..n {
                assert_eq!(q.get().unwrap(), vec![7; 500]);
            }
            assert!(q.get().unwrap() == big);
        }
    });
    q.put(big).unwrap();
    consumer.assert_success();
}

#[test]
fn items_of_1_mib_and_64_mib_stream_through_a_small_ring() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let sizes = [1 << 20, 64 << 20, 3, 1 << 20];
    let producer = fork_child({
        let q = q.clone();
        move || {
            for (i, &len) in sizes.iter().enumerate() {
                q.put(pattern(9, i as u32, len)).unwrap();
            }
        }
    });
    for (i, &len) in sizes.iter().enumerate() {
        let got = q.get().unwrap();
        assert_eq!(got.len(), len);
        assert!(got == pattern(9, i as u32, len), "item {i} differs");
    }
    producer.assert_success();
}

#[test]
fn mixed_sizes_from_four_producers_arrive_whole_and_in_order() {
    let _w = watchdog(WATCHDOG);
    const EACH: u32 = 300;
    let q: Queue<(u8, u32, Vec<u8>)> = Queue::builder().capacity(64 << 10).build().unwrap();
    let len_of = |who: u8, seq: u32| match (u32::from(who) * 7 + seq) % 10 {
        0 => 200_000,
        1..=3 => 20_000,
        _ => (seq as usize * 37) % 2_000,
    };
    let producers: Vec<ForkChild> = (0..4u8)
        .map(|who| {
            let q = q.clone();
            fork_child(move || {
                for seq in 0..EACH {
                    q.put((who, seq, pattern(who, seq, len_of(who, seq))))
                        .unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u32; 4];
    for _ in 0..4 * EACH {
        let (who, seq, bytes) = q.get().unwrap();
        assert_eq!(seq, next[usize::from(who)], "producer {who} out of order");
        next[usize::from(who)] += 1;
        assert!(bytes == pattern(who, seq, len_of(who, seq)), "torn item");
    }
    for p in producers {
        p.assert_success();
    }
    assert!(q.try_get().is_err());
}

#[test]
fn a_closed_queue_refuses_puts_and_is_drained_before_consumers_hear_of_it() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<u64> = Queue::new(0).unwrap();
    let consumer = fork_child({
        let q = q.clone();
        move || {
            let mut sum = 0;
            loop {
                match q.get() {
                    Ok(v) => sum += v,
                    Err(GetError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(sum, (1..=1000).sum::<u64>());
        }
    });
    for v in 1..=1000 {
        q.put(v).unwrap();
    }
    q.close();
    assert!(q.is_closed());
    match q.put(5) {
        Err(PutError::Closed(item)) => assert_eq!(item, 5),
        other => panic!("{other:?}"),
    }
    consumer.assert_success();
    assert!(matches!(q.get(), Err(GetError::Closed)));
}

#[test]
fn a_sleeping_consumer_hears_of_the_close() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<u8> = Queue::new(0).unwrap();
    let consumer = fork_child({
        let q = q.clone();
        move || assert!(matches!(q.get(), Err(GetError::Closed)))
    });
    until_asleep(consumer.pid());
    q.close();
    consumer.assert_success();
}

/// A producer killed while its item larger than the ring is part-way through: the consumer
/// drops the part it took and the next item comes through.
#[test]
fn a_producer_killed_mid_item_leaves_nothing_torn_and_nothing_stuck() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    // With no consumer yet, the producer fills the ring with the first parts and sleeps.
    let producer = fork_child({
        let q = q.clone();
        move || q.put(pattern(1, 1, 16 << 20)).unwrap()
    });
    until_asleep(producer.pid());
    // Frozen, so that the consumer takes some parts and then waits for the rest.
    producer.signal(libc::SIGSTOP).unwrap();
    let consumer = fork_child({
        let q = q.clone();
        move || assert_eq!(q.get().unwrap(), b"next")
    });
    until_asleep(consumer.pid());
    producer.kill().unwrap();
    let killed = Instant::now();
    assert!(!producer.wait().success());
    q.put(b"next".to_vec()).unwrap();
    consumer.assert_success();
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "the consumer took {:?} to notice",
        killed.elapsed()
    );
    // A producer killed before any consumer came: the next consumer is not fooled either.
    let producer = fork_child({
        let q = q.clone();
        move || q.put(pattern(2, 2, 16 << 20)).unwrap()
    });
    until_asleep(producer.pid());
    producer.kill().unwrap();
    assert!(!producer.wait().success());
    // Its parts fill the ring until a consumer drops them: the next producer waits for that.
    let next = fork_child({
        let q = q.clone();
        move || q.put(b"after".to_vec()).unwrap()
    });
    let start = Instant::now();
    assert_eq!(q.get().unwrap(), b"after");
    assert!(start.elapsed() < Duration::from_secs(1));
    next.assert_success();
    assert!(q.is_empty());
}

/// A consumer killed while taking an item larger than the ring loses that item only: the
/// producer finishes, and the next consumer gets the next item.
#[test]
fn a_consumer_killed_mid_item_loses_that_item_only() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    q.put(b"first".to_vec()).unwrap();
    let producer = fork_child({
        let q = q.clone();
        move || {
            q.put(pattern(3, 3, 8 << 20)).unwrap();
            q.put(b"next".to_vec()).unwrap();
        }
    });
    assert_eq!(q.get().unwrap(), b"first");
    until_asleep(producer.pid());
    producer.signal(libc::SIGSTOP).unwrap();
    let consumer = fork_child({
        let q = q.clone();
        move || {
            let _ = q.get();
            unreachable!("the item cannot complete while its producer is stopped");
        }
    });
    until_asleep(consumer.pid());
    consumer.kill().unwrap();
    assert!(!consumer.wait().success());
    producer.signal(libc::SIGCONT).unwrap();
    let start = Instant::now();
    assert_eq!(q.get().unwrap(), b"next");
    assert!(start.elapsed() < Duration::from_secs(5));
    producer.assert_success();
    assert!(q.is_empty());
}

const NAMED: &str =
    "a_named_queue_is_opened_by_name_from_an_unrelated_process_and_removed_with_its_creator";

/// The other side runs in a freshly executed process (not forked), which knows only the name.
#[test]
fn a_named_queue_is_opened_by_name_from_an_unrelated_process_and_removed_with_its_creator() {
    use multiproc_internal::testing::{reexec, reexec_role, shm_names, test_name, wait_child};
    if let Some(role) = reexec_role() {
        assert_eq!(role, "peer");
        let q: Queue<String> = Queue::open(&std::env::var("QUEUE_NAME").unwrap()).unwrap();
        assert_eq!(q.maxsize(), 10);
        let asked = q.get_timeout(Duration::from_secs(30)).unwrap();
        q.put(format!("{asked}, from a process that opened it by name"))
            .unwrap();
        return;
    }
    let _w = watchdog(WATCHDOG);
    let name = test_name("queue");
    let q: Queue<String> = Queue::builder().name(&name).maxsize(10).build().unwrap();
    assert_eq!(q.name(), Some(name.as_str()));
    let mut child = reexec(NAMED, "peer")
        .env("QUEUE_NAME", &name)
        .spawn()
        .unwrap();
    q.put("hello".into()).unwrap();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    assert_eq!(
        q.get().unwrap(),
        "hello, from a process that opened it by name"
    );
    drop(q);
    assert!(shm_names(&name).is_empty(), "the creator's drop unlinks");
    assert_eq!(
        Queue::<String>::open(&name).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn an_item_of_the_wrong_type_is_an_error_not_garbage() {
    let _w = watchdog(WATCHDOG);
    let name = multiproc_internal::testing::test_name("queue-type");
    let q: Queue<(u64, u64)> = Queue::builder().name(&name).build().unwrap();
    let other: Queue<u8> = Queue::open(&name).unwrap();
    other.put(7).unwrap();
    assert!(matches!(q.get(), Err(GetError::Decode(_))));
    let big: Queue<Vec<u8>> = Queue::builder().max_message_size(100).build().unwrap();
    match big.put(vec![0; 200]) {
        Err(PutError::TooLarge { len, max, .. }) => assert!(len > 200 && max == 100),
        other => panic!("{other:?}"),
    }
}

#[test]
fn join_waits_for_every_task_done_in_other_processes() {
    let _w = watchdog(WATCHDOG);
    let q: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
    let done: Queue<u32> = Queue::new(0).unwrap();
    let workers: Vec<ForkChild> = (0..2)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            fork_child(move || loop {
                let v = q.get().unwrap();
                if v == u32::MAX {
                    q.task_done().unwrap();
                    return;
                }
                done.put(v).unwrap();
                q.task_done().unwrap();
            })
        })
        .collect();
    for v in 0..1000 {
        q.put(v).unwrap();
    }
    q.join();
    // Every task marked done means every item was handled.
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(done.len(), 1000);
    let mut got: Vec<u32> = std::iter::from_fn(|| done.try_get().ok()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    for _ in 0..2 {
        q.put(u32::MAX).unwrap();
    }
    for w in workers {
        w.assert_success();
    }
    q.join();
    // With a task nobody takes, join_timeout holds its time.
    q.put(5).unwrap();
    let asked = Duration::from_millis(200);
    let start = Instant::now();
    assert!(!q.join_timeout(asked));
    assert_timely(start, asked);
    assert_eq!(q.get().unwrap(), 5);
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::from_secs(10)));
    assert!(q.task_done().is_err(), "one task_done too many is an error");
}

#[test]
fn a_simple_queue_carries_items_between_processes() {
    let _w = watchdog(WATCHDOG);
    let q: SimpleQueue<String> = SimpleQueue::new().unwrap();
    assert!(q.is_empty());
    let child = fork_child({
        let q = q.clone();
        move || {
            for i in 0..100 {
                q.put(format!("item {i}")).unwrap();
            }
        }
    });
    for i in 0..100 {
        assert_eq!(q.get().unwrap(), format!("item {i}"));
    }
    child.assert_success();
    assert!(q.is_empty());
}

#[test]
fn each_kind_of_queue_opens_only_as_itself() {
    let name = multiproc_internal::testing::test_name("queue-kind");
    let q: JoinableQueue<u8> = JoinableQueue::builder()
        .name(&name)
        .build_joinable()
        .unwrap();
    let e = Queue::<u8>::open(&name).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("JoinableQueue"), "{e}");
    assert!(JoinableQueue::<u8>::open(&name).is_ok());
    drop(q);
}

/// A queue sent inside a message to a process started before the queue existed.
#[test]
fn a_queue_is_handed_to_a_running_process_over_a_pipe() {
    let _w = watchdog(WATCHDOG);
    let (mut here, mut there) = multiproc_pipe::pipe().unwrap();
    let child = fork_child(|| {
        let (q, jq): (Queue<Vec<u8>>, JoinableQueue<u32>) = there.recv().unwrap();
        for i in 0..10u8 {
            q.put(vec![i; 100_000]).unwrap();
        }
        let v = jq.get().unwrap();
        jq.task_done().unwrap();
        assert_eq!(v, 42);
    });
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let jq: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
    jq.put(42).unwrap();
    here.send(&(q.clone(), jq.clone())).unwrap();
    for i in 0..10u8 {
        assert!(q.get().unwrap() == vec![i; 100_000]);
    }
    assert!(jq.join_timeout(Duration::from_secs(20)));
    child.assert_success();
}

/// A producer waiting on a full queue is told once every process that took from it has
/// exited, instead of waiting forever (the item comes back).
#[test]
fn a_waiting_producer_is_told_when_every_consumer_has_died() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<u32> = Queue::new(1).unwrap();
    let hold: Queue<()> = Queue::new(0).unwrap();
    let consumer = fork_child({
        let (q, hold) = (q.clone(), hold.clone());
        move || {
            assert_eq!(q.get().unwrap(), 1);
            // Alive, a consumer, and not consuming: until killed.
            let _ = hold.get();
            unreachable!("killed while waiting");
        }
    });
    q.put(1).unwrap();
    until_asleep(consumer.pid());
    q.put(2).unwrap();
    // Still a consumer: a full queue times out as usual.
    assert!(q
        .put_timeout(3, Duration::from_millis(100))
        .unwrap_err()
        .is_full());
    consumer.kill().unwrap();
    let killed = Instant::now();
    match q.put(3) {
        Err(PutError::Disconnected(item)) => assert_eq!(item, 3),
        other => panic!("{other:?}"),
    }
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "told after {:?}",
        killed.elapsed()
    );
    drop(consumer);
}

/// A consumer waiting on an empty queue is told once every process that put to it, and the
/// one that created it, has exited; not while the creator (which may still put) lives.
#[test]
fn a_waiting_consumer_is_told_when_every_producer_and_the_creator_have_exited() {
    let _w = watchdog(WATCHDOG);
    let (mut here, mut there) = multiproc_pipe::pipe().unwrap();
    // The creator (and only producer) is a child that hands the queue over, puts, and exits.
    let creator = fork_child(|| {
        let q: Queue<String> = Queue::new(0).unwrap();
        there.send(&q).unwrap();
        q.put("last words".into()).unwrap();
        let () = there.recv().unwrap();
    });
    let q: Queue<String> = here.recv().unwrap();
    assert_eq!(q.get().unwrap(), "last words");
    // The creator lives: an empty queue times out as usual.
    assert!(matches!(
        q.get_timeout(Duration::from_millis(100)),
        Err(GetError::Empty)
    ));
    let waiter = fork_child({
        let q = q.clone();
        move || assert!(matches!(q.get(), Err(GetError::Disconnected)))
    });
    until_asleep(waiter.pid());
    here.send(&()).unwrap();
    creator.assert_success();
    let exited = Instant::now();
    waiter.assert_success();
    assert!(
        exited.elapsed() < Duration::from_secs(1),
        "told after {:?}",
        exited.elapsed()
    );
    assert!(matches!(q.try_get(), Err(GetError::Empty)));
}

/// Rounds of the producer-kill test (more with the `long-tests` feature).
const KILL_ROUNDS: u32 = if cfg!(feature = "long-tests") {
    200
} else {
    20
};

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A producer SIGKILLed at random moments of 100,000 puts (small items, and now and then one
/// larger than the ring): every item that arrives is whole and arrives once, in order; the
/// queue stays usable, and the next item after the kill arrives within a second.
#[test]
fn a_producer_killed_at_random_moments_never_leaves_a_torn_item_or_a_stuck_queue() {
    let _w = watchdog(Duration::from_secs(300));
    let q: Queue<(u32, u32, Vec<u8>)> = Queue::builder().capacity(64 << 10).build().unwrap();
    let len_of = |seq: u32| {
        if seq.is_multiple_of(97) {
            150_000
        } else {
            (seq % 50) as usize
        }
    };
    let mut st = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..KILL_ROUNDS {
        let kill_after = rng(&mut st) % 2_000;
        let producer = fork_child({
            let q = q.clone();
            move || {
                for seq in 0..100_000 {
                    q.put((round, seq, pattern(round as u8, seq, len_of(seq))))
                        .unwrap();
                }
            }
        });
        let mut next = 0;
        let check = |(r, seq, bytes): (u32, u32, Vec<u8>), next: &mut u32| {
            assert_eq!(r, round, "an item of an earlier round");
            assert!(
                seq >= *next,
                "item {seq} of round {round} again or out of order"
            );
            assert!(bytes == pattern(round as u8, seq, len_of(seq)), "torn item");
            *next = seq + 1;
        };
        while u64::from(next) < kill_after {
            let item = q.get().unwrap();
            check(item, &mut next);
        }
        producer.kill().unwrap();
        let _ = producer.wait();
        // What the producer completed comes through; nothing after it.
        while let Ok(item) = q.try_get() {
            check(item, &mut next);
        }
        // The queue works, promptly, whatever state the producer died in.
        let marker = fork_child({
            let q = q.clone();
            move || q.put((round, u32::MAX, Vec::new())).unwrap()
        });
        let start = Instant::now();
        loop {
            let item = q.get_timeout(Duration::from_secs(5)).unwrap();
            if item.1 == u32::MAX {
                break;
            }
            check(item, &mut next);
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "round {round}: the next item took {:?}",
            start.elapsed()
        );
        marker.assert_success();
    }
}

/// A consumer SIGKILLed at random moments while another consumes beside it: no item is taken
/// twice, at most the one in the killed consumer's hands is lost, and the other consumer goes
/// on to the end.
#[test]
fn a_consumer_killed_at_random_moments_loses_at_most_its_item_and_blocks_nobody() {
    let _w = watchdog(Duration::from_secs(300));
    const ITEMS: u32 = 20_000;
    let mut st = 0x2545_f491_4f6c_dd1du64;
    for round in 0..KILL_ROUNDS {
        let q: Queue<Option<(u32, Vec<u8>)>> = Queue::builder().capacity(64 << 10).build().unwrap();
        let seen: Queue<u32> = Queue::new(0).unwrap();
        let len_of = |seq: u32| {
            if seq.is_multiple_of(211) {
                100_000
            } else {
                (seq % 40) as usize
            }
        };
        let consumer = |q: Queue<Option<(u32, Vec<u8>)>>, seen: Queue<u32>| {
            fork_child(move || {
                while let Some((seq, bytes)) = q.get().unwrap() {
                    assert!(bytes == pattern(1, seq, len_of(seq)), "torn item");
                    seen.put(seq).unwrap();
                }
            })
        };
        let victim = consumer(q.clone(), seen.clone());
        let survivor = consumer(q.clone(), seen.clone());
        let producer = fork_child({
            let q = q.clone();
            move || {
                for seq in 0..ITEMS {
                    q.put(Some((seq, pattern(1, seq, len_of(seq))))).unwrap();
                }
            }
        });
        let kill_after = rng(&mut st) % u64::from(ITEMS / 2);
        let mut got = vec![false; ITEMS as usize];
        let mut count = 0u64;
        let mut take = |seq: u32, count: &mut u64| {
            assert!(!got[seq as usize], "round {round}: item {seq} taken twice");
            got[seq as usize] = true;
            *count += 1;
        };
        while count < kill_after {
            take(seen.get().unwrap(), &mut count);
        }
        victim.kill().unwrap();
        let _ = victim.wait();
        producer.assert_success();
        q.put(None).unwrap();
        survivor.assert_success();
        while let Ok(seq) = seen.try_get() {
            take(seq, &mut count);
        }
        let lost = u64::from(ITEMS) - count;
        assert!(lost <= 1, "round {round}: {lost} items lost");
    }
}

/// Stops `producer` once it has filled the ring and gone to sleep waiting for room.
fn stop_when_full<T: serde::Serialize + serde::de::DeserializeOwned>(
    q: &Queue<T>,
    producer: &ForkChild,
) {
    multiproc_internal::testing::wait_until("the producer to fill the ring", || q.is_full());
    until_asleep(producer.pid());
    producer.signal(libc::SIGSTOP).unwrap();
}

/// A consumer killed mid-item; the next consumer (another process) drops part of the rest and
/// leaves; the consumer after it (this process) drops the remainder — the mark is shared —
/// and gets the next item, not an error.
#[test]
fn dropping_a_dead_consumers_item_is_carried_on_by_whichever_consumer_comes_next() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let producer = fork_child({
        let q = q.clone();
        move || {
            q.put(vec![7u8; 8 << 20]).unwrap();
            q.put(b"next".to_vec()).unwrap();
        }
    });
    stop_when_full(&q, &producer);
    let a = fork_child({
        let q = q.clone();
        move || {
            let _ = q.get();
        }
    });
    until_asleep(a.pid());
    a.kill().unwrap();
    assert!(!a.wait().success());
    producer.signal(libc::SIGCONT).unwrap();
    stop_when_full(&q, &producer);
    let b = fork_child({
        let q = q.clone();
        move || {
            let r = q.get_timeout(Duration::from_millis(200));
            assert!(matches!(r, Err(GetError::Empty)), "{r:?}");
        }
    });
    b.assert_success();
    producer.signal(libc::SIGCONT).unwrap();
    let start = Instant::now();
    assert_eq!(q.get().unwrap(), b"next");
    // Dropping the rest wakes the producer each time it makes room: no quarter-second naps.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    producer.assert_success();
}

/// A forked child whose parent had a thread inside a put at the fork: the child's copy of
/// the per-process state is locked for good, and the child must not care.
#[test]
fn a_child_forked_while_a_thread_is_inside_a_put_can_put() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // This thread streams an item larger than the ring and waits for room inside the put.
    let streaming = std::thread::spawn({
        let q = q.clone();
        move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            q.put(vec![1u8; 1 << 20]).unwrap();
        }
    });
    let tid = rx.recv().unwrap();
    multiproc_internal::testing::wait_until("the put to fill the ring", || q.is_full());
    until_asleep(tid);
    let child = fork_child({
        let q = q.clone();
        move || {
            q.put_timeout(b"child".to_vec(), Duration::from_secs(30))
                .unwrap()
        }
    });
    assert_eq!(q.get().unwrap().len(), 1 << 20);
    streaming.join().unwrap();
    child.assert_success();
    assert_eq!(q.get().unwrap(), b"child");
    // A try_put never waits long for a lock, whoever holds it.
    assert!(q.try_put(b"now".to_vec()).is_ok());
}

#[derive(Debug, serde::Serialize)]
struct Bomb(u32);

impl<'de> serde::Deserialize<'de> for Bomb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        assert!(v != 13, "a Deserialize that panics (on purpose)");
        Ok(Bomb(v))
    }
}

/// A `Deserialize` that panics in one consumer holds up nobody: items are decoded after the
/// consumers' lock is let go.
#[test]
fn a_panicking_deserialize_holds_up_no_other_consumer() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Bomb> = Queue::new(0).unwrap();
    q.put(Bomb(13)).unwrap();
    q.put(Bomb(1)).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.get()));
    assert!(caught.is_err());
    let other = fork_child({
        let q = q.clone();
        move || assert_eq!(q.get_timeout(Duration::from_secs(10)).unwrap().0, 1)
    });
    other.assert_success();
    q.put(Bomb(2)).unwrap();
    assert_eq!(q.try_get().unwrap().0, 2);
}

/// Close while an item larger than the ring streams: it is accepted, so consumers drain it
/// whole; nobody spins meanwhile (the producer sleeps while no consumer takes).
#[test]
fn an_item_streaming_at_close_is_delivered_whole() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let producer = fork_child({
        let q = q.clone();
        move || q.put(vec![5u8; 4 << 20]).unwrap()
    });
    multiproc_internal::testing::wait_until("the producer to fill the ring", || q.is_full());
    until_asleep(producer.pid());
    q.close();
    // Still asleep, not spinning, after the close woke it.
    until_asleep(producer.pid());
    assert!(q.get().unwrap() == vec![5u8; 4 << 20]);
    producer.assert_success();
    assert!(matches!(q.get(), Err(GetError::Closed)));
}

/// Bytes without the codec, across processes: every size, whole and in order.
#[test]
fn bytes_go_through_as_they_are() {
    let _w = watchdog(WATCHDOG);
    let q: Queue<Vec<u8>> = Queue::builder().capacity(64 << 10).build().unwrap();
    let sizes = [0usize, 1, 63, 64, 65, 4096, 100_000, 3];
    let producer = fork_child({
        let q = q.clone();
        move || {
            for (i, &n) in sizes.iter().enumerate() {
                q.put_bytes(&pattern(4, i as u32, n)).unwrap();
            }
            assert!(q.try_put_bytes(&[1; 10]).is_ok());
            q.put_bytes_timeout(&[2; 10], Duration::from_secs(30))
                .unwrap();
        }
    });
    let mut buf = Vec::with_capacity(10);
    for (i, &n) in sizes.iter().enumerate() {
        let got = if i % 2 == 0 {
            q.get_bytes().unwrap()
        } else {
            assert_eq!(q.get_bytes_into(&mut buf).unwrap(), n);
            buf.clone()
        };
        assert!(
            got == pattern(4, i as u32, n),
            "item {i} of {n} bytes differs"
        );
    }
    assert_eq!(
        q.get_bytes_timeout(Duration::from_secs(30)).unwrap(),
        [1; 10]
    );
    producer.assert_success();
    assert_eq!(q.try_get_bytes().unwrap(), [2; 10]);
    let asked = Duration::from_millis(100);
    let start = Instant::now();
    assert!(matches!(q.get_bytes_timeout(asked), Err(GetError::Empty)));
    assert_timely(start, asked);
}
