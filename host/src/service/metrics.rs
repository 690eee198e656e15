//! Prometheus metrics (`/metrics`) and health (`/startz`, `/livez`, `/readyz`; `/healthz` = `/readyz`) on a
//! small HTTP listener.

use std::sync::{Arc, OnceLock};

use super::health::Health;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and describes the metrics.
pub fn recorder() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
            .expect("static buckets")
            .install_recorder()
            .expect("one metrics recorder per process");
        metrics::describe_counter!("debut_records_in_total", "records consumed, by topic");
        metrics::describe_counter!("debut_embeddings_out_total", "track embeddings produced, by modalities");
        metrics::describe_counter!("debut_dead_letters_total", "records dead-lettered, by stage and kind");
        metrics::describe_counter!("debut_delivery_errors_total", "outputs the broker refused for good");
        metrics::describe_histogram!(
            "debut_stage_seconds",
            "time per stage (decode_mel, audio_tower, plugin, produce)"
        );
        metrics::describe_histogram!("debut_batch_tracks", "tracks per audio-tower batch");
        metrics::describe_gauge!("debut_consumer_lag", "records behind the partition end, by topic and partition");
        metrics::describe_gauge!(
            "debut_in_flight_bytes",
            "bytes of records consumed but not yet acknowledged downstream"
        );
        metrics::describe_gauge!("debut_waiting_tracks", "tracks waiting for their artist's bio");
        handle
    })
}

/// Serves `/metrics`, `/startz`, `/livez` and `/readyz` on `addr` from a background thread.
pub fn serve(addr: &str, health: Arc<Health>) -> anyhow::Result<()> {
    let handle = recorder();
    let server = tiny_http::Server::http(addr).map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
    tracing::info!("metrics on http://{addr}/metrics, health on /startz, /livez and /readyz");
    std::thread::Builder::new().name("debut-http".into()).spawn(move || {
        for req in server.incoming_requests() {
            let check = |r: Result<(), String>| match r {
                Ok(()) => tiny_http::Response::from_string("ok\n"),
                Err(why) => tiny_http::Response::from_string(format!("unavailable: {why}\n")).with_status_code(503),
            };
            let resp = match req.url() {
                "/metrics" => tiny_http::Response::from_string(handle.render()).with_header(
                    "Content-Type: text/plain; version=0.0.4".parse::<tiny_http::Header>().expect("static header"),
                ),
                "/startz" => check(health.started()),
                "/livez" => check(health.live()),
                "/readyz" | "/healthz" => check(health.ready()),
                _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
            };
            let _ = req.respond(resp);
        }
    })?;
    Ok(())
}
