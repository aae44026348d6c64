"""OCR (RapidOCR; tesseract with PVA_OCR_ENGINE=tesseract).  The work is in pva.jobs.tasks.ocr (OcrTask) and the
shared pva.jobs.pipeline; this only wires it.

Events: RabbitMQ `analysis.ocr` wake-ups (run the stored job), HTTP POST of image bytes (answer JSON, store
nothing), HTTP POST {"media_id": ...} (re-analyse stored media now).
"""
from pva.jobs import pipeline
from pva.jobs.tasks.ocr import OcrTask


def init_context(context):
    context.user_data.task = OcrTask()  # loads the OCR models (or checks tesseract) once per worker
    context.logger.info_with("ocr ready", model=context.user_data.task.model_name,
                             version=context.user_data.task.model_version)


def handler(context, event):
    return pipeline.handle(context.user_data.task, context, event)
