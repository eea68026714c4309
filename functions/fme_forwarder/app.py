"""Lambda entry point: "Fullstory Custom Event"s from SQS become Harness FME events. Logic: the layer."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fstriage.fme_app import METRICS_NAMESPACE, SERVICE, FmeForwarderApp

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# Only botocore: requests is not patched, since its subsegments would record every URL (user IDs).
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
app = FmeForwarderApp.from_environment(logger, metrics)


# capture_response=False: the trace keeps timings; results stay out of X-Ray (logs and metrics tell).
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context)
