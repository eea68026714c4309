"""How a synthetic session is built: a shopper's browsing, plus the scenarios that go wrong in it.

Raw `event_properties` keys are undocumented, so the sandbox fixes one convention (the digest
parses these keys and tolerates alternates):
- `console_message`: `{message, level: "error"|"warn"|"log", source_url}`
- `exception`: `{message, name, source_url, line_number}` (`message` without the `Name: ` prefix)
- `request`: `{method, url, status_code, duration_ms}` (`url` is absolute)
- `click`: `{target{text, raw_selector}, is_rage_click, is_dead_click, is_error_click}`; a rage
  burst is several clicks on one target of which only the last carries `is_rage_click: true`
- `navigate`: `{navigate_reason}`; `load`: `{load_time_ms}`; `change`: `{target{text, raw_selector}}`
- `identify`: `{user_id, user_email, user_display_name}` (documented keys), after the first page load

The events endpoint can answer the same events in other conventions (warehouse column names,
camelCase nested, or keys nobody reads): see `conventions` and the `event_convention` switch.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from fstriage_cli.sandbox.model import SandboxSession, SandboxUser, click_properties, raw_event

# The synthetic shop every session browses.
SITE = "https://shop.example.test"
STATIC = f"{SITE}/static/js"
PRODUCTS = ("trail-runner-2", "rain-shell", "merino-tee", "day-pack-22l", "camp-mug", "headlamp-x")
UNREADABLE_FORMS: tuple[tuple[str, Any], ...] = (
    ("exception", {"payload": "AAECAwQFBgc="}),
    ("request", None),
    ("console_message", ["error", 42]),
)


class Ids:
    """Unique digit-string IDs (the API sends int64 IDs as strings)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def digits(self, length: int = 16) -> str:
        while True:
            value = str(self._rng.randint(10 ** (length - 1), 10**length - 1))
            if value not in self._used:
                self._used.add(value)
                return value

    def reserve(self, values: Iterable[str]) -> None:
        """Never hand out these (IDs taken elsewhere)."""
        self._used.update(values)


