"""The boot-time plugins' benchmarks in one run: lock acquire/release pairs over RPC from
PHP beside a no-op RPC loop (bench/lock.py), then tcp round trips through 2 PHP workers
beside a bare asyncio echo server (bench/tcp.py). Each prints its own baseline side by
side; this runner only keeps them one command, one after the other, so neither loads the
machine while the other measures.

    python bench/plugins.py [LOCK_N] [LOCK_ROUNDS]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script, args in (("lock.py", sys.argv[1:3]), ("tcp.py", [])):
        print(f"== {script}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / script), *args])
    return status


if __name__ == "__main__":
    sys.exit(main())
