#!/usr/bin/env python3
"""The tests' independent Kafka client (kafka-python, not librdkafka).

    kafka_client.py produce BROKERS TOPIC < records.jsonl     # one record per line (see below)
    kafka_client.py consume BROKERS TOPIC GROUP COUNT TIMEOUT_S [--distinct-keys]

A record line: {"key": str, "headers": {name: str}, "value_base64": str | null,
"partition": int (optional)}. `consume` prints one JSON line per record: topic, partition,
offset, key, headers (str), value_base64; it stops after COUNT records (or COUNT distinct keys)
or TIMEOUT_S seconds, and commits.
"""
import base64
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer


def produce(brokers, topic):
    p = KafkaProducer(bootstrap_servers=brokers, max_request_size=64 << 20, acks="all", linger_ms=5,
                      request_timeout_ms=60000, retries=10)
    n = 0
    futures = []
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        value = None if r.get("value_base64") is None else base64.b64decode(r["value_base64"])
        headers = [(k, v.encode() if isinstance(v, str) else base64.b64decode(v["base64"]))
                   for k, v in (r.get("headers") or {}).items()]
        key = r["key"].encode() if r.get("key") is not None else None
        futures.append(p.send(topic, key=key, value=value, headers=headers, partition=r.get("partition")))
        n += 1
    for f in futures:
        f.get(timeout=60)
    p.flush()
    print(n)


def consume(brokers, topic, group, count, timeout, distinct):
    c = KafkaConsumer(topic, bootstrap_servers=brokers, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=500, fetch_max_bytes=100 << 20,
                      max_partition_fetch_bytes=100 << 20)
    deadline = time.time() + timeout
    seen, keys = 0, set()
    while time.time() < deadline and (len(keys) if distinct else seen) < count:
        for m in c:
            key = m.key.decode("utf-8", "replace") if m.key is not None else None
            print(json.dumps({
                "topic": m.topic, "partition": m.partition, "offset": m.offset, "timestamp_ms": m.timestamp, "key": key,
                "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers},
                "value_base64": None if m.value is None else base64.b64encode(m.value).decode(),
            }), flush=True)
            seen += 1
            keys.add(key)
            if (len(keys) if distinct else seen) >= count or time.time() >= deadline:
                break
    c.commit()
    c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3])
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]),
                "--distinct-keys" in sys.argv)
    else:
        sys.exit(f"unknown command {cmd}")
