"""Labelled datasets: generation (local or Dask), sharded Parquet storage, loading."""

from airchitect.data.airchitect_v2 import load_airchitect_v2
from airchitect.data.generate import generate
from airchitect.data.store import load, read_manifest

__all__ = ["generate", "load", "load_airchitect_v2", "read_manifest"]
