"""Teacher trajectories: the collection client, its resumable store, the simulated-teacher server.

    collect(dataset_dir, teachers_cfg, out=None, limit=None) -> CollectSummary   (`driftalign collect`)
    start_server_in_thread(dataset, port=0, ...) -> RunningServer                (`driftalign serve-teachers`)
"""

from driftalign.teachers.collect import CollectError, collect
from driftalign.teachers.config import TeacherSpec, load_teachers
from driftalign.teachers.faults import FaultConfig
from driftalign.teachers.refusal import is_refusal
from driftalign.teachers.server import make_server, start_server_in_thread
from driftalign.teachers.summary import CollectSummary

__all__ = ["CollectError", "CollectSummary", "FaultConfig", "TeacherSpec", "collect", "is_refusal",
           "load_teachers", "make_server", "start_server_in_thread"]
