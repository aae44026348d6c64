"""`python -m pva.cli ...` (what the runtime, the tests and the benches run): the same as `pva ...`."""
import sys

from pva.cli import main

sys.exit(main())
