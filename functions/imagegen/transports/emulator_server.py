"""The local Functions emulator's link to this code: keep-alive that cannot reset a request.

Inside the emulator each Python worker is `functions-framework` on gunicorn, and the emulator
(Node.js) forwards every request over a kept-alive connection. Node drops an idle connection
after 5 s; gunicorn closes it after 2 s. A request sent just as gunicorn closes the
connection is reset: the caller gets a 500 `{"code":"ECONNRESET"}` and the emulator kills the
worker. Measured: requests 2.0 s apart failed 3 times in 40. The server must outlast the
client, so under the emulator gunicorn keeps idle connections longer than Node does.
Deployed functions are not touched: Cloud Run's front end owns those connections.
"""

from __future__ import annotations

from imagegen.core.settings import running_in_emulator

NODE_AGENT_IDLE_SECONDS = 5
"""How long the emulator's HTTP agent (Node's global agent) keeps an idle connection."""

WORKER_KEEPALIVE_SECONDS = 4 * NODE_AGENT_IDLE_SECONDS
"""gunicorn's idle keep-alive under the emulator: longer than the emulator's, so the emulator
always closes first."""


def outlast_emulator_keepalive() -> bool:
    """Under the emulator, set gunicorn's keep-alive default before its server is built.

    functions-framework imports `main.py` before it creates the gunicorn application and
    passes no keep-alive option, so the setting's default is what the worker uses. Returns
    whether it was changed.
    """
    if not running_in_emulator():
        return False
    try:
        from gunicorn import config
    except ImportError:  # functions-framework falls back to Flask's server: nothing to do
        return False
    config.Keepalive.default = WORKER_KEEPALIVE_SECONDS
    return True
