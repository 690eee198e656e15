//! Feature plugins: the two bundled plugins against independent expectations, the hostile
//! corpus (each refused or stopped with its typed error in bounded time, the host serving a
//! good plugin right after), per-label routing and hot swaps while calls are in flight.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use debut::plugin::{PluginError, PluginHost, PluginLimits, PluginRouter, PluginsConfig, ReleaseText, RouteConfig};
use debut_tests::*;

const DIM: u32 = 4096;

fn bundled(name: &str) -> PathBuf {
    repo_root().join(format!("plugin/dist/{name}.wasm"))
}

/// Built by `fixtures/plugins/build.sh` (the test command runs it first).
fn hostile(name: &str) -> PathBuf {
    let p = repo_root().join(format!("fixtures/plugins/dist/{name}.wasm"));
    assert!(p.is_file(), "{} is missing: run bash fixtures/plugins/build.sh (tests/run.sh does)", p.display());
    p
}

fn host(limits: PluginLimits) -> Arc<PluginHost> {
    Arc::new(PluginHost::new(PluginLimits { disk_cache: false, ..limits }).unwrap())
}

fn router(routes: &[(&str, PathBuf)]) -> PluginRouter {
    router_with(routes, PluginLimits::default())
}

fn router_with(routes: &[(&str, PathBuf)], limits: PluginLimits) -> PluginRouter {
    let config = PluginsConfig {
        limits: limits.clone(),
        default: Some(RouteConfig { path: bundled("bio-text"), sha256: None }),
        labels: routes.iter().map(|(l, p)| (l.to_string(), RouteConfig { path: p.clone(), sha256: None })).collect(),
    };
    PluginRouter::new(host(limits), DIM, &config).unwrap()
}

fn release(bio: &str, label: Option<&str>) -> ReleaseText {
    ReleaseText { artist_name: "A".into(), biography: bio.into(), label: label.map(String::from), ..Default::default() }
}

/// FNV-1a 64, written out independently of the SDK.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[test]
fn bio_text_counts_hashed_content_words() {
    let r = router(&[]);
    let plugin = r.load(&RouteConfig { path: bundled("bio-text"), sha256: None }).unwrap();
    assert_eq!((plugin.info.name.as_str(), plugin.info.feature_dim), ("bio-text", DIM));
    let f = plugin.extract(&release("The SAXOPHONE, the saxophone and JAZZ. Ça va, Ça!", None)).unwrap();
    let bucket = |w: &str| (fnv1a(w) % 3584) as u32;
    let mut want: BTreeMap<u32, f32> = BTreeMap::new();
    for (w, n) in [("saxophone", 2.0), ("jazz", 1.0), ("ça", 2.0), ("va", 1.0)] {
        *want.entry(bucket(w)).or_default() += n;
    }
    let got: BTreeMap<u32, f32> = f.entries.iter().copied().collect();
    assert_eq!(got, want, "stop words dropped, Unicode lower-cased, counts hashed with FNV-1a mod 3584");
    assert!(matches!(plugin.extract(&release("   ", None)), Err(PluginError::InvalidInput(_))));
}

#[test]
fn bio_semantic_adds_gazetteer_entities() {
    let r = router(&[]);
    let sem = r.load(&RouteConfig { path: bundled("bio-semantic"), sha256: None }).unwrap();
    let txt = r.load(&RouteConfig { path: bundled("bio-text"), sha256: None }).unwrap();
    let bio = "She grew up in Detroit playing the saxophone, signed to Blue Note, and mixes jazz with hip-hop.";
    let s = sem.extract(&release(bio, None)).unwrap();
    let t = txt.extract(&release(bio, None)).unwrap();
    let entities: Vec<_> = s.entries.iter().filter(|(i, _)| *i >= 3584).collect();
    let terms: Vec<_> = s.entries.iter().filter(|(i, _)| *i < 3584).copied().collect();
    assert_eq!(terms, t.entries, "bio-semantic keeps bio-text's term features");
    // Five entities (Detroit, saxophone, Blue Note, jazz, hip hop) in four categories.
    let entity_slots = entities.iter().filter(|(i, _)| *i < 4088).count();
    let category_slots = entities.iter().filter(|(i, _)| *i >= 4088).count();
    assert_eq!(entity_slots, 5, "{entities:?}");
    assert_eq!(category_slots, 4, "{entities:?}");
}

