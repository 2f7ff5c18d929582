"""Ground-truth datasets behind one interface (:class:`GroundTruthDataset`)."""

from lvae.data.base import GroundTruthDataset
from lvae.data.errors import DatasetError
from lvae.data.registry import dataset_names, default_data_root, get_dataset, register_dataset

__all__ = [
    "DatasetError",
    "GroundTruthDataset",
    "dataset_names",
    "default_data_root",
    "get_dataset",
    "register_dataset",
]
