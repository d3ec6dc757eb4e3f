//! Producers and consumers through a queue, ended by a sentinel (消息队列, 生产者消费者).
//!
//! ```sh
//! cargo run --example producer_consumer
//! ```
//!
//! The Python lesson (the seed's 生产者消费者, two of each):
//!
//! ```python
//! from multiprocessing import Process, Queue
//!
//! def consumer(q, name):
//!     while True:
//!         res = q.get()
//!         if res is None: break           # the sentinel: no more food
//!         print('%s 吃 %s' % (name, res))
//!
//! def producer(q, name, food):
//!     for i in range(3):
//!         res = '%s%s' % (food, i)
//!         q.put(res)
//!         print('%s 生产了 %s' % (name, res))
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     p1 = Process(target=producer, args=(q, 'egon1', '包子'))
//!     p2 = Process(target=producer, args=(q, 'egon2', '骨头'))
//!     c1 = Process(target=consumer, args=(q, 'alex1'))
//!     c2 = Process(target=consumer, args=(q, 'alex2'))
//!     for p in (p1, p2, c1, c2): p.start()
//!     p1.join(); p2.join()                # everything is produced ...
//!     q.put(None); q.put(None)            # ... then one sentinel per consumer
//!     c1.join(); c2.join()
//!     print('主')
//! ```
//!
//! (Python's version sleeps at random to show the interleaving; the lines of different
//! processes come in any order either way, the lines of one process in its own order.)
//! `None` is the sentinel in Python; here the queue carries `Option<String>`.

use multiproc::{Process, Queue};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn producer(q: Queue<Option<String>>, name: &'static str, food: &'static str) -> Process {
    Process::new(move || {
        for i in 0..3 {
            let res = format!("{food}{i}");
            q.put(Some(res.clone())).expect("put");
            println!("{name} 生产了 {res}");
        }
    })
}

fn consumer(q: Queue<Option<String>>, name: &'static str) -> Process {
    Process::new(move || {
        while let Some(res) = q.get().expect("get") {
            println!("{name} 吃 {res}");
        }
    })
}

fn main() -> Result {
    let q: Queue<Option<String>> = Queue::new(0)?; // maxsize=0: no limit on the count
    let mut producers = [
        producer(q.clone(), "egon1", "包子"),
        producer(q.clone(), "egon2", "骨头"),
    ];
    let mut consumers = [consumer(q.clone(), "alex1"), consumer(q.clone(), "alex2")];
    for p in producers.iter_mut().chain(consumers.iter_mut()) {
        p.start()?;
    }
    for p in &mut producers {
        let status = p.join()?;
        if !status.success() {
            return Err(format!("a producer {status}").into());
        }
    }
    for _ in &consumers {
        q.put(None)?; // one sentinel per consumer
    }
    for c in &mut consumers {
        let status = c.join()?;
        if !status.success() {
            return Err(format!("a consumer {status}").into());
        }
    }
    println!("主");
    Ok(())
}
