"""Local Nuclio-compatible function runtime (`pva functions serve`).

Reads the same ``functions/<name>/function.yaml`` files that ``nuctl deploy`` takes and runs each function's
triggers (rabbit-mq, http, cron) in supervised worker processes.  See infra/nuclio/README.md.

Public API::

    from pva.runtime import load_function, discover, Processor, ServeProcess
    spec = load_function("functions/detect")          # FunctionSpec (validated; SpecError names file + key)
    with Processor(discover("functions")) as p:        # in-process supervisor, returns when all workers ready
        p.http_port("detect")
"""
from .processor import Processor, ProcessorError, ServeProcess, default_functions_dir, load_specs
from .spec import FunctionSpec, SpecError, TriggerSpec, discover, load_function, parse_duration

__all__ = ["FunctionSpec", "TriggerSpec", "SpecError", "load_function", "discover", "parse_duration",
           "Processor", "ProcessorError", "ServeProcess", "default_functions_dir", "load_specs"]
