"""Object detection (YOLO).  The work is in pva.jobs.tasks.detect (DetectTask) and the shared pva.jobs.pipeline; this only wires it.

Events: RabbitMQ `analysis.detect` wake-ups (run the stored job), HTTP POST of image bytes (answer JSON, store
nothing), HTTP POST {"media_id": ...} (re-analyse stored media now).
"""
from pva.jobs import pipeline
from pva.jobs.tasks.detect import DetectTask


def init_context(context):
    context.user_data.task = DetectTask()  # loads the model once per worker
    context.logger.info_with("detect ready", model=context.user_data.task.model_name,
                             version=context.user_data.task.model_version)


def handler(context, event):
    return pipeline.handle(context.user_data.task, context, event)
