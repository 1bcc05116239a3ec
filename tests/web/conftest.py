"""Browser tests: the web app and the widget in headless Chromium (Debian's `chromium` + `chromedriver`,
never a downloaded browser), driven by Selenium, against a real uvicorn server over a demo organisation
of its own (the writes these flows confirm stay in it).

Skipped, with the reason, where the browser, its driver or selenium is missing (`make test` installs
them as root). Screenshots of every flow go to test-artifacts/web/ (gitignored).
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from copilot.api.app import create_app
from copilot.service.runtime import Runtime
from tests.api.conftest import LiveServer, serve
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture here)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
EMBED_SECRET = "web-tests-" + uuid.uuid4().hex
WAIT_S = 30.0


def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not CHROMIUM or not CHROMEDRIVER:
        return "NO CHROMIUM: apt-get install chromium chromium-driver fonts-noto-cjk (make test does it as root)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def host_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def host_origin(host_port: int) -> str:
    # "localhost" vs the copilot's "127.0.0.1": another origin to the browser, on the same machine.
    return f"http://localhost:{host_port}"


@pytest.fixture(scope="session")
def web_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The demo organisation with its knowledge base (citations of articles), for the browser flows only:
    what they confirm and send is written here and nowhere else."""
    if reason := _missing():
        pytest.skip(reason)
    from copilot.core.settings import Settings
    from copilot.demo.install import init_demo

    data_dir = tmp_path_factory.mktemp("web-demo")
    runtime = Runtime(Settings(data_dir=data_dir, database_url=None, chroma_path=data_dir / "chroma"))
    init_demo(runtime)
    yield runtime
    runtime.close()


def runtime_over(base: Runtime, **overrides: Any) -> Runtime:
    """A runtime on ``base``'s demo database and KB index, with its own settings."""
    settings = base.settings.model_copy(update=overrides)
    runtime = Runtime(settings)
    runtime.__dict__["kb"] = base.kb  # the same index (Runtime.kb is a cached_property)
    return runtime


@pytest.fixture(scope="session")
def app_server(web_demo: Runtime, host_origin: str) -> Iterator[LiveServer]:
    """The copilot (offline provider) with embedding configured for the example host page's origin."""
    runtime = runtime_over(web_demo, embed_secret=SecretStr(EMBED_SECRET), cors_origins=host_origin)
    with serve(create_app(runtime, warm_up=False)) as server:
        yield server
    del runtime.__dict__["kb"]  # closing this runtime must not close the shared index
    runtime.close()


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh headless Chromium per test (its own storage: no token carries over)."""
    if reason := _missing():
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--lang=zh-CN",
                 "--window-size=1440,1000"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            shot(driver, f"FAILED-{request.node.name}")
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def shot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a stale element between polls is not a failure yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))


def by_testid(driver: Any, testid: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'))


def one(driver: Any, testid: str) -> Any:
    return wait_for(lambda: next(iter(by_testid(driver, testid)), None), f"[data-testid={testid}]")


def sign_in(driver: Any, base_url: str, username: str, next_path: str = "/") -> None:
    driver.get(f"{base_url}/login?next={next_path}")
    one(driver, "login-username").send_keys(username)
    one(driver, "login-password").send_keys("demo")
    one(driver, "login-submit").click()
    wait_for(lambda: "/login" not in driver.current_url, f"{username} signed in")


def ask(driver: Any, message: str) -> Any:
    """Type ``message`` into the panel, send it with Ctrl+Enter, return the new answer's element once its
    result has arrived (the pending answer is marked aria-busy until then)."""
    from selenium.webdriver.common.keys import Keys

    before = len(by_testid(driver, "copilot-message"))
    box = one(driver, "copilot-input")
    box.clear()
    box.send_keys(message)
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    answer = wait_for(lambda: by_testid(driver, "copilot-message")[before:][:1], "a new answer")[0]
    wait_for(lambda: answer.get_attribute("aria-busy") is None, "the answer to finish")
    return answer


def host_page_module() -> Any:
    spec = importlib.util.spec_from_file_location("host_server", ROOT / "examples" / "host_server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def host_server(app_server: LiveServer, host_port: int) -> Iterator[Callable[[Callable[[str], str]], None]]:
    """examples/host_server.py on the other origin; ``use(signer)`` sets how it signs its user's assertion."""
    module = host_page_module()
    current: dict[str, Callable[[str], str]] = {"sign": module.signer(EMBED_SECRET)}
    server = module.make_server(app_server.url, lambda user: current["sign"](user), host_port, "127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def use(sign: Callable[[str], str]) -> None:
        current["sign"] = sign

    yield use
    server.shutdown()
    server.server_close()
