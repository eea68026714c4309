"""Raw session events in the sandbox's shapes, many and varied, for the digest benchmark.

The shapes and `event_properties` keys are the local sandbox's (`fstriage_cli.sandbox.model.raw_event`,
the convention `core.digest` reads first). The mix is fixed by the seed. About `error_share` of the
events are error-bearing (console errors, uncaught exceptions, failed requests, rage/dead/error
clicks); their IDs (orders, product UUIDs, chunks, hex tokens, emails, timestamps) vary, so most
of them are distinct raw values (64 % with the default seed; the rest are fixed messages such as
"Failed to load resource ...") and the digest's per-call normalisation cache does not short-circuit
the masking for them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage_cli.sandbox.model import click_properties, isoformat, raw_event
from fstriage_cli.sandbox.scenarios import PRODUCTS, SITE, STATIC, UNREADABLE_FORMS

NAMES = ("ada", "grace", "alan", "linus", "margaret", "ken", "barbara", "dennis", "radia", "guido")
# The sandbox's unreadable forms: error-bearing types whose fields cannot be read.
UNREADABLE = UNREADABLE_FORMS
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@dataclass(slots=True)
class RawEvents:
    events: list[dict[str, Any]]
    error_events: int  # events that should become a signal occurrence
    unreadable_events: int  # error-bearing types with unreadable fields (the digest's `unclassified`)
    distinct_error_keys: int  # distinct raw values among the error events (what the cache would key)


@dataclass(slots=True)
class _Stream:
    rng: random.Random
    device_id: str
    session_id: str
    agent: str
    time: datetime = START
    view_id: str = ""
    url: str = SITE + "/"
    order: str = "100000"
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: int = 0
    unreadable: int = 0
    keys: set[tuple[Any, ...]] = field(default_factory=set)

    def digits(self, length: int) -> str:
        return str(self.rng.randint(10 ** (length - 1), 10**length - 1))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def emit(self, event_type: str, properties: Any, *, gap: tuple[int, int] = (40, 2500)) -> None:
        self.time += timedelta(milliseconds=self.rng.randint(*gap))
        self.events.append(
            raw_event(
                device_id=self.device_id,
                session_id=self.session_id,
                view_id=self.view_id,
                time=self.time,
                event_type=event_type,
                properties=properties,
                agent=self.agent,
                url=self.url,
            )
        )

    def error(self, key: tuple[Any, ...]) -> None:
        self.errors += 1
        self.keys.add(key)

    # -- quiet events ---------------------------------------------------------------------------

    def navigate(self) -> None:
        self.order = self.digits(6)
        path = self.rng.choice(
            (
                "/",
                "/cart",
                f"/products/{self.rng.choice(PRODUCTS)}",
                f"/checkout/{self.order}/payment",
                f"/account/orders/{self.order}",
                f"/search?q={self.rng.choice(PRODUCTS)}&page={self.rng.randint(1, 9)}",
            )
        )
        self.view_id = self.digits(16)
        self.url = SITE + path
        self.emit("navigate", {"navigate_reason": "navigate"}, gap=(1500, 9000))

    def load(self) -> None:
        self.emit("load", {"load_time_ms": self.rng.randint(300, 2400)}, gap=(200, 900))

    def ok_request(self) -> None:
        method, path, status = self.rng.choice(
            (
                ("GET", f"/api/v1/products/{self.uuid()}", 200),
                ("GET", "/api/v1/recommendations", 200),
                ("POST", "/api/v1/cart/items", 201),
                ("GET", f"/api/v1/orders/{self.order}", 200),
                ("GET", f"/api/v1/orders/{self.order}/status", 304),
            )
        )
        properties = {
            "method": method,
            "url": SITE + path,
            "status_code": status,
            "duration_ms": self.rng.randint(40, 600),
        }
        self.emit("request", properties, gap=(50, 600))

    def click(self) -> None:
        text, selector = self.rng.choice(
            (
                ("Add to cart", "button.add-to-cart"),
                ("Checkout", "a.checkout"),
                ("Continue to payment", "button.continue"),
                (f"Size {self.rng.randint(36, 47)}", f"li.size-{self.rng.randint(36, 47)} > button"),
            )
        )
        self._click(text, selector, rage=False, dead=False, error=False)

    def change(self) -> None:
        selector = self.rng.choice(
            ("input#email", "input#address-line-1", "input#card-number", "input#coupon")
        )
        self.emit("change", {"target": {"text": "", "raw_selector": selector}})

    def quiet_console(self) -> None:
        level, message = self.rng.choice(
            (
                ("log", "[analytics] page tracked"),
                ("warn", f"Reviews for product {self.uuid()} not found"),
                ("log", f"[cart] {self.rng.randint(1, 9)} items, total {self.rng.randint(5, 900)}.99"),
            )
        )
        self.emit(
            "console_message",
            {"message": message, "level": level, "source_url": f"{STATIC}/app.js"},
            gap=(5, 80),
        )

    # -- error-bearing events -------------------------------------------------------------------

    def failed_request(self) -> None:
        method, path, status = self.rng.choice(
            (
                ("POST", f"/api/v1/orders/{self.order}/pay", self.rng.choice((500, 502, 503))),
                ("GET", f"/api/v1/products/{self.uuid()}/reviews", 404),
                ("GET", "/api/v1/cart", 500),
                ("POST", f"/api/v1/sessions/{self.digits(12)}/refresh?token={self.uuid()}", 401),
                ("PUT", f"/api/v1/users/{self.rng.choice(NAMES)}.{self.digits(3)}@example.test/prefs", 409),
            )
        )
        url = SITE + path
        properties = {
            "method": method,
            "url": url,
            "status_code": status,
            "duration_ms": self.rng.randint(800, 4000),
        }
        self.emit("request", properties, gap=(50, 600))
        self.error(("network_error", method, url.partition("?")[0], status))

    def console_error(self) -> None:
        message = self.rng.choice(
            (
                f"Payment failed: HTTP {self.rng.choice((500, 502, 503))} for order {self.order}",
                "Failed to load resource: the server responded with a status of 404 ()",
                f"ChunkLoadError: Loading chunk {self.rng.randint(100, 999)} failed.",
                "Uncaught TypeError: Cannot read properties of undefined (reading 'total')",
                f"Session {self.digits(10)}abcdef expired for {self.rng.choice(NAMES)}@example.test "
                f"at {isoformat(self.time)}",
                f'Invalid coupon "{self.rng.choice(NAMES).upper()}{self.rng.randint(5, 50)}" for cart '
                f"{self.uuid()}",
                f"GET {SITE}/api/v1/products/{self.uuid()}/stock?store={self.rng.randint(1, 400)} "
                "net::ERR_CONNECTION_RESET",
            )
        )
        script = self.rng.choice(("checkout.js", "app.js", "vendor.js"))
        properties = {"message": message, "level": "error", "source_url": f"{STATIC}/{script}"}
        self.emit("console_message", properties, gap=(5, 80))
        self.error(("console_error", message))

    def exception(self) -> None:
        name, message, script = self.rng.choice(
            (
                ("TypeError", "Cannot read properties of undefined (reading 'total')", "checkout.js"),
                ("TypeError", "Cannot read properties of null (reading 'items')", "cart.js"),
                ("ChunkLoadError", f"Loading chunk {self.rng.randint(100, 999)} failed.", "vendor.js"),
                ("RangeError", f"Invalid array length {self.rng.randint(-99, -1)}", "app.js"),
                ("Error", f"Order {self.order} is in state 0x{self.rng.getrandbits(32):08x}", "checkout.js"),
            )
        )
        properties = {
            "message": message,
            "name": name,
            "source_url": f"{STATIC}/{script}?v={self.digits(8)}",
            "line_number": self.rng.randint(1, 9999),
        }
        self.emit("exception", properties, gap=(5, 80))
        self.error(("exception", name, message))

    def frustrated_click(self) -> None:
        kind = self.rng.choice(("rage", "rage", "dead", "error"))
        text, selector = self.rng.choice(
            (
                ("Pay now", "button#pay-now"),
                ("Apply coupon", "button.apply-coupon"),
                (
                    f"Remove item {self.rng.randint(1, 12)}",
                    f"li.cart-line:nth-child({self.rng.randint(1, 12)}) > a",
                ),
                (f"Track order {self.order}", f"a#track-{self.order}"),
            )
        )
        if kind == "rage":
            # A burst: only the last click carries the flag, like the sandbox.
            for _ in range(self.rng.randint(2, 4)):
                self._click(text, selector, rage=False, dead=False, error=False, gap=(120, 400))
        self._click(text, selector, rage=kind == "rage", dead=kind == "dead", error=kind == "error")
        self.error((kind, self.url.partition("?")[0], text, selector))

    def unreadable_event(self) -> None:
        event_type, properties = self.rng.choice(UNREADABLE)
        self.emit(event_type, properties)
        self.unreadable += 1

    def _click(
        self,
        text: str,
        selector: str,
        *,
        rage: bool,
        dead: bool,
        error: bool,
        gap: tuple[int, int] = (400, 4000),
    ) -> None:
        self.emit("click", click_properties(text, selector, rage=rage, dead=dead, error=error), gap=gap)


# (relative weight, generator) for quiet events and error-bearing events.
_QUIET: tuple[tuple[int, Callable[[_Stream], None]], ...] = (
    (14, _Stream.navigate),
    (14, _Stream.load),
    (24, _Stream.ok_request),
    (22, _Stream.click),
    (10, _Stream.change),
    (6, _Stream.quiet_console),
)
_ERRORS: tuple[tuple[int, Callable[[_Stream], None]], ...] = (
    (30, _Stream.failed_request),
    (28, _Stream.console_error),
    (17, _Stream.exception),
    (25, _Stream.frustrated_click),
)


# Frustrated clicks are 25 % of error draws, half of them rage bursts with 2-4 unflagged clicks (mean 3).
_EXTRA_EVENTS_PER_ERROR_DRAW = 0.25 * 0.5 * 3


def generate(
    count: int, *, seed: int = 20261123, error_share: float = 0.2, unreadable_share: float = 0.003
) -> RawEvents:
    """`count` events of one long session; the same seed always gives the same events."""
    rng = random.Random(seed)
    stream = _Stream(rng, device_id=str(rng.randint(10**15, 10**16 - 1)), session_id="", agent="desktop")
    stream.session_id = stream.digits(16)
    stream.navigate()
    quiet_weights = [weight for weight, _ in _QUIET]
    error_weights = [weight for weight, _ in _ERRORS]
    # An error draw adds quiet clicks too (a rage burst's unflagged clicks): draw errors a little
    # more often, so that `error_share` of the events, not of the draws, are error-bearing.
    error_draw = error_share / (1 - _EXTRA_EVENTS_PER_ERROR_DRAW * error_share)
    while len(stream.events) < count:
        draw = rng.random()
        if draw < unreadable_share:
            stream.unreadable_event()
        elif draw < unreadable_share + error_draw:
            rng.choices(_ERRORS, weights=error_weights)[0][1](stream)
        else:
            rng.choices(_QUIET, weights=quiet_weights)[0][1](stream)
    # A rage burst may overshoot by a few events; trimming could cut an error event, so keep them.
    return RawEvents(stream.events, stream.errors, stream.unreadable, len(stream.keys))
