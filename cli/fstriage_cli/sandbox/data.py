"""Synthetic Fullstory data, deterministic from a seed: users, sessions, raw events, segments.

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

Anchors tests may rely on, whatever the seed: `user-001`'s newest session is a checkout crash
(TypeError in checkout.js, failed pay request, error and rage clicks on "Pay now"); every session
of `user-002` is clean; `user-003`'s newest session holds an unreadable event and a dead click.

`Anchors` add users, sessions and segments with given IDs and times on top of the seeded data (which
they leave exactly as it was), so that payloads naming real-looking IDs (the `events/` samples, see
`fstriage_cli.sandbox.samples`) find data.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

SITE = "https://shop.example.test"
STATIC = f"{SITE}/static/js"
DEFAULT_ORG_ID = "o-SANDBOX-na1"
DEFAULT_APP_URL = "https://app.fullstory.com"
TRIAGE_PROFILE = "fstriage-triage"
CHECKOUT_ERRORS = "Checkout errors"

# Problem tags a session can carry; the first four make it an "error session".
ERROR_PROBLEMS = frozenset({"exception", "console_error", "failed_request", "error_click"})
FRUSTRATION_PROBLEMS = frozenset({"rage_click", "dead_click"})

_NAMES = (
    "ada", "grace", "alan", "linus", "margaret", "ken", "barbara", "dennis", "frances", "edsger",
    "radia", "john", "katherine", "tim", "hedy", "donald", "shafi", "leslie", "sophie", "guido",
    "annie", "niklaus", "lynn", "brian", "joan", "vint", "mary", "bjarne", "jean", "whitfield",
)  # fmt: skip
AGENTS = {
    "desktop": {
        "device": "Desktop",
        "operating_system": "Windows",
        "browser": "Chrome",
        "browser_version": "126",
    },
    "mobile": {"device": "Mobile", "operating_system": "iOS", "browser": "Safari", "browser_version": "17"},
}
PRODUCTS = ("trail-runner-2", "rain-shell", "merino-tee", "day-pack-22l", "camp-mug", "headlamp-x")
UNREADABLE_FORMS: tuple[tuple[str, Any], ...] = (
    ("exception", {"payload": "AAECAwQFBgc="}),
    ("request", None),
    ("console_message", ["error", 42]),
)


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SandboxUser:
    uid: str
    email: str
    display_name: str
    device_id: str
    device: str  # "desktop" | "mobile"
    # Fullstory's ID of the person (the `indv` of a replay URL's `indv:device!session`). Derived from
    # the device ID when not given, so it takes nothing from the seeded random stream.
    individual_id: str = ""

    def __post_init__(self) -> None:
        if not self.individual_id:
            object.__setattr__(self, "individual_id", individual_id_of(self.device_id))


def individual_id_of(device_id: str) -> str:
    """A stable 16-digit ID from the device ID, never equal to it."""
    text = f"individual:{device_id}"
    while True:
        number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        found = str(10**15 + number % (9 * 10**15))
        if found != device_id:
            return found
        text += "+"


@dataclass(frozen=True, slots=True)
class SandboxSession:
    user: SandboxUser
    session_id: str
    created: datetime
    events: tuple[dict[str, Any], ...]
    problems: frozenset[str]
    scenarios: tuple[str, ...]
    completed_checkout: bool

    @property
    def device_id(self) -> str:
        return self.user.device_id

    @property
    def api_id(self) -> str:
        return f"{self.user.device_id}:{self.session_id}"

    @property
    def has_errors(self) -> bool:
        return bool(self.problems & ERROR_PROBLEMS)


@dataclass(frozen=True, slots=True)
class SandboxSegment:
    id: str
    name: str
    creator: str
    created: str
    url: str
    member: Callable[[SandboxSession], bool] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class SandboxData:
    seed: int
    now: datetime
    org_id: str
    app_url: str
    users: tuple[SandboxUser, ...]
    sessions: tuple[SandboxSession, ...]  # every session, oldest first
    segments: tuple[SandboxSegment, ...]

    def session(self, api_id: str) -> SandboxSession | None:
        return next((s for s in self.sessions if s.api_id == api_id), None)

    def sessions_of(self, *, uid: str | None = None, email: str | None = None) -> list[SandboxSession]:
        """Newest first, like the API."""
        found = [
            s
            for s in self.sessions
            if (uid is not None and s.user.uid == uid) or (email is not None and s.user.email == email)
        ]
        return sorted(found, key=lambda s: s.created, reverse=True)

    def user(self, uid: str) -> SandboxUser:
        return next(u for u in self.users if u.uid == uid)

    def segment(self, segment_id: str) -> SandboxSegment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def segment_named(self, name: str) -> SandboxSegment:
        return next(s for s in self.segments if s.name == name)

    def segment_sessions(self, segment_id: str) -> list[SandboxSession]:
        segment = self.segment(segment_id)
        return [s for s in self.sessions if segment.member(s)] if segment else []

    @property
    def error_sessions(self) -> list[SandboxSession]:
        return [s for s in self.sessions if s.has_errors]

    def replay_url(self, session: SandboxSession) -> str:
        return f"{self.app_url}/ui/{self.org_id}/session/{session.api_id}"


# ---------------------------------------------------------------------------------------------
# Generation


class _Ids:
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


class _SessionBuilder:
    def __init__(
        self, rng: random.Random, ids: _Ids, user: SandboxUser, session_id: str, start: datetime
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
        parts = urlsplit(self.url)
        self.events.append(
            {
                "device_id": self.user.device_id,
                "session_id": self.session_id,
                "view_id": self.view_id,
                "event_time": isoformat(self.time),
                "event_type": event_type,
                "event_properties": properties,
                "source_type": "web",
                "source_properties": {
                    "user_agent": dict(AGENTS[self.user.device]),
                    "url": {"full_url": self.url, "host": parts.netloc, "path": parts.path or "/"},
                },
            }
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
        properties = {
            "target": {"text": text, "raw_selector": selector},
            "is_rage_click": rage,
            "is_dead_click": dead,
            "is_error_click": error,
        }
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


def _browse(b: _SessionBuilder) -> None:
    b.page("/")
    b.request("GET", "/api/v1/recommendations", 200)
    b.console("log", "[analytics] page tracked")
    for _ in range(b.rng.randint(1, 3)):
        b.page(f"/products/{b.rng.choice(PRODUCTS)}")
        b.request("GET", f"/api/v1/products/{b.uuid()}", 200)
        if b.rng.random() < 0.6:
            b.click("Add to cart", "button.add-to-cart")
            b.request("POST", "/api/v1/cart/items", 201)


def _checkout(b: _SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 200)
    b.click("Checkout", "a.checkout")
    b.page("/checkout")
    b.change("input#email")
    b.change("input#address-line-1")
    b.click("Continue to payment", "button.continue")
    b.page("/checkout/payment")
    b.change("input#card-number")


def _pay_ok(b: _SessionBuilder) -> None:
    b.click("Pay now", "button#pay-now")
    b.request("POST", f"/api/v1/orders/{b.order}/pay", 200)
    b.page(f"/checkout/confirmation/{b.order}")


def _checkout_crash(b: _SessionBuilder) -> None:
    _checkout(b)
    b.click("Pay now", "button#pay-now", error=True)
    b.request("POST", f"/api/v1/orders/{b.order}/pay", b.rng.choice((502, 500)))
    message = "Cannot read properties of undefined (reading 'total')"
    b.exception("TypeError", message, "checkout.js", 214)
    b.console("error", f"Uncaught TypeError: {message}", "checkout.js")
    b.rage("Pay now", "button#pay-now", clicks=b.rng.randint(3, 5))


def _payment_gateway(b: _SessionBuilder) -> None:
    _checkout(b)
    b.click("Pay now", "button#pay-now")
    status = b.rng.choice((502, 500, 503))
    b.request("POST", f"/api/v1/orders/{b.order}/pay", status)
    b.console("error", f"Payment failed: HTTP {status} for order {b.order}", "checkout.js")
    b.rage("Pay now", "button#pay-now", clicks=b.rng.randint(3, 6))


def _missing_product(b: _SessionBuilder) -> None:
    product = b.uuid()
    b.page(f"/products/{b.rng.choice(PRODUCTS)}")
    b.request("GET", f"/api/v1/products/{product}/reviews", 404)
    b.console("warn", f"Reviews for product {product} not found")
    b.console("error", "Failed to load resource: the server responded with a status of 404 ()")


def _dead_coupon(b: _SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 200)
    b.change("input#coupon")
    for _ in range(b.rng.randint(1, 2)):
        b.click("Apply coupon", "button.apply-coupon", dead=True)


def _chunk_error(b: _SessionBuilder) -> None:
    chunk = b.rng.randint(100, 999)
    b.page("/account/orders")
    b.exception("ChunkLoadError", f"Loading chunk {chunk} failed.", "vendor.js", b.rng.randint(1000, 9999))
    b.console("error", f"ChunkLoadError: Loading chunk {chunk} failed.", "vendor.js")


def _cart_null(b: _SessionBuilder) -> None:
    b.page("/cart")
    b.request("GET", "/api/v1/cart", 500)
    b.exception("TypeError", "Cannot read properties of null (reading 'items')", "cart.js", 88)
    b.click("Checkout", "a.checkout", error=True)


SCENARIOS: dict[str, Callable[[_SessionBuilder], None]] = {
    "checkout_crash": _checkout_crash,
    "payment_gateway": _payment_gateway,
    "missing_product": _missing_product,
    "dead_coupon": _dead_coupon,
    "chunk_error": _chunk_error,
    "cart_null": _cart_null,
}
_SCENARIO_WEIGHTS = (5, 4, 3, 3, 2, 2)
ERROR_SESSION_RATE = 0.35
# Unreadable error-bearing events make a report `partial`, so only the anchor session (`user-003`'s
# newest) carries one by default; the draw below still happens, so the seeded data is otherwise the
# same. The `unknown` event convention (see `conventions`) makes every such event unreadable.
UNREADABLE_RATE = 0.0


def _session(
    rng: random.Random,
    ids: _Ids,
    user: SandboxUser,
    start: datetime,
    *,
    scenarios: Sequence[str],
    unreadable: int | None,
    session_id: str | None = None,
) -> SandboxSession:
    b = _SessionBuilder(rng, ids, user, session_id or ids.digits(16), start)
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


def _pick_scenarios(rng: random.Random) -> list[str]:
    if rng.random() >= ERROR_SESSION_RATE:
        return []
    count = 1 if rng.random() < 0.75 else 2
    picked = rng.choices(list(SCENARIOS), weights=_SCENARIO_WEIGHTS, k=count)
    return list(dict.fromkeys(picked))


@dataclass(frozen=True, slots=True)
class AnchorSession:
    """A session with a fixed ID and start time; `scenarios` are names from `SCENARIOS` ([] is clean)."""

    session_id: str  # the session part of `device:session`
    created: datetime
    scenarios: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnchorUser:
    uid: str
    email: str
    display_name: str
    device_id: str  # the device part of each session's `device:session`
    sessions: tuple[AnchorSession, ...]
    device: str = "desktop"


@dataclass(frozen=True, slots=True)
class AnchorSegment:
    """A segment with a fixed ID: the listed sessions (`device:session`), plus, with `with_errors`,
    every session that has errors (like the seeded "Checkout errors")."""

    id: str
    name: str
    session_ids: tuple[str, ...] = ()
    with_errors: bool = True


@dataclass(frozen=True, slots=True)
class Anchors:
    users: tuple[AnchorUser, ...] = ()
    segments: tuple[AnchorSegment, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(
            {name for u in self.users for s in u.sessions for name in s.scenarios} - set(SCENARIOS)
        )
        if unknown:
            raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
        api_ids = [f"{u.device_id}:{s.session_id}" for u in self.users for s in u.sessions]
        for what, values in (
            ("uid", [u.uid for u in self.users]),
            ("session", api_ids),
            ("segment", [s.id for s in self.segments]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"anchor {what} IDs repeat: {', '.join(repeated)}")
        missing = sorted({i for seg in self.segments for i in seg.session_ids} - set(api_ids))
        if missing:
            raise ValueError(f"anchor segments name unknown sessions: {', '.join(missing)}")


def generate(
    seed: int = 7,
    *,
    now: datetime | None = None,
    users: int = 30,
    days: int = 7,
    org_id: str = DEFAULT_ORG_ID,
    app_url: str = DEFAULT_APP_URL,
    anchors: Anchors | None = None,
) -> SandboxData:
    """The same seed (and `now`, and `anchors`) always gives the same data. Anchors come on top: the
    seeded users, sessions and segments are the same with or without them."""
    anchor = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)  # noqa: S311 - synthetic data: repeatability is the point
    ids = _Ids(rng)
    people: list[SandboxUser] = []
    sessions: list[SandboxSession] = []
    unreadable_forms = 0
    for index in range(1, max(3, users) + 1):
        name = _NAMES[(index - 1) % len(_NAMES)]
        user = SandboxUser(
            uid=f"user-{index:03d}",
            email=f"{name}.{index:03d}@example.test",
            display_name=f"{name.title()} {index:03d}",
            device_id=ids.digits(16),
            device="mobile" if rng.random() < 0.3 else "desktop",
        )
        people.append(user)
        starts = sorted(
            anchor - timedelta(seconds=rng.randint(15 * 60, days * 86400)) for _ in range(rng.randint(1, 4))
        )
        for position, start in enumerate(starts):
            newest = position == len(starts) - 1
            scenarios = _pick_scenarios(rng)
            unreadable: int | None = None
            if rng.random() < UNREADABLE_RATE:
                unreadable = unreadable_forms
            if user.uid == "user-001" and newest:
                scenarios = ["checkout_crash"]
            elif user.uid == "user-002":
                scenarios, unreadable = [], None
            elif user.uid == "user-003" and newest:
                scenarios, unreadable = ["dead_coupon"], unreadable_forms
            if unreadable is not None:
                unreadable_forms += 1
            sessions.append(_session(rng, ids, user, start, scenarios=scenarios, unreadable=unreadable))
    sessions.sort(key=lambda s: (s.created, s.session_id))
    repeat_users = {
        uid for uid in (s.user.uid for s in sessions) if sum(x.user.uid == uid for x in sessions) > 1
    }
    segment_specs: list[tuple[str, str, Callable[[SandboxSession], bool]]] = [
        ("everyone", "Everyone", lambda s: True),
        (_segment_id(rng), CHECKOUT_ERRORS, lambda s: s.has_errors),
        (_segment_id(rng), "Frustrated clicks", lambda s: bool(s.problems & FRUSTRATION_PROBLEMS)),
        (_segment_id(rng), "Returning customers", lambda s: s.user.uid in repeat_users),
        (_segment_id(rng), "Mobile visitors", lambda s: s.user.device == "mobile"),
        (_segment_id(rng), "Completed checkout", lambda s: s.completed_checkout),
    ]
    segments = tuple(
        SandboxSegment(
            id=segment_id,
            name=name,
            creator="analyst@example.test",
            created=isoformat(anchor - timedelta(days=30 + number)),
            url=f"{app_url}/ui/{org_id}/segments/{segment_id}",
            member=member,
        )
        for number, (segment_id, name, member) in enumerate(segment_specs)
    )
    if anchors is not None:
        people, sessions, segments = _with_anchors(
            anchors,
            seed,
            people=people,
            sessions=sessions,
            segments=segments,
            anchor=anchor,
            org_id=org_id,
            app_url=app_url,
        )
    return SandboxData(
        seed=seed,
        now=anchor,
        org_id=org_id,
        app_url=app_url.rstrip("/"),
        users=tuple(people),
        sessions=tuple(sessions),
        segments=segments,
    )


def _with_anchors(
    anchors: Anchors,
    seed: int,
    *,
    people: list[SandboxUser],
    sessions: list[SandboxSession],
    segments: tuple[SandboxSegment, ...],
    anchor: datetime,
    org_id: str,
    app_url: str,
) -> tuple[list[SandboxUser], list[SandboxSession], tuple[SandboxSegment, ...]]:
    """The seeded data plus the anchors, built from their own random stream (the seeded part is kept)."""
    taken_uids = {u.uid for u in people} & {u.uid for u in anchors.users}
    if taken_uids:
        raise ValueError(f"anchor uids clash with seeded users: {', '.join(sorted(taken_uids))}")
    rng = random.Random(f"anchors-{seed}")  # noqa: S311 - synthetic data: repeatability is the point
    ids = _Ids(rng)
    ids._used.update(s.session_id for s in sessions)
    people, sessions = list(people), list(sessions)
    for spec in anchors.users:
        user = SandboxUser(spec.uid, spec.email, spec.display_name, spec.device_id, spec.device)
        people.append(user)
        for planned in spec.sessions:
            start = planned.created.astimezone(UTC).replace(microsecond=0)
            built = _session(
                rng,
                ids,
                user,
                start,
                scenarios=planned.scenarios,
                unreadable=None,
                session_id=planned.session_id,
            )
            if built.api_id in {s.api_id for s in sessions}:
                raise ValueError(f"anchor session {built.api_id} clashes with a seeded one")
            sessions.append(built)
    sessions.sort(key=lambda s: (s.created, s.session_id))

    def member_of(spec: AnchorSegment) -> Callable[[SandboxSession], bool]:
        listed = frozenset(spec.session_ids)
        return lambda s: s.api_id in listed or (spec.with_errors and s.has_errors)

    clashing = sorted({s.id for s in segments} & {spec.id for spec in anchors.segments})
    if clashing:
        raise ValueError(f"anchor segment IDs clash with seeded ones: {', '.join(clashing)}")
    extra = tuple(
        SandboxSegment(
            id=spec.id,
            name=spec.name,
            creator="analyst@example.test",
            created=isoformat(anchor - timedelta(days=60)),
            url=f"{app_url}/ui/{org_id}/segments/{spec.id}",
            member=member_of(spec),
        )
        for spec in anchors.segments
    )
    return people, sessions, segments + extra


def _segment_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(rng.choice(alphabet) for _ in range(12))


# ---------------------------------------------------------------------------------------------
# Views of a session: Generate Context, summary, export rows


def _props(event: dict[str, Any]) -> dict[str, Any]:
    value = event.get("event_properties")
    return value if isinstance(value, dict) else {}


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def context_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """Fullstory's classification of one raw event, or None when Generate Context would omit it."""
    props = _props(event)
    kind = event.get("event_type")
    url = str(event.get("source_properties", {}).get("url", {}).get("full_url", ""))
    base = {"timestamp": event.get("event_time"), "screenshot_url": None}
    if kind == "navigate":
        return base | {
            "type": "navigate",
            "description": f"Navigated to {_path(url)}",
            "content": url,
            "properties": {"url": url},
        }
    if kind == "click" and isinstance(props.get("target"), dict):
        text = str(props["target"].get("text", ""))
        selector = str(props["target"].get("raw_selector", ""))
        if props.get("is_rage_click"):
            kind_name, verb = "rage-click", "Rage clicked"
        elif props.get("is_error_click"):
            kind_name, verb = "error-click", "Clicked (followed by an error)"
        elif props.get("is_dead_click"):
            kind_name, verb = "dead-click", "Dead clicked"
        else:
            kind_name, verb = "click", "Clicked"
        return base | {
            "type": kind_name,
            "description": f"{verb} '{text}'",
            "content": text,
            "properties": {"target_text": text, "selector": selector},
        }
    if kind == "change" and isinstance(props.get("target"), dict):
        selector = str(props["target"].get("raw_selector", ""))
        return base | {
            "type": "input-change",
            "description": f"Changed {selector}",
            "content": "",
            "properties": {"selector": selector},
        }
    if kind == "request" and isinstance(props.get("status_code"), int) and props["status_code"] >= 400:
        return base | {
            "type": "network-error",
            "description": f"{props.get('method')} {_path(str(props.get('url', '')))} failed "
            f"with {props['status_code']}",
            "content": str(props.get("url", "")),
            "properties": {key: props.get(key) for key in ("method", "url", "status_code", "duration_ms")},
        }
    if kind == "console_message" and props.get("level") == "error" and "message" in props:
        return base | {
            "type": "console-error",
            "description": f"Console error: {props['message']}",
            "content": str(props["message"]),
            "properties": {"level": "error", "source_url": props.get("source_url")},
        }
    if kind == "exception" and "message" in props:
        name = str(props.get("name") or "Error")
        return base | {
            "type": "console-error",
            "description": f"Uncaught {name}: {props['message']}",
            "content": f"{name}: {props['message']}",
            "properties": {
                "uncaught": True,
                "name": name,
                "message": props["message"],
                "source_url": props.get("source_url"),
                "line_number": props.get("line_number"),
            },
        }
    return None


