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
    quiet_headless_vulkan();
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

/// Mesa's device-select Vulkan layer (an implicit layer in `mesa-vulkan-drivers`) connects to
/// Wayland whenever an instance enables the Wayland surface extension, as wgpu's does, and
/// libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` when
/// that variable is unset or not an absolute path: a headless machine, a container, CI. The
/// layer only orders GPUs for a desktop session (debut ranks adapters itself), so without a
/// session it is switched off through its own documented variable.
fn quiet_headless_vulkan() {
    let session = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_absolute());
    if !session && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: the first thing main does, before any thread exists that could read the
        // environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("NODEVICE_SELECT", "1")
        };
    }
}
