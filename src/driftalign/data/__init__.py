"""The dataset contract (SPEC §2): typed rows, a dataset-directory reader/writer, atomic I/O."""

from driftalign.data.dataset import Dataset, load_dataset, write_studies, write_trajectories
from driftalign.data.schema import Study, Trajectory

__all__ = ["Dataset", "Study", "Trajectory", "load_dataset", "write_studies", "write_trajectories"]
