"""Runs `openstack` commands for the client tests without paying the CLI's start-up
(~1.5 s of imports, several seconds on a loaded machine) for every command.

A child process imports python-openstackclient once, then for each request line
({"argv": [...], "env": {...}}) runs exactly what the `openstack` script runs,
`openstackclient.shell.main(argv)`, in a fresh shell object with the given
environment, and answers {"rc", "stdout", "stderr"} on one line. Set
PORTUS_CLI_FRESH=1 to start the real `openstack` executable for every command instead.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys


def serve() -> None:
    from openstackclient import shell

    real_stdout = sys.stdout
    base_env = dict(os.environ)
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(base_env)
        os.environ.update(request.get("env") or {})
        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers = list(root.handlers)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = shell.main(list(request["argv"]))
            except SystemExit as exc:  # argparse errors, --help
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # noqa: BLE001 - report, keep serving
                err.write(f"{type(exc).__name__}: {exc}\n")
                rc = 1
        for handler in list(root.handlers):  # each shell adds its own log handlers
            if handler not in handlers:
                root.removeHandler(handler)
        real_stdout.write(json.dumps({"rc": rc, "stdout": out.getvalue(),
                                      "stderr": err.getvalue()}) + "\n")
        real_stdout.flush()


if __name__ == "__main__":
    serve()
