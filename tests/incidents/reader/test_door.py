"""The reader's door loads the reader on first use: a process that imports the web app (every route, intake's
included) has not compiled the lexicons or the fact patterns; the first report read loads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ["incidents.reader.classifier", "incidents.reader.facts", "incidents.reader.fact_patterns"]

_PROBE = """
import json, sys
import web.app
import incidents.reader
heavy = {heavy!r}
before = [name for name in heavy if name in sys.modules]
found = incidents.reader.classify("成都市武侯区一居民楼发生火灾，造成3人死亡。")
facts, _ = incidents.reader.extract_facts("成都市武侯区一居民楼发生火灾，造成3人死亡。")
after = [name for name in heavy if name in sys.modules]
print(json.dumps({{"before": before, "after": after, "subtype": found.subtype, "deaths": facts.deaths}}))
"""


def test_the_reader_loads_on_first_use() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["before"] == [], "importing the web app compiled the reader"
    assert seen["after"] == HEAVY and (seen["subtype"], seen["deaths"]) == ("building_fire", 3)
