"""What is left of pva.analysis after issue 17: ``pva models pull`` (:mod:`pva.analysis.models_pull`, download a
model with a pinned sha256) and the models inventory (:mod:`pva.analysis.inventory`, ``pva status``).  Both are
used only by the CLI (pva/cli/models.py, pva/cli/stack.py); they stay here, not in pva/ml, because pulling
downloads (I/O) and pva/ml is pure.

Moved: the model wrappers to :mod:`pva.ml`, the image decoder to :mod:`pva.media.image`, the errors to
:mod:`pva.errors`, the pipeline and the tasks to :mod:`pva.jobs.pipeline` and :mod:`pva.jobs.tasks`.
"""
