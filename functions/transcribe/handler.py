"""Transcribe: speech-to-text of videos (analysis.transcribe wake-ups, HTTP POST of video/audio bytes or
{"media_id"}, cron reconcile).  The work is in pva.jobs.tasks.transcribe and the shared pipeline."""
from pva.jobs import pipeline
from pva.jobs.tasks.transcribe import TranscribeTask


def init_context(context):
    task = TranscribeTask()  # loads the speech model once per worker
    context.user_data.task = task
    context.logger.info_with("transcribe ready", engine=task.transcriber.engine, model=task.model_name,
                             model_version=task.model_version)


def handler(context, event):
    return pipeline.handle(context.user_data.task, context, event)
