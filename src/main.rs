//! The `pagecrawl` binary: arguments in, an exit code out.
//!
//! Nothing here crawls: [`cli`] picks the subcommand and runs it with the library; this file
//! tunes the allocator, sets up logging, and prints an error with its whole context chain.

use clap::Parser;
use pagecrawl::ExitCode;

mod cli;

fn main() -> std::process::ExitCode {
    tune_malloc();
    let progress = cli::progress::init_logging();
    let args = cli::args::Cli::parse();
    match cli::run(args, progress) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("pagecrawl: error: {err:#}");
            ExitCode::Error.into()
        }
    }
}

/// Tunes glibc's malloc for a long crawl, unless the environment already does
/// (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`).
///
/// - At most four arenas: glibc gives each thread that allocates its own, up to eight per core,
///   and each keeps the memory it once held. With 32 crawlers that was 3 MiB of the resident set.
///   Four cost no measurable speed on the benchmark; two halved it.
/// - Blocks of 32 KiB and more straight from mmap: page bodies (about 70 KB on the demo site)
///   are allocated by a crawler and freed by a parser, and in the arenas they fragmented the heap
///   as a crawl went on (peak RSS 16.2 MiB after 1,000 pages, 19.2 MiB after 100,000). With the
///   threshold it stays flat, for about 15 % more CPU per page (`bench/allocator.py`).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only tunes the allocator, and this runs before any other thread
            // exists; a refused setting (return value 0) leaves glibc's default.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 4);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024);
            }
        }
    }
}
