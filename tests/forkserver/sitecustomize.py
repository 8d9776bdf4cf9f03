"""The client half of the stage fork server (see ``server.py`` beside it): imported by every Python
process started with this folder on ``PYTHONPATH``; only ``python -m stages.<...>`` with
``REPROLAB_FORKSERVER`` set is handed over, everything else starts as usual."""
import os
import sys


def _handed_over() -> None:
    address = os.environ.get("REPROLAB_FORKSERVER")
    argv = sys.orig_argv
    if not address or len(argv) < 3 or argv[1] != "-m" or not argv[2].startswith("stages."):
        return
    if "LOCAL_RANK" in os.environ:  # a torchrun rank: started cold, as torchrun expects of its children
        return
    import json
    import signal
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
    except OSError:  # not ready yet (still importing) or gone: start cold, as without the server
        conn.close()
        return
    message = json.dumps({"argv": argv[2:], "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path}).encode()
    conn.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__("array").array("i", [0, 1, 2]))))])

    def forward(sig, _frame):
        conn.sendall(json.dumps({"signal": sig}).encode() + b"\n")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    reader = conn.makefile("rb")
    status = None
    for line in reader:
        reply = json.loads(line)
        if "status" in reply:
            status = reply["status"]
    if status is None:
        sys.exit("error: the stage fork server went away")
    sys.stdout.flush()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


_handed_over()
