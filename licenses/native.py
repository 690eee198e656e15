#!/usr/bin/env python3
"""The notices cargo-about cannot make: the vendored forks (workspace path crates) and the C
libraries that -sys crates compile into the binary, whose licences are not the crates' own.

    native.py METADATA_JSON GRAPH_TXT BUILD_EDGES_TXT   (called by licenses/generate.sh)

METADATA_JSON is `cargo metadata`, GRAPH_TXT the `debut` graph's `name vVERSION` lines (normal
and build edges, both targets), BUILD_EDGES_TXT `name vVERSION` of every crate in it that
build-depends on cc or cmake. Writes Markdown to stdout. Fails when a crate compiles native
code that is listed neither in BUNDLED nor in OWN_CODE below, so that a new -sys dependency
cannot slip into the binary without its notice.
"""
import json
import re
import sys
from pathlib import Path

# crate -> (library, licence as used, licence files inside the crate, note)
BUNDLED = {
    "rdkafka-sys": ("librdkafka {upstream}", "BSD-2-Clause; bundled parts under their own licences (LICENSES.txt)",
                    ["librdkafka/LICENSES.txt"], "built by librdkafka's configure + make, statically linked"),
    "openssl-src": ("OpenSSL {upstream}", "Apache-2.0", ["openssl/LICENSE.txt"],
                    "vendored OpenSSL (rdkafka `ssl-vendored`), statically linked"),
    "curl-sys": ("libcurl {upstream}", "curl (MIT-like); lib/curlx/inet_ntop.c and inet_pton.c ISC",
                 ["curl/COPYING", "curl/lib/curlx/inet_ntop.c:header"], "static libcurl (rdkafka `curl-static`) for OAUTHBEARER/OIDC"),
    "libz-sys": ("zlib {zlib}", "Zlib", ["src/zlib/LICENSE"],
                 "compiled in when the build machine has no zlib, else the system's libz is linked (same licence)"),
    "zstd-sys": ("Zstandard {upstream}", "BSD-3-Clause (zstd is BSD-3-Clause OR GPL-2.0-only; used under BSD-3-Clause)",
                 ["zstd/LICENSE"], "statically linked"),
    "libmimalloc-sys": ("mimalloc (v2, bundled in libmimalloc-sys {version})", "MIT", ["c_src/mimalloc/v2/LICENSE"],
                        "the global allocator, statically linked"),
    "ittapi-sys": ("Intel ITT API / ittnotify (bundled in ittapi-sys {version})",
                   "BSD-3-Clause (offered as GPL-2.0-only OR BSD-3-Clause; used under BSD-3-Clause)",
                   ["c-library/LICENSES/BSD-3-Clause.txt"], "x86_64 only, through wasmtime's profiling support"),
}
# Crates that compile native code of their own only: their crate licence covers it.
OWN_CODE = {"openssl-sys", "psm", "stacker", "wasmtime", "wasmtime-internal-fiber",
            "wasmtime-internal-jit-debug"}


def header_comment(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines()[1:]:
        if line.strip().startswith("*/"):
            break
        lines.append(re.sub(r"^ \*( |$)", "", line))
    return "\n".join(lines).strip()


def main():
    meta = json.loads(Path(sys.argv[1]).read_text())
    graph = {l.strip() for l in Path(sys.argv[2]).read_text().splitlines() if l.strip()}
    native = {l.strip() for l in Path(sys.argv[3]).read_text().splitlines() if l.strip()}
    root = Path(meta["workspace_root"])
    pkgs = {f"{p['name']} v{p['version']}": p for p in meta["packages"]}
    in_graph = sorted((pkgs[k] for k in graph if k in pkgs), key=lambda p: (p["name"], p["version"]))

    unknown = sorted(k for k in native if k.split(" v")[0] not in BUNDLED and k.split(" v")[0] not in OWN_CODE)
    if unknown:
        sys.exit("licenses/native.py: these crates compile native code and are not described in "
                 "licenses/native.py (BUNDLED or OWN_CODE): " + ", ".join(unknown))

    out = []
    out.append("\n## Forks in vendor/ (workspace path crates)\n")
    out.append("Their sources, with what changed, are in this repository; each keeps its upstream's "
               "licence (texts above, under the crate's name).\n")
    for p in in_graph:
        if p["source"] is not None or p["name"] == "debut":
            continue
        d = Path(p["manifest_path"]).parent
        rel = d.relative_to(root).as_posix()
        files = sorted(f.name for f in d.iterdir() if f.name.upper().startswith(("LICENSE", "COPYING")))
        desc = " ".join(p["description"].split()).rstrip(".") + "." if p.get("description") else ""
        repo = f"; upstream {p['repository']}" if p.get("repository") else ""
        out.append(f"- **{p['name']} {p['version']}** (`{rel}`, {p['license']}{repo}): {desc} "
                   f"Licence files: {', '.join(f'`{rel}/{f}`' for f in files) or 'none in the crate (its text is above)'}; "
                   f"changes: `{rel}/README.md`.")

    out.append("\n## C libraries compiled into the binary\n")
    out.append("Built from the sources these -sys crates bundle (versions from Cargo.lock); the crates' "
               "own licences (above) cover only their Rust glue.\n")
    texts = []
    for p in in_graph:
        if p["name"] not in BUNDLED:
            continue
        lib, lic, files, note = BUNDLED[p["name"]]
        d = Path(p["manifest_path"]).parent
        # "4.10.0+2.12.1", "0.4.91+curl-8.22.0", "2.1.3+zstd.1.5.7": the bundled library's version
        upstream = re.sub(r"^[a-z]+[.-]", "", p["version"].split("+", 1)[1]) if "+" in p["version"] else p["version"]
        zlib = ""
        if "{zlib}" in lib:
            m = re.search(r'#define ZLIB_VERSION "([^"]+)"', (d / "src/zlib/zlib.h").read_text())
            zlib = m.group(1) if m else "?"
        name = lib.format(upstream=upstream, version=p["version"], zlib=zlib)
        out.append(f"- **{name}**: {lic}. Via the crate {p['name']} {p['version']}; {note}.")
        for f in files:
            if f.endswith(":header"):
                f = f[: -len(":header")]
                text = header_comment(d / f)
                title = f"{name}: {f} (header)"
            else:
                text = (d / f).read_text(errors="replace").rstrip()
                title = f"{name}: {f}"
            texts.append(f"\n### {title}\n\n````text\n{text}\n````")
    out.extend(texts)
    print("\n".join(out))


main()
