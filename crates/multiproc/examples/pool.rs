//! A process pool: `apply_async` with the results collected, `map`, `close` + `join`
//! (进程池).
//!
//! ```sh
//! cargo run --example pool
//! ```
//!
//! The Python lesson (`mypool.py`):
//!
//! ```python
//! from multiprocessing import Pool
//!
//! def worker(msg):
//!     print(msg)                      # in a worker process: any order
//!     return msg + ' done'            # (the seed returns time.ctime())
//!
//! pool = Pool(4)
//! result = []
//! for i in range(10):
//!     r = pool.apply_async(func=worker, args=('hello %d' % i,))
//!     result.append(r)                # an event object: r.get() is the return value
//! pool.close()                        # no more tasks
//! pool.join()                         # wait for the workers to finish and end
//! for r in result:
//!     print(r.get())                  # in submission order
//!
//! def square(n):
//!     return n * n
//!
//! pool = Pool(4)
//! print(pool.map(square, range(10)))  # [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! print(pool.apply(square, (12,)))    # 144: apply waits for its result
//! pool.close(); pool.join()
//! ```
//!
//! Tasks are `fn` items (or closures that capture nothing); arguments and results travel
//! between processes encoded, so they must be serializable.

use multiproc::Pool;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn worker(msg: String) -> String {
    println!("{msg}"); // printed by a worker process
    format!("{msg} done")
}

fn square(n: u64) -> u64 {
    n * n
}

fn main() -> Result {
    let pool = Pool::new(4)?;
    let mut results = Vec::new();
    for i in 0..10 {
        results.push(pool.apply_async(worker, format!("hello {i}"))?);
    }
    pool.close();
    pool.join()?; // every task done, every worker ended; the results stay available
    for r in results {
        println!("{}", r.get()?);
    }

    let pool = Pool::new(4)?;
    println!("{:?}", pool.map(square, 0..10)?);
    println!("{}", pool.apply(square, 12)?);
    pool.close();
    pool.join()?;
    Ok(())
}
