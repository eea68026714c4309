"""Lambda entry point: investigation requests from SQS become reports. All logic lives in the layer."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from fstriage.investigator_app import METRICS_NAMESPACE, InvestigatorApp

logger = Logger(service="fstriage-investigator")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="fstriage-investigator")
app = InvestigatorApp.from_environment(logger, metrics)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context)
