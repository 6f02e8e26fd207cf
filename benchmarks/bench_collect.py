"""Collection throughput: driftalign's concurrent collector vs a plain sequential httpx loop.

Both run IN THE SAME RUN against the same local simulated-teacher server (`serve-teachers`,
started in a thread) with simulated latency, on the same requests (studies x teachers):

    .venv/bin/python benchmarks/bench_collect.py                    # 2,000 requests, 50 ms latency
    .venv/bin/python benchmarks/bench_collect.py --requests 200     # quick run

The synthetic world is built with `build_world(teachers="none")`; the answers come from the
seven simulated teachers (`--responder sim`, default) or a trivial echo (`--responder echo`, to
separate the client's cost from the simulated teachers' text generation). All numbers synthetic.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import httpx

from driftalign.data.dataset import load_dataset
from driftalign.teachers.client import build_messages, image_data_url
from driftalign.teachers.collect import collect, plan_jobs
from driftalign.teachers.config import TeacherSpec
from driftalign.teachers.responder import SimulatedTeachers, TeacherReply
from driftalign.teachers.server import start_server_in_thread


class EchoTeachers:
    """Answers instantly with a fixed sentence (isolates the client/server from text generation)."""

    def __init__(self, names):
        self.teachers = tuple(names)

    def reply(self, teacher, study, prompt):
        return TeacherReply(f"{teacher}: the findings support {', '.join(study.positive_findings()) or 'no finding'}.")


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
    ap.add_argument("--responder", choices=["sim", "echo"], default="sim")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build the world (default: a temp dir)")
    args = ap.parse_args()

    from driftalign.synth.teachers import TEACHER_NAMES
    from driftalign.synth.world import build_world

    names = list(TEACHER_NAMES)
    n_studies = math.ceil(args.requests / len(names))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        world = build_world(Path(tmp) / "world", studies=n_studies, seed=0, teachers="none", progress=False)
        ds = load_dataset(world, with_trajectories=False)
        responder = SimulatedTeachers(ds.studies) if args.responder == "sim" else EchoTeachers(names)
        with start_server_in_thread(ds, responder=responder, latency_s=args.latency_ms / 1000) as srv:
            specs = teacher_specs(srv.url, names, args.concurrency)
            jobs = plan_jobs(ds, ds.studies[:n_studies], specs)
            start = time.perf_counter()
            summary = collect(world, specs, limit=n_studies, progress=False)
            t_collect = time.perf_counter() - start
            assert summary.done == len(jobs) and summary.failed == 0, summary
            t_seq = sequential(srv.url, jobs, {s.name: s for s in specs})
    n = len(jobs)
    rate_c, rate_s = n / t_collect, n / t_seq
    print(f"synthetic benchmark: {n} requests ({n_studies} studies x {len(names)} teachers), "
          f"{args.latency_ms:g} ms simulated latency, responder={args.responder}, "
          f"{args.concurrency} concurrent per teacher")
    print(f"  driftalign collect : {t_collect:7.1f} s  {rate_c:7.1f} req/s")
    print(f"  sequential httpx   : {t_seq:7.1f} s  {rate_s:7.1f} req/s")
    print(f"  speed-up           : {rate_c / rate_s:7.1f}x")


if __name__ == "__main__":
    main()
