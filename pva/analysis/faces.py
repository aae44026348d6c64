"""Thin re-export of :mod:`pva.ml.faces` for pva/faces_service.py as last committed (being moved to
pva/services/people.py, which imports pva.ml.faces); remove once that lands."""
from pva.ml.faces import FaceEngine, cluster  # noqa: F401
