"""Celery with the Redis broker, acknowledging after the job (acks_late), no result backend."""
import os

from celery import Celery

import job

app = Celery("bench", broker=os.environ["JOBS_REDIS"])
app.conf.update(task_acks_late=True, task_ignore_result=True, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)


@app.task(name="bench.run")
def run(payload):
    job.run(payload)
