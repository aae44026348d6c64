"""The analysis pipeline and its tasks (database, object store and job I/O), plus ``pva models pull`` and the
models inventory.  The model wrappers are in :mod:`pva.ml` (pure), the image decoder in :mod:`pva.media.image`,
the errors (BadInput, ModelNotFound, ModelError) in :mod:`pva.errors`.
"""

# Thin re-exports for pva/faces_service.py and gateway/routers/people.py as last committed: they are being
# moved (to pva/services/people.py) by a parallel change that imports pva.ml; remove once that lands.
from pva.errors import AnalysisError, BadInput, ModelError, ModelNotFound  # noqa: E402,F401
