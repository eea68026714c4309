"""Lambda entry point: investigation requests from SQS become reports. All logic lives in the layer."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from fstriage.investigator_app import METRICS_NAMESPACE, InvestigatorApp

logger = Logger(service="fstriage-investigator")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="fstriage-investigator")
# Only botocore: requests is not patched, since its subsegments would record every URL (session IDs,
# and the Slack webhook's secret path). The Fullstory client makes its own subsegments, named by path
# template only (fstriage.adapters.fullstory.ROUTES).
tracer = Tracer(service="fstriage-investigator", patch_modules=("botocore",))
app = InvestigatorApp.from_environment(logger, metrics)


# capture_response=False: the trace keeps timings; results stay out of X-Ray (logs and metrics tell).
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context)
