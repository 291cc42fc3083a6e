//! Reader throughput: `cargo bench -p baedal-workloads --bench readers -- <dataset dir>`.
//!
//! Reads every dataset file in the directory with its reader (the best of
//! at least five runs and at least a second of them, as long a window as
//! Python's best of five of `csv.reader` takes: a short window is at the
//! mercy of one slow moment of a shared machine) and prints records/s and
//! MB/s per reader, then one JSON line per file
//! (`BENCH {…}`) for scripts/bench-readers.sh to compare against Python.

use baedal::readers;

/// The allocator the `baedal` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data/generated/bench"));
    let files = readers::dataset_files(&dir)?.files;
    if files.is_empty() {
        eprintln!(
            "no dataset files in {} (run: baedal datagen --scale 1 --out {})",
            dir.display(),
            dir.display()
        );
        std::process::exit(2);
    }
    println!(
        "{:<16} {:<14} {:>10} {:>9} {:>12} {:>9}",
        "file", "reader", "records", "rejected", "records/s", "MB/s"
    );
    for (path, format) in files {
        let bytes = std::fs::metadata(&path)?.len();
        let mut best = f64::INFINITY;
        let (mut ok, mut bad) = (0u64, 0u64);
        let window = Instant::now();
        let mut runs = 0;
        while runs < 5 || window.elapsed().as_secs_f64() < 1.0 {
            runs += 1;
            let start = Instant::now();
            (ok, bad) = (0, 0);
            for r in readers::open(&path, format)? {
                // By reference: moving a record out of its result would time
                // a copy of it here, in the harness.
                match std::hint::black_box(&r) {
                    Ok(_) => ok += 1,
                    Err(_) => bad += 1,
                }
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rate = (ok + bad) as f64 / best;
        println!(
            "{:<16} {:<14} {:>10} {:>9} {:>12.0} {:>9.1}",
            name,
            format.as_str(),
            ok,
            bad,
            rate,
            bytes as f64 / best / 1e6
        );
        println!(
            "BENCH {}",
            serde_json::json!({"file": name, "reader": format.as_str(), "records": ok + bad, "seconds": best, "records_per_s": rate})
        );
    }
    Ok(())
}
