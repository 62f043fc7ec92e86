"""Deployment steps that find the lossledger checkout a flow run must start in.

``prefect deploy`` runs :func:`record_checkout` (a build step) in the checkout it deploys from;
the path it returns is written into each deployment's pull step, :func:`enter_checkout`, which
runs in every flow run before the flow is loaded. So a worker started the way Prefect prints
it (``prefect worker start --pool 'lossledger'``) runs flows from the deploying checkout; a
worker whose checkout lies elsewhere sets ``LOSSLEDGER_CHECKOUT``; and if neither names a
checkout on the worker's machine, the run fails at once with one line that says what to set.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CheckoutNotFoundError", "enter_checkout", "record_checkout"]

ENV = "LOSSLEDGER_CHECKOUT"
#: A file every checkout has: how a directory is recognised as one.
MARKER = Path("flows") / "pipeline.py"


class CheckoutNotFoundError(RuntimeError):
    """No lossledger checkout where the deployment says, and none named by the worker."""


def record_checkout() -> dict[str, str]:
    """Build step: the checkout to record in the deployments (``LOSSLEDGER_CHECKOUT`` if set,
    else the directory ``prefect deploy`` runs in)."""
    return {"directory": str(Path(os.environ.get(ENV) or Path.cwd()).resolve())}


def enter_checkout(recorded: str | None = None) -> dict[str, str]:
    """Pull step: change to the checkout (``LOSSLEDGER_CHECKOUT`` on the worker, else the one
    recorded at deploy time).

    >>> enter_checkout("/nowhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    flows.checkout.CheckoutNotFoundError: no lossledger checkout at /nowhere (recorded ...
    """
    from_env = os.environ.get(ENV)
    directory = from_env or (recorded or "").strip()
    if not directory or not (Path(directory) / MARKER).is_file():
        where = f"{ENV}={from_env}" if from_env else "recorded by `prefect deploy`"
        raise CheckoutNotFoundError(
            f"no lossledger checkout at {directory or '(none)'} ({where}): start the worker "
            f"with {ENV}=/path/to/lossledger (the checkout, with its .venv) or deploy again "
            "from the checkout"
        )
    os.chdir(directory)
    return {"directory": directory}
