#!/usr/bin/env python3
"""Metric throughput of MLflow's Python client, for comparison with bench_tracking.

usage: .venv/bin/python bench/tracking/bench_mlflow.py URI [metrics]

Logs the same points as bench_tracking (ten keys, step = index / 10) into one
run in two ways: MlflowClient.log_batch with 1000 metrics per request (the
fastest way the client offers) and mlflow.log_metric, one request per point,
on a tenth of the points because it is slow. Prints a Markdown table row per
way.
"""

import math
import os
import sys
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def main():
    uri = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = f"bench-mlflow-{os.getpid()}"
    experiment_id = client.create_experiment(experiment)

    run = client.create_run(experiment_id, run_name="log_batch")
    now = int(time.time() * 1000)
    start = time.monotonic()
    batch = []
    for i in range(count):
        batch.append(Metric(f"train/metric_{i % 10}", math.sin(i), now, i // 10))
        if len(batch) == 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run.info.run_id, metrics=batch)
    client.set_terminated(run.info.run_id)
    seconds = time.monotonic() - start
    print(f"| Python MlflowClient.log_batch | {count} | {seconds:.2f} | - | {count / seconds:.0f} | 0 |")

    single = max(count // 10, 1)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="log_metric"):
        start = time.monotonic()
        for i in range(single):
            mlflow.log_metric(f"train/metric_{i % 10}", math.sin(i), step=i // 10)
        seconds = time.monotonic() - start
    print(f"| Python mlflow.log_metric | {single} | {seconds:.2f} | - | {single / seconds:.0f} | 0 |")


if __name__ == "__main__":
    main()
