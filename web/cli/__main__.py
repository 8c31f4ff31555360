"""``python -m web.cli``: the ``commandpost`` command without the installed entry point (tests and bench/ start
``sys.executable -m web.cli serve ...``)."""

from web.cli import main

main(prog_name="commandpost")
