//! Shared memory: a `Value` and an `Array` changed by children, read by the parent (共享内存).
//!
//! ```sh
//! cargo run --example value_array
//! ```
//!
//! The Python lessons (`myValue.py`, `myArray.py`):
//!
//! ```python
//! from multiprocessing import Process, Value, Array
//!
//! def man(money):                         # earns 100, 30 times
//!     for i in range(30):
//!         with money.get_lock():
//!             money.value += 100
//!
//! def girl(money):                        # spends 50, 30 times
//!     for i in range(30):
//!         with money.get_lock():
//!             money.value -= 50
//!
//! money = Value('i', 2000)                # ctype 'i', initial value 2000
//! m = Process(target=man, args=(money,)); g = Process(target=girl, args=(money,))
//! m.start(); g.start(); m.join(); g.join()
//! print('balance after a month:', money.value)   # 3500
//!
//! def fun(shm):
//!     for i in shm: print('child sees', i)
//!     shm[2] = 1000                       # writes go to the shared memory
//!
//! shm = Array('i', [1, 2, 3, 4, 5])       # a list: its values; an int n: n zeros
//! p = Process(target=fun, args=(shm,)); p.start(); p.join()
//! for i in shm: print('parent sees', i)   # 1 2 1000 4 5
//!
//! text = Array('c', b'hello')
//! ... a child sets text.value = b'HELLO'; the parent prints text.value
//! ```
//!
//! (The seed adds random amounts with sleeps; fixed amounts give a result to check.) The
//! objects are created before the children, which share them; `Arc` hands the same object
//! to the children's closures and keeps it in the parent.

use multiproc::{Array, Process, Value};
use std::sync::Arc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(mut p: Process) -> Result {
    p.start()?;
    let status = p.join()?;
    if !status.success() {
        return Err(format!("{} {status}", p.name()).into());
    }
    Ok(())
}

fn main() -> Result {
    // Value.
    let money = Arc::new(Value::new(2000i32)?);
    let (m, g) = (Arc::clone(&money), Arc::clone(&money));
    let mut man = Process::new(move || {
        for _ in 0..30 {
            m.with_lock(|v| *v += 100).expect("lock"); // with money.get_lock(): ...
        }
    });
    let mut girl = Process::new(move || {
        for _ in 0..30 {
            g.with_lock(|v| *v -= 50).expect("lock");
        }
    });
    man.start()?;
    girl.start()?;
    for p in [&mut man, &mut girl] {
        let status = p.join()?;
        if !status.success() {
            return Err(format!("{} {status}", p.name()).into());
        }
    }
    println!("balance after a month: {}", money.get()?); // money.value

    // Array of integers.
    let shm = Arc::new(Array::from_slice(&[1i32, 2, 3, 4, 5])?);
    let child_shm = Arc::clone(&shm);
    run(Process::new(move || {
        for i in child_shm.to_vec().expect("read") {
            println!("child sees {i}");
        }
        child_shm.set(2, 1000).expect("write"); // shm[2] = 1000
    }))?;
    for i in shm.to_vec()? {
        println!("parent sees {i}");
    }

    // Array of bytes (Python's Array('c', b'hello') and its .value).
    let text = Arc::new(Array::from_slice(b"hello")?);
    let child_text = Arc::clone(&text);
    run(Process::new(move || {
        child_text
            .with_lock(|bytes| bytes.make_ascii_uppercase())
            .expect("lock");
    }))?;
    println!("text.value = {}", String::from_utf8(text.to_vec()?)?);
    Ok(())
}
