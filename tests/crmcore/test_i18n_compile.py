"""Catalogues compiled by several web workers at once (gunicorn starts them together) all succeed."""
from __future__ import annotations

import os

import babel.messages.mofile

from crmcore.i18n import CATALOGUES, compile_catalogues


def test_two_workers_compiling_at_once_both_get_the_catalogues(tmp_path, monkeypatch):
    """While one worker writes a catalogue, another compiles the same ones to the end: both finish, and each
    catalogue is whole."""
    write_mo = babel.messages.mofile.write_mo
    calls = {"n": 0}

    def write_while_another_compiles(fh, catalog, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # the first worker is writing its first file: the second one runs meanwhile
            compile_catalogues(tmp_path, CATALOGUES)
        write_mo(fh, catalog, *args, **kwargs)

    monkeypatch.setattr(babel.messages.mofile, "write_mo", write_while_another_compiles)
    compile_catalogues(tmp_path, CATALOGUES)
    monkeypatch.undo()
    compiled = sorted(tmp_path.glob("*/LC_MESSAGES/*"))
    assert [p.suffix for p in compiled] == [".mo"] * len(list(CATALOGUES.glob("*/LC_MESSAGES/*.po")))  # no leftovers
    for mo in compiled:
        with mo.open("rb") as fh:
            catalog = babel.messages.mofile.read_mo(fh)  # whole: it parses
        if mo.parts[-3].startswith("zh") and mo.stem == "messages":  # admin.mo: Flask-Admin's own words
            assert catalog.get("industry").string == "行业"
        assert os.stat(mo).st_mode & 0o644 == 0o644
