#!/usr/bin/env bash
# Checks the deployment files; exits 1 on any finding (tests/deploy.rs runs it).
#   schema  every manifest against Kubernetes' schemas, strict: unknown fields are errors
#           (kubernetes-validate with its bundled schemas; offline)
#   pss     every pod template against the "restricted" Pod Security Standard (deploy/pss_check.py)
#   config  each ConfigMap's *.toml: valid TOML, plugin pins match plugin/dist, and debut's
#           own parser accepts it when $DEBUT_BIN names a debut binary
#   docker  the Dockerfile with hadolint, and what the image must not do again
#
#   tests/deploy_check.sh [MANIFEST_DIR]     (default deploy/kubernetes)
# Tools: $DEPLOY_CHECK_TOOLS (a bin directory; tests/run.sh makes it), else PATH.
set -uo pipefail
cd "$(dirname "$0")/.."
manifests="${1:-deploy/kubernetes}"
k8s=1.37.0
if [ -n "${DEPLOY_CHECK_TOOLS:-}" ]; then PATH="$DEPLOY_CHECK_TOOLS:$PATH"; fi

failed=()
step() { # name, command...
  local name=$1; shift
  echo "== $name: $*"
  if ! "$@"; then failed+=("$name"); echo "-- $name: FAILED"; fi
}

for tool in kubernetes-validate hadolint python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run tests/run.sh, or set DEPLOY_CHECK_TOOLS"; exit 1; }
done
python3 -c 'import yaml, tomllib' || { echo "python3 lacks PyYAML or tomllib (3.11+)"; exit 1; }
echo "kubernetes-validate $(kubernetes-validate --version) (schemas of Kubernetes $k8s), $(hadolint --version)"

mapfile -t files < <(find "$manifests" -name '*.yaml' -o -name '*.yml' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no manifests in $manifests"; exit 1; }

step schema kubernetes-validate --strict --kubernetes-version "$k8s" "${files[@]}"
step pss python3 deploy/pss_check.py "${files[@]}"

config_check() {
  local out; out=$(mktemp -d)
  python3 - "$out" "$@" <<'EOF' || { rm -rf "$out"; return 1; }
import hashlib, pathlib, sys, tomllib, yaml
out, ok, image_plugins = pathlib.Path(sys.argv[1]), True, "/usr/local/lib/debut/plugins/"
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            if not key.endswith(".toml"):
                continue
            name = f"{doc['metadata']['name']}/{key}"
            plugins = tomllib.loads(text).get("plugins", {})
            routes = [plugins["default"]] if "default" in plugins else []
            routes += plugins.get("labels", {}).values()
            for r in routes:
                # The image copies plugin/dist here (Dockerfile): pins must match those bytes.
                if r["path"].startswith(image_plugins):
                    local = pathlib.Path("plugin/dist") / r["path"][len(image_plugins):]
                    found = hashlib.sha256(local.read_bytes()).hexdigest() if local.is_file() else "no such file"
                    if r.get("sha256") not in (None, found):
                        ok = False
                        print(f"{name}: {r['path']} pinned {r['sha256']}, {local} is {found}")
            (out / name.replace("/", "_")).with_suffix(".toml").write_text(text)
            print(f"{name}: TOML ok, {len(routes)} plugin route(s)")
# The containers' DEBUT_* environment (envFrom ConfigMaps, env; for valueFrom what Kubernetes
# would put there: a pod name for a fieldRef, a CPU count for a resourceFieldRef), for debut.
maps = {d["metadata"]["name"]: d.get("data") or {} for p in sys.argv[2:]
        for d in yaml.safe_load_all(open(p)) if d and d.get("kind") == "ConfigMap"}
env = {}
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        spec = ((((doc or {}).get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in spec.get("containers") or []:
            for src in c.get("envFrom") or []:
                env.update(maps.get((src.get("configMapRef") or {}).get("name"), {}))
            for e in c.get("env") or []:
                source = e.get("valueFrom") or {}
                env[e["name"]] = e.get("value", "debut-0" if "fieldRef" in source else "2")
(out / "env").write_text("".join(f"{k}={v}\n" for k, v in env.items() if k.startswith("DEBUT_")))
sys.exit(0 if ok else 1)
EOF
  local f rc=0
  if [ -n "${DEBUT_BIN:-}" ]; then
    local env=(); mapfile -t env < "$out/env"
    for f in "$out"/*.toml; do
      [ -e "$f" ] || continue
      # Only the manifest's DEBUT_* variables: debut refuses names that are no setting.
      if env -i PATH="$PATH" HOME="$out" "${env[@]}" "$DEBUT_BIN" --config "$f" config >/dev/null; then
        echo "$(basename "$f") with ${#env[@]} DEBUT_* variable(s): debut accepts them"
      else rc=1; fi
    done
  else
    echo "DEBUT_BIN unset: debut's own parse skipped"
  fi
  rm -rf "$out"
  return $rc
}
step config config_check "${files[@]}"

docker_policy() {
  local code; code=$(grep -v '^\s*#' Dockerfile)
  local rc=0
  grep -q 'cmake' <<<"$code" && { echo "Dockerfile installs cmake (librdkafka builds with its own configure)"; rc=1; }
  grep -q 'NVIDIA_VISIBLE_DEVICES' <<<"$code" && { echo "Dockerfile sets NVIDIA_VISIBLE_DEVICES (GPU is opt-in)"; rc=1; }
  grep -q -- '--profile dist' <<<"$code" || { echo "Dockerfile does not build the dist profile"; rc=1; }
  grep -qE '^USER 10001(:10001)?$' <<<"$code" || { echo "Dockerfile does not run as uid 10001"; rc=1; }
  return $rc
}
step hadolint hadolint Dockerfile
step docker-policy docker_policy

if [ ${#failed[@]} -gt 0 ]; then
  echo "deploy checks FAILED: ${failed[*]}"
  exit 1
fi
echo "deploy checks passed: schema, pss, config, hadolint, docker-policy (${#files[@]} manifest file(s))"
