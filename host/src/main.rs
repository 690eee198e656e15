//! The `debut` command line (see `cli/`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed pages for reuse: the trainer frees and allocates activations of the
/// same sizes every step, and glibc's malloc hands large blocks back to the kernel and faults
/// them in again (measured: 15-20% of a CPU training step).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.log_format);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
