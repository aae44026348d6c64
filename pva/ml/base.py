"""The one base class of the model wrappers, after Immich's ``InferenceModel`` (machine-learning/immich_ml/
models/base.py): a model has a ``name`` and a ``version`` (they tag the stored results), loads its weights once
(``load()`` is idempotent; the wrappers call it from their constructor, so a function's ``init_context`` pays
the cost once per worker and a missing model fails the worker at start, not the first job) and answers
``predict(input)``.

Pure: no database, object store or bus here or in any pva.ml module (tests/test_architecture.py checks it).
Inputs come in as images, arrays or local files; the caller (pva.jobs) fetches them and stores the results.
Unlike Immich we do not download in ``load()``: weights are installed by ``pva models pull`` beforehand.
"""
from __future__ import annotations

from typing import Any


class Model:
    """Subclasses set ``name`` and ``version`` (at class level or in ``_load``) and implement ``_load`` and
    ``predict``."""

    name: str = ""
    version: str = ""
    loaded: bool = False

    def load(self) -> None:
        """Load the weights, once: later calls do nothing.  Raises pva.errors.ModelNotFound / ModelError."""
        if not self.loaded:
            self._load()
            self.loaded = True

    def _load(self) -> None:
        """Load the weights (subclass); nothing to do by default (e.g. an external program)."""

    def predict(self, item: Any, /, **kwargs: Any) -> Any:
        """The model's answer for one input (an image or a media file, per model)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


__all__ = ["Model"]
