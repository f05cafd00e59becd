"""Dramatiq with its Redis broker, default middleware."""
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

import job

dramatiq.set_broker(RedisBroker(url=os.environ["JOBS_REDIS"]))


@dramatiq.actor(queue_name="bench")
def run(payload):
    job.run(payload)
