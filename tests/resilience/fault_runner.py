"""Run a ``trustsvc`` command and SIGKILL it after N Python line events inside one function.

    python fault_runner.py MODULE:FUNCTION WHEN -- trust import FILE --pin HEX

Once ``MODULE.FUNCTION`` is entered, every line executed (in any frame and any thread it
starts, ours or the libraries') is counted. ``WHEN`` is ``N`` (the N-th line from entry) or ``tx+N`` (the N-th line
after the first write transaction, ``Database.transaction``, began); there the process kills
itself with SIGKILL, as a power cut or the OOM killer would: no ``finally``, no rollback, no
flush. ``0`` never kills and prints on stderr, when the function returns,
``fault-runner: events=<total> transaction=<began>..<ended>`` so a caller can aim its kills
at the write.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any


def main() -> None:
    target, limit_text, separator, *command = sys.argv[1:]
    assert separator == "--", __doc__
    module_name, function_name = target.split(":")
    relative = limit_text.startswith("tx+")
    limit = int(limit_text.removeprefix("tx+"))
    module = importlib.import_module(module_name)
    original = getattr(module, function_name)
    state = {"events": 0, "began": -1, "ended": -1, "frame": 0}

    def tracer(frame: FrameType, event: str, _arg: Any) -> Any:
        in_transaction = frame.f_code.co_name == "transaction" and frame.f_code.co_filename.endswith(
            os.path.join("storage", "db.py")
        )
        if in_transaction and event == "call" and state["began"] < 0:
            state["began"], state["frame"] = state["events"], id(frame)
        if in_transaction and event == "return" and id(frame) == state["frame"]:
            state["ended"] = state["events"]  # the last return of the generator: after the commit
        if event == "line":
            state["events"] += 1
            since = state["events"] - state["began"] if relative and state["began"] >= 0 else None
            if limit and (since == limit if relative else state["events"] == limit):
                os.kill(os.getpid(), signal.SIGKILL)
        return tracer

    @functools.wraps(original)
    def traced(*args: Any, **kwargs: Any) -> Any:
        sys.settrace(tracer)
        threading.settrace(tracer)  # the function may hand its work to threads (peers refresh in a pool)
        try:
            return original(*args, **kwargs)
        finally:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type]
            print(
                f"fault-runner: events={state['events']} transaction={state['began']}..{state['ended']}",
                file=sys.stderr,
            )

    setattr(module, function_name, traced)
    from trustsvc.cli import cli

    cli.main(args=command, prog_name="trustsvc")


if __name__ == "__main__":
    main()
