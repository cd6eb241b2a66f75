"""The served dashboard under load, in Debian's chromium against the seeded serving database
(tests/dashboard_fixtures.py): ten sessions at once for a minute, switching pages and reloading, through a
database restart; and fifty page loads and closes, after which Voila holds no more kernels than the open
pages and its preheated one. The pages are driven concurrently, by Playwright's async API in one chromium."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from dashboard_fixtures import ARTIFACTS, ERROR_TEXT, PAGE_READY, PAGES, serving
from reliability import reliability

pytestmark = pytest.mark.browser
REFRESH_SECONDS = 15  # production: 60
SESSIONS = 10
BROWSE_SECONDS = 20  # before the outage; then the outage, and every page after it
LOADS, AT_ONCE, KEPT_OPEN = 50, 5, 2
# Longer than a page takes, under this load, from its kernel's last output to its websocket: a kernel is
# culled idle and unconnected in between (production waits five minutes).
CULL_IDLE_SECONDS = 30
POOL_SIZE = 1  # voila_command's preheated kernels
VIEWPORT = {"width": 1400, "height": 1000}
UNAVAILABLE = "Database unavailable"
LOAD_TIMEOUT_MS = 180_000  # ten kernels start at once on a small machine
THINK_MS = 2000  # between two steps of a session: an engineer reads the page
WAIT_MS = 120_000  # one action, under this load


class Session:
    """One browser page on the dashboard and what went wrong on it (``problems``: error text it showed, or
    what it did not draw, each with the session and where)."""

    def __init__(self, number: int, tab):
        self.number, self.tab, self.front = number, tab, PAGES[0]
        self.problems: list[str] = []

    @classmethod
    async def open(cls, number: int, context, url: str) -> Session:
        session = cls(number, await context.new_page())
        await session.load(session.tab.goto(url, timeout=LOAD_TIMEOUT_MS))
        return session

    async def attempt(self, where: str, action) -> bool:
        """Await a browser action; one that fails or times out is the session's problem, not the end of the test."""
        try:
            await action
            return True
        except PlaywrightError as err:
            self.problems.append(f"session {self.number}, {where}: {err.message.splitlines()[0]}")
            with contextlib.suppress(PlaywrightError):  # what the page showed, kept beside the Voila logs
                await self.tab.screenshot(path=ARTIFACTS / f"load-session{self.number}-{len(self.problems)}.png")
            return False

    async def look(self, where: str, *, outage: bool = False) -> str:
        """The page's text; error text in it is a problem, and so are plain words of an outage outside one."""
        text = " ".join((await self.tab.locator("body").inner_text()).split())
        self.problems += [f"session {self.number}, {where}: {text[max(0, m.start() - 80):m.end() + 80]}"
                          for m in ERROR_TEXT.finditer(text)]
        if UNAVAILABLE in text and not outage:
            self.problems.append(f"session {self.number}, {where}: says {UNAVAILABLE} with the database up")
        return text

    async def load(self, navigation) -> None:
        """Load the app (a load or a reload opens on a new kernel, on the fleet page) and check it drew."""
        self.front = PAGES[0]
        if await self.attempt("page load", navigation) and await self.attempt(
                "page load", self.tab.wait_for_selector(PAGE_READY[self.front], timeout=LOAD_TIMEOUT_MS)):
            await self.look("page load")

    async def click(self, name: str) -> bool:
        self.front = name
        return await self.attempt(name, self.tab.get_by_role("button", name=name, exact=True).click(timeout=WAIT_MS))

    async def visit(self, name: str) -> str:
        """Bring a page to the front and check it drew its data."""
        if await self.click(name):
            await self.attempt(name, self.tab.wait_for_selector(PAGE_READY[name], timeout=WAIT_MS))
        return await self.look(name)

    async def browse(self, seconds: float) -> None:
        """Page after page, every fifth step a reload; each session starts at a step of its own."""
        deadline, step = time.monotonic() + seconds, self.number
        while time.monotonic() < deadline:
            step += 1
            if step % 5 == 0:
                await self.load(self.tab.reload(timeout=LOAD_TIMEOUT_MS))
            else:
                await self.visit(PAGES[step % len(PAGES)])
            await self.tab.wait_for_timeout(THINK_MS)

    async def through_outage(self) -> bool:
        """While the database is away the timer's refresh says so in plain words. Then a page that reads the
        database and was not drawn since is brought up and says so too, beside the header (in every fifth
        session the tab is reloaded onto a new kernel instead, whose first refresh says so)."""
        unavailable = f"text={UNAVAILABLE}"
        if not await self.attempt("the outage", self.tab.wait_for_selector(unavailable, timeout=WAIT_MS)):
            return False
        if self.number % 5 == 0:
            self.front, says = PAGES[0], 1
            await self.attempt("a reload in the outage", self.tab.reload(timeout=LOAD_TIMEOUT_MS))
        else:
            others = [name for name in PAGES[1:] if name != self.front]
            await self.click(others[self.number % len(others)])
            says = 2
        await self.attempt(f"the outage, {self.front}", self.tab.wait_for_function(
            "([words, times]) => document.body.innerText.split(words).length > times",
            arg=[UNAVAILABLE, says], timeout=WAIT_MS))
        return (await self.look(f"the outage, {self.front}", outage=True)).count(UNAVAILABLE) >= says

    async def recover(self) -> None:
        """Back from the outage with no click: the plain words go and the page in front draws its data."""
        where = f"after the outage, {self.front}"
        await self.attempt(where, self.tab.wait_for_selector(f"text={UNAVAILABLE}", state="detached", timeout=WAIT_MS))
        await self.attempt(where, self.tab.wait_for_selector(PAGE_READY[self.front], timeout=WAIT_MS))
        await self.look(where)

    async def every_page(self) -> None:
        for name in (*PAGES[1:], PAGES[0]):
            await self.visit(name)

    async def refreshed(self, where: str) -> None:
        """Its kernel answers: the timer's next refresh changes the time the page says it refreshed at."""
        before = await self.tab.locator("text=Refreshed").inner_text()
        await self.attempt(where, self.tab.wait_for_function("t => !document.body.innerText.includes(t)",
                                                             arg=before, timeout=WAIT_MS))
        await self.look(where)


