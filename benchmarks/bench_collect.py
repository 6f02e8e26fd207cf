"""Collection throughput: driftalign's concurrent collector vs a plain sequential httpx loop.

Both run IN THE SAME RUN against the same local simulated-teacher server (`driftalign
serve-teachers` in its own process, as a user runs it) with simulated latency, on the same
requests (studies x teachers):

    .venv/bin/python benchmarks/bench_collect.py                    # 2,000 requests, 50 ms latency
    .venv/bin/python benchmarks/bench_collect.py --requests 200     # quick run

The synthetic world is built with `build_world(teachers="none")`; the answers come from the seven
simulated teachers. The collector runs first on an empty store, then the sequential loop repeats
exactly the same requests. All numbers are synthetic (local server, no real endpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from driftalign.data.dataset import load_dataset
from driftalign.teachers.client import build_messages, image_data_url
from driftalign.teachers.collect import collect, plan_jobs
from driftalign.teachers.config import TeacherSpec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_teachers(world: Path, latency_ms: float):
    """`driftalign serve-teachers` as a subprocess; yields its base URL once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "driftalign", "serve-teachers", str(world), "--port", str(port),
           "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/models", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve-teachers did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def teacher_specs(url: str, names, concurrency: int) -> list[TeacherSpec]:
    return [TeacherSpec(name=n, base_url=url, model=n, max_concurrency=concurrency, rpm=1e7, tpm=1e12,
                        params={"temperature": 0.7, "max_tokens": 1024}, timeout_s=30) for n in names]


def sequential(url: str, jobs, specs_by_name) -> float:
    """One request at a time with a plain httpx.Client; returns seconds."""
    start = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for job in jobs:
            payload = {"model": specs_by_name[job.teacher].model, **specs_by_name[job.teacher].params,
                       "messages": build_messages(job.prompt, [image_data_url(p) for p in job.images])}
            http.post(f"{url}/chat/completions", json=payload).raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000, help="about this many requests (studies x 7 teachers)")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=16, help="max_concurrency per teacher")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build the world (default: a temp dir)")
    args = ap.parse_args()

    from driftalign.synth.teachers import TEACHER_NAMES
    from driftalign.synth.world import build_world

    names = list(TEACHER_NAMES)
    n_studies = math.ceil(args.requests / len(names))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        world = build_world(Path(tmp) / "world", studies=n_studies, seed=0, teachers="none", progress=False)
        ds = load_dataset(world, with_trajectories=False)
        with serve_teachers(world, args.latency_ms) as url:
            specs = teacher_specs(url, names, args.concurrency)
            jobs = plan_jobs(ds, ds.studies[:n_studies], specs)
            start = time.perf_counter()
            summary = collect(world, specs, limit=n_studies, progress=False)
            t_collect = time.perf_counter() - start
            assert summary.done == len(jobs) and summary.failed == 0, summary
            t_seq = sequential(url, jobs, {s.name: s for s in specs})
    n = len(jobs)
    rate_c, rate_s = n / t_collect, n / t_seq
    print(f"synthetic benchmark: {n} requests ({n_studies} studies x {len(names)} teachers), "
          f"{args.latency_ms:g} ms simulated latency, "
          f"{args.concurrency} concurrent per teacher")
    print(f"  driftalign collect : {t_collect:7.1f} s  {rate_c:7.1f} req/s")
    print(f"  sequential httpx   : {t_seq:7.1f} s  {rate_s:7.1f} req/s")
    print(f"  speed-up           : {rate_c / rate_s:7.1f}x")


if __name__ == "__main__":
    main()
