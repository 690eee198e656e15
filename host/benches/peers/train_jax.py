"""JAX (XLA, CPU) training the DCUE audio CNN: the peer that debut's Rust trainer is timed
against. Same network, loss and optimiser as debut's trainer:

    x [B, 128 mels, 128 frames] -> (x - mean[c]) / std[c]
    5 x (Conv1d k=3 'same' + bias -> ReLU -> MaxPool1d(2)), channels 128,128,256,256,512
    mean over the 4 frames left -> Dense 512 -> 200 (+ bias)
    loss = mean_b(-cos(pred_b, target_b)); Adam(lr 1e-3, 0.9, 0.999, eps 1e-7)

PyTorch layouts: conv weight [out, in, k], dense weight [out, in]. The whole step (forward,
loss, gradient, Adam update) is one jax.jit, float32.

    python3 train_jax.py --batch 64 --steps 30 --warmup 5 --threads 1
    python3 train_jax.py --check          # 3 steps on a tiny fixed input, prints the losses

Prints exactly one JSON line on stdout; everything else goes to stderr. Install (see
requirements-train.txt beside this file):

    python3 -m venv ~/.cache/debut/peers-venv
    ~/.cache/debut/peers-venv/bin/pip install -r host/benches/peers/requirements-train.txt

If the interpreter running this script has no jax but that venv exists, the script re-runs
itself with the venv's python (so a plain `python3 train_jax.py` works once it is installed).

Thread limiting, as verified with jax/jaxlib 0.10.2 on a 2-core Linux machine (a
2048x2048 matmul loop, CPU seconds / wall seconds):
  * no limit:                                           ratio 1.96 (both cores used)
  * XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1":
                                                        ratio 1.96 -- NO effect. The flag is
    still known to XLA (an unknown --xla_* flag aborts the process: "Unknown flag in
    XLA_FLAGS"), but the CPU thunk runtime does not use it; the bare
    `intra_op_parallelism_threads=1` token is silently ignored.
  * CPU affinity (taskset -c 0, or os.sched_setaffinity before importing jax): ratio 1.00,
    and XLA also sizes its thread pools from it (fewer threads in /proc/self/status).
So the real limit is the affinity mask, set for every --threads N before jax is imported.
The XLA flag is still set for N = 1 (it matters on older jaxlibs), and the usual BLAS/OpenMP
variables are set too (harmless). The JSON reports cpu_util = process CPU seconds / wall
seconds over the timed steps, so a reader can see whether the limit held (<= N).
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

VENV = os.path.expanduser("~/.cache/debut/peers-venv")
INSTALL_CMD = (
    f"python3 -m venv {VENV} && {VENV}/bin/pip install -r host/benches/peers/requirements-train.txt"
    "   (or: pip install 'jax[cpu]' optax numpy)"
)

N_MELS = 128
FRAMES = 128
CHANNELS = [128, 128, 256, 256, 512]
KERNEL = 3
POOL = 2
EMBED = 200


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def forward_flops_per_window():
    """Multiply-adds x 2 of the forward pass (the normalisation, ReLU, pooling not counted)."""
    flops, t, c_in = 0, FRAMES, N_MELS
    for c_out in CHANNELS:
        flops += 2 * c_out * c_in * KERNEL * t
        t //= POOL
        c_in = c_out
    return flops + 2 * c_in * EMBED  # 37,953,536 = 38.0 MFLOP


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed steps")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps after compilation")
    p.add_argument("--threads", type=int, default=1, help="CPU threads the framework may use")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true",
                   help="run 3 steps on a tiny deterministic input and print the losses")
    return p.parse_args()


def limit_threads(n):
    """Must run before jax is imported (XLA reads the env and the affinity at start-up)."""
    allowed = sorted(os.sched_getaffinity(0))
    if n > len(allowed):
        log(f"train_jax: --threads {n} but only {len(allowed)} CPUs allowed; using {len(allowed)}")
    cpus = set(allowed[: max(1, n)])
    os.sched_setaffinity(0, cpus)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(len(cpus))
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if len(cpus) == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false"
                                       " intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return sorted(cpus)


def ensure_jax():
    """jax missing here: re-run under the peers venv if it has jax, else explain and exit 2."""
    if importlib.util.find_spec("jax") is not None:
        return
    venv_py = os.path.join(VENV, "bin", "python")
    if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != os.path.realpath(VENV) \
            and not os.environ.get("DEBUT_TRAIN_JAX_REEXEC"):
        os.environ["DEBUT_TRAIN_JAX_REEXEC"] = "1"
        log(f"train_jax: no jax in {sys.executable}; re-running with {venv_py}")
        os.execv(venv_py, [venv_py, os.path.abspath(__file__)] + sys.argv[1:])
    log("train_jax: jax is not installed for " + sys.executable + ".\n"
        "  install it with:\n    " + INSTALL_CMD)
    sys.exit(2)


def proc_threads():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main():
    args = parse_args()
    ensure_jax()
    cpus = limit_threads(1 if args.check else args.threads)
    n_threads = len(cpus)

    import numpy as np
    import jax
    import jax.numpy as jnp
    from jax import lax
    try:
        import optax
    except ImportError:
        optax = None
        log("train_jax: optax not installed; using the built-in jax.numpy Adam")

    jax.config.update("jax_default_matmul_precision", "highest")  # float32, no bf16 passes
    jaxlib_version = getattr(__import__("jaxlib"), "__version__", "?")
    log(f"train_jax: jax {jax.__version__} jaxlib {jaxlib_version} devices {jax.devices()} "
        f"cpus {cpus} XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")

    # ---- parameters, PyTorch default init (uniform +-1/sqrt(fan_in)) -------------------------
    rng = np.random.default_rng(args.seed)

    def uniform(shape, fan_in):
        b = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-b, b, size=shape).astype(np.float32)

    params = {}
    c_in = N_MELS
    for i, c_out in enumerate(CHANNELS, 1):
        params[f"conv{i}.weight"] = uniform((c_out, c_in, KERNEL), c_in * KERNEL)
        params[f"conv{i}.bias"] = uniform((c_out,), c_in * KERNEL)
        c_in = c_out
    params["fc.weight"] = uniform((EMBED, c_in), c_in)
    params["fc.bias"] = uniform((EMBED,), c_in)
    params = {k: jnp.asarray(v) for k, v in params.items()}
    # fixed (not trained) per-band normalisation constants, log-mel-like magnitudes
    band_mean = jnp.asarray(rng.normal(-4.0, 1.0, size=N_MELS).astype(np.float32))
    band_std = jnp.asarray(rng.uniform(1.0, 3.0, size=N_MELS).astype(np.float32))

    # ---- model -------------------------------------------------------------------------------
    def forward(p, x):  # x [B, C, T]
        h = (x - band_mean[None, :, None]) / band_std[None, :, None]
        for i in range(1, len(CHANNELS) + 1):
            h = lax.conv_general_dilated(
                h, p[f"conv{i}.weight"], window_strides=(1,),
                padding=((KERNEL // 2, KERNEL // 2),),
                dimension_numbers=("NCH", "OIH", "NCH"))
            h = jax.nn.relu(h + p[f"conv{i}.bias"][None, :, None])
            b, c, t = h.shape
            t2 = t // POOL  # MaxPool1d(2), floor
            h = h[:, :, : t2 * POOL].reshape(b, c, t2, POOL).max(axis=-1)
        h = h.mean(axis=2)                                  # [B, 512]
        return h @ p["fc.weight"].T + p["fc.bias"]          # [B, 200]

    def loss_fn(p, x, target):
        pred = forward(p, x)
        eps = 1e-7
        pn = pred / jnp.maximum(jnp.linalg.norm(pred, axis=1, keepdims=True), eps)
        tn = target / jnp.maximum(jnp.linalg.norm(target, axis=1, keepdims=True), eps)
        return jnp.mean(-jnp.sum(pn * tn, axis=1))

    lr, b1, b2, adam_eps = 1e-3, 0.9, 0.999, 1e-7
    if optax is not None:
        opt = optax.adam(lr, b1=b1, b2=b2, eps=adam_eps)
        opt_init, opt_update = opt.init, opt.update

        def apply_updates(p, g, s):
            upd, s = opt_update(g, s, p)
            return optax.apply_updates(p, upd), s
        optimizer = f"optax {optax.__version__} adam"
    else:
        def opt_init(p):
            zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, p)  # noqa: E731
            return (jnp.zeros((), jnp.int32), zeros(), zeros())  # distinct buffers: donated

        def apply_updates(p, g, s):  # PyTorch/optax Adam: eps added outside the sqrt
            t, m, v = s
            t = t + 1
            m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            c1 = 1 - b1 ** t.astype(jnp.float32)
            c2 = 1 - b2 ** t.astype(jnp.float32)
            p = jax.tree_util.tree_map(
                lambda p_, m_, v_: p_ - lr * (m_ / c1) / (jnp.sqrt(v_ / c2) + adam_eps), p, m, v)
            return p, (t, m, v)
        optimizer = "jax.numpy adam"

    def train_step(p, s, x, target):
        loss, g = jax.value_and_grad(loss_fn)(p, x, target)
        p, s = apply_updates(p, g, s)
        return p, s, loss

    step = jax.jit(train_step, donate_argnums=(0, 1))
    opt_state = opt_init(params)

    # ---- --check: tiny deterministic input, 3 steps, losses must go down ----------------------
    if args.check:
        b = 2
        t_idx = np.arange(FRAMES, dtype=np.float32)
        c_idx = np.arange(N_MELS, dtype=np.float32)[:, None]
        x1 = np.sin(0.05 * (c_idx + 1) * (t_idx + 1)) * 2.0 - 4.0          # [C, T]
        x = jnp.asarray(np.stack([x1, x1[::-1]]).astype(np.float32))    # [2, C, T]
        tgt = jnp.asarray(np.cos(0.1 * np.arange(b * EMBED, dtype=np.float32)).reshape(b, EMBED))
        losses = []
        for i in range(3):
            params, opt_state, loss = step(params, opt_state, x, tgt)
            losses.append(float(loss))
            log(f"train_jax --check: step {i + 1} loss {losses[-1]:.6f}")
        ok = all(b_ < a_ for a_, b_ in zip(losses, losses[1:]))
        print(json.dumps({"framework": "jax", "version": jax.__version__,
                          "jaxlib": jaxlib_version, "check": True, "batch": b,
                          "optimizer": optimizer, "losses": losses, "decreasing": ok}),
              flush=True)
        return 0 if ok else 1

    # ---- benchmark ---------------------------------------------------------------------------
    B = args.batch
    x = jnp.asarray(rng.normal(-4.0, 2.0, size=(B, N_MELS, FRAMES)).astype(np.float32))
    tgt = jnp.asarray(rng.normal(size=(B, EMBED)).astype(np.float32))

    t0 = time.perf_counter()
    params, opt_state, loss = step(params, opt_state, x, tgt)  # compiles
    loss.block_until_ready()
    compile_s = time.perf_counter() - t0
    log(f"train_jax: first step (compile + run) {compile_s:.2f} s, loss {float(loss):.5f}")
    for _ in range(args.warmup):
        params, opt_state, loss = step(params, opt_state, x, tgt)
    loss.block_until_ready()

    times = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        t = time.perf_counter()
        params, opt_state, loss = step(params, opt_state, x, tgt)
        loss.block_until_ready()
        times.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    last_loss = float(loss)

    median_s = statistics.median(times)
    best_s = min(times)
    flops_step = 3 * forward_flops_per_window()
    out = {
        "framework": "jax",
        "version": jax.__version__,
        "jaxlib": jaxlib_version,
        "batch": B,
        "threads": n_threads,
        "steps": args.steps,
        "median_step_ms": round(median_s * 1e3, 3),
        "best_step_ms": round(best_s * 1e3, 3),
        "windows_per_s": round(B / median_s, 2),
        "gflops_per_s": round(flops_step * B / median_s / 1e9, 3),
        "flops_per_window_step": flops_step,
        "compile_s": round(compile_s, 3),
        "cpu_util": round(cpu / wall, 3),
        "os_threads": proc_threads(),
        "optimizer": optimizer,
        "final_loss": round(last_loss, 6),
    }
    log(f"train_jax: {args.steps} steps, median {median_s * 1e3:.1f} ms, best {best_s * 1e3:.1f} ms, "
        f"CPU/wall {cpu / wall:.2f} with {n_threads} thread(s) allowed")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
