"""Security of the served dashboard (issue 13): Voila as `altaviz dashboard` starts it (voila_command)
listens on 127.0.0.1 only, keeps a failing cell's traceback in its log and out of the browser, and drops
every kernel message from the browser that would run code. Each claim has a contrast that shows the probe
can fail: Voila told to listen on 0.0.0.0 is reachable, --show_tracebacks=True shows the secret, and the
same execute_request sent straight to the kernel runs."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest

from altaviz.cli import build_parser, voila_command
from dashboard_fixtures import ARTIFACTS, ERROR_TEXT, PAGE_READY, PAGES, body_text, free_port, serving
from reliability import reliability

pytestmark = pytest.mark.browser
SECRET = "db_password=hunter2-altaviz-0451"
EXCEPTION = "LeakedSecretError"
HIDDEN = "--show_tracebacks=False"
WAIT_MS = 120_000


def outside_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (where another machine would reach a server)."""
    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback})


def answers(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(5)
        return probe.connect_ex((address, port)) == 0


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of the process and its children (Voila, its kernels)."""
    process = psutil.Process(pid)
    found = set()
    for each in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            found |= {(c.laddr.ip, c.laddr.port) for c in each.net_connections(kind="tcp")
                      if c.status == psutil.CONN_LISTEN}
    return found


def failing_notebook(folder: Path) -> Path:
    """A notebook whose second cell raises an exception carrying a secret (as a failed connection might)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("print('first cell ran')"),
                      nbformat.v4.new_code_cell(f"class {EXCEPTION}(Exception): pass\n"
                                                f"raise {EXCEPTION}({SECRET!r})")]
    path = folder / "failing.ipynb"
    nbformat.write(notebook, path)
    return path


@contextlib.contextmanager
def voila(notebook: Path, log: Path, *, ip: str = "127.0.0.1", show_tracebacks: bool = False):
    """Voila started with voila_command's flags (one changed, for a contrast): its port and process."""
    port = free_port()
    command, env = voila_command(notebook, port=port, ip=ip)
    assert HIDDEN in command
    if show_tracebacks:
        command = [("--show_tracebacks=True" if part == HIDDEN else part) for part in command]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, cwd=notebook.parent, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not answers("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.3)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def open_page(playwright, chromium: str, url: str):
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, timeout=WAIT_MS)
    return browser, page


@pytest.fixture(scope="module")
def dashboard(seeded):
    """`altaviz dashboard` with its defaults (the refresh timer off: nothing but the test talks to the kernel)."""
    with serving(seeded[1], refresh_seconds=0, log_name="voila-security.log") as served:
        yield served


# --- binding ---------------------------------------------------------------------------------------------

@reliability("security", "Another machine connects to the dashboard's port",
             "refused: `altaviz dashboard` and Voila's kernels listen on 127.0.0.1 only (the default of "
             "`--ip` and of voila_command)")
def test_the_dashboard_listens_on_loopback_only(dashboard):
    assert build_parser().parse_args(["dashboard"]).ip == "127.0.0.1"
    assert "--Voila.ip=127.0.0.1" in voila_command(Path("x.ipynb"), port=1)[0]
    port = int(dashboard.url.rsplit(":", 1)[1].strip("/"))
    with urllib.request.urlopen(dashboard.url, timeout=120) as response:
        assert response.status == 200
    sockets = listening(dashboard.process.pid)
    assert ("127.0.0.1", port) in sockets
    assert {ip for ip, _ in sockets} <= {"127.0.0.1", "::1"}, sockets  # Voila's and its kernels' ZeroMQ ports
    for address in outside_addresses():
        assert not answers(address, port), f"the dashboard answers on {address}:{port}"


@reliability("security", "Voila told to listen on 0.0.0.0 (contrast: the binding probe can fail)",
             "reachable at the machine's own address: `--ip 0.0.0.0` belongs only in a container behind a proxy")
def test_voila_told_to_listen_everywhere_is_reachable_from_outside(tmp_path):
    addresses = outside_addresses()
    if not addresses:
        pytest.skip("this machine has no address but loopback")
    with voila(failing_notebook(tmp_path), ARTIFACTS / "voila-security-everywhere.log", ip="0.0.0.0") as (port, server):
        assert ("0.0.0.0", port) in listening(server.pid)
        assert all(answers(address, port) for address in addresses)


# --- tracebacks ------------------------------------------------------------------------------------------

