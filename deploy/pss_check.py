#!/usr/bin/env python3
"""Checks every pod template in Kubernetes manifests against the "restricted" Pod Security
Standard (baseline rules included), as the PodSecurity admission controller would:
https://kubernetes.io/docs/concepts/security/pod-security-standards/

    python3 deploy/pss_check.py deploy/kubernetes/*.yaml   # exit 1 on any finding

Offline on purpose: no registry tool checks this without a cluster. Needs PyYAML.
"""
import sys

import yaml

BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t",
                 "container_engine_t"}


def pod_specs(doc):
    """(template metadata, pod spec) of a Pod or of a workload's pod template."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind == "Pod":
        return [(doc.get("metadata") or {}, spec)]
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                "ReplicationController"} and template:
        return [(template.get("metadata") or {}, template.get("spec") or {})]
    return []


def check(meta, spec):
    found = []
    psc = spec.get("securityContext") or {}
    containers = [(kind, c) for kind in ("initContainers", "containers", "ephemeralContainers")
                  for c in spec.get(kind) or []]

    # Baseline.
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(f"{key}: true")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        found.append("securityContext.windowsOptions.hostProcess: true")
    for v in spec.get("volumes") or []:
        types = [k for k in v if k != "name"]
        if "hostPath" in types:
            found.append(f"volume {v.get('name')}: hostPath")
        elif not set(types) <= RESTRICTED_VOLUMES:
            found.append(f"volume {v.get('name')}: type {types} not allowed")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {s.get('name')} is not a safe one")
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and \
                value != "runtime/default" and not value.startswith("localhost/"):
            found.append(f"annotation {key}: {value}")

    def contexts(where, sc):
        if (sc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            found.append(f"{where}: appArmorProfile {sc['appArmorProfile']['type']}")
        se = sc.get("seLinuxOptions") or {}
        if se.get("type") not in SELINUX_TYPES or se.get("user") or se.get("role"):
            found.append(f"{where}: seLinuxOptions {se}")
        if (sc.get("seccompProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccompProfile {sc['seccompProfile']['type']}")
        if sc.get("runAsUser") == 0:
            found.append(f"{where}: runAsUser 0")
        if sc.get("runAsNonRoot") is False:
            found.append(f"{where}: runAsNonRoot false")

    contexts("pod securityContext", psc)
    for kind, c in containers:
        where = f"{kind} {c.get('name')}"
        sc = c.get("securityContext") or {}
        contexts(where, sc)
        if sc.get("privileged"):
            found.append(f"{where}: privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"{where}: windowsOptions.hostProcess")
        if sc.get("procMount") not in (None, "Default"):
            found.append(f"{where}: procMount {sc['procMount']}")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                found.append(f"{where}: hostPort {p['hostPort']}")
        caps = sc.get("capabilities") or {}
        added = set(caps.get("add") or [])
        if not added <= BASELINE_CAPS:
            found.append(f"{where}: capabilities.add {sorted(added - BASELINE_CAPS)}")
        # Restricted.
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation must be false")
        if "ALL" not in (caps.get("drop") or []):
            found.append(f"{where}: capabilities.drop must include ALL")
        if not added <= {"NET_BIND_SERVICE"}:
            found.append(f"{where}: capabilities.add may hold only NET_BIND_SERVICE")
        if not (sc.get("runAsNonRoot") or (psc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)):
            found.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if not (sc.get("seccompProfile") or psc.get("seccompProfile")):
            found.append(f"{where}: seccompProfile RuntimeDefault or Localhost must be set (pod or container)")
    return found


def main(paths):
    failed, checked = False, 0
    for path in paths:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            name = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            for meta, spec in pod_specs(doc):
                checked += 1
                found = check(meta, spec)
                failed |= bool(found)
                print(f"restricted PSS {'FAIL' if found else 'ok  '} {name}")
                for f in found:
                    print(f"    {f}")
    if checked == 0:
        print("restricted PSS: no pod template found")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
