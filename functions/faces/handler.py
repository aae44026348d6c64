"""Faces: face boxes, 128-d embeddings and people.  The work is in pva.jobs.tasks.faces (FacesTask), the
shared pipeline and pva.services.people; this only wires it.

Events: RabbitMQ `analysis.faces` wake-ups (run the stored job), HTTP POST of image bytes (answer faces JSON,
store nothing; `?embeddings=1` adds the 128-d vectors), HTTP POST {"media_id": ...} (re-analyse stored media now).
"""
from pva.jobs import pipeline
from pva.jobs.tasks.faces import FacesTask


def init_context(context):
    context.user_data.task = FacesTask()  # loads dlib's detector, landmark and ResNet models once per worker
    context.logger.info_with("faces ready", model=context.user_data.task.model_name,
                             version=context.user_data.task.model_version)


def handler(context, event):
    return pipeline.handle(context.user_data.task, context, event)