def context_data(
    data: SandboxData,
    session: SandboxSession,
    *,
    include_types: Iterable[str] | None = None,
    exclude_types: Iterable[str] | None = None,
) -> dict[str, Any]:
    include = set(include_types) if include_types else None
    exclude = set(exclude_types or ())
    pages: list[dict[str, Any]] = []
    current_view: str | None = None
    for event in session.events:
        if event.get("view_id") != current_view:
            current_view = str(event.get("view_id"))
            url = str(event["source_properties"]["url"]["full_url"])
            pages.append({"url": url, "title": _title(url), "tab": 1, "events": []})
        entry = context_event(event)
        if (
            entry is None
            or entry["type"] in exclude
            or (include is not None and entry["type"] not in include)
        ):
            continue
        pages[-1]["events"].append(entry)
    agent = AGENTS[session.user.device]
    return {
        "context": {
            "session_id": session.api_id,
            "session_url": data.replay_url(session),
            "org_context": {"org_id": data.org_id},
            "user_context": {
                "uid": session.user.uid,
                "email": session.user.email,
                "display_name": session.user.display_name,
            },
            "location_context": {"country": "United States", "region": "Oregon", "city": "Portland"},
            "device_context": {"device": agent["device"], "browser": agent["browser"]},
            "session_created_at": isoformat(session.created),
        },
        "pages": pages,
    }