#[test]
fn hostile_plugins_get_their_typed_errors_and_the_host_keeps_serving() {
    let r = router(&[]);
    // The other limits are checked with a deadline a loaded machine cannot hit first (filling
    // 64 MiB took over 50 ms beside a training run).
    let patient = router_with(&[], PluginLimits { deadline_ms: 2_000, ..PluginLimits::default() });
    let good = r.load(&RouteConfig { path: bundled("bio-text"), sha256: None }).unwrap();
    let bio = std::fs::read_to_string(fixture("bios/ar-0001.json")).unwrap();
    let bio: debut::release::ArtistBio = serde_json::from_str(&bio).unwrap();
    let input = bio.release_text(None);
    let expected_good = good.extract(&input).unwrap();
    // (plugin, input biography, expected kind)
    let cases = [
        ("infinite-loop", None, "timeout"),
        ("memory-bomb", None, "memory-limit"),
        ("huge-output", Some("100000"), "output-too-large"),
        ("huge-output", None, "memory-limit"),
        ("panic", None, "trap"),
        ("deep-recursion", None, "stack-overflow"),
        ("fs-read", None, "capability-denied"),
        ("net-import", None, "forbidden-import"),
        ("wrong-interface", None, "interface"),
        ("small-dim", None, "feature-dim"),
    ];
    for (name, bio_text, kind) in cases {
        let t0 = Instant::now();
        let input = match bio_text {
            Some(b) => release(b, None),
            None => input.clone(),
        };
        let host = if kind == "timeout" { &r } else { &patient };
        let err = host
            .load(&RouteConfig { path: hostile(name), sha256: None })
            .and_then(|p| p.extract(&input))
            .expect_err(name);
        let took = t0.elapsed();
        eprintln!("{name:16} -> {:18} in {took:?}: {err}", err.kind());
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(took < Duration::from_secs(5), "{name} took {took:?}");
        // The host is unharmed: a good plugin on the same host still gives the same answer.
        assert_eq!(good.extract(&bio.release_text(None)).unwrap(), expected_good, "after {name}");
    }
}

