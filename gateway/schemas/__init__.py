"""Request and response models of the API, one module per area; the routers and the OpenAPI document
(gateway/openapi.py) use them.  tests/test_openapi_fuzz.py validates each route's real answer against its model, so
a model that drifts from its route fails there.  Fields the client may rely on are listed; `extra` is allowed.
"""
from .common import *  # noqa: F401,F403
from .auth import *  # noqa: F401,F403
from .media import *  # noqa: F401,F403
from .jobs import *  # noqa: F401,F403
from .albums import *  # noqa: F401,F403
from .people import *  # noqa: F401,F403
from .stats import *  # noqa: F401,F403
from .bulk import *  # noqa: F401,F403
from .memories import *  # noqa: F401,F403
from .duplicates import *  # noqa: F401,F403
