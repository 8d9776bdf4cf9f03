"""The client half of the fork server (``server.py`` beside it): imported by every Python process
started with this folder on ``PYTHONPATH``. A stage (``python -m stages.<...>``), a command of the
project's CLI (``python -m pipelines ...``) or of the venv's ``dvc``, with ``REPROLAB_FORKSERVER``
naming a running server, is handed over to it and ends as the forked child does (its exit status or
its signal); everything else, and any process when no server answers, starts as usual."""
import os
import sys

RELAYED = ("SIGTERM", "SIGINT", "SIGHUP")  # sent to the stage; a SIGKILL closes the connection instead


def _hand_over() -> None:
    address = os.environ.get("REPROLAB_FORKSERVER")
    argv = sys.orig_argv
    stage = len(argv) >= 3 and argv[1] == "-m" and argv[2].startswith("stages.")
    # the project's CLI too (`run` imports Prefect itself, after its checks), but not `serve`: a long-lived
    # process that its caller stops by signalling its process group, which a forked child is not in
    cli = len(argv) >= 4 and argv[1:3] == ["-m", "pipelines"] and argv[3] != "serve"
    # the venv's dvc, but not the queue's workers and the queued runs they start (`dvc queue kill` signals
    # the pids the queue recorded): DVC starts those as `python .../dvc/__main__.py exp queue-worker|exec-run`
    dvc = (len(argv) >= 2 and os.path.basename(argv[1]) == "dvc"
           and os.path.realpath(os.path.dirname(argv[1])) == os.path.realpath(os.path.join(sys.prefix, "bin"))
           and not (argv[2:3] in (["exp"], ["experiments"]) and argv[3:4] in (["queue-worker"], ["exec-run"])))
    if not address or not (stage or cli or dvc):
        return
    if "LOCAL_RANK" in os.environ:  # a torchrun rank: started cold, as torchrun expects of its children
        return
    import array
    import json
    import signal
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    request = {"argv": argv[1:], "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path,
               "prefix": sys.prefix}
    try:
        conn.connect(address)
        conn.sendmsg([json.dumps(request).encode()],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]).tobytes())])
    except OSError:  # no server (not ready yet, or gone), or a closed standard stream: start cold
        conn.close()
        return
    replies = conn.makefile("rb")
    first = json.loads(replies.readline() or b'{"cold": true}')
    if "pid" not in first:  # another interpreter than the server's (another venv): start cold
        conn.close()
        return

    def relay(sig, _frame):
        conn.sendall(json.dumps({"signal": sig}).encode() + b"\n")

    for name in RELAYED:
        signal.signal(getattr(signal, name), relay)
    status = None
    for line in replies:
        status = json.loads(line).get("status", status)
    if status is None:
        os.write(2, f"error: the stage fork server {address} went away\n".encode())
        os._exit(1)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


_hand_over()
