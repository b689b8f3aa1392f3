"""`check`'s guard against the emulator's key sent to ChartMogul knows that key without
importing the emulator (production code never does)."""

from __future__ import annotations

import subprocess
import sys

from mogulsync.emulator.settings import DEFAULT_API_KEY
from mogulsync.sync.check import EMULATOR_API_KEY

PROBE = """
import sys
from pydantic import SecretStr
from mogulsync.chartmogul import ClientSettings
from mogulsync.sync.check import emulator_key_at_chartmogul
found = emulator_key_at_chartmogul(ClientSettings(api_key=SecretStr("emulator-api-key")))
print(found is not None and not found.ok, any(m.startswith("mogulsync.emulator") for m in sys.modules))
"""


def test_the_guard_spells_the_emulators_key() -> None:
    assert EMULATOR_API_KEY == DEFAULT_API_KEY


def test_the_guard_does_not_import_the_emulator() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "False"]
