"""Extract ChartMogul into a warehouse (``runner.run_extract``) or speak Airbyte (``airbyte``).

Deliberately empty of imports: ``python -m mogulsync.extract`` (the Airbyte entry point)
must not load dlt. Import from the modules: ``mogulsync.extract.runner`` (run_extract,
ExtractOptions, ExtractReport), ``.streams`` (STREAMS), ``.airbyte`` (AirbyteSource).
"""

from __future__ import annotations