def _title(url: str) -> str:
    path = _path(url).strip("/")
    return "Home" if not path else path.split("/")[0].replace("-", " ").title()


def summary(session: SandboxSession) -> tuple[str, dict[str, Any]]:
    """(deterministic summary text, structured `response` for the triage profile)."""
    paths = list(
        dict.fromkeys(
            _path(str(e["source_properties"]["url"]["full_url"]))
            for e in session.events
            if e["event_type"] == "navigate"
        )
    )
    sentences = [f"{session.user.display_name} visited {len(paths)} pages ({', '.join(paths[:6])})."]
    errors: list[str] = []
    for event in session.events:
        entry = context_event(event)
        if (
            entry
            and entry["type"] in ("network-error", "console-error")
            and entry["description"] not in errors
        ):
            errors.append(str(entry["description"]))
    rage = [e for e in session.events if e["event_type"] == "click" and _props(e).get("is_rage_click")]
    dead = [e for e in session.events if e["event_type"] == "click" and _props(e).get("is_dead_click")]
    if errors:
        sentences.append("They hit errors: " + "; ".join(errors[:4]) + ".")
    if rage:
        sentences.append(f"They rage clicked '{_props(rage[0])['target']['text']}'.")
    if dead:
        sentences.append(f"'{_props(dead[0])['target']['text']}' did not respond to their click.")
    sentences.append(
        "They completed checkout." if session.completed_checkout else "They did not complete checkout."
    )
    if not errors and not rage and not dead:
        sentences.append("No errors or frustration were observed.")
    response = {
        "outcome": "purchased" if session.completed_checkout else "abandoned",
        "frustrated": bool(rage or dead),
        "errors": errors[:10],
    }
    return " ".join(sentences), response


