"""Ground-truth datasets behind one interface (:class:`GroundTruthDataset`)."""

from lvae.data.base import IMAGE_SIZE, GroundTruthDataset
from lvae.data.catalog import dataset_names, get_dataset
from lvae.data.errors import DatasetError
from lvae.data.registry import default_data_root, register_dataset

__all__ = [
    "IMAGE_SIZE",
    "DatasetError",
    "GroundTruthDataset",
    "dataset_names",
    "default_data_root",
    "get_dataset",
    "register_dataset",
]