def failed_page(chromium: str, port: int) -> tuple[str, str]:
    """What the browser shows of the failing notebook once Voila has run it: the visible text and the HTML."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = open_page(playwright, chromium, f"http://127.0.0.1:{port}/")
        page.wait_for_selector("text=first cell ran", timeout=WAIT_MS)  # Voila sends the page once all cells ran
        text, html = body_text(page), page.content()
        browser.close()
    return text, html


@reliability("security", "A notebook cell raises an exception whose message carries a secret",
             "the browser gets Voila's generic 'There was an error' line: no traceback, exception or secret; "
             "the server log has all three")
def test_a_failing_cell_shows_no_traceback_or_secret_in_the_browser(chromium, tmp_path):
    log = ARTIFACTS / "voila-security-tracebacks.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with voila(failing_notebook(tmp_path), log) as (port, _):
        text, html = failed_page(chromium, port)
    assert "There was an error when executing cell" in text
    for leak in (SECRET, EXCEPTION, "Traceback", "hunter2"):
        assert leak not in html, f"{leak!r} reached the browser"
    assert not ERROR_TEXT.search(text), text
    logged = log.read_text(errors="replace")
    assert SECRET in logged and EXCEPTION in logged and "Traceback" in logged


@reliability("security", "The same cell with `--show_tracebacks=True` (contrast: the traceback probe can fail)",
             "the browser shows the traceback, the exception and the secret")
def test_with_tracebacks_shown_the_same_cell_puts_the_secret_in_the_browser(chromium, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with voila(failing_notebook(tmp_path), ARTIFACTS / "voila-security-shown.log", show_tracebacks=True) as (port, _):
        text, _ = failed_page(chromium, port)
    assert SECRET in text and EXCEPTION in text and ERROR_TEXT.search(text)


# --- running code ----------------------------------------------------------------------------------------

def payload(marker: Path) -> str:
    """Code that leaves a file behind if any kernel runs it."""
    return f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')"


# The page opens its own kernel's websocket and sends what a browser's devtools console could: an
# execute_request, then a kernel_info_request. Voila passes the kernel manager allowed_message_types =
# comm_open, comm_close, comm_msg, comm_info_request, kernel_info_request, shutdown_request (voila/app.py,
# Voila.init_settings), and jupyter_server's ZMQChannelsWebsocketConnection.handle_incoming_message logs
# 'Received message of type "execute_request", which is not allowed. Ignoring.' for any other type.
ATTEMPT = """async ([code, seconds]) => {
  const kernel = JSON.parse(document.getElementById("jupyter-config-data").textContent).kernelId;
  const session = crypto.randomUUID();
  const socket = new WebSocket(`ws://${location.host}/api/kernels/${kernel}/channels?session_id=${session}`);
  await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
  const replies = [];
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    replies.push([msg.parent_header.msg_id || "", msg.header.msg_type]);
  };
  const request = (type, content) => {
    const id = crypto.randomUUID();
    socket.send(JSON.stringify({channel: "shell", header: {msg_id: id, msg_type: type, session, username: "",
      date: new Date().toISOString(), version: "5.3"}, parent_header: {}, metadata: {}, content, buffers: []}));
    return id;
  };
  const execute = request("execute_request", {code, silent: false, store_history: false, user_expressions: {},
                                              allow_stdin: false, stop_on_error: true});
  const info = request("kernel_info_request", {});
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  socket.close();
  return {kernel, execute, info, replies};
}"""


@reliability("security", "The browser sends an execute_request over its kernel's websocket",
             "dropped by Voila (only comm and kernel_info messages pass): no code runs, while a "
             "kernel_info_request on the same socket is answered")
def test_the_browser_cannot_run_code_over_its_kernel_websocket(chromium, dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    marker = tmp_path / "ran-from-the-browser"
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, chromium, dashboard.url)
        page.wait_for_selector(PAGE_READY[PAGES[0]], timeout=WAIT_MS)  # the kernel is live and drawing
        result = page.evaluate(ATTEMPT, [payload(marker), 4])  # the kernel answers in order: ample time
        shown = body_text(page)
        browser.close()
    answered = [kind for parent, kind in result["replies"] if parent == result["info"]]
    assert "kernel_info_reply" in answered, result["replies"]
    assert not [kind for parent, kind in result["replies"] if parent == result["execute"]], result["replies"]
    assert not marker.exists()
    assert not ERROR_TEXT.search(shown)  # the page itself carried on
    logged = (ARTIFACTS / "voila-security.log").read_text(errors="replace")
    assert 'Received message of type "execute_request", which is not allowed. Ignoring.' in logged


@reliability("security", "The same execute_request sent straight to a kernel's ZeroMQ socket "
             "(contrast: the websocket probe can fail)",
             "it runs: the code is sound, so only Voila's filter stops it; the ports are on 127.0.0.1 and "
             "signed with a key in a connection file only the server's user can read")
def test_the_same_code_sent_to_the_kernel_directly_runs(dashboard, tmp_path):
    from jupyter_client import BlockingKernelClient

    kernels = [child for child in psutil.Process(dashboard.process.pid).children(recursive=True)
               if "ipykernel_launcher" in child.cmdline()]
    assert kernels, "Voila holds no kernel (its preheated one should be there)"
    command = kernels[0].cmdline()
    connection_file = command[command.index("-f") + 1]
    assert oct(Path(connection_file).stat().st_mode & 0o077) == "0o0"  # no one else can read the key
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        marker = tmp_path / "ran-over-zeromq"
        reply = client.execute_interactive(payload(marker), timeout=60, output_hook=lambda msg: None)
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok"
    assert marker.read_text() == "ran"


@reliability("security", "A client POSTs to Jupyter's /api/kernels, /api/sessions or /api/terminals",
             "refused: Voila serves none of the routes that start a kernel or a terminal")
def test_voila_offers_no_http_route_that_starts_kernels_or_terminals(dashboard):
    for path in ("api/kernels", "api/sessions", "api/terminals"):
        request = urllib.request.Request(dashboard.url + path, data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code in (403, 404, 405), (path, refused.value.code)
