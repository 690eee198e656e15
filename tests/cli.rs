//! The `debut` command line as a user runs it: outputs, exit codes, error messages.

use debut::audio::{self, AudioConfig, SourceHint};
use debut::spectral::{MelParams, MelPlan};
use debut_tests::*;

#[test]
fn mel_writes_the_npy_and_png_on_both_backends() {
    let dir = scratch_dir("mel");
    let input = fixture("audio/music_22k_mono.flac");
    let clip =
        audio::load(std::fs::read(&input).unwrap(), &SourceHint::from_path(&input), &AudioConfig::default()).unwrap();
    let expected = cpu().log_mel(&MelPlan::new(MelParams::default()), &clip.samples).unwrap();
    for backend in ["cpu", "gpu"] {
        let (npy, png) = (dir.join(format!("{backend}.npy")), dir.join(format!("{backend}.png")));
        let (ok, _, err) = run_debut(
            &[
                "mel",
                input.to_str().unwrap(),
                "--out",
                npy.to_str().unwrap(),
                "--png",
                png.to_str().unwrap(),
                "--backend",
                backend,
            ],
            &[],
        );
        assert!(ok, "debut mel --backend {backend} failed: {err}");
        let (rows, cols, data) = debut::output::read_npy_2d(&npy).unwrap();
        assert_eq!((rows, cols), (128, 173));
        let (max, _) = max_abs_diff(&data, &expected.data);
        assert!(max <= 0.01, "{backend}: the .npy differs from the library's log-mel by {max} dB");
        let png_bytes = std::fs::read(&png).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n", "{backend}: not a PNG");
        let (w, h) = (
            u32::from_be_bytes(png_bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(png_bytes[20..24].try_into().unwrap()),
        );
        assert_eq!((w, h), (1000, 520));
    }
}

#[test]
fn mel_on_corrupt_audio_fails_with_the_cause_and_writes_nothing() {
    let dir = scratch_dir("corrupt");
    let out = dir.join("x.npy");
    let (ok, _, err) =
        run_debut(&["mel", fixture("corrupt/truncated.flac").to_str().unwrap(), "--out", out.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("truncated stream"), "stderr: {err}");
    assert!(!out.exists());

    let (ok, _, err) = run_debut(&["mel", "/nonexistent.wav", "--out", out.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("reading /nonexistent.wav"), "stderr: {err}");
}

#[test]
fn a_bad_setting_is_reported_by_name() {
    let (ok, _, err) = run_debut(&["analyse", "."], &[("DEBUT_BACKEND", "quantum")]);
    assert!(!ok);
    assert!(err.contains("quantum") && err.to_lowercase().contains("backend"), "stderr: {err}");

    let dir = scratch_dir("config");
    let cfg = dir.join("debut.toml");
    std::fs::write(&cfg, "[audio]\nmax_secondz = 3\n").unwrap();
    let (ok, _, err) = run_debut(&["--config", cfg.to_str().unwrap(), "analyse", "."], &[]);
    assert!(!ok);
    assert!(err.contains("max_secondz"), "stderr: {err}");

    // A DEBUT_* variable that names no setting is refused, not ignored, with the known names.
    let (ok, _, err) = run_debut(&["config"], &[("DEBUT_BROKER", "kafka:9092")]);
    assert!(!ok);
    assert!(err.contains("DEBUT_BROKER:") && err.contains("DEBUT_BROKERS") && err.contains("DEBUT_SERVICE"), "{err}");
}

/// Mesa's Vulkan layers probe Wayland, whose client library complained on stderr whenever
/// XDG_RUNTIME_DIR was unset or empty (every command, on a headless machine).
#[test]
fn no_xdg_runtime_dir_error_on_a_headless_machine() {
    for value in [None, Some(""), Some("/nonexistent/run/user/1000")] {
        let mut cmd = std::process::Command::new(debut_bin());
        cmd.args(["adapters"]).env_remove("NODEVICE_SELECT");
        match value {
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
            Some(v) => cmd.env("XDG_RUNTIME_DIR", v),
        };
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("XDG_RUNTIME_DIR"), "XDG_RUNTIME_DIR={value:?}: {err}");
    }
}

/// Runs `debut embed` with `stdin`; returns (exit code, stdout records, stderr).
fn embed(args: &[&str], stdin: &str) -> (i32, Vec<serde_json::Value>, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(debut_bin())
        .arg("embed")
        .args(args)
        .args(["--backend", "cpu"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let records = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code().unwrap_or(-1), records, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn embed_walks_directories_and_names_tracks_by_their_relative_path() {
    let dir = scratch_dir("embed-dirs");
    let catalog = dir.join("catalog");
    for (sub, name, from) in [
        ("a", "x.flac", "audio/music_22k_mono.flac"),
        ("b", "x.ogg", "audio/music_44k_stereo.ogg"),
        ("b/deep", "y.mp3", "audio/music_44k_stereo.mp3"),
    ] {
        std::fs::create_dir_all(catalog.join(sub)).unwrap();
        std::fs::copy(fixture(from), catalog.join(sub).join(name)).unwrap();
    }
    std::fs::write(catalog.join("a/notes.txt"), "not audio").unwrap();
    let (code, records, err) = embed(&[catalog.to_str().unwrap()], "");
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = records.iter().map(|r| r["track_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a/x", "b/deep/y", "b/x"], "the same stem in two directories is two tracks");
    assert!(err.contains("3 of 3 files embedded") && err.contains("1 files in the directories skipped"), "{err}");

    // File names on stdin: ids are the paths as given.
    let list = format!("{}\n{}\n", catalog.join("a/x.flac").display(), catalog.join("b/x.ogg").display());
    let (code, records, err) = embed(&["-"], &list);
    assert_eq!(code, 0, "{err}");
    assert_eq!(records.len(), 2);
    assert!(records[0]["track_id"].as_str().unwrap().ends_with("catalog/a/x"), "{:?}", records[0]["track_id"]);

    // Two files that would get one id (same stem, same directory): the second fails as
    // duplicate-id, the first is kept.
    let twins = dir.join("twins");
    std::fs::create_dir_all(twins.join("s")).unwrap();
    std::fs::copy(fixture("audio/music_22k_mono.flac"), twins.join("s/t.flac")).unwrap();
    std::fs::copy(fixture("audio/music_44k_stereo.ogg"), twins.join("s/t.ogg")).unwrap();
    let (code, records, err) = embed(&[twins.to_str().unwrap()], "");
    assert_eq!(code, 1, "{err}");
    assert_eq!(records.len(), 1, "{err}");
    assert_eq!(records[0]["source"]["file"].as_str().unwrap(), twins.join("s/t.flac").display().to_string());
    assert!(err.contains("1 of 2 files embedded") && err.contains("1 duplicate-id"), "{err}");
}

#[test]
fn embed_of_files_that_all_fail_prints_a_summary_by_kind_and_exits_non_zero() {
    let corrupt = ["truncated.flac", "garbage.bin", "empty.wav", "rate_1hz.wav"];
    let paths: Vec<String> = corrupt.iter().map(|f| fixture("corrupt").join(f).display().to_string()).collect();
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.push("/nonexistent/track.mp3");
    let (code, records, err) = embed(&args, "");
    assert_eq!(code, 1, "{err}");
    assert!(records.is_empty());
    assert!(err.contains("0 of 5 files embedded"), "{err}");
    for kind in ["truncated", "unrecognized-format", "empty", "sample-rate", "unreadable"] {
        assert!(err.contains(&format!(" {kind} (e.g. ")), "{kind} missing: {err}");
    }
    assert!(!err.contains("shape mismatch"), "{err}");
}

#[test]
fn analyse_reports_every_fixture_and_rejects_each_corrupt_one() {
    let (ok, out, err) = run_debut(&["analyse", fixture("audio").to_str().unwrap(), "--backend", "cpu"], &[]);
    assert!(ok, "{err}");
    let audio_count = std::fs::read_dir(fixture("audio")).unwrap().count();
    assert!(out.contains(&format!("{audio_count} analysed, 0 rejected")), "{out}");
    let expected: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(fixture("corrupt/EXPECTED.json")).unwrap()).unwrap();
    let (ok, out, err) = run_debut(&["analyse", fixture("corrupt").to_str().unwrap(), "--backend", "cpu"], &[]);
    assert!(ok, "{err}");
    for name in expected.keys() {
        let line =
            out.lines().find(|l| l.starts_with(name.as_str())).unwrap_or_else(|| panic!("{name} missing:\n{out}"));
        assert!(line.contains("rejected: "), "{line}");
    }
}

#[test]
fn demo_runs_the_service_on_a_mock_cluster() {
    let (ok, out, err) = run_debut(&["demo", "--backend", "cpu", "--tracks", "12"], &[]);
    assert!(ok, "demo failed: {err}");
    assert!(out.contains("Every release has an output"), "{out}");
    let corrupt_count = std::fs::read_dir(fixture("corrupt")).unwrap().count() - 1;
    assert!(out.contains(&format!("12 track embeddings, {corrupt_count} dead letters")), "{out}");
    assert!(out.contains("audio+text") && out.contains("nearest neighbours"), "{out}");
    let share = out.lines().find(|l| l.starts_with("top-3 neighbours sharing the planted genre: ")).expect(&out);
    assert!(share.contains("% (") && share.contains("chance: "), "{share}");
    // The fixtures instead: no planted genres.
    let (ok, out, err) = run_debut(&["demo", "--backend", "cpu", "--fixtures", fixture("").to_str().unwrap()], &[]);
    assert!(ok, "demo failed: {err}");
    let audio_count = std::fs::read_dir(fixture("audio")).unwrap().count();
    assert!(out.contains(&format!("{audio_count} track embeddings, {corrupt_count} dead letters")), "{out}");
    assert!(!out.contains("planted genre"), "{out}");
}

#[test]
fn kafka_properties_come_from_the_environment_and_secrets_stay_hidden() {
    let dir = scratch_dir("kafka-props");
    let cfg = dir.join("debut.toml");
    std::fs::write(&cfg, "[kafka]\n\"sasl.username\" = \"from-file\"\n\"fetch.wait.max.ms\" = \"50\"\n").unwrap();
    let env = [
        ("DEBUT_KAFKA__SECURITY__PROTOCOL", "SASL_SSL"),
        ("DEBUT_KAFKA__SASL__MECHANISMS", "PLAIN"),
        ("DEBUT_KAFKA__SASL__USERNAME", "from-env"),
        ("DEBUT_KAFKA__SASL__PASSWORD", "hunter2"),
    ];
    let (ok, out, err) = run_debut(&["--config", cfg.to_str().unwrap(), "config"], &env);
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kafka = &shown["kafka"];
    assert_eq!(kafka["security.protocol"], "SASL_SSL");
    assert_eq!(kafka["sasl.mechanisms"], "PLAIN");
    assert_eq!(kafka["sasl.username"], "from-env", "the environment wins over the file");
    assert_eq!(kafka["fetch.wait.max.ms"], "50", "the file's other properties stay");
    assert_eq!(kafka["sasl.password"], "***");
    assert!(!out.contains("hunter2") && !err.contains("hunter2"), "the secret leaked:\n{out}\n{err}");
    // A property debut needs for correctness is refused, with the reason.
    let (ok, _, err) = run_debut(&["config"], &[("DEBUT_KAFKA__ENABLE__AUTO__COMMIT", "true")]);
    assert!(!ok && err.contains("kafka.enable.auto.commit cannot be set: debut commits"), "{err}");
}

#[test]
fn config_file_and_environment_set_the_decode_span() {
    let dir = scratch_dir("span");
    let cfg = dir.join("debut.toml");
    std::fs::write(&cfg, "backend = \"cpu\"\n[audio]\nmax_seconds = 2.0\n").unwrap();
    let out = dir.join("y.npy");
    let input = fixture("audio/music_22k_mono.flac");
    let (ok, _, err) = run_debut(
        &["--config", cfg.to_str().unwrap(), "decode", input.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &[],
    );
    assert!(ok, "{err}");
    assert!(err.contains("-> 65024 samples"), "a 2 s span pads to one window: {err}");
    // The environment overrides the file.
    let (ok, _, err) = run_debut(
        &["--config", cfg.to_str().unwrap(), "decode", input.to_str().unwrap(), "--out", out.to_str().unwrap()],
        &[("DEBUT_AUDIO__MAX_SECONDS", "3.5")],
    );
    assert!(ok, "{err}");
    assert!(err.contains("-> 77175 samples"), "3.5 s of 22 050 Hz: {err}");
}

#[test]
fn the_binary_copied_alone_into_an_empty_directory_runs_embed_and_demo() {
    let dir = scratch_dir("installed");
    let bin = dir.join("debut");
    std::fs::copy(debut_bin(), &bin).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let audio = dir.join("track.flac");
    std::fs::copy(fixture("audio/music_22k_mono.flac"), &audio).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .current_dir(&dir)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "debut {args:?}: {stderr}");
        (stdout, stderr)
    };
    let (version, _) = run(&["--version"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("models/default/manifest.json")).unwrap())
            .unwrap();
    let sha = manifest["weights"]["sha256"].as_str().unwrap();
    assert!(
        version.contains(&format!(
            "model: default {} (trained, weights sha256 {}",
            manifest["version"].as_str().unwrap(),
            &sha[..12]
        )),
        "{version}"
    );
    assert!(version.contains("plugin: bio-semantic") && version.contains("plugin: bio-text"), "{version}");

    let (embedded, _) = run(&["embed", "track.flac", "--backend", "cpu"]);
    let record: serde_json::Value = serde_json::from_str(embedded.lines().next().unwrap()).unwrap();
    assert_eq!(record["model"]["sha256"], sha, "the bundled model");
    // The bundle was written under the user's data directory, not read from the source tree.
    let bundles: Vec<_> = std::fs::read_dir(home.join(".local/share/debut")).unwrap().collect();
    assert_eq!(bundles.len(), 1);

    let (demo, stderr) = run(&["demo", "--tracks", "6", "--backend", "cpu"]);
    assert!(demo.contains("Every release has an output") && demo.contains("audio+text"), "{demo}\n{stderr}");
}

#[test]
fn bench_resample_times_the_halfband_against_rubato() {
    let (ok, out, err) = run_debut(&["bench", "resample", "--seconds", "2", "--repeat", "3"], &[]);
    assert!(ok, "{err}");
    for (resampler, from) in
        [("halfband FIR", 44_100), ("rubato FFT", 44_100), ("rubato FFT", 48_000), ("rubato FFT", 24_000)]
    {
        let row = out.lines().find(|l| l.starts_with(resampler) && l.contains(&format!("from {from:>6} Hz")));
        let row = row.unwrap_or_else(|| panic!("{resampler} from {from}: {out}"));
        let ms: f64 =
            row.split_whitespace().find_map(|w| w.parse().ok().filter(|v: &f64| *v != f64::from(from))).unwrap();
        assert!(ms > 0.0, "{row}");
    }
    assert!(out.contains("x the halfband"), "{out}");
}

#[test]
fn bench_decoders_compares_each_file_with_the_full_rate_path() {
    let files = ["music_44k_stereo.m4a", "music_44k_stereo.ogg", "music_44k_stereo.mp3", "music_48k_stereo.opus"]
        .map(|name| fixture("audio").join(name).to_str().unwrap().to_string());
    let mut args = vec!["bench", "decoders", "--repeat", "1"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out, err) = run_debut(&args, &[]);
    assert!(ok, "{err}");
    for name in ["music_44k_stereo.m4a", "music_44k_stereo.ogg", "music_44k_stereo.mp3", "music_48k_stereo.opus"] {
        let row = out.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{out}"));
        // The last two columns: log-mel max and mean against the full-rate path, in dB.
        let db: Vec<f64> = row.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        let (max, mean) = (db[db.len() - 2], db[db.len() - 1]);
        assert!(max <= 0.25 && mean <= 0.01, "{row}");
    }
}
