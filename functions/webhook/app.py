"""Lambda entry point: Fullstory webhook behind a function URL. All logic lives in the layer."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fstriage.webhook_app import METRICS_NAMESPACE, WebhookApp

logger = Logger(service="fstriage-webhook")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="fstriage-webhook")
# Only botocore is patched: its subsegments time the AWS calls against the answer budget, and
# patching everything costs cold-start time for libraries this function never calls.
tracer = Tracer(service="fstriage-webhook", patch_modules=("botocore",))
app = WebhookApp.from_environment(logger, metrics)


# capture_response=False: the trace keeps timings; answers stay out of X-Ray (logs and metrics tell).
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context)
