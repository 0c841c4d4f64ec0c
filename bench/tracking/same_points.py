#!/usr/bin/env python3
"""One way of MLflow's Python client to log N metric points, for
bench/tracking/throughput_same_points.sh.

usage: .venv/bin/python bench/tracking/same_points.py URI EXPERIMENT WAY N

The points are the ones bench_tracking logs: point i has key
train/metric_<i % 10>, value sin(i) and step i // 10. WAY is one of
  log_batch    MlflowClient.log_batch, 1000 metrics per request
  log_metric   mlflow.log_metric, one blocking request per point
  async        mlflow.log_metric(synchronous=False), MLflow's background
               queue, then mlflow.flush_async_logging()
Prints one line: RESULT WAY N seconds-until-delivered seconds-in-log-calls.
"""

import math
import sys
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def main():
    uri, experiment, way, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    client = MlflowClient(uri)
    run = mlflow.start_run(run_name=way)
    run_id = run.info.run_id
    in_calls = 0.0
    start = time.monotonic()
    if way == "log_batch":
        now = int(time.time() * 1000)
        batch = []
        for i in range(count):
            batch.append(Metric(f"train/metric_{i % 10}", math.sin(i), now, i // 10))
            if len(batch) == 1000 or i == count - 1:
                t = time.monotonic()
                client.log_batch(run_id, metrics=batch)
                in_calls += time.monotonic() - t
                batch = []
    else:
        synchronous = way == "log_metric"
        for i in range(count):
            t = time.monotonic()
            mlflow.log_metric(f"train/metric_{i % 10}", math.sin(i), step=i // 10, synchronous=synchronous)
            in_calls += time.monotonic() - t
        if not synchronous:
            mlflow.flush_async_logging()
    delivered = time.monotonic() - start
    mlflow.end_run()

    # Check that the server has every point, so the rate counts only
    # delivered points.
    stored = sum(len(client.get_metric_history(run_id, f"train/metric_{k}")) for k in range(10))
    if stored != count:
        sys.exit(f"same_points.py: the server holds {stored} of {count} points of run {run_id}")
    print(f"RESULT {way} {count} {delivered:.3f} {in_calls:.3f}")


if __name__ == "__main__":
    main()
