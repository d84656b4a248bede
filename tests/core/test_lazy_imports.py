"""The serving process stays light: SciPy, scikit-learn, LightGBM, asyncua and psycopg load only when used.

Together they are about 150 MB of the embedded server's memory (issue 13's idle target is 300 MB); one eager
import anywhere on the start-up path brings them all back, so a fresh interpreter builds the whole app and
checks what it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smart365.core.lazy import lazy

HEAVY = ("scipy", "sklearn", "lightgbm", "asyncua", "psycopg")

START_UP = """
import json, sys
from smart365.bootstrap import bootstrap
from smart365.cli.main import app  # every command's module, as `smart365 serve` imports them
from smart365.core.settings import Settings
from smart365.web.app import create_app

system = bootstrap(Settings(), shape="serve")
create_app(system)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""


def test_serve_builds_without_the_heavy_libraries(tmp_path: Path) -> None:
    env = {**os.environ, "SMART365_DATA_DIR": str(tmp_path), "SMART365_SECRET_KEY": "test", "SMART365_WARM_UP": "false"}
    for name in [n for n in env if n.startswith("SMART365_") and n.endswith("_URL")]:
        del env[name]  # the embedded shape, whatever the caller's environment names
    command = [sys.executable, "-c", START_UP, *HEAVY]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_deployed_model_still_loads_its_kind_on_first_use() -> None:
    """contract.load imports the module of a kind it has not seen (the registry no longer imports them)."""
    code = (
        "import numpy as np, pandas as pd, sys\n"
        "from smart365.analytics.contract import load\n"
        "assert 'smart365.analytics.anomaly' not in sys.modules\n"
        "from smart365.analytics.anomaly import EwmaDetector\n"
        "frame = pd.DataFrame({'a': np.sin(np.arange(200) / 5.0)})\n"
        "data = EwmaDetector().fit(frame).state().to_bytes()\n"
        "del sys.modules['smart365.analytics.anomaly']\n"
        "from smart365.analytics import contract\n"
        "contract._REGISTRY.clear()\n"
        "print(type(load(data)).__name__, len(load(data).score(frame)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["EwmaDetector", "200"]


def test_a_lazy_module_is_the_module_once_read() -> None:
    json_lazy = lazy("json")
    assert json_lazy.dumps([1]) == "[1]"
    assert json_lazy.loads is json.loads  # the namespace is taken over: no proxy on later reads
