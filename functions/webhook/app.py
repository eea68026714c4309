"""Lambda entry point: Fullstory webhook behind a function URL. All logic lives in the layer."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from fstriage.webhook_app import METRICS_NAMESPACE, WebhookApp

logger = Logger(service="fstriage-webhook")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="fstriage-webhook")
app = WebhookApp.from_environment(logger, metrics)


@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context)