#[test]
fn the_panic_message_and_the_deadline_are_reported() {
    let r = router(&[]);
    let p = r.load(&RouteConfig { path: hostile("panic"), sha256: None }).unwrap();
    let e = p.extract(&release("x", None)).unwrap_err().to_string();
    assert!(e.contains("deliberate panic"), "{e}");
    let quick = PluginRouter::new(
        host(PluginLimits { deadline_ms: 20, ..Default::default() }),
        DIM,
        &PluginsConfig { default: Some(RouteConfig { path: bundled("bio-text"), sha256: None }), ..Default::default() },
    )
    .unwrap();
    let lp = quick.load(&RouteConfig { path: hostile("infinite-loop"), sha256: None }).unwrap();
    let t0 = Instant::now();
    let e = lp.extract(&release("x", None)).unwrap_err();
    assert!(matches!(e, PluginError::Timeout { limit_ms: 20 }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_pinned_hash_mismatch_refuses_the_plugin() {
    let r = router(&[]);
    let err = r.load(&RouteConfig { path: bundled("bio-text"), sha256: Some("00".repeat(32)) }).unwrap_err();
    assert_eq!(err.kind(), "checksum", "{err}");
    let real = debut::model::sha256_hex(&std::fs::read(bundled("bio-text")).unwrap());
    assert!(r.load(&RouteConfig { path: bundled("bio-text"), sha256: Some(real) }).is_ok());
}

#[test]
fn labels_route_to_their_plugins_and_a_bad_reload_keeps_the_old_table() {
    let r = router(&[("Echo Records", hostile("good-echo"))]);
    let bio = "a bio of some length";
    let (echo_ref, echo) = r.extract(&release(bio, Some("Echo Records"))).unwrap();
    assert_eq!(echo_ref.name, "good-echo");
    assert!(echo.entries.contains(&(7, 2.0)));
    let (default_ref, _) = r.extract(&release(bio, Some("Other"))).unwrap();
    assert_eq!(default_ref.name, "bio-text");
    let (none_ref, _) = r.extract(&release(bio, None)).unwrap();
    assert_eq!(none_ref.name, "bio-text");

    let generation = r.generation();
    let bad = PluginsConfig {
        default: Some(RouteConfig { path: bundled("bio-text"), sha256: None }),
        labels: [("Echo Records".to_string(), RouteConfig { path: hostile("small-dim"), sha256: None })].into(),
        ..Default::default()
    };
    assert_eq!(r.reload(&bad).unwrap_err().kind(), "feature-dim");
    assert_eq!(r.generation(), generation);
    assert_eq!(r.extract(&release(bio, Some("Echo Records"))).unwrap().0.name, "good-echo");
}

#[test]
fn swapping_a_labels_plugin_while_calls_flow_changes_that_label_only() {
    let r = Arc::new(router(&[("Label A", bundled("bio-text")), ("Label B", bundled("bio-text"))]));
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for label in ["Label A", "Label B"] {
        let (r, stop, calls) = (r.clone(), stop.clone(), calls.clone());
        workers.push(std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // Every call succeeds: none is dropped by the swap.
                let (p, _) =
                    r.extract(&release("jazz from detroit", Some(label))).expect("no call fails during a swap");
                if seen.last() != Some(&p.name) {
                    seen.push(p.name);
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    let swapped = PluginsConfig {
        default: Some(RouteConfig { path: bundled("bio-text"), sha256: None }),
        labels: [
            ("Label A".to_string(), RouteConfig { path: hostile("good-echo"), sha256: None }),
            ("Label B".to_string(), RouteConfig { path: bundled("bio-text"), sha256: None }),
        ]
        .into(),
        ..Default::default()
    };
    r.reload(&swapped).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let a = workers.remove(0).join().unwrap();
    let b = workers.remove(0).join().unwrap();
    assert_eq!(a, vec!["bio-text", "good-echo"], "label A switched once, mid-stream");
    assert_eq!(b, vec!["bio-text"], "label B never changed");
    assert!(calls.load(Ordering::Relaxed) > 20);
}

/// A router made from `cfg` that reloads when it changes, as `debut run` sets it up.
fn watched_router(cfg: &Path) -> Arc<PluginRouter> {
    let read = {
        let cfg = cfg.to_path_buf();
        move || debut::config::Config::load(Some(&cfg)).map(|c| c.plugins)
    };
    let r = Arc::new(PluginRouter::new(host(PluginLimits::default()), DIM, &read().unwrap()).unwrap());
    r.reload_on_change(cfg, read).unwrap();
    r
}

#[test]
fn editing_the_config_file_reloads_the_routes() {
    let dir = scratch_dir("reload");
    let cfg = dir.join("debut.toml");
    let write = |plugin: &PathBuf| {
        std::fs::write(
            &cfg,
            format!(
                "[plugins.default]\npath = {:?}\n[plugins.labels.\"Label A\"]\npath = {:?}\n",
                bundled("bio-text"),
                plugin
            ),
        )
        .unwrap()
    };
    write(&bundled("bio-text"));
    let r = watched_router(&cfg);
    assert_eq!(r.route(Some("Label A")).unwrap().info.name, "bio-text");
    write(&hostile("good-echo"));
    let t0 = Instant::now();
    while r.route(Some("Label A")).unwrap().info.name != "good-echo" {
        assert!(t0.elapsed() < Duration::from_secs(10), "the edit was not picked up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(r.route(Some("Other")).unwrap().info.name, "bio-text");

    // SIGHUP re-reads the file too (here: back to bio-text, without touching the file's
    // watcher-visible state until after the signal's reload).
    let generation = r.generation();
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    while r.generation() == generation {
        assert!(t0.elapsed() < Duration::from_secs(10), "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kubernetes mounts a ConfigMap as `debut.toml -> ..data/debut.toml`, `..data ->
/// ..<timestamp>`, and updates it by writing a new timestamped directory, pointing a
/// `..data_tmp` symlink at it, renaming that over `..data` and deleting the old directory
/// (the kubelet's AtomicWriter). The file debut was given never changes itself.
#[test]
fn a_configmap_update_through_the_data_symlink_reloads_the_routes() {
    use std::os::unix::fs::symlink;
    let dir = scratch_dir("configmap");
    let config = |plugin: &PathBuf| {
        format!(
            "[plugins.default]\npath = {:?}\n[plugins.labels.\"Label A\"]\npath = {:?}\n",
            bundled("bio-text"),
            plugin
        )
    };
    let publish = |stamp: &str, content: String| {
        let version = dir.join(format!("..{stamp}"));
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("debut.toml"), content).unwrap();
        let tmp = dir.join("..data_tmp");
        symlink(format!("..{stamp}"), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("..data")).unwrap();
    };
    publish("2026_12_08_01_00_00.000000001", config(&bundled("bio-text")));
    symlink("..data/debut.toml", dir.join("debut.toml")).unwrap();
    let cfg = dir.join("debut.toml");
    let r = watched_router(&cfg);
    assert_eq!(r.route(Some("Label A")).unwrap().info.name, "bio-text");

    publish("2026_12_08_01_05_00.000000002", config(&hostile("good-echo")));
    std::fs::remove_dir_all(dir.join("..2026_12_08_01_00_00.000000001")).unwrap();
    let t0 = Instant::now();
    while r.route(Some("Label A")).unwrap().info.name != "good-echo" {
        assert!(t0.elapsed() < Duration::from_secs(10), "the ConfigMap update was not picked up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second update through the same layout is seen too.
    let generation = r.generation();
    publish("2026_12_08_01_10_00.000000003", config(&bundled("bio-semantic")));
    let t0 = Instant::now();
    while r.route(Some("Label A")).unwrap().info.name != "bio-semantic" {
        assert!(t0.elapsed() < Duration::from_secs(10), "the second update was not picked up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(r.generation() > generation);
}

#[test]
fn plugin_cli_checks_and_runs() {
    let (ok, out, err) =
        run_debut(&["plugin", "check", bundled("bio-semantic").to_str().unwrap(), "--repeat", "3"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("bio-semantic") && out.contains("4096 dimensions") && out.contains("ar-0001.json"), "{out}");
    let (ok, _, err) = run_debut(&["plugin", "check", hostile("net-import").to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("forbidden-import") && err.contains("debut:evil/network"), "{err}");
    let (ok, out, err) = run_debut(
        &[
            "plugin",
            "run",
            hostile("good-echo").to_str().unwrap(),
            "--bio",
            fixture("bios/ar-0002.json").to_str().unwrap(),
            "--label",
            "X",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["plugin"]["name"], "good-echo");
    assert!(v["features"].as_array().unwrap().contains(&serde_json::json!([7, 2.0])));
}
