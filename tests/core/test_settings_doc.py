"""docs/configuration.md is what core/settings_doc.py makes from core/settings.py now, and every setting has words."""

from __future__ import annotations

import re

from core.settings import Settings
from core.settings_doc import DOC, SETTINGS_SOURCE, describe, main, render, undocumented, variable, written_by_setup

SAMPLE = """
class Settings:
    # --- First topic ---
    # Shared by a and b.
    a: int = 1
    b: int = 2  # b's own note

    c: int = 3
    # Over f and g.
    f: int = 6
    g: int = 7
    h: int = 8
    # --- Second topic ---
    d: int = 4  # only a note
    # Over e alone.
    e: int = 5
"""


def test_the_reference_is_current() -> None:
    # A new or changed setting (or comment) must be followed by `python -m core.settings_doc`.
    assert DOC.read_text(encoding="utf-8") == render(), "docs/configuration.md is stale: python -m core.settings_doc"
    assert main(["--check"]) == 0


def test_every_setting_is_described() -> None:
    entries = describe(SETTINGS_SOURCE.read_text(encoding="utf-8"))
    assert [e.name for e in entries] == list(Settings.model_fields)
    assert undocumented(entries) == []


def test_every_variable_has_one_row_and_no_secret_value() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(COMMANDPOST_[A-Z0-9_]+)` \| ([^|]*) \|", text, flags=re.M)
    assert [name for name, _ in rows] == [variable(n) for n in Settings.model_fields]
    defaults = dict(rows)
    for secret in ("secret_key", "admin_password", "webhook_secret", "smtp_password", "vapid_private_key"):
        assert defaults[variable(secret)].startswith("unset")
    assert "scripts/setup" in defaults[variable("secret_key")]
    assert str(SETTINGS_SOURCE.parents[2]) not in text  # paths from the project root, not this machine's


def test_comment_blocks_runs_notes_and_topics() -> None:
    entries = {e.name: e for e in describe(SAMPLE)}
    assert (entries["a"].topic, entries["a"].text, entries["a"].lead) == ("First topic", "Shared by a and b.", None)
    assert (entries["b"].lead, entries["b"].note) == ("a", "b's own note")
    assert (entries["c"].text, entries["c"].lead) == ("", None)  # a blank line ends the run
    assert (entries["d"].topic, entries["d"].note, entries["d"].text) == ("Second topic", "only a note", "")
    assert (entries["e"].text, entries["e"].lead) == ("Over e alone.", None)
    assert (entries["g"].lead, entries["h"].lead) == ("f", "f")
    assert undocumented(list(entries.values())) == ["c", "h"]  # h: in f's run, but its words do not name it


def test_what_setup_writes_is_read_from_the_script() -> None:
    script = 'echo "COMMANDPOST_SECRET_KEY=$(x)" >> .env\nprint(f"COMMANDPOST_VAPID_PUBLIC_KEY={b64(public)}")\n'
    assert written_by_setup(script) == {"secret_key", "vapid_public_key"}