class SessionBuilder:
    """One session's raw events, in order: each call advances its clock and tags its problems."""

    def __init__(
        self, rng: random.Random, ids: Ids, user: SandboxUser, session_id: str, start: datetime
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.user = user
        self.session_id = session_id
        self.time = start
        self.events: list[dict[str, Any]] = []
        self.problems: set[str] = set()
        self.view_id = ""
        self.url = SITE + "/"
        self.order = str(rng.randint(100_000, 999_999))

    def _emit(self, event_type: str, properties: Any, *, gap: tuple[int, int] | int = (150, 2500)) -> None:
        # A fixed gap draws nothing from the seed, so adding such events leaves the data as it was.
        self.time += timedelta(milliseconds=gap if isinstance(gap, int) else self.rng.randint(*gap))
        self.events.append(
            raw_event(
                device_id=self.user.device_id,
                session_id=self.session_id,
                view_id=self.view_id,
                time=self.time,
                event_type=event_type,
                properties=properties,
                agent=self.user.device,
                url=self.url,
            )
        )

    def page(self, path: str) -> None:
        self.view_id = self.ids.digits(16)
        self.url = SITE + path
        first_page = not self.events
        self._emit("navigate", {"navigate_reason": "navigate"}, gap=(1500, 9000))
        self._emit("load", {"load_time_ms": self.rng.randint(300, 2400)}, gap=(200, 900))
        if first_page:
            # The app calls FS.identify on load: the only place a session names its user.
            identity = {
                "user_id": self.user.uid,
                "user_email": self.user.email,
                "user_display_name": self.user.display_name,
            }
            self._emit("identify", identity, gap=50)

    def click(
        self, text: str, selector: str, *, rage: bool = False, dead: bool = False, error: bool = False
    ) -> None:
        properties = click_properties(text, selector, rage=rage, dead=dead, error=error)
        self._emit("click", properties, gap=(120, 400) if rage else (400, 4000))
        for flag, problem in ((rage, "rage_click"), (dead, "dead_click"), (error, "error_click")):
            if flag:
                self.problems.add(problem)

    def rage(self, text: str, selector: str, clicks: int = 4) -> None:
        for index in range(clicks):
            self.click(text, selector, rage=index == clicks - 1)

    def change(self, selector: str) -> None:
        self._emit("change", {"target": {"text": "", "raw_selector": selector}})

    def request(self, method: str, path: str, status: int) -> None:
        slow = status >= 500
        properties = {
            "method": method,
            "url": SITE + path,
            "status_code": status,
            "duration_ms": self.rng.randint(800, 4000) if slow else self.rng.randint(40, 600),
        }
        self._emit("request", properties, gap=(50, 600))
        if status >= 400:
            self.problems.add("failed_request")

    def console(self, level: str, message: str, script: str = "app.js") -> None:
        properties = {"message": message, "level": level, "source_url": f"{STATIC}/{script}"}
        self._emit("console_message", properties, gap=(5, 80))
        if level == "error":
            self.problems.add("console_error")

    def exception(self, name: str, message: str, script: str, line: int) -> None:
        properties = {
            "message": message,
            "name": name,
            "source_url": f"{STATIC}/{script}",
            "line_number": line,
        }
        self._emit("exception", properties, gap=(5, 80))
        self.problems.add("exception")

    def unreadable(self, form: int) -> None:
        event_type, properties = UNREADABLE_FORMS[form % len(UNREADABLE_FORMS)]
        self._emit(event_type, properties)
        self.problems.add("unreadable")

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _browse(b: SessionBuilder) -> None:
    b.page("/")
    b.request("GET", "/api/v1/recommendations", 200)
    b.console("log", "[analytics] page tracked")
    for _ in range(b.rng.randint(1, 3)):
        b.page(f"/products/{b.rng.choice(PRODUCTS)}")
        b.request("GET", f"/api/v1/products/{b.uuid()}", 200)
        if b.rng.random() < 0.6:
            b.click("Add to cart", "button.add-to-cart")
            b.request("POST", "/api/v1/cart/items", 201)


def _checkout(b: SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 200)
    b.click("Checkout", "a.checkout")
    b.page("/checkout")
    b.change("input#email")
    b.change("input#address-line-1")
    b.click("Continue to payment", "button.continue")
    b.page("/checkout/payment")
    b.change("input#card-number")


def _pay_ok(b: SessionBuilder) -> None:
    b.click("Pay now", "button#pay-now")
    b.request("POST", f"/api/v1/orders/{b.order}/pay", 200)
    b.page(f"/checkout/confirmation/{b.order}")


def _checkout_crash(b: SessionBuilder) -> None:
    _checkout(b)
    b.click("Pay now", "button#pay-now", error=True)
    b.request("POST", f"/api/v1/orders/{b.order}/pay", b.rng.choice((502, 500)))
    message = "Cannot read properties of undefined (reading 'total')"
    b.exception("TypeError", message, "checkout.js", 214)
    b.console("error", f"Uncaught TypeError: {message}", "checkout.js")
    b.rage("Pay now", "button#pay-now", clicks=b.rng.randint(3, 5))


def _payment_gateway(b: SessionBuilder) -> None:
    _checkout(b)
    b.click("Pay now", "button#pay-now")
    status = b.rng.choice((502, 500, 503))
    b.request("POST", f"/api/v1/orders/{b.order}/pay", status)
    b.console("error", f"Payment failed: HTTP {status} for order {b.order}", "checkout.js")
    b.rage("Pay now", "button#pay-now", clicks=b.rng.randint(3, 6))


def _missing_product(b: SessionBuilder) -> None:
    product = b.uuid()
    b.page(f"/products/{b.rng.choice(PRODUCTS)}")
    b.request("GET", f"/api/v1/products/{product}/reviews", 404)
    b.console("warn", f"Reviews for product {product} not found")
    b.console("error", "Failed to load resource: the server responded with a status of 404 ()")


def _dead_coupon(b: SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 200)
    b.change("input#coupon")
    for _ in range(b.rng.randint(1, 2)):
        b.click("Apply coupon", "button.apply-coupon", dead=True)


def _chunk_error(b: SessionBuilder) -> None:
    chunk = b.rng.randint(100, 999)
    b.page("/account/orders")
    b.exception("ChunkLoadError", f"Loading chunk {chunk} failed.", "vendor.js", b.rng.randint(1000, 9999))
    b.console("error", f"ChunkLoadError: Loading chunk {chunk} failed.", "vendor.js")


def _cart_null(b: SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 500)
    b.exception("TypeError", "Cannot read properties of null (reading 'items')", "cart.js", 88)
    b.click("Checkout", "a.checkout", error=True)


# What can go wrong in a session, by the name anchors and samples use.
SCENARIOS: dict[str, Callable[[SessionBuilder], None]] = {
    "checkout_crash": _checkout_crash,
    "payment_gateway": _payment_gateway,
    "missing_product": _missing_product,
    "dead_coupon": _dead_coupon,
    "chunk_error": _chunk_error,
    "cart_null": _cart_null,
}


def build_session(
    rng: random.Random,
    ids: Ids,
    user: SandboxUser,
    start: datetime,
    *,
    scenarios: Sequence[str],
    unreadable: int | None,
    session_id: str | None = None,
) -> SandboxSession:
    """Browsing, then each scenario (an `unreadable` event just before the last), then, unless
    payment failed, maybe a completed purchase."""
    b = SessionBuilder(rng, ids, user, session_id or ids.digits(16), start)
    _browse(b)
    completed = False
    for name in scenarios:
        if unreadable is not None and name == scenarios[-1]:
            b.unreadable(unreadable)
        SCENARIOS[name](b)
    if unreadable is not None and not scenarios:
        b.unreadable(unreadable)
    if not any(name in ("checkout_crash", "payment_gateway") for name in scenarios) and rng.random() < 0.5:
        _checkout(b)
        _pay_ok(b)
        completed = True
    return SandboxSession(
        user=user,
        session_id=b.session_id,
        created=start,
        events=tuple(b.events),
        problems=frozenset(b.problems),
        scenarios=tuple(scenarios),
        completed_checkout=completed,
    )