EXPORT_ALWAYS = ("UserId", "SessionId", "PageId", "EventType", "EventSubType", "EventStart")


def export_rows(
    data: SandboxData,
    segment_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """TYPE_EVENT rows (PascalCase, IDs as strings) for the segment's sessions inside the window."""
    wanted = set(fields)
    rows: list[dict[str, Any]] = []
    for session in data.segment_sessions(segment_id):
        for index, event in enumerate(session.events):
            moment = parse_time(str(event["event_time"]))
            if (start and moment < start) or (end and moment >= end):
                continue
            row = _export_row(session, event, session.events[:index], session.events[index + 1 :])
            rows.append({k: v for k, v in row.items() if k in EXPORT_ALWAYS or not wanted or k in wanted})
    return rows


def _export_row(
    session: SandboxSession,
    event: dict[str, Any],
    preceding: Sequence[dict[str, Any]],
    following: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    props = _props(event)
    kind = str(event["event_type"])
    url = str(event["source_properties"]["url"]["full_url"])
    agent = AGENTS[session.user.device]
    row: dict[str, Any] = {
        "UserId": session.device_id,
        "SessionId": session.session_id,
        "PageId": str(event["view_id"]),
        "EventType": kind,
        "EventSubType": "",
        "EventStart": event["event_time"],
        "IndvId": session.device_id,
        "UserAppKey": session.user.uid,
        "UserEmail": session.user.email,
        "UserDisplayName": session.user.display_name,
        "SessionStart": isoformat(session.created),
        "PageUrl": url,
        "PageBrowser": agent["browser"],
        "PageDevice": agent["device"],
    }
    if kind == "console_message" and "message" in props:
        row |= {"EventSubType": props.get("level", ""), "EventTargetText": props["message"]}
        row["EventWebSourceFileUrl"] = props.get("source_url")
    elif kind == "exception" and "message" in props:
        row |= {
            "EventSubType": "uncaught",
            "EventTargetText": f"{props.get('name', 'Error')}: {props['message']}",
        }
        row["EventWebSourceFileUrl"] = props.get("source_url")
    elif kind == "request" and "status_code" in props:
        row |= {
            "ReqUrl": props.get("url"),
            "ReqMethod": props.get("method"),
            "ReqStatus": props["status_code"],
        }
    elif kind in ("click", "change") and isinstance(props.get("target"), dict):
        row |= {
            "EventTargetText": props["target"].get("text", ""),
            "EventTargetSelector": props["target"].get("raw_selector", ""),
        }
        if kind == "click":
            row |= {
                "EventModFrustrated": _burst_size(event, preceding) if props.get("is_rage_click") else 0,
                "EventModDead": 1 if props.get("is_dead_click") else 0,
                "EventModError": _error_kind(following) if props.get("is_error_click") else 0,
            }
    return row


def _burst_size(event: dict[str, Any], preceding: Sequence[dict[str, Any]]) -> int:
    """Only a burst's last click is flagged; the export shows the burst's running count there."""
    selector = _props(event)["target"].get("raw_selector")
    size = 1
    for earlier in reversed(preceding):
        target = _props(earlier).get("target")
        if earlier["event_type"] != "click" or not isinstance(target, dict):
            break
        if target.get("raw_selector") != selector:
            break
        size += 1
    return size


def _error_kind(following: Sequence[dict[str, Any]]) -> int:
    """EventModError: 3 uncaught exception, 2 console error, 1 other error, from what came next."""
    for event in following[:4]:
        if event["event_type"] == "exception":
            return 3
        if event["event_type"] == "console_message" and _props(event).get("level") == "error":
            return 2
    return 1
