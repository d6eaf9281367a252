//! The harness's canned-answer upstream on its own, for profiling Miroir
//! against it (`perf/request_icount.sh`).
//!
//! canned_upstream HOST:PORT     # serves until killed

fn main() {
    let Some(bind) = std::env::args().nth(1) else {
        eprintln!("usage: canned_upstream HOST:PORT");
        std::process::exit(2);
    };
    println!("{}", miroir_perf::upstream::start_upstream_on(&bind));
    loop {
        std::thread::park();
    }
}
