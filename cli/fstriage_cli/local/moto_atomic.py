"""Make moto's DynamoDB items atomic, as DynamoDB's are.

DynamoDB applies a conditional write atomically: two racing `ADD used :one` updates conditioned on
`used < :cap` never both pass at `cap - 1`. moto (5.x) checks the condition and then applies the
update as separate Python steps, with no lock, so threads that race (the investigator's concurrent
session reads in-process, or moto_server's request threads) can both pass the check and overshoot:
a monthly cap of 10 reaching 11, or two claims of one idempotency key both winning. fstriage's
exactly-once and cap guarantees rest on DynamoDB's atomicity, so the stand-in must give it too.

`make_dynamodb_items_atomic()` serialises moto's item reads and writes behind one process-wide lock.
moto's state is the process's (`mock_aws` and every moto server in it share it), so one call covers
both. Only DynamoDB's item operations are serialised: SQS long polls sleep inside moto's handler and
must not block anything else.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

# DynamoDBBackend's methods that read or write items (a table's own settings are left alone).
ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "query",
    "scan",
    "execute_statement",
    "batch_execute_statement",
    "execute_transaction",
)
_ITEMS_LOCK = threading.RLock()  # re-entrant: a transaction's write may call put_item inside the lock
_MARK = "_fstriage_atomic"


def _serialised(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def under_lock(*args: Any, **kwargs: Any) -> Any:
        with _ITEMS_LOCK:
            return operation(*args, **kwargs)

    setattr(under_lock, _MARK, True)
    return under_lock


def make_dynamodb_items_atomic() -> None:
    """Serialise moto's DynamoDB item operations (idempotent). Raises RuntimeError when this moto no
    longer has one of them, so an upgrade that renames one fails loudly instead of racing again."""
    for name in ITEM_OPERATIONS:
        operation = getattr(DynamoDBBackend, name, None)
        if operation is None:
            raise RuntimeError(f"moto's DynamoDBBackend has no {name}: update fstriage_cli.local.moto_atomic")
        if not getattr(operation, _MARK, False):
            setattr(DynamoDBBackend, name, _serialised(operation))
