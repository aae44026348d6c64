"""Print the summary table of the last fault-injection run (`make test-faults` writes artifacts/faults-summary.json):
faults injected, files in, files stored, analyses done, failed, lost (must be 0).

    python bench/faults_summary.py [path/to/faults-summary.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else REPO / "artifacts" / "faults-summary.json"
    if not path.exists():
        print(f"no fault-injection results at {path}: run `make test-faults` first")
        return 0
    data = json.loads(path.read_text())
    from faults.conftest import format_table

    print(format_table(data["rows"]))
    print(f"\ntotal lost: {data['lost']} (must be 0)")
    return 0  # a report, not a gate: the fault tests themselves fail when something is lost


if __name__ == "__main__":
    sys.exit(main(sys.argv))