async def sessions_through_a_restart(chromium: str, url: str, outage) -> tuple[list[Session], list[bool], float]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        users = [await browser.new_context(viewport=VIEWPORT) for _ in range(SESSIONS)]  # a browser each
        sessions = await asyncio.gather(*(Session.open(number, user, url) for number, user in enumerate(users)))
        started = time.monotonic()
        await asyncio.gather(*(session.browse(BROWSE_SECONDS) for session in sessions))
        await asyncio.to_thread(outage.down)
        try:
            plain_words = await asyncio.gather(*(session.through_outage() for session in sessions))
        finally:
            await asyncio.to_thread(outage.up)
        await asyncio.gather(*(session.recover() for session in sessions))
        await asyncio.gather(*(session.every_page() for session in sessions))
        held = time.monotonic() - started
        await browser.close()
    return sessions, plain_words, held


@reliability("fault", "Ten browser sessions at once for a minute, switching pages and reloading, with the "
             "database restarted under them",
             "no error text on any page; each says `Database unavailable` during the restart (also a page "
             "switched to or reloaded then) and draws its data again after it with no click")
def test_ten_sessions_for_a_minute_through_a_database_restart_show_no_error_text(chromium, seeded):
    _, url, outage = seeded
    with serving(url, refresh_seconds=REFRESH_SECONDS, log_name="voila-sessions.log") as dashboard:
        sessions, plain_words, held = asyncio.run(sessions_through_a_restart(chromium, dashboard.url, outage))
    print(f"{SESSIONS} sessions held open {held:.0f} s")
    assert {session.number: session.problems for session in sessions} == {number: [] for number in range(SESSIONS)}
    assert plain_words == [True] * SESSIONS


async def load_and_close(context, url: str, numbers: range) -> list[str]:
    """Open the app, wait until it is drawn, close it. Tabs numbered below half vanish without a word (a crash,
    a killed browser: the cull's job); the rest leave the page first, which fires its unload and the request
    that shuts the kernel down. (Headless chromium drops that request when a tab is closed over the DevTools
    protocol, where a person's closing a tab sends it.)"""
    problems = []
    for number in numbers:
        session = await Session.open(number, context, url)
        if number >= LOADS // 2:
            await session.attempt("leaving the page", session.tab.goto("about:blank"))
        await session.tab.close()
        problems += session.problems
    return problems


async def fifty_loads(chromium: str, dashboard) -> tuple[list[str], dict[str, int], float]:
    """KEPT_OPEN pages stay open while AT_ONCE tabs at a time (of one browser) load and close LOADS pages;
    then the cull."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        tabs = await browser.new_context(viewport=VIEWPORT)  # one browser's tabs: its cache warm after the first
        kept = await asyncio.gather(*(Session.open(LOADS + n, tabs, dashboard.url) for n in range(KEPT_OPEN)))
        problems = await asyncio.gather(*(load_and_close(tabs, dashboard.url, range(worker, LOADS, AT_ONCE))
                                          for worker in range(AT_ONCE)))
        closed = time.monotonic()
        kernels = {"after the closes": dashboard.kernels()}
        while dashboard.kernels() > KEPT_OPEN + POOL_SIZE and time.monotonic() < closed + 3 * CULL_IDLE_SECONDS:
            await asyncio.sleep(0.5)
        waited = time.monotonic() - closed
        for session in kept:  # the open pages lived through the cull: their timer's refresh still answers
            await session.refreshed("after the cull")
        kernels["after the cull"] = dashboard.kernels()
        await browser.close()
    return [*sum(problems, []), *(problem for session in kept for problem in session.problems)], kernels, waited


@reliability("fault", "Fifty page loads and closes, five at a time beside two open pages; half of the tabs "
             "vanish without a word (a crash)",
             "Voila ends holding no more kernels than the open pages plus its preheated one: a page left shuts "
             "its kernel down at once, a vanished one's is culled; the open pages keep theirs")
def test_fifty_loads_and_closes_leave_no_more_kernels_than_open_pages(chromium, seeded):
    with serving(seeded[1], refresh_seconds=REFRESH_SECONDS, log_name="voila-loads.log",
                 cull_idle_seconds=CULL_IDLE_SECONDS) as dashboard:
        problems, kernels, waited = asyncio.run(fifty_loads(chromium, dashboard))
    culled = len(re.findall(r"Culling '\w+' kernel", dashboard.log.read_text()))
    print(f"kernels: {kernels}, {culled} culled; {waited:.0f} s from the last close to the cull")
    # Only the vanished pages' kernels were culled: the others were shut down when their page was left.
    assert (problems, kernels["after the cull"], culled) == ([], KEPT_OPEN + POOL_SIZE, LOADS // 2)
