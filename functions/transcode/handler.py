"""Transcode: web previews of videos a browser cannot play as stored (analysis.transcode wake-ups, HTTP POST of
video bytes or {"media_id"}).  The work is in pva.jobs.tasks.transcode and the shared pipeline."""
from pva.jobs import pipeline
from pva.jobs.tasks.transcode import TranscodeTask


def init_context(context):
    task = TranscodeTask()
    context.user_data.task = task
    context.logger.info_with("transcode ready", model=task.model_name, model_version=task.model_version)


def handler(context, event):
    return pipeline.handle(context.user_data.task, context, event)
